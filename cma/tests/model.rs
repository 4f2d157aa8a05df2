//! Model-based test of an area set: several regions, a region map, random allocations
//! and frees (right and wrong) checked against an obvious model of which granules of
//! which region are in use.
//!
//! The backends under test place at the lowest fit, so the model predicts every
//! result exactly: which region (the first of the device's list with a fit) and which
//! address, and for frees which error.

// Scenario numbers are small (regions below a few MiB), so narrowing casts are exact.
#![allow(clippy::cast_possible_truncation)]

mod common;

use std::collections::BTreeMap;

use contig_cma::{
    AreaSet, Declaration, Error, PhysAddr, PhysRange, RawAllocation, Region, RegionMap, Registry,
    Request,
};
use quickcheck::{Arbitrary, Gen, QuickCheck};

fn below(g: &mut Gen, n: usize) -> usize {
    if n == 0 { 0 } else { usize::arbitrary(g) % n }
}

/// A region of the scenario.
#[derive(Clone, Debug)]
struct RegionPlan {
    base: u64,
    granule: usize,
    units: usize,
}

#[derive(Clone, Debug)]
enum Op {
    Alloc {
        device: usize,
        size: usize,
        align_log2: u8,
        window: Option<(u64, usize)>,
    },
    AllocFrom {
        regions: Vec<usize>,
        size: usize,
        align_log2: u8,
    },
    Free {
        nth: usize,
    },
    FreeAtWrong {
        nth: usize,
        addr_delta: i64,
        size: usize,
    },
    DoubleFree {
        nth: usize,
    },
    FreeAnywhere {
        addr: u64,
        size: usize,
    },
}

#[derive(Clone, Debug)]
struct Scenario {
    regions: Vec<RegionPlan>,
    /// Per device `d{i}`, indices of its regions in order.
    routes: Vec<Vec<usize>>,
    fallback: Option<Vec<usize>>,
    default: Option<usize>,
    ops: Vec<Op>,
}

const GRANULES: [usize; 4] = [1, 8, 64, 4096];

fn size(g: &mut Gen) -> usize {
    match below(g, 8) {
        0 => 0,
        1 => below(g, 200_000),
        _ => 1 + below(g, 3 * 4096),
    }
}

fn list(g: &mut Gen, n: usize) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    let mut out = Vec::new();
    for _ in 0..1 + below(g, n) {
        let i = below(g, all.len());
        out.push(all.remove(i));
    }
    out
}

impl Arbitrary for Scenario {
    fn arbitrary(g: &mut Gen) -> Self {
        let n = 1 + below(g, 4);
        let mut regions = Vec::new();
        let mut next = (below(g, 64) * 4096) as u64;
        for _ in 0..n {
            let granule = GRANULES[below(g, GRANULES.len())];
            let base = next.next_multiple_of(granule as u64) + (below(g, 3) * granule) as u64;
            let units = 1 + below(g, 48);
            next = base + (units * granule) as u64;
            regions.push(RegionPlan {
                base,
                granule,
                units,
            });
        }
        let routes = (0..below(g, 4)).map(|_| list(g, n)).collect();
        let fallback = bool::arbitrary(g).then(|| list(g, n));
        let default = bool::arbitrary(g).then(|| below(g, n));
        let span = next + 0x2000;
        let ops = (0..below(g, 120))
            .map(|_| match below(g, 12) {
                0..=4 => Op::Alloc {
                    device: below(g, 5),
                    size: size(g),
                    align_log2: below(g, 16) as u8,
                    window: (below(g, 4) == 0)
                        .then(|| (u64::arbitrary(g) % span, below(g, span as usize))),
                },
                5 => Op::AllocFrom {
                    regions: list(g, n + 1), // index n is an unknown name
                    size: size(g),
                    align_log2: below(g, 14) as u8,
                },
                6..=8 => Op::Free {
                    nth: usize::arbitrary(g),
                },
                9 => Op::FreeAtWrong {
                    nth: usize::arbitrary(g),
                    addr_delta: i64::from(i16::arbitrary(g)),
                    size: size(g),
                },
                10 => Op::DoubleFree {
                    nth: usize::arbitrary(g),
                },
                _ => Op::FreeAnywhere {
                    addr: u64::arbitrary(g) % span,
                    size: size(g),
                },
            })
            .collect();
        Self {
            regions,
            routes,
            fallback,
            default,
            ops,
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        // Shorter scripts: halves, then each op removed in turn.
        let this = self.clone();
        let n = self.ops.len();
        let cuts = [n / 2, n.saturating_sub(1)]
            .into_iter()
            .filter(move |&k| k < n);
        let prefixes = cuts.map({
            let this = this.clone();
            move |k| Self {
                ops: this.ops[..k].to_vec(),
                ..this.clone()
            }
        });
        let removals = (0..n).map(move |i| {
            let mut ops = this.ops.clone();
            ops.remove(i);
            Self {
                ops,
                ..this.clone()
            }
        });
        Box::new(prefixes.chain(removals))
    }
}

/// The model of one region: which granules are used and the live allocations.
struct Model {
    plan: RegionPlan,
    used: Vec<bool>,
    live: BTreeMap<usize, usize>,
}

impl Model {
    fn range(&self) -> PhysRange {
        PhysRange::new(
            PhysAddr::new(self.plan.base),
            self.plan.units * self.plan.granule,
        )
        .unwrap()
    }

