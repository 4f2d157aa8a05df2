//! loom models of the coherent pools: two CPUs allocating from one pool, from a
//! device pool and the default pool at once, and one-time initialisation of the
//! default pool.
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom
//!  cargo test -p contig-dma-pool --release --test loom_pool`
#![cfg(loom)]

use std::sync::OnceLock;

use contig_dma_pool::cma::PhysAddr;
use contig_dma_pool::{
    Attrs, CoherentBuffer, CoherentPool, Device, DeviceId, Devices, DmaAddr, GlobalPool, NoMapping,
    PoolOptions,
};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Condvar, Mutex};
use loom::thread;

/// A blocking lock from a loom mutex and condition variable (a spin lock would make
/// loom explore endless spinning). loom objects cannot be `const`, so they are created
/// on first use; every test takes each lock once before spawning (the spawn then
/// orders that creation before every other use).
struct LoomLock(OnceLock<(Mutex<bool>, Condvar)>);

impl LoomLock {
    fn parts(&self) -> &(Mutex<bool>, Condvar) {
        self.0.get_or_init(|| (Mutex::new(false), Condvar::new()))
    }
}

// SAFETY: the `bool` behind the loom mutex says whether the lock is held; `lock` and
// `try_lock` only succeed by turning it from false to true under that mutex and
// `unlock` turns it back, so there is at most one holder; the loom mutex orders each
// holder's writes before the next holder.
unsafe impl lock_api::RawMutex for LoomLock {
    #[allow(clippy::declare_interior_mutable_const)] // each use is a fresh lock, as intended
    const INIT: Self = Self(OnceLock::new());
    type GuardMarker = lock_api::GuardSend;

    fn lock(&self) {
        let (held, freed) = self.parts();
        let mut held = held.lock().unwrap();
        while *held {
            held = freed.wait(held).unwrap();
        }
        *held = true;
    }

    fn try_lock(&self) -> bool {
        let mut held = self.parts().0.lock().unwrap();
        !std::mem::replace(&mut *held, true)
    }

    unsafe fn unlock(&self) {
        let (held, freed) = self.parts();
        *held.lock().unwrap() = false;
        freed.notify_one();
    }
}

type Pool = CoherentPool<'static, LoomLock>;
type Devs = Devices<'static, LoomLock>;

const PAGE: usize = 0x1000;

fn pool(name: &str, base: u64, pages: usize, fallthrough: bool) -> Pool {
    let options = PoolOptions::new().fallthrough(fallthrough);
    let at = PhysAddr::new(base);
    CoherentPool::new(
        name,
        at,
        DmaAddr::new(base),
        pages * PAGE,
        &NoMapping,
        options,
    )
    .unwrap()
}

/// A leaked registry (loom threads need `'static`; one small leak per execution) with
/// one device owning a pool, and the default pool if given; every lock warmed.
fn world(own: Pool, default: Option<Pool>) -> (&'static Devs, DeviceId) {
    let devs: Devs = Devices::new(&NoMapping).unwrap();
    if let Some(d) = default {
        let d: &'static Pool = Box::leak(Box::new(d));
        let _ = d.stats();
        devs.set_default_pool(Some(d)).unwrap();
    }
    let dev = devs.add(Device::new("dev").unwrap()).unwrap();
    devs.declare_coherent(dev, own).unwrap();
    let devs: &'static Devs = Box::leak(Box::new(devs));
    let _ = devs.live(dev);
    let _ = devs.pool(dev).unwrap().unwrap().stats();
    (devs, dev)
}

fn alloc(devs: &'static Devs, dev: DeviceId) -> thread::JoinHandle<CoherentBuffer> {
    // NO_ZERO: the pools have no CPU mapping in these models.
    thread::spawn(move || {
        devs.alloc_coherent(Some(dev), PAGE, Attrs::NO_ZERO)
            .unwrap()
    })
}

#[test]
fn two_cpus_one_pool() {
    loom::model(|| {
        let (devs, dev) = world(pool("p", 0x1_0000, 2, false), None);
        let a = alloc(devs, dev);
        let b = alloc(devs, dev);
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert_ne!(a.phys, b.phys);
        assert_eq!(devs.live(dev).unwrap(), 2);
        // The pool is full now, and exclusive.
        assert!(devs.alloc_coherent(Some(dev), 1, Attrs::NO_ZERO).is_err());
        devs.free_coherent(Some(dev), &a).unwrap();
        devs.free_coherent(Some(dev), &b).unwrap();
        assert_eq!(devs.live(dev).unwrap(), 0);
        assert_eq!(devs.pool(dev).unwrap().unwrap().live(), 0);
    });
}

#[test]
fn two_cpus_pool_and_default() {
    loom::model(|| {
        let own = pool("own", 0x1_0000, 1, true);
        let (devs, dev) = world(own, Some(pool("default", 0x2_0000, 1, false)));
        let a = alloc(devs, dev);
        let b = alloc(devs, dev);
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        // Whoever came first got the device pool's one page, the other the default's.
        let mut got = [a.phys.as_u64(), b.phys.as_u64()];
        got.sort_unstable();
        assert_eq!(got, [0x1_0000, 0x2_0000]);
        assert_eq!(devs.live(dev).unwrap(), 2);
        devs.free_coherent(Some(dev), &a).unwrap();
        devs.free_coherent(Some(dev), &b).unwrap();
        assert_eq!(devs.default_pool().unwrap().live(), 0);
    });
}

#[test]
fn default_pool_built_once() {
    loom::model(|| {
        let cell: &'static GlobalPool<LoomLock> = Box::leak(Box::new(GlobalPool::new()));
        let builds: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
        let _ = cell.get();
        let init = move || {
            thread::spawn(move || {
                let got = cell.get_or_init(|| {
                    builds.fetch_add(1, Ordering::Relaxed);
                    Ok(pool("dma-default", 0x3_0000, 1, false))
                });
                std::ptr::from_ref(got.unwrap()) as usize
            })
        };
        let (a, b) = (init(), init());
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert_eq!(a, b);
        assert_eq!(builds.load(Ordering::Relaxed), 1);
        assert_eq!(std::ptr::from_ref(cell.get().unwrap()) as usize, a);
    });
}
