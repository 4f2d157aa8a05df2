//! The memory map of a plan: every region with its use and occupancy, every placed
//! thing with its kind and region.
//!
//! This module owns [`MemoryMap`], [`RegionRow`], [`Alloc`] and [`EntryRow`], the plain
//! data both the text report and the SVG draw from. Occupancy of a region an allocator
//! manages (a pool, a CMA area) is that allocator's own statistics; of any other region
//! it is the union of what the boot placed there (bound carveouts and rings, segments,
//! the table, trace buffers). It must never print nor draw.
#![forbid(unsafe_code)]

use contig_dma_pool::cma::Flags;
use contig_dma_pool::fdt::Layout;
use contig_rproc_glue::rsc::{Resource, RscTable};
use contig_rproc_glue::vring::vring_size;
use contig_rproc_glue::{MemKind, Origin};

use crate::plan::{Plan, SetAside, Snapshot, Use, role_name};

/// The backend column of a region no allocator manages (a remote processor's memory
/// entry, or a region nothing uses).
pub(crate) const NO_BACKEND: &str = "none";

/// What a placed range is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AllocKind {
    /// A carveout of the table.
    Carveout,
    /// A vring.
    Vring,
    /// A vdev's buffer pool.
    VdevBuffer,
    /// A trace buffer.
    Trace,
    /// Device memory.
    Devmem,
    /// A firmware segment.
    Segment,
    /// The installed resource table.
    Table,
}

impl AllocKind {
    /// The word for it.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Self::Carveout => "carveout",
            Self::Vring => "vring",
            Self::VdevBuffer => "vdev buffers",
            Self::Trace => "trace",
            Self::Devmem => "devmem",
            Self::Segment => "segment",
            Self::Table => "rsc table",
        }
    }
}

/// A placed range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Alloc {
    /// What it is.
    pub(crate) kind: AllocKind,
    /// Its label.
    pub(crate) label: String,
    /// Device address.
    pub(crate) da: Option<u64>,
    /// Physical address.
    pub(crate) pa: u64,
    /// Bytes.
    pub(crate) len: u64,
    /// The region holding it.
    pub(crate) region: Option<usize>,
}

/// A region and how it is used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RegionRow {
    /// Name.
    pub(crate) name: String,
    /// Base.
    pub(crate) base: u64,
    /// Bytes.
    pub(crate) size: u64,
    /// `no-map`, `reusable`, `dynamic`, the default it is.
    pub(crate) flags: String,
    /// What it is for.
    pub(crate) role: String,
    /// Which allocator backend manages it, or [`NO_BACKEND`].
    pub(crate) backend: String,
    /// Bytes used.
    pub(crate) used: u64,
    /// Bytes free.
    pub(crate) free: u64,
    /// Longest free run.
    pub(crate) largest_free: u64,
    /// Free runs.
    pub(crate) free_extents: usize,
}

impl RegionRow {
    /// External fragmentation: the share of free bytes outside the longest free run.
    pub(crate) fn fragmentation(&self) -> f64 {
        if self.free == 0 {
            return 0.0;
        }
        // Region sizes are far below 2^52: exact as f64.
        #[allow(clippy::cast_precision_loss)]
        let share = 1.0 - self.largest_free as f64 / self.free as f64;
        share * 100.0
    }
}

/// Where one table entry (or one of its vrings) landed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EntryRow {
    /// Table index.
    pub(crate) index: u32,
    /// Type and name, e.g. `carveout heap`, `vdev 7 vring 0`.
    pub(crate) what: String,
    /// `da`, `pa`, bytes, region name, notes; `None` if not placed.
    pub(crate) placed: Option<(u64, u64, u64, String)>,
    /// Notes (matching, notify ids, problem number).
    pub(crate) note: String,
}

/// The whole map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MemoryMap {
    /// Regions, in device-tree order.
    pub(crate) regions: Vec<RegionRow>,
    /// Placed ranges.
    pub(crate) allocs: Vec<Alloc>,
    /// Table entries.
    pub(crate) entries: Vec<EntryRow>,
}

/// The map of `plan` on `layout`.
pub(crate) fn build(layout: &Layout, plan: &Plan) -> MemoryMap {
    let region_of = |pa: u64, len: u64| {
        layout.regions.iter().position(|r| {
            let base = r.range.base().as_u64();
            pa >= base && pa.saturating_add(len) <= base.saturating_add(r.range.size() as u64)
        })
    };
    let allocs = plan
        .snapshot
        .as_ref()
        .map(|s| allocs(s, &plan.set_aside, &region_of))
        .unwrap_or_default();
    let regions = layout
        .regions
        .iter()
        .enumerate()
        .map(|(i, r)| region_row(layout, plan, i, &allocs, r.flags))
        .collect();
    let names = |pa: u64, len: u64| {
        region_of(pa, len)
            .and_then(|i| layout.regions.get(i))
            .map_or_else(|| "?".to_owned(), |r| r.name.clone())
    };
    MemoryMap {
        regions,
        entries: entries(plan, &names),
        allocs,
    }
}

