//! The kernel's lock: a spin lock that holds local interrupts off (`sstatus.SIE`).
//!
//! [`Sie`] is `contig_cma::InterruptControl` for a RISC-V hart in S-mode: `disable`
//! clears `sstatus.SIE` with one `csrrci` and returns whether it was set, `restore`
//! sets it again only if it was. [`Lock`] wraps the crate's spin lock with it, and is
//! the lock of every region, pool and registry in this kernel, so DMA calls may also
//! run in an interrupt handler (the timer handler in `trap.rs` does).

use contig_cma::{DefaultLock, InterruptControl, IrqSafe};

/// `sstatus.SIE`: supervisor interrupts enabled.
const SIE: usize = 1 << 1;

/// Local interrupt control over `sstatus.SIE`.
#[derive(Debug)]
pub struct Sie;

impl InterruptControl for Sie {
    /// Whether interrupts were enabled.
    type State = bool;

    fn disable() -> bool {
        let before: usize;
        // SAFETY: clears SIE on this hart and reads the old sstatus; no memory is
        // touched. The asm is a compiler barrier, so nothing in the critical section
        // moves above it.
        unsafe { core::arch::asm!("csrrci {0}, sstatus, {sie}", out(reg) before, sie = const SIE) };
        before & SIE != 0
    }

    fn restore(was_enabled: bool) {
        if was_enabled {
            // SAFETY: sets SIE on this hart, as it was before the matching `disable`;
            // a compiler barrier like `disable`.
            unsafe { core::arch::asm!("csrsi sstatus, {sie}", sie = const SIE) };
        }
    }
}

/// Whether interrupts are enabled on this hart now.
pub fn enabled() -> bool {
    let sstatus: usize;
    // SAFETY: reads sstatus, nothing else.
    unsafe { core::arch::asm!("csrr {0}, sstatus", out(reg) sstatus, options(nomem, nostack)) };
    sstatus & SIE != 0
}

/// Enables interrupts on this hart.
pub fn enable() {
    Sie::restore(true);
}

/// The spin lock of everything shared in this kernel, safe from interrupt context.
pub type Lock = IrqSafe<DefaultLock, Sie>;

/// Checks that the lock holds interrupts off: a timer interrupt made pending while the
/// lock is held is taken only once it is released, and its handler's DMA call (which
/// takes locks of the same type) then succeeds.
pub fn check_lock() {
    use crate::{check, sbi, trap};

    enable();
    let lock: lock_api::Mutex<Lock, ()> = lock_api::Mutex::new(());
    let before = trap::ticks();
    let buffers = trap::irq_buffers();
    {
        let _held = lock.lock();
        let off = !enabled();
        sbi::set_timer(0); // in the past: pending at once
        // Bounded wait for the pending bit (OpenSBI may forward it from M-mode).
        let pending = (0..50_000_000).any(|_| trap::timer_pending());
        let not_taken = trap::ticks() == before;
        check!(
            off && pending && not_taken,
            "IRQ-safe lock: sstatus.SIE off while held ({off}); a timer interrupt pending \
             ({pending}) is not taken under the lock ({not_taken})"
        );
    }
    let taken = trap::ticks() - before;
    let dma = trap::irq_buffers() - buffers;
    check!(
        enabled() && taken == 1 && dma == 1,
        "released: SIE back on, the interrupt taken at once ({taken} time), its handler \
         allocated and freed a coherent buffer in interrupt context ({dma})"
    );
}