    /// Every unit where `size` bytes aligned to `align` fit inside `window`, lowest
    /// first; under `order_align` the alignment is at least the count rounded up to a
    /// power of two (genalloc's `first_fit_order_align`).
    fn fits(
        &self,
        size: usize,
        align: usize,
        window: Option<PhysRange>,
        order_align: bool,
    ) -> Vec<usize> {
        let (g, base) = (self.plan.granule as u64, self.plan.base);
        let (mut lo, mut hi) = (0u64, self.plan.units as u64);
        if let Some(w) = window {
            let start = w.base().as_u64().max(base);
            let end = w.end().as_u64().min(base + hi * g);
            if start >= end {
                return Vec::new();
            }
            lo = (start - base).div_ceil(g);
            hi = (end - base) / g;
        }
        let count = size.div_ceil(self.plan.granule) as u64;
        let mut align = (align as u64 / g).max(1);
        if order_align {
            align = align.max(count.next_power_of_two());
        }
        let phase = base / g;
        (lo..hi)
            .filter(|u| (phase + u) % align == 0 && u + count <= hi)
            .filter(|&u| (u..u + count).all(|x| !self.used[x as usize]))
            .map(|u| u as usize)
            .collect()
    }

    fn mark(&mut self, start: usize, count: usize, used: bool) {
        self.used[start..start + count].fill(used);
        if used {
            self.live.insert(start, count);
        } else {
            self.live.remove(&start);
        }
    }

    /// The error a free of `range` must give, or `None` when it must succeed.
    fn free_outcome(&self, range: PhysRange) -> Option<fn(&Error) -> bool> {
        if !self.range().contains_range(&range) {
            return Some(|e| matches!(e, Error::OutsideRegion { .. }));
        }
        if range.is_empty() {
            return Some(|e| matches!(e, Error::ZeroRequest));
        }
        let offset = (range.base().as_u64() - self.plan.base) as usize;
        let g = self.plan.granule;
        let unit = offset / g;
        if offset % g != 0 {
            return Some(|e| matches!(e, Error::NotAllocationStart { .. }));
        }
        if !self.used[unit] {
            return Some(|e| matches!(e, Error::NotAllocated { .. }));
        }
        match self.live.get(&unit) {
            None => Some(|e| matches!(e, Error::NotAllocationStart { .. })),
            Some(&c) if c != range.size().div_ceil(g) => {
                Some(|e| matches!(e, Error::WrongSize { .. }))
            }
            Some(_) => None,
        }
    }
}

/// Where a backend places an allocation among the fits of a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Policy {
    /// Exactly the lowest fit.
    Lowest,
    /// Any fit (best fit and other policies).
    Any,
    /// The lowest fit aligned to the count rounded up to a power of two as well.
    OrderAlign,
}