fn allocs(
    s: &Snapshot,
    set_aside: &[(SetAside, usize)],
    region_of: &dyn Fn(u64, u64) -> Option<usize>,
) -> Vec<Alloc> {
    let mut out = Vec::new();
    let mut push = |kind, label: String, da: Option<u64>, pa: u64, len: u64| {
        out.push(Alloc {
            kind,
            label,
            da,
            pa,
            len,
            region: region_of(pa, len),
        });
    };
    for (index, at) in &s.segments {
        push(
            AllocKind::Segment,
            format!("segment {index}"),
            Some(at.da.as_u64()),
            at.pa.as_u64(),
            at.len as u64,
        );
    }
    if let Some(at) = &s.table_at {
        push(
            AllocKind::Table,
            ".resource_table".to_owned(),
            Some(at.da.as_u64()),
            at.pa.as_u64(),
            at.len as u64,
        );
    }
    let table = RscTable::parse(&s.table).ok();
    for e in table.iter().flat_map(RscTable::entries) {
        if let Resource::Carveout(c) = e.resource {
            if let (Some(da), Some(pa)) = (c.da, c.pa) {
                push(
                    AllocKind::Carveout,
                    String::from_utf8_lossy(c.name()).into_owned(),
                    Some(da.as_u64()),
                    pa.as_u64(),
                    u64::from(c.len),
                );
            }
        }
    }
    for v in &s.vdevs {
        for (m, r) in (0u8..).zip(&v.rings) {
            // A ring set aside was booted shrunk only to check the others.
            if set_aside
                .iter()
                .any(|(a, _)| *a == SetAside::Ring(v.index, m))
            {
                continue;
            }
            push(
                AllocKind::Vring,
                format!("vdev{}vring{m}", v.number),
                Some(r.at.da.as_u64()),
                r.at.pa.as_u64(),
                r.at.len as u64,
            );
        }
    }
    // What rpmsg took from each vdev's pool, where it landed (an empty pool is free).
    for (number, at) in &s.rpmsg {
        push(
            AllocKind::VdevBuffer,
            format!("vdev{number} rpmsg buffers"),
            Some(at.da.as_u64()),
            at.pa.as_u64(),
            at.len as u64,
        );
    }
    for m in &s.memory {
        let kind = match m.kind {
            MemKind::Trace => AllocKind::Trace,
            MemKind::Devmem => AllocKind::Devmem,
            _ => continue,
        };
        if let Origin::Table { index } = m.origin {
            // Named as the table names it (the report's entry list does the same).
            let name = table
                .as_ref()
                .and_then(|t| t.entry(index))
                .and_then(|e| match e.resource {
                    Resource::Trace(t) => t.name_str().map(str::to_owned),
                    Resource::Devmem(d) => d.name_str().map(str::to_owned),
                    _ => None,
                })
                .unwrap_or_else(|| m.name.clone());
            push(
                kind,
                format!("{name} (entry {index})"),
                m.da.map(|d| d.as_u64()),
                m.pa,
                m.len,
            );
        }
    }
    out
}

