//! Shared helpers for the integration tests: a naive backend, a registry holding it,
//! region builders and a scripted reclaim hook.
#![allow(dead_code, unreachable_pub)]

pub mod naive;

use std::sync::Mutex;
use std::vec::Vec;

use contig_cma::{
    AreaSet, BoxedReclaim, Claim, Declaration, Flags, PhysAddr, PhysRange, Reclaim, Region,
    Registry,
};

/// A physical range from raw numbers (test input is known to be valid).
pub fn range(base: u64, size: usize) -> PhysRange {
    PhysRange::new(PhysAddr::new(base), size).expect("test range")
}

/// A registry with the naive test backend under "naive".
pub fn registry() -> Registry {
    let mut registry = Registry::new();
    registry
        .register("naive", |g| {
            Box::new(naive::Naive::with_phase(g.units, g.phase, None))
        })
        .expect("register naive");
    registry
}

/// A plain region of the naive backend.
pub fn region(name: &str, base: u64, size: usize, granule: usize) -> Region {
    let spec = Declaration::new(name, size)
        .granule(granule)
        .backend("naive")
        .at(PhysAddr::new(base))
        .expect("test spec");
    Region::new(spec, &registry(), None).expect("test region")
}

/// A reusable region of the naive backend with `hook`.
pub fn reusable(
    name: &str,
    base: u64,
    size: usize,
    granule: usize,
    retries: usize,
    hook: BoxedReclaim,
) -> Region {
    let spec = Declaration::new(name, size)
        .granule(granule)
        .backend("naive")
        .flags(Flags::REUSABLE)
        .retry_limit(retries)
        .at(PhysAddr::new(base))
        .expect("test spec");
    Region::new(spec, &registry(), Some(hook)).expect("test region")
}

/// An area set of the given regions.
pub fn area(regions: Vec<Region>) -> AreaSet {
    let mut area = AreaSet::new();
    for r in regions {
        area.add(r).expect("add test region");
    }
    area
}

/// A reclaim hook that answers from a script: ranges overlapping a `busy` range are
/// Busy, overlapping a `failing` range Failed, everything else Claimed. It records
/// every claim and keeps the set of ranges the OS has given up, so tests can check
/// that every claimed range is released exactly once.
#[derive(Default)]
pub struct Scripted {
    pub busy: Mutex<Vec<PhysRange>>,
    pub failing: Mutex<Vec<PhysRange>>,
    pub asked: Mutex<Vec<PhysRange>>,
    pub held: Mutex<Vec<PhysRange>>,
    pub bad_releases: Mutex<Vec<PhysRange>>,
}

impl Scripted {
    /// A hook with an empty script, for a `static`.
    pub const fn new() -> Self {
        Self {
            busy: Mutex::new(Vec::new()),
            failing: Mutex::new(Vec::new()),
            asked: Mutex::new(Vec::new()),
            held: Mutex::new(Vec::new()),
            bad_releases: Mutex::new(Vec::new()),
        }
    }

    pub fn busy(ranges: &[PhysRange]) -> Self {
        let s = Self::default();
        s.busy.lock().unwrap().extend_from_slice(ranges);
        s
    }

    pub fn held(&self) -> Vec<PhysRange> {
        let mut v = self.held.lock().unwrap().clone();
        v.sort();
        v
    }
}

impl Reclaim for Scripted {
    fn claim(&self, range: PhysRange) -> Claim {
        self.asked.lock().unwrap().push(range);
        if self
            .failing
            .lock()
            .unwrap()
            .iter()
            .any(|f| f.overlaps(&range))
        {
            return Claim::Failed;
        }
        if self.busy.lock().unwrap().iter().any(|b| b.overlaps(&range)) {
            return Claim::Busy;
        }
        self.held.lock().unwrap().push(range);
        Claim::Claimed
    }

    fn release(&self, range: PhysRange) {
        let mut held = self.held.lock().unwrap();
        match held.iter().position(|&h| h == range) {
            Some(i) => {
                held.swap_remove(i);
            }
            None => self.bad_releases.lock().unwrap().push(range),
        }
    }
}
