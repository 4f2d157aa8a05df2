//! Linux gen_pool semantics (to be filled in).
