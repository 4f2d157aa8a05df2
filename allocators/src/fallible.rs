//! The only sanctioned setup allocations of the library crates (`contig-cma`,
//! `contig-dma-pool` and `contig-rproc-glue` use this module too).
//!
//! Every allocation that region, device and remote-processor setup makes goes through
//! these helpers: they reserve with `try_reserve` (or allocate a box by hand) and
//! return [`OutOfMemory`] instead of aborting, so a kernel built without the global
//! out-of-memory handler (Rust-for-Linux's `no_global_oom_handling`) can use the crates,
//! and an exhausted heap at setup is an error the caller sees. The collection is
//! unchanged when a helper fails. The library crates forbid the infallible forms
//! (`Vec::push`, `Box::new`, `vec!`, `collect`, ...) with clippy's `disallowed_methods`
//! and `disallowed_macros`; only this module may name them.
//!
//! None of these helpers may run in IRQ context (they call the global allocator).

use alloc::alloc::{Layout, alloc};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::ptr::{self, NonNull};

/// The heap could not provide room for `count` items of `what` (setup bookkeeping).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OutOfMemory {
    /// What was being reserved (e.g. `"regions"`, `"device-tree nodes"`).
    pub what: &'static str,
    /// How many of them.
    pub count: usize,
}

impl fmt::Display for OutOfMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "out of memory reserving room for {} {}",
            self.count, self.what
        )
    }
}

impl core::error::Error for OutOfMemory {}

/// Reserves room for `additional` more items in `vec`.
///
/// # Errors
///
/// [`OutOfMemory`] naming `what` and `additional`; `vec` is unchanged.
pub fn try_reserve<T>(
    vec: &mut Vec<T>,
    additional: usize,
    what: &'static str,
) -> Result<(), OutOfMemory> {
    vec.try_reserve(additional).map_err(|_| OutOfMemory {
        what,
        count: additional,
    })
}

/// Appends `value` to `vec`.
///
/// # Errors
///
/// [`OutOfMemory`] (count 1); `vec` is unchanged and `value` dropped.
pub fn try_push<T>(vec: &mut Vec<T>, value: T, what: &'static str) -> Result<(), OutOfMemory> {
    try_reserve(vec, 1, what)?;
    #[allow(clippy::disallowed_methods)] // Room for one more was just reserved.
    vec.push(value);
    Ok(())
}

/// Inserts `value` at `index` of `vec` (`index <= vec.len()`, else it is appended).
///
/// # Errors
///
/// [`OutOfMemory`] (count 1); `vec` is unchanged and `value` dropped.
pub fn try_insert<T>(
    vec: &mut Vec<T>,
    index: usize,
    value: T,
    what: &'static str,
) -> Result<(), OutOfMemory> {
    try_reserve(vec, 1, what)?;
    let index = index.min(vec.len());
    #[allow(clippy::disallowed_methods)] // Room reserved, index in bounds: cannot fail.
    vec.insert(index, value);
    Ok(())
}

/// Appends clones of `items` to `vec`.
///
/// # Errors
///
/// [`OutOfMemory`] (count `items.len()`); `vec` is unchanged.
pub fn try_extend_from_slice<T: Clone>(
    vec: &mut Vec<T>,
    items: &[T],
    what: &'static str,
) -> Result<(), OutOfMemory> {
    try_reserve(vec, items.len(), what)?;
    #[allow(clippy::disallowed_methods)] // Room reserved: cannot reallocate.
    vec.extend_from_slice(items);
    Ok(())
}

/// Appends `count` clones of `value` to `vec` (the fallible `vec![value; count]`).
///
/// # Errors
///
/// [`OutOfMemory`] (count `count`); `vec` is unchanged.
pub fn try_extend_filled<T: Clone>(
    vec: &mut Vec<T>,
    value: T,
    count: usize,
    what: &'static str,
) -> Result<(), OutOfMemory> {
    try_reserve(vec, count, what)?;
    let len = vec.len();
    #[allow(clippy::disallowed_methods)] // Room reserved: cannot reallocate.
    vec.resize(len + count, value);
    Ok(())
}

/// A vector of `count` clones of `value` (the fallible `vec![value; count]`).
///
/// # Errors
///
/// [`OutOfMemory`] (count `count`).
pub fn try_vec_filled<T: Clone>(
    value: T,
    count: usize,
    what: &'static str,
) -> Result<Vec<T>, OutOfMemory> {
    let mut vec = Vec::new();
    try_extend_filled(&mut vec, value, count, what)?;
    Ok(vec)
}

