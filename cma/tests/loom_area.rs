//! loom models of the locked paths: concurrent allocate/free on one region, a busy
//! reclaim racing with a free, and one-time initialisation of the global area.
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom
//!  cargo test -p contig-cma --release --test loom_area`
#![cfg(loom)]
// Test addresses are a few pages, so narrowing casts are exact.
#![allow(clippy::cast_possible_truncation)]

mod common;

use std::sync::OnceLock;

use contig_cma::{
    AreaSet, Claim, Declaration, Error, Flags, GlobalArea, PhysAddr, PhysRange, RawAllocation,
    Reclaim, Region, Request,
};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

/// A blocking lock built from a loom mutex and condition variable (a spin lock would
/// make loom explore endless spinning), so loom explores every interleaving of region
/// locks. `RawMutex::INIT` must be a constant but loom objects are not `const`: they
/// are created on first use. loom sees that creation as a write, so every test takes
/// each lock once on the main thread before spawning (see [`warm`]); the spawn then
/// orders the creation before every other use.
struct LoomLock(OnceLock<(Mutex<bool>, Condvar)>);

impl LoomLock {
    fn parts(&self) -> &(Mutex<bool>, Condvar) {
        self.0.get_or_init(|| (Mutex::new(false), Condvar::new()))
    }
}

// SAFETY: the `bool` behind the loom mutex says whether the lock is held; `lock` and
// `try_lock` only succeed by turning it from false to true under that mutex, and
// `unlock` turns it back, so at most one holder exists at a time. The loom mutex orders
// each holder's writes before the next holder.
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

type Set = AreaSet<LoomLock>;

/// Creates the loom flag of every region lock on the calling thread.
fn warm(set: &Set) {
    for (_, region) in set.regions() {
        let _ = region.stats();
    }
}

const G: usize = 0x1000;

fn unit(i: u64) -> PhysRange {
    PhysRange::new(PhysAddr::new(i * G as u64), G).unwrap()
}

fn plain_set(units: usize) -> Set {
    let spec = Declaration::new("r", units * G)
        .backend("naive")
        .at(PhysAddr::new(0))
        .unwrap();
    let mut set = AreaSet::new();
    set.add(Region::new(spec, &common::registry(), None).unwrap())
        .unwrap();
    set
}

/// Which units some thread believes it owns; claiming an owned unit is an overlap.
struct Owners(Mutex<Vec<bool>>);

impl Owners {
    fn take(&self, r: PhysRange) {
        let mut owned = self.0.lock().unwrap();
        for u in r.base().as_u64() as usize / G..r.end().as_u64() as usize / G {
            assert!(!owned[u], "unit {u} handed out twice");
            owned[u] = true;
        }
    }

    fn give(&self, r: PhysRange) {
        let mut owned = self.0.lock().unwrap();
        for u in r.base().as_u64() as usize / G..r.end().as_u64() as usize / G {
            owned[u] = false;
        }
    }
}

#[test]
fn concurrent_allocations_never_overlap() {
    loom::model(|| {
        // 5 units: at most 2 + 2 + 1 are held at once, so every allocation succeeds.
        let set = Arc::new(plain_set(5));
        warm(&set);
        let owners = Arc::new(Owners(Mutex::new(vec![false; 5])));
        let churn = {
            let (set, owners) = (set.clone(), owners.clone());
            thread::spawn(move || {
                let a = set.alloc_from_region("r", &Request::new(G)).unwrap();
                owners.take(a.range());
                let b = set.alloc_from_region("r", &Request::new(G)).unwrap();
                owners.take(b.range());
                owners.give(a.range());
                drop(a);
                b.into_raw()
            })
        };
        let (set2, owners2) = (set.clone(), owners.clone());
        let pair = thread::spawn(move || {
            let c = set2.alloc_from_region("r", &Request::new(2 * G)).unwrap();
            owners2.take(c.range());
            c.into_raw()
        });
        // The main thread is the third one: allocate and free a unit meanwhile.
        let x = set.alloc_from_region("r", &Request::new(G)).unwrap();
        owners.take(x.range());
        owners.give(x.range());
        drop(x);
        let b = churn.join().unwrap();
        let c = pair.join().unwrap();
        assert!(!b.range.overlaps(&c.range));
        assert_eq!(set.stats("r").unwrap().used_bytes(), 3 * G);
        set.free(b).unwrap();
        set.free(c).unwrap();
        assert_eq!(set.stats("r").unwrap().used_bytes(), 0);
    });
}