struct Harness {
    policy: Policy,
    set: AreaSet,
    models: Vec<Model>,
    scenario: Scenario,
    held: Vec<RawAllocation>,
}

fn region_name(i: usize) -> String {
    format!("r{i}")
}

impl Harness {
    fn new(scenario: Scenario, registry: &Registry, backend: &str, policy: Policy) -> Self {
        let mut set = AreaSet::new();
        for (i, p) in scenario.regions.iter().enumerate() {
            let spec = Declaration::new(&region_name(i), p.units * p.granule)
                .granule(p.granule)
                .backend(backend)
                .max_allocations(p.units)
                .at(PhysAddr::new(p.base))
                .unwrap();
            set.add(Region::new(spec, registry, None).unwrap()).unwrap();
        }
        let mut map = RegionMap::new();
        let names = |l: &[usize]| l.iter().map(|&i| region_name(i)).collect::<Vec<_>>();
        for (d, l) in scenario.routes.iter().enumerate() {
            let n = names(l);
            map.route(
                &format!("d{d}"),
                &n.iter().map(String::as_str).collect::<Vec<_>>(),
            )
            .unwrap();
        }
        if let Some(l) = &scenario.fallback {
            let n = names(l);
            map.route("*", &n.iter().map(String::as_str).collect::<Vec<_>>())
                .unwrap();
        }
        set.set_map(&map).unwrap();
        if let Some(d) = scenario.default {
            set.set_default(&region_name(d)).unwrap();
        }
        let models = scenario
            .regions
            .iter()
            .map(|p| Model {
                plan: p.clone(),
                used: vec![false; p.units],
                live: BTreeMap::new(),
            })
            .collect();
        Self {
            policy,
            set,
            models,
            scenario,
            held: Vec::new(),
        }
    }

    fn device_list(&self, device: usize) -> Option<Vec<usize>> {
        if let Some(l) = self.scenario.routes.get(device) {
            return Some(l.clone());
        }
        if let Some(l) = &self.scenario.fallback {
            return Some(l.clone());
        }
        self.scenario.default.map(|d| vec![d])
    }

    /// Runs an allocation through `list` and checks it against the model.
    fn check_alloc(
        &mut self,
        list: &[usize],
        req: &Request,
        got: Result<RawAllocation, Error>,
    ) -> Result<(), String> {
        let order_align = self.policy == Policy::OrderAlign;
        let want = list.iter().find_map(|&r| {
            let fits = self.models[r].fits(req.size(), req.align(), req.window(), order_align);
            (!fits.is_empty()).then_some((r, fits))
        });
        match (got, want) {
            (Ok(raw), Some((r, fits))) => {
                let m = &self.models[r];
                let unit_of = |raw: &RawAllocation| {
                    let offset = raw.range.base().as_u64().checked_sub(m.plan.base)?;
                    (offset % m.plan.granule as u64 == 0)
                        .then_some((offset / m.plan.granule as u64) as usize)
                };
                let u = match unit_of(&raw) {
                    Some(u) if raw.region.index() == r && fits.contains(&u) => u,
                    _ => return Err(format!("{req:?}: got {raw:?}, model r{r} at {fits:?}")),
                };
                if self.policy != Policy::Any && u != fits[0] {
                    return Err(format!(
                        "{req:?}: got {raw:?}, lowest fit r{r} unit {}",
                        fits[0]
                    ));
                }
                if raw.range.size() != req.size() {
                    return Err(format!("{req:?}: size {}", raw.range.size()));
                }
                let count = req.size().div_ceil(m.plan.granule);
                self.models[r].mark(u, count, true);
                self.held.push(raw);
                Ok(())
            }
            (Err(_), None) => Ok(()),
            (got, want) => Err(format!(
                "{req:?} via {list:?}: got {got:?}, model {:?}",
                want.map(|(r, fits)| (r, fits[0]))
            )),
        }
    }