fn region_row(layout: &Layout, plan: &Plan, i: usize, allocs: &[Alloc], flags: Flags) -> RegionRow {
    let r = &layout.regions[i];
    let size = r.range.size() as u64;
    let base = r.range.base().as_u64();
    let mut words = Vec::new();
    if flags.is_no_map() {
        words.push("no-map".to_owned());
    }
    if flags.is_reusable() {
        words.push("reusable".to_owned());
    }
    if r.dynamic {
        words.push("dynamic".to_owned());
    }
    if let Some(d) = r.default {
        words.push(d.property().to_owned());
    }
    let rproc = &plan.binding.name;
    let use_ = plan.uses.get(i).cloned().unwrap_or(Use::Unused);
    let role = match &use_ {
        Use::RprocPool => format!("{rproc} DMA pool"),
        Use::Entry(MemKind::Vring) => format!("{rproc} vring memory"),
        Use::Entry(MemKind::VdevBuffer) => format!("{rproc} vdev buffers"),
        Use::Entry(_) => format!("{rproc} memory"),
        Use::RprocCma => format!("{rproc} CMA area"),
        Use::Other(who) => format!("{} for {who}", role_name(r.role)),
        Use::Ignored => format!("ignored by {rproc}'s driver"),
        Use::Unused => format!("{} (unused)", role_name(r.role)),
    };
    let stats = plan
        .snapshot
        .as_ref()
        .and_then(|s| s.stats.iter().find(|(j, _, _)| *j == i));
    let (backend, used, largest_free, free_extents) = match stats {
        Some((_, backend, st)) => (
            (*backend).to_owned(),
            st.used_bytes() as u64,
            st.largest_free_bytes() as u64,
            st.backend.free_extents,
        ),
        None => {
            // No allocator: a memory entry's ranges are taken by the table entries
            // and segments placed in it (counted from the placements).
            let (used, largest, extents) = occupancy(base, size, allocs, i);
            (NO_BACKEND.to_owned(), used, largest, extents)
        }
    };
    RegionRow {
        name: r.name.clone(),
        base,
        size,
        flags: if words.is_empty() {
            "-".to_owned()
        } else {
            words.join(",")
        },
        role,
        backend,
        used,
        free: size.saturating_sub(used),
        largest_free,
        free_extents,
    }
}

/// Bytes covered by the allocations in region `i`, the longest gap and the number of
/// gaps.
fn occupancy(base: u64, size: u64, allocs: &[Alloc], i: usize) -> (u64, u64, usize) {
    let mut spans: Vec<(u64, u64)> = allocs
        .iter()
        .filter(|a| a.region == Some(i) && a.len > 0)
        .map(|a| (a.pa, a.pa.saturating_add(a.len)))
        .collect();
    spans.sort_unstable();
    let end = base.saturating_add(size);
    let (mut used, mut largest, mut extents, mut cursor) = (0, 0, 0, base);
    for (start, stop) in spans {
        if start > cursor {
            largest = largest.max(start - cursor);
            extents += 1;
        }
        if stop > cursor {
            used += stop - start.max(cursor);
            cursor = stop;
        }
    }
    if end > cursor {
        largest = largest.max(end - cursor);
        extents += 1;
    }
    (used, largest, extents)
}