/// Unit 0 is always busy; tracks what the OS has given up and panics on a claim of a
/// range it already gave up (a missing or late release).
struct BusyFirst {
    held: Mutex<Vec<PhysRange>>,
}

impl Reclaim for BusyFirst {
    fn claim(&self, range: PhysRange) -> Claim {
        if range.overlaps(&unit(0)) {
            return Claim::Busy;
        }
        let mut held = self.held.lock().unwrap();
        assert!(
            !held.iter().any(|h| h.overlaps(&range)),
            "{range:?} claimed twice"
        );
        held.push(range);
        Claim::Claimed
    }

    fn release(&self, range: PhysRange) {
        let mut held = self.held.lock().unwrap();
        let i = held
            .iter()
            .position(|&h| h == range)
            .expect("release of an unclaimed range");
        held.swap_remove(i);
    }
}

#[test]
fn busy_reclaim_races_with_a_free() {
    loom::model(|| {
        let hook: &'static BusyFirst = Box::leak(Box::new(BusyFirst {
            held: Mutex::new(Vec::new()),
        }));
        let spec = Declaration::new("cma", 2 * G)
            .backend("naive")
            .flags(Flags::REUSABLE)
            .at(PhysAddr::new(0))
            .unwrap();
        let region = Region::new(spec, &common::registry(), Some(Box::new(hook))).unwrap();
        let mut set: Set = AreaSet::new();
        set.add(region).unwrap();
        let set = Arc::new(set);
        warm(&set);
        // Unit 0 is busy, so this lands on unit 1.
        let first = set
            .alloc_from_region("cma", &Request::new(G))
            .unwrap()
            .into_raw();
        assert_eq!(first.range, unit(1));

        let freer = {
            let set = set.clone();
            thread::spawn(move || set.free(first).unwrap())
        };
        let got = set
            .alloc_from_region("cma", &Request::new(G))
            .map(|a| a.into_raw());
        freer.join().unwrap();

        let held = hook.held.lock().unwrap().clone();
        let used = set.stats("cma").unwrap().used_bytes();
        match got {
            // The free came first: unit 1 was released, then claimed again.
            Ok(RawAllocation { range, .. }) => {
                assert_eq!((range, held, used), (unit(1), vec![unit(1)], G));
            }
            // Unit 0 busy and unit 1 still taken: nothing leaked.
            Err(Error::ReclaimAllBusy { busy: 1, .. }) => {
                assert_eq!((held, used), (vec![], 0));
            }
            Err(e) => panic!("{e}"),
        }
        // Box::leak of the hook per execution is fine: the loom Mutex inside it is only
        // used within this execution.
    });
}

#[test]
fn global_area_is_built_once() {
    loom::model(|| {
        let global: Arc<GlobalArea<LoomLock>> = Arc::new(GlobalArea::new());
        let builds = Arc::new(AtomicUsize::new(0));
        assert!(global.get().is_none()); // creates the lock's loom flag before the spawns
        let init = |global: Arc<GlobalArea<LoomLock>>, builds: Arc<AtomicUsize>| {
            move || {
                let area = global
                    .get_or_init(|| {
                        builds.fetch_add(1, Ordering::Relaxed);
                        Ok(AreaSet::new())
                    })
                    .unwrap();
                area as *const Set as usize
            }
        };
        let t1 = thread::spawn(init(global.clone(), builds.clone()));
        let t2 = thread::spawn(init(global.clone(), builds.clone()));
        let seen = global.get().map(|a| a as *const Set as usize);
        let (a, b) = (t1.join().unwrap(), t2.join().unwrap());
        assert_eq!(a, b);
        assert!(seen.is_none() || seen == Some(a));
        assert_eq!(builds.load(Ordering::Relaxed), 1);
    });
}