    fn free(&mut self, range: PhysRange, via_handle: Option<RawAllocation>) -> Result<(), String> {
        let owner = self
            .models
            .iter()
            .position(|m| m.range().contains(range.base()));
        let got = match via_handle {
            Some(raw) => self.set.free(RawAllocation { range, ..raw }),
            None => self.set.free_at(range.base(), range.size()),
        }
        .map_err(|e| self.set.to_error(e));
        let Some(r) = owner else {
            return match got {
                Err(Error::UnknownAddress { .. } | Error::OutsideRegion { .. }) => Ok(()),
                other => Err(format!("free {range:?} outside all regions: {other:?}")),
            };
        };
        let model = &mut self.models[r];
        match (model.free_outcome(range), got) {
            (None, Ok(())) => {
                let unit = ((range.base().as_u64() - model.plan.base) / model.plan.granule as u64)
                    as usize;
                let count = model.live[&unit];
                model.mark(unit, count, false);
                self.held.retain(|h| h.range.base() != range.base());
                Ok(())
            }
            (Some(is_expected), Err(e)) if is_expected(&e) => Ok(()),
            (want, got) => Err(format!(
                "free {range:?} in r{r}: got {got:?}, model expects error: {}",
                want.is_some()
            )),
        }
    }

    fn step(&mut self, op: &Op) -> Result<(), String> {
        let align = |l: u8| 1usize << l;
        match op {
            Op::Alloc {
                device,
                size,
                align_log2,
                window,
            } => {
                let mut req = Request::new(*size).aligned(align(*align_log2));
                if let Some((lo, len)) = window {
                    req = req.within(PhysRange::new(PhysAddr::new(*lo), *len).unwrap());
                }
                let got = self
                    .set
                    .alloc(&format!("d{device}"), &req)
                    .map(|a| a.into_raw());
                match self.device_list(*device) {
                    _ if *size == 0 => expect_err(got, |e| matches!(e, Error::ZeroRequest)),
                    None => expect_err(got, |e| matches!(e, Error::NoRegionForDevice { .. })),
                    Some(list) => self.check_alloc(&list, &req, got),
                }
            }
            Op::AllocFrom {
                regions,
                size,
                align_log2,
            } => {
                let req = Request::new(*size).aligned(align(*align_log2));
                let names: Vec<String> = regions.iter().map(|&i| region_name(i)).collect();
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let got = self.set.alloc_from(&refs, &req).map(|a| a.into_raw());
                if *size == 0 {
                    expect_err(got, |e| matches!(e, Error::ZeroRequest))
                } else if regions.iter().any(|&i| i >= self.models.len()) {
                    expect_err(got, |e| matches!(e, Error::UnknownRegion { .. }))
                } else {
                    self.check_alloc(regions, &req, got)
                }
            }
            Op::Free { nth } => match self.nth(*nth) {
                Some(raw) => self.free(raw.range, Some(raw)),
                None => Ok(()),
            },
            Op::FreeAtWrong {
                nth,
                addr_delta,
                size,
            } => match self.nth(*nth) {
                Some(raw) => {
                    let addr = raw.range.base().as_u64().saturating_add_signed(*addr_delta);
                    match PhysRange::new(PhysAddr::new(addr), *size) {
                        Ok(range) => self.free(range, None),
                        Err(_) => Ok(()),
                    }
                }
                None => Ok(()),
            },
            Op::DoubleFree { nth } => match self.nth(*nth) {
                Some(raw) => {
                    self.free(raw.range, Some(raw))?;
                    self.free(raw.range, Some(raw))
                }
                None => Ok(()),
            },
            Op::FreeAnywhere { addr, size } => {
                self.free(PhysRange::new(PhysAddr::new(*addr), *size).unwrap(), None)
            }
        }
    }

    fn nth(&self, n: usize) -> Option<RawAllocation> {
        (!self.held.is_empty()).then(|| self.held[n % self.held.len()])
    }

