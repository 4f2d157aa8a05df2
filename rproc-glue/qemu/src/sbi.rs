//! The SBI calls the kernel makes: set the timer, start, stop and query harts (HSM),
//! send an IPI (the remote processor's doorbell).
//!
//! Inline `ecall`s rather than a crate (`sbi-rt`): two calls of a few lines each, their
//! contracts in one place, nothing more in the lock file.

/// SBI "TIME" extension.
const EID_TIME: usize = 0x5449_4D45;
/// SBI "HSM" (hart state management) extension.
const EID_HSM: usize = 0x48_534D;
/// SBI "sPI" (IPI) extension.
const EID_IPI: usize = 0x73_5049;
/// `hart_get_status`: the hart is stopped.
pub const HART_STOPPED: isize = 1;

/// An SBI call with up to three arguments; the SBI error code (0: success).
fn call(eid: usize, fid: usize, a0: usize, a1: usize, a2: usize) -> isize {
    call2(eid, fid, a0, a1, a2).0
}

/// An SBI call with up to three arguments; the SBI error code and the value.
fn call2(eid: usize, fid: usize, a0: usize, a1: usize, a2: usize) -> (isize, isize) {
    let error: isize;
    let value: isize;
    // SAFETY: an ecall into OpenSBI, which follows the SBI calling convention: it
    // returns error and value in a0/a1 and preserves every other register. The
    // extensions used here touch no memory of ours.
    unsafe {
        core::arch::asm!(
            "ecall",
            inlateout("a0") a0 => error,
            inlateout("a1") a1 => value,
            in("a2") a2,
            in("a6") fid,
            in("a7") eid,
            options(nostack),
        );
    }
    (error, value)
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

/// Stops the calling hart (it returns to OpenSBI, stopped, and may be started again);
/// returns only on failure, with the SBI error code.
pub fn hart_stop() -> isize {
    call(EID_HSM, 1, 0, 0, 0)
}

/// The HSM state of `hart` (0 started, 1 stopped, 2 start pending, 3 stop pending, ...),
/// or the negative SBI error.
pub fn hart_get_status(hart: usize) -> isize {
    let (error, value) = call2(EID_HSM, 2, hart, 0, 0);
    if error == 0 { value } else { error }
}

/// Sends a supervisor software interrupt to `hart`; the SBI error code.
pub fn send_ipi(hart: usize) -> isize {
    call(EID_IPI, 0, 1 << hart, 0, 0)
}