fn entries(plan: &Plan, region: &dyn Fn(u64, u64) -> String) -> Vec<EntryRow> {
    let Some(original) = plan
        .original_table
        .as_deref()
        .and_then(|t| RscTable::parse(t).ok())
    else {
        return Vec::new();
    };
    let written = plan.snapshot.as_ref().map(|s| s.table.as_slice());
    let written = written.and_then(|t| RscTable::parse(t).ok());
    let mut rows = Vec::new();
    for e in original.entries() {
        let aside = plan
            .set_aside
            .iter()
            .find(|(a, _)| *a == SetAside::Entry(e.index))
            .map(|(_, n)| format!("NOT PLACED: problem {}", n + 1));
        let now = written
            .as_ref()
            .and_then(|t| t.entry(e.index))
            .map(|w| w.resource);
        let row = |what: String, placed: Option<(u64, u64, u64, String)>, note: String| {
            let note = match (&aside, &placed) {
                (Some(a), _) => a.clone(),
                (None, None) if plan.snapshot.is_none() => "not placed: the boot failed".to_owned(),
                _ => note,
            };
            EntryRow {
                index: e.index,
                what,
                placed: placed.filter(|_| aside.is_none()),
                note,
            }
        };
        match (e.resource, now) {
            (Resource::Carveout(c), now) => {
                let placed = match now {
                    Some(Resource::Carveout(w)) => w.da.zip(w.pa).map(|(da, pa)| {
                        let (da, pa) = (da.as_u64(), pa.as_u64());
                        (da, pa, u64::from(w.len), region(pa, u64::from(w.len)))
                    }),
                    _ => None,
                };
                let how = carveout_note(plan, e.index, c.da.is_none());
                rows.push(row(
                    format!("carveout {}", String::from_utf8_lossy(c.name())),
                    placed,
                    how,
                ));
            }
            (Resource::Trace(t), _) => {
                let placed = plan.snapshot.as_ref().and_then(|s| {
                    s.memory
                        .iter()
                        .find(|m| {
                            m.kind == MemKind::Trace && m.origin == Origin::Table { index: e.index }
                        })
                        .map(|m| (t.da.as_u64(), m.pa, m.len, region(m.pa, m.len)))
                });
                rows.push(row(
                    format!("trace {}", String::from_utf8_lossy(t.name())),
                    placed,
                    "fixed da, inside the processor's memory".to_owned(),
                ));
            }
            (Resource::Devmem(d), _) => rows.push(row(
                format!("devmem {}", String::from_utf8_lossy(d.name())),
                Some((
                    d.da.as_u64(),
                    d.pa.as_u64(),
                    u64::from(d.len),
                    region(d.pa.as_u64(), u64::from(d.len)),
                )),
                "mapped by the platform".to_owned(),
            )),
            (Resource::Vdev(v), _) => {
                let info = plan
                    .snapshot
                    .as_ref()
                    .and_then(|s| s.vdevs.iter().find(|i| i.index == e.index));
                let pool = match info {
                    Some(i) if i.own_pool => format!("buffers: vdev{}buffer pool", i.number),
                    Some(_) => "buffers: the processor's pool chain".to_owned(),
                    None => String::new(),
                };
                rows.push(row(
                    format!("vdev id {} dfeatures {:#x}", v.id, v.dfeatures),
                    None,
                    pool,
                ));
                for (m, vr) in (0u8..).zip(v.vrings()) {
                    let ring = info.and_then(|i| i.rings.get(usize::from(m)));
                    let placed = ring.map(|r| {
                        let (pa, len) = (r.at.pa.as_u64(), r.at.len as u64);
                        (r.at.da.as_u64(), pa, len, region(pa, len))
                    });
                    let size = vring_size(vr.num, vr.align).map_or(0, u64::from);
                    let note = match ring {
                        Some(r) => format!(
                            "num {} align {:#x} ({size:#x} B); notify id {} -> {}",
                            vr.num, vr.align, vr.notifyid, r.notifyid
                        ),
                        None => format!("num {} align {:#x} ({size:#x} B)", vr.num, vr.align),
                    };
                    let ring_aside = plan
                        .set_aside
                        .iter()
                        .find(|(a, _)| *a == SetAside::Ring(e.index, m))
                        .map(|(_, n)| format!("NOT PLACED: problem {}", n + 1));
                    match ring_aside {
                        Some(ring_aside) if aside.is_none() => rows.push(EntryRow {
                            index: e.index,
                            what: format!("  vring {m}"),
                            placed: None,
                            note: ring_aside,
                        }),
                        _ => rows.push(row(format!("  vring {m}"), placed, note)),
                    }
                }
            }
            (Resource::Vendor(v), _) => rows.push(row(
                format!("vendor type {}", v.kind),
                None,
                "skipped: the planner's platform handles no vendor entries".to_owned(),
            )),
            (Resource::Unknown { kind }, _) => rows.push(row(
                format!("type {kind}"),
                None,
                "skipped: unknown type".to_owned(),
            )),
        }
    }
    rows
}

fn carveout_note(plan: &Plan, index: u32, any: bool) -> String {
    let Some(s) = &plan.snapshot else {
        return String::new();
    };
    if let Some(m) = s
        .memory
        .iter()
        .find(|m| m.origin == Origin::Platform && m.bound == Some(index))
    {
        return format!("matched memory-region {}", m.name);
    }
    if any {
        "ANY: allocated from the processor's pool chain".to_owned()
    } else {
        "fixed: marked occupied in the processor's pool".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(pa: u64, len: u64) -> Alloc {
        Alloc {
            kind: AllocKind::Segment,
            label: String::new(),
            da: None,
            pa,
            len,
            region: Some(0),
        }
    }

    #[test]
    fn occupancy_is_the_union_of_overlapping_placements() {
        // 0x100..0x200 and 0x180..0x280 overlap, 0x400..0x500 apart, region 0..0x1000.
        let allocs = [
            alloc(0x100, 0x100),
            alloc(0x180, 0x100),
            alloc(0x400, 0x100),
        ];
        let (used, largest, runs) = occupancy(0, 0x1000, &allocs, 0);
        assert_eq!((used, largest, runs), (0x280, 0xb00, 3));
        assert_eq!(occupancy(0, 0x1000, &allocs, 1), (0, 0x1000, 1));
    }

    #[test]
    fn fragmentation_is_the_free_share_outside_the_largest_run() {
        let row = RegionRow {
            name: String::new(),
            base: 0,
            size: 0x1000,
            flags: String::new(),
            role: String::new(),
            backend: String::new(),
            used: 0x800,
            free: 0x800,
            largest_free: 0x600,
            free_extents: 2,
        };
        assert!((row.fragmentation() - 25.0).abs() < 1e-9);
        let full = RegionRow { free: 0, ..row };
        assert!(full.fragmentation().abs() < 1e-9);
    }
}