    fn check_state(&self) -> Result<(), String> {
        for (i, m) in self.models.iter().enumerate() {
            let s = self.set.stats(&region_name(i)).unwrap();
            let used = m.used.iter().filter(|&&u| u).count() * m.plan.granule;
            if s.used_bytes() != used || s.backend.live_allocations != m.live.len() {
                return Err(format!(
                    "r{i}: stats {s:?}, model used {used} live {}",
                    m.live.len()
                ));
            }
            let mut listed = Vec::new();
            self.set
                .get(contig_cma::RegionId::new(i))
                .unwrap()
                .for_each_allocation(&mut |r| listed.push(r));
            let want: Vec<PhysRange> = m
                .live
                .iter()
                .map(|(&u, &c)| {
                    PhysRange::new(
                        PhysAddr::new(m.plan.base + (u * m.plan.granule) as u64),
                        c * m.plan.granule,
                    )
                    .unwrap()
                })
                .collect();
            if listed != want {
                return Err(format!("r{i}: allocations {listed:?}, model {want:?}"));
            }
        }
        Ok(())
    }
}

fn expect_err(got: Result<RawAllocation, Error>, ok: fn(&Error) -> bool) -> Result<(), String> {
    match got {
        Err(e) if ok(&e) => Ok(()),
        other => Err(format!("unexpected {other:?}")),
    }
}

fn run(
    scenario: Scenario,
    registry: &Registry,
    backend: &str,
    policy: Policy,
) -> Result<(), String> {
    let ops = scenario.ops.clone();
    let mut h = Harness::new(scenario, registry, backend, policy);
    for (i, op) in ops.iter().enumerate() {
        h.step(op).map_err(|e| format!("step {i} {op:?}: {e}"))?;
        h.check_state()
            .map_err(|e| format!("after step {i} {op:?}: {e}"))?;
    }
    // Free everything left: the set must end empty.
    while let Some(raw) = h.held.first().copied() {
        h.free(raw.range, Some(raw))?;
    }
    h.check_state()
}

fn check(prop: fn(Scenario) -> Result<(), String>) {
    QuickCheck::new().tests(300).quickcheck(prop);
}

#[test]
fn area_set_matches_model_naive() {
    fn prop(s: Scenario) -> Result<(), String> {
        run(s, &common::registry(), "naive", Policy::Lowest)
    }
    check(prop);
}

#[test]
fn area_set_matches_model_first_fit() {
    fn prop(s: Scenario) -> Result<(), String> {
        run(
            s,
            &Registry::with_builtins().unwrap(),
            "first-fit",
            Policy::Lowest,
        )
    }
    check(prop);
}

#[test]
fn area_set_matches_model_bitmap() {
    fn prop(s: Scenario) -> Result<(), String> {
        run(
            s,
            &Registry::with_builtins().unwrap(),
            "bitmap",
            Policy::Lowest,
        )
    }
    check(prop);
}

#[test]
fn area_set_matches_model_tlsf() {
    fn prop(s: Scenario) -> Result<(), String> {
        run(s, &Registry::with_builtins().unwrap(), "tlsf", Policy::Any)
    }
    check(prop);
}

#[test]
fn area_set_matches_model_genalloc() {
    fn prop(s: Scenario) -> Result<(), String> {
        run(
            s,
            &Registry::with_builtins().unwrap(),
            "genalloc",
            Policy::Lowest,
        )
    }
    check(prop);
}

#[test]
fn area_set_matches_model_genalloc_best_fit() {
    fn prop(s: Scenario) -> Result<(), String> {
        run(
            s,
            &Registry::with_builtins().unwrap(),
            "genalloc-best-fit",
            Policy::Any,
        )
    }
    check(prop);
}

#[test]
fn area_set_matches_model_genalloc_order_align() {
    fn prop(s: Scenario) -> Result<(), String> {
        run(
            s,
            &Registry::with_builtins().unwrap(),
            "genalloc-order-align",
            Policy::OrderAlign,
        )
    }
    check(prop);
}
