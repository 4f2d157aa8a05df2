//! Area churn: an area set of up to four regions (built-in backends, some reusable)
//! behind a fuzzed region map, driven by arbitrary allocations and frees (right and
//! wrong) with reclaim outcomes (busy, failed) injected from the input.
//!
//! Checked after every step: allocations never overlap and lie inside a region the
//! device may use; each region's stats match the live allocations exactly; the reclaim
//! hook holds exactly the live granules of reusable regions (nothing leaked, nothing
//! claimed twice, nothing released that was not claimed); a refused free changes
//! nothing. Any panic inside the library is a finding too.
#![no_main]

use std::sync::{Arc, Mutex};

use arbitrary::Arbitrary;
use contig_cma::{
    AreaSet, BUILTIN_BACKENDS, Claim, Declaration, Flags, PhysAddr, PhysRange, RawAllocation,
    Reclaim, Region, RegionMap, Registry, Request,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct RegionIn {
    backend: u8,
    granule_log2: u8,
    units: u8,
    gap: u8,
    reusable: bool,
    retry_limit: u8,
}

#[derive(Arbitrary, Debug)]
enum OpIn {
    Alloc { device: u8, size: u16, align_log2: u8, window: Option<(u32, u32)> },
    AllocFrom { regions: Vec<u8>, size: u16, align_log2: u8 },
    Free { nth: u16 },
    FreeAtWrong { nth: u16, delta: i16, size: u16 },
    DoubleFree { nth: u16 },
    Claim { addr: u32, size: u16 },
    AllocKind { device: u8, kind: u8, size: u16 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    regions: Vec<RegionIn>,
    /// Tried as a region map; a map that does not parse or names unknown regions is
    /// replaced by one device per region.
    map: String,
    /// Reclaim outcomes, consumed one per claim: 0 Busy, 1 Failed, anything else Claimed.
    reclaim: Vec<u8>,
    ops: Vec<OpIn>,
}

/// The OS side of every reusable region, answering from the input's script.
#[derive(Default)]
struct Injected {
    script: Vec<u8>,
    next: Mutex<usize>,
    held: Mutex<Vec<PhysRange>>,
}

struct Hook(Arc<Injected>);

impl Reclaim for Hook {
    fn claim(&self, range: PhysRange) -> Claim {
        let mut next = self.0.next.lock().unwrap();
        let outcome = self.0.script.get(*next).copied().unwrap_or(2);
        *next += 1;
        match outcome {
            0 => Claim::Busy,
            1 => Claim::Failed,
            _ => {
                let mut held = self.0.held.lock().unwrap();
                assert!(!held.iter().any(|h| h.overlaps(&range)), "{range:?} claimed twice");
                held.push(range);
                Claim::Claimed
            }
        }
    }

    fn release(&self, range: PhysRange) {
        let mut held = self.0.held.lock().unwrap();
        let i = held.iter().position(|&h| h == range).expect("release of an unclaimed range");
        held.swap_remove(i);
    }
}

fn name(i: usize) -> String {
    format!("r{i}")
}

fn build(input: &Input, hook: &Arc<Injected>) -> AreaSet {
    let registry = Registry::with_builtins().unwrap();
    let mut set = AreaSet::new();
    let mut next = 0u64;
    for (i, r) in input.regions.iter().take(4).enumerate() {
        let granule = 1usize << (r.granule_log2 % 13);
        let size = (1 + usize::from(r.units % 64)) * granule;
        let base = next.next_multiple_of(granule as u64) + u64::from(r.gap % 4) * granule as u64;
        next = base + size as u64;
        let backend = BUILTIN_BACKENDS[usize::from(r.backend) % BUILTIN_BACKENDS.len()];
        let flags = if r.reusable { Flags::REUSABLE } else { Flags::NONE };
        let spec = Declaration::new(&name(i), size)
            .granule(granule)
            .backend(backend)
            .flags(flags)
            .retry_limit(usize::from(r.retry_limit % 8))
            .at(PhysAddr::new(base))
            .expect("valid by construction");
        let reclaim = r.reusable.then(|| Box::new(Hook(hook.clone())) as _);
        let region = Region::new(spec, &registry, reclaim).expect("valid by construction");
        set.add(region).expect("disjoint by construction");
    }
    let parsed = input.map.parse::<RegionMap>();
    if !parsed.is_ok_and(|m| set.set_map(&m).is_ok()) {
        let mut map = RegionMap::new();
        for i in 0..set.regions().count() {
            map.route(&format!("d{i}"), &[&name(i)]).unwrap();
        }
        set.set_map(&map).unwrap();
    }
    set
}

/// The whole granules an allocation occupies.
fn granules(set: &AreaSet, raw: &RawAllocation) -> PhysRange {
    let g = set.get(raw.region).unwrap().spec().granule();
    PhysRange::new(raw.range.base(), raw.range.size().div_ceil(g) * g).unwrap()
}

struct State {
    set: AreaSet,
    hook: Arc<Injected>,
    live: Vec<RawAllocation>,
}

impl State {
    fn allocated(&mut self, raw: RawAllocation, allowed: &[usize]) {
        let whole = granules(&self.set, &raw);
        let region = self.set.get(raw.region).unwrap();
        assert!(allowed.contains(&raw.region.index()), "{raw:?} not from {allowed:?}");
        assert!(region.range().contains_range(&whole), "{raw:?} outside its region");
        for other in &self.live {
            assert!(!granules(&self.set, other).overlaps(&whole), "{raw:?} overlaps {other:?}");
        }
        self.live.push(raw);
    }

    fn freed(&mut self, range: PhysRange, ok: bool) {
        let found = self.live.iter().position(|l| {
            l.range.base() == range.base() && {
                let g = self.set.get(l.region).unwrap().spec().granule();
                l.range.size().div_ceil(g) == range.size().div_ceil(g)
            }
        });
        match (ok, found) {
            (true, Some(i)) => {
                self.live.swap_remove(i);
            }
            (true, None) => panic!("free of {range:?} succeeded but nothing lives there"),
            (false, _) => {}
        }
    }

    fn check(&self) {
        let mut reusable_live = Vec::new();
        for (id, region) in self.set.regions() {
            let mine: Vec<_> = self.live.iter().filter(|l| l.region == id).collect();
            let used: usize = mine.iter().map(|l| granules(&self.set, l).size()).sum();
            let stats = region.stats();
            assert_eq!(stats.used_bytes(), used, "{}", region.name());
            assert_eq!(stats.backend.live_allocations, mine.len(), "{}", region.name());
            if region.flags().is_reusable() {
                reusable_live.extend(mine.iter().map(|l| granules(&self.set, l)));
            }
        }
        let mut held = self.hook.held.lock().unwrap().clone();
        held.sort();
        reusable_live.sort();
        assert_eq!(held, reusable_live, "reclaim hook out of step with live allocations");
    }

    fn nth(&self, n: u16) -> Option<RawAllocation> {
        (!self.live.is_empty()).then(|| self.live[usize::from(n) % self.live.len()])
    }

    fn step(&mut self, op: &OpIn) {
        let align = |l: u8| 1usize << (l % 20);
        match op {
            OpIn::Alloc { device, size, align_log2, window } => {
                let mut req = Request::new(usize::from(*size)).aligned(align(*align_log2));
                if let Some((lo, len)) = window {
                    req = req.within(PhysRange::new(PhysAddr::new(u64::from(*lo)), *len as usize).unwrap());
                }
                let device = format!("d{}", device % 5);
                let allowed: Vec<usize> = match self.set.regions_for(&device) {
                    Ok(list) => list.iter().map(|id| id.index()).collect(),
                    Err(_) => Vec::new(),
                };
                if let Ok(raw) = self.set.alloc(&device, &req).map(|a| a.into_raw()) {
                    self.allocated(raw, &allowed);
                }
            }
            OpIn::AllocFrom { regions, size, align_log2 } => {
                let names: Vec<String> = regions.iter().take(5).map(|&i| name(usize::from(i % 5))).collect();
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let req = Request::new(usize::from(*size)).aligned(align(*align_log2));
                if let Ok(raw) = self.set.alloc_from(&refs, &req).map(|a| a.into_raw()) {
                    let allowed: Vec<usize> =
                        refs.iter().filter_map(|n| self.set.id_of(n).ok()).map(|id| id.index()).collect();
                    self.allocated(raw, &allowed);
                }
            }
            OpIn::Free { nth } => {
                if let Some(raw) = self.nth(*nth) {
                    let ok = self.set.free(raw).is_ok();
                    assert!(ok, "free of live {raw:?} refused");
                    self.freed(raw.range, ok);
                }
            }
            OpIn::FreeAtWrong { nth, delta, size } => {
                if let Some(raw) = self.nth(*nth) {
                    let addr = raw.range.base().as_u64().saturating_add_signed(i64::from(*delta));
                    if let Ok(range) = PhysRange::new(PhysAddr::new(addr), usize::from(*size)) {
                        let ok = self.set.free_at(range.base(), range.size()).is_ok();
                        self.freed(range, ok);
                    }
                }
            }
            OpIn::Claim { addr, size } => {
                let Ok(range) = PhysRange::new(PhysAddr::new(u64::from(*addr)), usize::from(*size)) else {
                    return;
                };
                if let Ok(raw) = self.set.claim(range).map(|a| a.into_raw()) {
                    assert!(raw.range.contains_range(&range), "claim {range:?} gave {raw:?}");
                    self.allocated(raw, &[raw.region.index()]);
                }
            }
            OpIn::AllocKind { device, kind, size } => {
                let (device, kind) = (format!("d{}", device % 5), format!("k{}", kind % 2));
                // Either the kind's own entry or what the device would get; the public
                // API cannot tell which applies, so accept both lists.
                let kinded = format!("{device}/{kind}");
                let allowed: Vec<usize> = [kinded.as_str(), device.as_str()]
                    .iter()
                    .filter_map(|d| self.set.regions_for(d).ok())
                    .flat_map(|l| l.iter().map(|id| id.index()))
                    .collect();
                let req = Request::new(usize::from(*size));
                if let Ok(raw) = self.set.alloc_kind(&device, &kind, &req).map(|a| a.into_raw()) {
                    self.allocated(raw, &allowed);
                }
            }
            OpIn::DoubleFree { nth } => {
                if let Some(raw) = self.nth(*nth) {
                    assert!(self.set.free(raw).is_ok());
                    self.freed(raw.range, true);
                    assert!(self.set.free(raw).is_err(), "double free of {raw:?} accepted");
                }
            }
        }
    }
}

fuzz_target!(|input: Input| {
    let hook = Arc::new(Injected { script: input.reclaim.clone(), ..Injected::default() });
    let set = build(&input, &hook);
    let mut state = State { set, hook, live: Vec::new() };
    for op in input.ops.iter().take(256) {
        state.step(op);
        state.check();
    }
    while let Some(raw) = state.live.pop() {
        state.set.free(raw).expect("final free");
    }
    state.live.clear();
    state.check();
});
