//! An interrupt-safe lock: any [`lock_api::RawMutex`] wrapped so that local interrupts
//! are off while it is held (Linux `spin_lock_irqsave` / `spin_unlock_irqrestore`).
//!
//! This module owns [`IrqSafe`] and the [`InterruptControl`] trait a kernel implements
//! for it, and is the only module of this crate with `unsafe` code (the lock keeps the
//! saved interrupt state in a cell only its holder touches). It must never decide how
//! interrupts are masked (the kernel's [`InterruptControl`] does) and never keep any
//! state beyond the one saved word per lock.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::mem::MaybeUninit;

use lock_api::{GuardNoSend, RawMutex};

/// Local interrupt control, implemented by the kernel for the CPU it runs on.
///
/// Both functions act on the *calling* CPU only and must be callable from any context,
/// interrupt handlers included.
pub trait InterruptControl {
    /// What [`disable`](Self::disable) saves: typically the previous interrupt mask or
    /// enable bit (Linux's `unsigned long flags`).
    type State: Copy + Send;

    /// Disables local interrupts and returns their previous state
    /// (`local_irq_save`).
    fn disable() -> Self::State;

    /// Puts local interrupts back to `state`, which [`disable`](Self::disable)
    /// returned on this CPU (`local_irq_restore`): enables them only if they were
    /// enabled then.
    fn restore(state: Self::State);
}

/// A lock that holds local interrupts off while it is held: the inner lock `R` wrapped
/// with interrupt control `I` (Linux `spin_lock_irqsave` / `spin_unlock_irqrestore`).
///
/// Holding it with interrupts off is what makes it safe to take from an interrupt
/// handler and from thread context on the same CPU; everything else (fairness, what
/// other CPUs do while waiting) is the inner lock's.
///
/// # Why a kernel needs it
///
/// A spin lock such as [`DefaultLock`](crate::DefaultLock) only waits for *other* CPUs.
/// If a thread on CPU 0 holds a region's lock and an interrupt arrives on CPU 0 whose
/// handler allocates or frees from the same region, the handler spins for a lock that
/// the code it interrupted holds and that can never run again until the handler
/// returns: CPU 0 deadlocks. Any lock that is taken both in interrupt context and in
/// thread context must therefore be taken with local interrupts disabled, so that the
/// handler cannot run on the CPU that holds it. [`IrqSafe`] does exactly that around
/// any inner lock:
///
/// * **lock**: disable local interrupts and remember their previous state, *then* spin
///   for the inner lock (spinning with interrupts on would let a handler interrupt the
///   spinner after it got the lock but before interrupts went off);
/// * **unlock**: release the inner lock, *then* restore the remembered state (not
///   "enable": a lock taken with interrupts already off, say inside a handler or inside
///   another [`IrqSafe`] lock, leaves them off);
/// * **try_lock**: disable, try, and restore at once if the inner lock was busy.
///
/// Locks nest like Linux's `irqsave` locks: release them in the reverse order of
/// taking them (which guards dropped in scope order do), and the outermost release
/// restores the state from before the first lock. The guards are not `Send`: the
/// interrupt state belongs to the CPU that saved it and must be restored there.
///
/// # How a kernel plugs it in
///
/// Implement [`InterruptControl`] over the CPU's interrupt mask (`cpsid`/`cpsie` and
/// `PRIMASK` on Cortex-M, `csrrc`/`csrs` of `sstatus.SIE` on RISC-V, `DAIF` on AArch64)
/// and use `IrqSafe<YourSpinLock, YourCpu>` as the `R` of [`Region`](crate::Region),
/// [`AreaSet`](crate::AreaSet) and [`GlobalArea`](crate::GlobalArea). Its `INIT` is a
/// constant, so `const fn` constructors keep working in `static`s:
///
/// ```
/// use core::sync::atomic::{AtomicBool, Ordering};
/// use contig_cma::{
///     AreaSet, Declaration, DefaultLock, GlobalArea, InterruptControl, IrqSafe, PhysAddr,
///     Region, Registry, Request,
/// };
///
/// // A stand-in for the CPU's interrupt-enable flag. A real kernel reads and writes the
/// // hardware mask here (e.g. `PRIMASK` with `cpsid i` on a Cortex-M).
/// static ENABLED: AtomicBool = AtomicBool::new(true);
///
/// struct Cpu;
/// impl InterruptControl for Cpu {
///     type State = bool; // were interrupts enabled?
///     fn disable() -> bool {
///         ENABLED.swap(false, Ordering::SeqCst)
///     }
///     fn restore(was_enabled: bool) {
///         ENABLED.store(was_enabled, Ordering::SeqCst);
///     }
/// }
///
/// /// The lock every region of this kernel uses: safe from thread and IRQ context.
/// type Lock = IrqSafe<DefaultLock, Cpu>;
///
/// static AREA: GlobalArea<Lock> = GlobalArea::new();
///
/// let area = AREA
///     .get_or_init(|| {
///         let mut set: AreaSet<Lock> = AreaSet::new();
///         let spec = Declaration::new("dma", 0x1_0000).at(PhysAddr::new(0x8000_0000))?;
///         set.add(Region::new(spec, &Registry::with_builtins()?, None)?)?;
///         Ok(set)
///     })
///     .unwrap();
/// let buf = area.alloc_from_region("dma", &Request::new(0x100)).unwrap();
/// assert!(ENABLED.load(Ordering::SeqCst), "interrupts are back on after the call");
/// drop(buf);
/// ```
///
/// `IrqSafe` makes one CPU safe from itself; the inner lock still has to exclude the
/// other CPUs, so on SMP it must be a real spin lock, not just an interrupt mask.
pub struct IrqSafe<R, I: InterruptControl> {
    inner: R,
    /// The interrupt state from before the current holder's `lock`: written by the
    /// thread that just acquired `inner`, read by that same thread in `unlock` before it
    /// releases `inner`. Uninitialised while nobody holds the lock.
    saved: UnsafeCell<MaybeUninit<I::State>>,
    _control: PhantomData<fn() -> I>,
}

