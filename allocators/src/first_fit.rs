//! First-fit over address-ordered free extents (to be filled in).