/// Appends every item of `items` to `vec`.
///
/// # Errors
///
/// [`OutOfMemory`]; `vec` is truncated back to its length before the call.
pub fn try_extend<T, I: IntoIterator<Item = T>>(
    vec: &mut Vec<T>,
    items: I,
    what: &'static str,
) -> Result<(), OutOfMemory> {
    let len = vec.len();
    let items = items.into_iter();
    let result = (|| {
        try_reserve(vec, items.size_hint().0, what)?;
        for item in items {
            try_push(vec, item, what)?;
        }
        Ok(())
    })();
    if result.is_err() {
        vec.truncate(len);
    }
    result
}

/// Collects `items` into a new vector (the fallible `collect::<Vec<_>>()`).
///
/// # Errors
///
/// [`OutOfMemory`].
pub fn try_collect<T, I: IntoIterator<Item = T>>(
    items: I,
    what: &'static str,
) -> Result<Vec<T>, OutOfMemory> {
    let mut vec = Vec::new();
    try_extend(&mut vec, items, what)?;
    Ok(vec)
}

/// A vector holding clones of `items` (the fallible `to_vec`).
///
/// # Errors
///
/// [`OutOfMemory`].
pub fn try_to_vec<T: Clone>(items: &[T], what: &'static str) -> Result<Vec<T>, OutOfMemory> {
    let mut vec = Vec::new();
    try_extend_from_slice(&mut vec, items, what)?;
    Ok(vec)
}

/// `value` in a new box (the fallible `Box::new`; stable Rust has no `Box::try_new`).
///
/// # Errors
///
/// [`OutOfMemory`] (count 1); `value` is dropped.
pub fn try_box<T>(value: T, what: &'static str) -> Result<Box<T>, OutOfMemory> {
    let layout = Layout::new::<T>();
    let ptr: NonNull<T> = if layout.size() == 0 {
        // A zero-sized value needs no memory: a box of it holds a dangling, aligned pointer.
        NonNull::dangling()
    } else {
        // SAFETY: `layout` has a non-zero size, checked just above.
        let raw = unsafe { alloc(layout) };
        NonNull::new(raw.cast::<T>()).ok_or(OutOfMemory { what, count: 1 })?
    };
    // SAFETY: `ptr` is valid for writes of a `T` and aligned for it: either freshly
    // allocated by the global allocator for `Layout::new::<T>()`, or dangling-but-aligned
    // for a zero-sized `T` (for which any aligned non-null pointer is valid).
    unsafe { ptr.as_ptr().write(value) };
    // SAFETY: `ptr` holds an initialised `T` in memory allocated by the global allocator
    // with `Layout::new::<T>()` (or is a dangling pointer for a zero-sized `T`), which is
    // exactly what `Box` owns and will free on drop.
    Ok(unsafe { Box::from_raw(ptr.as_ptr()) })
}

/// `text` in a new string (the fallible `String::from` / `to_owned`).
///
/// # Errors
///
/// [`OutOfMemory`] (count: the bytes).
pub fn try_string(text: &str, what: &'static str) -> Result<String, OutOfMemory> {
    let mut s = String::new();
    s.try_reserve_exact(text.len()).map_err(|_| OutOfMemory {
        what,
        count: text.len(),
    })?;
    #[allow(clippy::disallowed_methods)] // Room reserved: cannot reallocate.
    s.push_str(text);
    Ok(s)
}

/// `args` formatted into a new string (the fallible `format!`):
/// `try_format(format_args!("/{name}"), "node paths")`.
///
/// # Errors
///
/// [`OutOfMemory`] (count: the bytes of the piece that did not fit).
pub fn try_format(args: fmt::Arguments<'_>, what: &'static str) -> Result<String, OutOfMemory> {
    struct Writer {
        text: String,
        failed: Option<usize>,
    }
    impl fmt::Write for Writer {
        fn write_str(&mut self, piece: &str) -> fmt::Result {
            if self.text.try_reserve(piece.len()).is_err() {
                self.failed = Some(piece.len());
                return Err(fmt::Error);
            }
            #[allow(clippy::disallowed_methods)] // Room reserved: cannot reallocate.
            self.text.push_str(piece);
            Ok(())
        }
    }
    let mut w = Writer {
        text: String::new(),
        failed: None,
    };
    match fmt::write(&mut w, args) {
        Ok(()) => Ok(w.text),
        Err(_) => Err(OutOfMemory {
            what,
            count: w.failed.unwrap_or(0),
        }),
    }
}