// SAFETY: `saved` is only accessed by the thread that holds `inner` (written right after
// acquiring it, read right before releasing it), so the inner lock's mutual exclusion
// and its acquire/release ordering make those accesses data-race free; what crosses
// threads through it is an `I::State`, which is `Send`. Everything else is `R`, which is
// `Sync` itself.
unsafe impl<R: Sync, I: InterruptControl> Sync for IrqSafe<R, I> {}

impl<R: RawMutex, I: InterruptControl> IrqSafe<R, I> {
    /// Records the interrupt state of the new holder.
    ///
    /// # Safety
    /// The caller holds `inner` and has not stored a state since acquiring it.
    unsafe fn save(&self, state: I::State) {
        // SAFETY: the caller holds `inner`, so no other thread reads or writes `saved`
        // (see the field); the previous holder read its state before releasing `inner`.
        unsafe { (*self.saved.get()).write(state) };
    }

    /// The interrupt state saved by the current holder.
    ///
    /// # Safety
    /// The caller holds `inner` through a successful `lock` or `try_lock` of `self`,
    /// which saved a state.
    unsafe fn saved(&self) -> I::State {
        // SAFETY: the caller holds `inner`, so nobody else touches `saved`, and the
        // `lock`/`try_lock` that acquired it initialised `saved` before returning.
        unsafe { (*self.saved.get()).assume_init() }
    }
}

// SAFETY: mutual exclusion is the inner lock's: `lock` returns only once `inner.lock()`
// has, `try_lock` returns true only if `inner.try_lock()` did, and `unlock` releases
// `inner`, so at most one holder exists at a time exactly as for `R`. Disabling and
// restoring interrupts around it does not change who holds the lock. The guards are
// `GuardNoSend` because the saved interrupt state must be restored on the CPU that
// saved it.
unsafe impl<R: RawMutex, I: InterruptControl> RawMutex for IrqSafe<R, I> {
    #[allow(clippy::declare_interior_mutable_const)] // a fresh lock per use, as `R::INIT`
    const INIT: Self = Self {
        inner: R::INIT,
        saved: UnsafeCell::new(MaybeUninit::uninit()),
        _control: PhantomData,
    };

    type GuardMarker = GuardNoSend;

    fn lock(&self) {
        // Interrupts off before spinning: a handler on this CPU cannot then run between
        // acquiring the lock and masking interrupts.
        let state = I::disable();
        self.inner.lock();
        // SAFETY: `inner` was acquired just above and nothing was stored since.
        unsafe { self.save(state) };
    }

