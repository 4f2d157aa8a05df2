//! Traps: the vector, the timer interrupt, and failing on anything unexpected.
//!
//! The vector saves the caller-saved integer registers on the current stack, calls
//! [`trap`] and returns with `sret`. The handler code uses no floating point, so the
//! FP registers need no saving. The supervisor timer interrupt is the only one the
//! kernel enables; its handler allocates and frees a coherent buffer, so the DMA path
//! runs in interrupt context under the IRQ-safe lock. Any exception, or any other
//! interrupt, prints the cause and fails the run.

use core::sync::atomic::{AtomicUsize, Ordering};

use contig_dma_pool::Attrs;

use crate::exit::{self, Failure};
use crate::{dma, println, sbi};

/// `scause` interrupt bit and the supervisor timer cause.
const INTERRUPT: usize = 1 << 63;
const SUPERVISOR_TIMER: usize = 5;
/// `sie.STIE` / `sip.STIP`.
const STI: usize = 1 << SUPERVISOR_TIMER;

/// Timer interrupts handled.
static TICKS: AtomicUsize = AtomicUsize::new(0);
/// Coherent buffers allocated and freed again by the timer handler.
static IRQ_BUFFERS: AtomicUsize = AtomicUsize::new(0);

core::arch::global_asm!(
    r#"
    .section .text
    .balign 4
    .globl trap_vector
trap_vector:
    addi    sp, sp, -128
    sd      ra, 0(sp)
    sd      t0, 8(sp)
    sd      t1, 16(sp)
    sd      t2, 24(sp)
    sd      t3, 32(sp)
    sd      t4, 40(sp)
    sd      t5, 48(sp)
    sd      t6, 56(sp)
    sd      a0, 64(sp)
    sd      a1, 72(sp)
    sd      a2, 80(sp)
    sd      a3, 88(sp)
    sd      a4, 96(sp)
    sd      a5, 104(sp)
    sd      a6, 112(sp)
    sd      a7, 120(sp)
    csrr    a0, scause
    csrr    a1, stval
    csrr    a2, sepc
    call    {trap}
    ld      ra, 0(sp)
    ld      t0, 8(sp)
    ld      t1, 16(sp)
    ld      t2, 24(sp)
    ld      t3, 32(sp)
    ld      t4, 40(sp)
    ld      t5, 48(sp)
    ld      t6, 56(sp)
    ld      a0, 64(sp)
    ld      a1, 72(sp)
    ld      a2, 80(sp)
    ld      a3, 88(sp)
    ld      a4, 96(sp)
    ld      a5, 104(sp)
    ld      a6, 112(sp)
    ld      a7, 120(sp)
    addi    sp, sp, 128
    sret
"#,
    trap = sym trap,
);

unsafe extern "C" {
    fn trap_vector();
}

/// Installs the vector (direct mode) on this hart, with no interrupt source enabled.
pub fn install() {
    let vector = trap_vector as *const () as usize;
    // SAFETY: `trap_vector` is 4-byte aligned (direct mode needs the low bits clear) and
    // returns with `sret` after restoring every register the interrupted code may hold
    // (the Rust handler preserves the callee-saved ones).
    unsafe { core::arch::asm!("csrw stvec, {0}", in(reg) vector) };
}

/// Installs the vector and enables the timer interrupt source; `sstatus.SIE` stays as
/// it is.
pub fn init() {
    install();
    // SAFETY: enabling STIE only lets the timer interrupt through once SIE is set, and
    // the vector that handles it is installed.
    unsafe { core::arch::asm!("csrs sie, {0}", in(reg) STI) };
}

/// Timer interrupts handled so far.
pub fn ticks() -> usize {
    TICKS.load(Ordering::SeqCst)
}

/// Coherent buffers the timer handler allocated and freed.
pub fn irq_buffers() -> usize {
    IRQ_BUFFERS.load(Ordering::SeqCst)
}

/// Whether a timer interrupt is pending (`sip.STIP`).
pub fn timer_pending() -> bool {
    let sip: usize;
    // SAFETY: reads sip, nothing else.
    unsafe { core::arch::asm!("csrr {0}, sip", out(reg) sip, options(nomem, nostack)) };
    sip & STI != 0
}

extern "C" fn trap(scause: usize, stval: usize, sepc: usize) {
    if scause == INTERRUPT | SUPERVISOR_TIMER {
        sbi::set_timer(u64::MAX); // clears the pending interrupt
        TICKS.fetch_add(1, Ordering::SeqCst);
        // DMA from interrupt context: a buffer for no device (the default pool).
        if let Some(devices) = dma::devices_if_ready() {
            if let Ok(buf) = devices.alloc_coherent(None, 512, Attrs::NONE) {
                if devices.free_coherent(None, &buf).is_ok() {
                    IRQ_BUFFERS.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        return;
    }
    println!("[FAIL] unexpected trap: scause {scause:#x} stval {stval:#x} sepc {sepc:#x}");
    exit::fail(Failure::Trap)
}
