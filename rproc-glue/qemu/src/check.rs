//! Checks: each prints `[PASS]` or `[FAIL]` with what it checked; any failure fails
//! the run at the end (see `main.rs`). Nothing here allocates, so checks work after the
//! heap is sealed.

use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

static PASSED: AtomicUsize = AtomicUsize::new(0);
static FAILED: AtomicUsize = AtomicUsize::new(0);

/// Records and prints one check.
pub fn check(ok: bool, what: fmt::Arguments<'_>) -> bool {
    let (counter, tag) = if ok {
        (&PASSED, "PASS")
    } else {
        (&FAILED, "FAIL")
    };
    counter.fetch_add(1, Ordering::Relaxed);
    crate::println!("[{tag}] {what}");
    ok
}

/// `(passed, failed)` so far.
pub fn counts() -> (usize, usize) {
    (
        PASSED.load(Ordering::Relaxed),
        FAILED.load(Ordering::Relaxed),
    )
}

/// Checks a condition, printing the formatted description; evaluates to the condition.
#[macro_export]
macro_rules! check {
    ($ok:expr, $($arg:tt)*) => { $crate::check::check($ok, format_args!($($arg)*)) };
}