    fn try_lock(&self) -> bool {
        let state = I::disable();
        if self.inner.try_lock() {
            // SAFETY: `inner` was acquired just above and nothing was stored since.
            unsafe { self.save(state) };
            true
        } else {
            // Busy: interrupts go back exactly as they were and nothing was saved.
            I::restore(state);
            false
        }
    }

    unsafe fn unlock(&self) {
        // SAFETY: `RawMutex::unlock`'s contract: the caller holds the lock, acquired
        // through `lock` or `try_lock` of this wrapper, both of which saved a state.
        // It is read while `inner` is still held, before another holder can overwrite it.
        let state = unsafe { self.saved() };
        // SAFETY: same contract: the current context holds `inner`.
        unsafe { self.inner.unlock() };
        // Interrupts come back only after the lock is free, as with
        // `spin_unlock_irqrestore`.
        I::restore(state);
    }

    fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }
}

impl<R, I: InterruptControl> core::fmt::Debug for IrqSafe<R, I> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IrqSafe").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use core::cell::{Cell, RefCell};
    use std::thread_local;
    use std::vec::Vec;

    use lock_api::{Mutex, RawMutex};

    use super::{InterruptControl, IrqSafe};
    use crate::{Declaration, DefaultLock, PhysAddr, Region, Registry, Request};

    /// What the fake controller was asked, in order.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Event {
        /// `disable` found interrupts in this state (true: enabled).
        Disable(bool),
        /// `restore` put them back to this state.
        Restore(bool),
        /// The recording inner lock was asked to lock with interrupts in this state.
        InnerLock(bool),
        /// The recording inner lock was released with interrupts in this state.
        InnerUnlock(bool),
    }

    thread_local! {
        /// This "CPU"'s interrupt-enable flag: each test thread is a CPU of its own.
        static ENABLED: Cell<bool> = const { Cell::new(true) };
        static LOG: RefCell<Vec<Event>> = const { RefCell::new(Vec::new()) };
    }

    fn enabled() -> bool {
        ENABLED.with(Cell::get)
    }

    fn log(event: Event) {
        LOG.with(|l| l.borrow_mut().push(event));
    }

    fn take_log() -> Vec<Event> {
        LOG.with(|l| core::mem::take(&mut *l.borrow_mut()))
    }

    struct Fake;
    impl InterruptControl for Fake {
        type State = bool;
        fn disable() -> bool {
            let was = ENABLED.with(|e| e.replace(false));
            log(Event::Disable(was));
            was
        }
        fn restore(state: bool) {
            log(Event::Restore(state));
            ENABLED.with(|e| e.set(state));
        }
    }

    /// A spin lock that logs the interrupt state it is locked and unlocked in.
    struct Recording(DefaultLock);
    // SAFETY: every call is forwarded to the spin lock, which is a correct `RawMutex`.
    unsafe impl RawMutex for Recording {
        #[allow(clippy::declare_interior_mutable_const)]
        const INIT: Self = Self(DefaultLock::INIT);
        type GuardMarker = <DefaultLock as RawMutex>::GuardMarker;
        fn lock(&self) {
            log(Event::InnerLock(enabled()));
            <DefaultLock as RawMutex>::lock(&self.0);
        }
        fn try_lock(&self) -> bool {
            log(Event::InnerLock(enabled()));
            <DefaultLock as RawMutex>::try_lock(&self.0)
        }
        unsafe fn unlock(&self) {
            log(Event::InnerUnlock(enabled()));
            // SAFETY: forwarded from our own caller, who holds the lock.
            unsafe { <DefaultLock as RawMutex>::unlock(&self.0) }
        }
        fn is_locked(&self) -> bool {
            <DefaultLock as RawMutex>::is_locked(&self.0)
        }
    }

    type Lock = IrqSafe<Recording, Fake>;

    #[test]
    fn irq_off_before_spinning_and_while_held_then_restored_after_unlocking() {
        let m: Mutex<Lock, u32> = Mutex::new(0);
        assert!(enabled());
        {
            let mut g = m.lock();
            assert!(!enabled(), "interrupts must be off while the lock is held");
            *g += 1;
        }
        assert!(enabled());
        assert_eq!(
            take_log(),
            [
                Event::Disable(true),
                Event::InnerLock(false), // spun for with interrupts already off
                Event::InnerUnlock(false),
                Event::Restore(true), // restored only after the lock is free
            ]
        );
    }

    #[test]
    fn irq_state_stays_off_if_it_was_off() {
        // Taken inside a handler (interrupts already off): unlocking must not enable.
        ENABLED.with(|e| e.set(false));
        let m: Mutex<Lock, ()> = Mutex::new(());
        drop(m.lock());
        assert!(!enabled());
        assert_eq!(
            take_log(),
            [
                Event::Disable(false),
                Event::InnerLock(false),
                Event::InnerUnlock(false),
                Event::Restore(false),
            ]
        );
        ENABLED.with(|e| e.set(true));
    }

    #[test]
    fn irq_nested_locks_restore_in_reverse_order() {
        let a: Mutex<Lock, ()> = Mutex::new(());
        let b: Mutex<Lock, ()> = Mutex::new(());
        let ga = a.lock();
        let gb = b.lock();
        assert!(!enabled());
        drop(gb);
        assert!(!enabled(), "the outer lock is still held");
        drop(ga);
        assert!(enabled());
        assert_eq!(
            take_log(),
            [
                Event::Disable(true),
                Event::InnerLock(false),
                Event::Disable(false),
                Event::InnerLock(false),
                Event::InnerUnlock(false),
                Event::Restore(false),
                Event::InnerUnlock(false),
                Event::Restore(true),
            ]
        );
    }

    #[test]
    fn irq_failed_try_lock_leaves_the_state_unchanged() {
        // Busy because this CPU holds it: interrupts stay off for the holder.
        let m: Mutex<Lock, ()> = Mutex::new(());
        let held = m.lock();
        take_log();
        assert!(m.try_lock().is_none());
        assert!(!enabled(), "still off: the first guard holds the lock");
        assert_eq!(
            take_log(),
            [
                Event::Disable(false),
                Event::InnerLock(false),
                Event::Restore(false),
            ]
        );
        drop(held);
        assert!(enabled());

        // Busy because "another CPU" holds the inner lock: interrupts come back on.
        let busy = Lock::INIT;
        <DefaultLock as RawMutex>::lock(&busy.inner.0);
        take_log();
        assert!(!busy.try_lock());
        assert!(enabled());
        assert_eq!(
            take_log(),
            [
                Event::Disable(true),
                Event::InnerLock(false),
                Event::Restore(true),
            ]
        );
        // SAFETY: the inner lock was locked just above, through the inner lock itself.
        unsafe { <DefaultLock as RawMutex>::unlock(&busy.inner.0) };
        assert!(busy.try_lock());
        assert!(!enabled());
        // SAFETY: the try_lock above succeeded.
        unsafe { busy.unlock() };
        assert!(enabled());
    }

    #[test]
    fn irq_safe_region_allocates_and_frees() {
        let spec = Declaration::new("irq", 0x4000)
            .at(PhysAddr::new(0x8000_0000))
            .unwrap();
        let region: Region<IrqSafe<DefaultLock, Fake>> =
            Region::new(spec, &Registry::with_builtins().unwrap(), None).unwrap();
        take_log();
        let a = region.allocate(&Request::new(0x1000)).unwrap();
        assert!(enabled());
        let b = region.allocate(&Request::new(0x1000)).unwrap();
        assert_ne!(a.base(), b.base());
        region.free(a).unwrap();
        assert!(region.free(a).is_err()); // double free: an error, and the lock released
        assert!(enabled());
        region.free(b).unwrap();
        assert_eq!(region.stats().used_bytes(), 0);
        assert!(enabled());
        // Every disable was paired with a restore to the same (enabled) state.
        let log = take_log();
        assert!(!log.is_empty());
        assert!(
            log.chunks(2)
                .all(|p| p == [Event::Disable(true), Event::Restore(true)])
        );
    }

    #[test]
    fn irq_safe_region_shared_by_threads() {
        let spec = Declaration::new("irq", 0x4000)
            .at(PhysAddr::new(0x8000_0000))
            .unwrap();
        let region: Region<IrqSafe<DefaultLock, Fake>> =
            Region::new(spec, &Registry::with_builtins().unwrap(), None).unwrap();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..4 {
                        let got = region.allocate(&Request::new(0x1000)).unwrap();
                        assert!(enabled());
                        region.free(got).unwrap();
                    }
                    assert!(enabled());
                });
            }
        });
        assert_eq!(region.stats().used_bytes(), 0);
    }
}
