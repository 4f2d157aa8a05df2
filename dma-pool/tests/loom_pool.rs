//! loom models of the coherent pools: two CPUs allocating from one pool, from a
//! device pool and the default pool at once, one-time initialisation of the default
//! pool, and the registry changing through `&self` while a CPU allocates and frees:
//! a pool released or declared, a device added and removed.
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom
//!  cargo test -p contig-dma-pool --release --test loom_pool`
#![cfg(loom)]

use std::sync::OnceLock;

use contig_dma_pool::cma::PhysAddr;
use contig_dma_pool::{
    Attrs, CoherentBuffer, CoherentPool, Device, DeviceId, Devices, DmaAddr, Error, GlobalPool,
    NoMapping, PoolOptions,
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
        devs.set_default_pool(Some(d)).unwrap();
    }
    let dev = devs.add(Device::new("dev").unwrap()).unwrap();
    devs.declare_coherent(dev, own).unwrap();
    let devs: &'static Devs = Box::leak(Box::new(devs));
    let _ = devs.live(dev);
    let own = devs.pool(dev).unwrap().unwrap();
    let _ = (own.stats(), own.records());
    drop(own);
    if let Some(d) = devs.default_pool() {
        let _ = (d.stats(), d.records());
    }
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

/// A CPU allocates a page and frees it while setup releases the device's pool (and
/// declares it again when that worked). The release must never take a pool with a
/// live buffer or one a call is using; whichever way it goes, the buffer is freed,
/// and every count ends at zero.
#[test]
fn release_races_alloc_and_free() {
    // Which outcomes the executions reached (outside loom: counted across them).
    static RELEASED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    static REFUSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    loom::model(|| {
        let own = pool("own", 0x1_0000, 1, true);
        let (devs, dev) = world(own, Some(pool("default", 0x2_0000, 1, false)));
        let cpu = thread::spawn(move || {
            let buf = devs
                .alloc_coherent(Some(dev), PAGE, Attrs::NO_ZERO)
                .unwrap();
            devs.free_coherent(Some(dev), &buf).unwrap();
            buf.phys.as_u64()
        });
        let released = devs.release_coherent(dev);
        let from = cpu.join().unwrap();
        match released {
            Ok(pool) => {
                assert_eq!((pool.live(), pool.records()), (0, 0));
                devs.declare_coherent(dev, pool).unwrap();
                RELEASED.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            // The CPU held the pool, or had a live buffer in it: only possible if
            // the buffer came from that pool.
            Err(Error::DeviceBusy { .. } | Error::PoolLive { .. }) => {
                assert_eq!(from, 0x1_0000);
                REFUSED.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
        assert!(from == 0x1_0000 || from == 0x2_0000);
        assert_eq!(devs.live(dev).unwrap(), 0);
        assert_eq!(devs.pool(dev).unwrap().unwrap().records(), 0);
        assert_eq!(devs.default_pool().unwrap().records(), 0);
    });
    assert!(
        RELEASED.load(std::sync::atomic::Ordering::Relaxed),
        "never released"
    );
    assert!(
        REFUSED.load(std::sync::atomic::Ordering::Relaxed),
        "never refused"
    );
}

/// A CPU allocates for a device with no pool (from the default) while setup declares
/// an exclusive pool for it: the buffer comes from one of the two, and is freed
/// through the device either way.
#[test]
fn declare_races_alloc_and_free() {
    static SOURCES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    loom::model(|| {
        let devs: Devs = Devices::new(&NoMapping).unwrap();
        let default: &'static Pool = Box::leak(Box::new(pool("default", 0x2_0000, 1, false)));
        devs.set_default_pool(Some(default)).unwrap();
        let _ = (default.stats(), default.records());
        let dev = devs.add(Device::new("dev").unwrap()).unwrap();
        let devs: &'static Devs = Box::leak(Box::new(devs));
        let _ = devs.live(dev);
        let own = pool("own", 0x1_0000, 1, false);
        let _ = (own.stats(), own.records());
        let cpu = thread::spawn(move || {
            let buf = devs
                .alloc_coherent(Some(dev), PAGE, Attrs::NO_ZERO)
                .unwrap();
            devs.free_coherent(Some(dev), &buf).unwrap();
            buf.phys.as_u64()
        });
        devs.declare_coherent(dev, own).unwrap();
        let from = cpu.join().unwrap();
        assert!(from == 0x1_0000 || from == 0x2_0000);
        let bit = if from == 0x1_0000 { 1 } else { 2 };
        SOURCES.fetch_or(bit, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(devs.live(dev).unwrap(), 0);
        assert_eq!(devs.pool(dev).unwrap().unwrap().records(), 0);
        assert_eq!(default.records(), 0);
    });
    // Both orders were explored: the buffer came from the new pool and the default.
    assert_eq!(SOURCES.load(std::sync::atomic::Ordering::Relaxed), 3);
}

/// Setup removes one device and adds another while a CPU allocates for a third: the
/// CPU never waits for setup and never sees a half-made entry.
#[test]
fn add_and_remove_race_alloc() {
    loom::model(|| {
        let (devs, dev) = world(pool("own", 0x1_0000, 1, false), None);
        let gone = devs.add(Device::new("gone").unwrap()).unwrap();
        let cpu = thread::spawn(move || {
            let buf = devs
                .alloc_coherent(Some(dev), PAGE, Attrs::NO_ZERO)
                .unwrap();
            let found = devs.find("new");
            devs.free_coherent(Some(dev), &buf).unwrap();
            found
        });
        devs.remove(gone).unwrap();
        let new = devs.add(Device::new("new").unwrap()).unwrap();
        let found = cpu.join().unwrap();
        assert!(found.is_none() || found == Some(new));
        assert!(devs.live(gone).is_err());
        assert_eq!(devs.live(dev).unwrap(), 0);
    });
}