/// A boxed slice of `len` values made by `make` (the fallible
/// `vec![value; len].into_boxed_slice()`, which may reallocate infallibly).
///
/// # Errors
///
/// [`OutOfMemory`] (count `len`); nothing is made.
pub fn try_boxed_slice<T>(
    len: usize,
    mut make: impl FnMut() -> T,
    what: &'static str,
) -> Result<Box<[T]>, OutOfMemory> {
    let oom = OutOfMemory { what, count: len };
    let layout = Layout::array::<T>(len).map_err(|_| oom)?;
    let first: NonNull<T> = if layout.size() == 0 {
        // Nothing to allocate (no elements, or zero-sized ones): a dangling, aligned
        // pointer is what `Box<[T]>` holds then.
        NonNull::dangling()
    } else {
        // SAFETY: `layout` has a non-zero size, checked just above.
        let raw = unsafe { alloc(layout) };
        NonNull::new(raw.cast::<T>()).ok_or(oom)?
    };
    for i in 0..len {
        // SAFETY: `i < len`, so `first + i` is inside the allocation made for
        // `Layout::array::<T>(len)` (or, for a zero-sized layout, any aligned non-null
        // pointer is valid for a zero-sized write); each element is written once.
        unsafe { first.as_ptr().add(i).write(make()) };
    }
    let slice = ptr::slice_from_raw_parts_mut(first.as_ptr(), len);
    // SAFETY: `slice` covers `len` initialised `T`s in memory allocated by the global
    // allocator with `Layout::array::<T>(len)`, the layout `Box<[T]>` frees with (or is
    // dangling for a zero-sized layout, which `Box` never frees).
    Ok(unsafe { Box::from_raw(slice) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    #[test]
    fn boxes_hold_their_value_and_drop_it() {
        let b = try_box(String::from("setup"), "strings").unwrap();
        assert_eq!(*b, "setup");
        let unit = try_box((), "units").unwrap();
        assert_eq!(*unit, ());
        let big = try_box([7u64; 64], "arrays").unwrap();
        assert!(big.iter().all(|&x| x == 7));
        let dynamic: Box<dyn Fn() -> u8> = try_box(|| 3u8, "closures").unwrap();
        assert_eq!(dynamic(), 3);
        let words = try_boxed_slice(5, || 9u64, "words").unwrap();
        assert_eq!(&*words, &[9; 5]);
        let mut n = 0;
        let strings = try_boxed_slice(
            3,
            || {
                n += 1;
                alloc::format!("{n}")
            },
            "strings",
        )
        .unwrap();
        assert_eq!(&*strings, ["1", "2", "3"]);
        assert!(try_boxed_slice(0, || 1u32, "none").unwrap().is_empty());
        assert_eq!(try_boxed_slice(4, || (), "units").unwrap().len(), 4);
        let err = try_boxed_slice(usize::MAX, || 0u64, "words").unwrap_err();
        assert_eq!(
            err,
            OutOfMemory {
                what: "words",
                count: usize::MAX
            }
        );
    }

    #[test]
    fn vectors_grow_and_fail_unchanged() {
        let mut v = Vec::new();
        try_push(&mut v, 1, "ints").unwrap();
        try_insert(&mut v, 0, 0, "ints").unwrap();
        try_insert(&mut v, 99, 3, "ints").unwrap();
        try_extend_from_slice(&mut v, &[4, 5], "ints").unwrap();
        try_extend(&mut v, 6..8, "ints").unwrap();
        try_extend_filled(&mut v, 9, 2, "ints").unwrap();
        assert_eq!(v, [0, 1, 3, 4, 5, 6, 7, 9, 9]);
        assert_eq!(try_collect(1..4, "ints").unwrap(), [1, 2, 3]);
        assert_eq!(try_to_vec(&[1u8, 2], "bytes").unwrap(), [1, 2]);
        assert_eq!(try_vec_filled(0u8, 3, "bytes").unwrap(), [0, 0, 0]);
        assert_eq!(try_string("abc", "bytes").unwrap(), "abc");
        assert_eq!(
            try_format(format_args!("/{}/{:#x}", "a", 16), "bytes").unwrap(),
            "/a/0x10"
        );
        let err = try_reserve(&mut v, usize::MAX, "ints").unwrap_err();
        assert_eq!(
            err,
            OutOfMemory {
                what: "ints",
                count: usize::MAX
            }
        );
        assert_eq!(v.len(), 9);
        assert_eq!(
            alloc::format!("{err}"),
            alloc::format!("out of memory reserving room for {} ints", usize::MAX)
        );
    }
}
