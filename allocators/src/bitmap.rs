//! Bitmap backend (to be filled in).
