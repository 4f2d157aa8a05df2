//! The two SBI calls the kernel makes: set the timer, start a hart.
//!
//! Inline `ecall`s rather than a crate (`sbi-rt`): two calls of a few lines each, their
//! contracts in one place, nothing more in the lock file.

/// SBI "TIME" extension.
const EID_TIME: usize = 0x5449_4D45;
/// SBI "HSM" (hart state management) extension.
const EID_HSM: usize = 0x48_534D;

/// An SBI call with up to three arguments; the SBI error code (0: success).
fn call(eid: usize, fid: usize, a0: usize, a1: usize, a2: usize) -> isize {
    let error: isize;
    // SAFETY: an ecall into OpenSBI, which follows the SBI calling convention: it
    // returns error and value in a0/a1 and preserves every other register. The
    // extensions used here touch no memory of ours.
    unsafe {
        core::arch::asm!(
            "ecall",
            inlateout("a0") a0 => error,
            inlateout("a1") a1 => _,
            in("a2") a2,
            in("a6") fid,
            in("a7") eid,
            options(nostack),
        );
    }
    error
}

/// Programs the next timer interrupt for `time` (in `time` CSR ticks); a time in the
/// past makes it pending at once, `u64::MAX` clears it.
pub fn set_timer(time: u64) {
    // Cannot fail for a hart that calls it on itself.
    let _ = call(EID_TIME, 0, time as usize, 0, 0);
}

/// Starts the stopped hart `hart` in S-mode at physical address `start`, with
/// `a0 = hart` and `a1 = opaque`, the MMU off; the SBI error code (0: started).
pub fn hart_start(hart: usize, start: usize, opaque: usize) -> isize {
    call(EID_HSM, 0, hart, start, opaque)
}
