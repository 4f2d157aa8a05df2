//! The planner's text report.
//!
//! This module owns [`write()`]: the processor and its bus, the memory map (every region
//! with flags, use, backend, used and free bytes), the resource table entries with
//! where each landed, the firmware segments, fragmentation per region, the problems
//! and the verdict. It must never decide anything: it prints a [`Plan`] and its
//! [`MemoryMap`].
#![forbid(unsafe_code)]

use std::fmt::Write as _;

use contig_dma_pool::fdt::Layout;

use crate::board::Processor;
use crate::map::MemoryMap;
use crate::plan::{Plan, SetAside, windows};

/// The report, as text.
pub(crate) fn write(
    board: &str,
    firmware: &str,
    layout: &Layout,
    processor: &Processor,
    plan: &Plan,
    map: &MemoryMap,
) -> String {
    let mut out = String::new();
    let b = &plan.binding;
    let labels = if b.labels.is_empty() {
        String::new()
    } else {
        format!(" ({})", b.labels.join(", "))
    };
    let _ = writeln!(out, "board:     {board}");
    let _ = writeln!(out, "firmware:  {firmware}");
    let _ = writeln!(out, "processor: {}{labels}", b.path);
    let p = plan.profile;
    let chosen = if processor.forced {
        "named with --profile".to_owned()
    } else if p.compatibles.is_empty() {
        format!(
            "no profile claims compatible {:?}",
            processor.compatibles.join(", ")
        )
    } else {
        let c = processor
            .compatibles
            .iter()
            .find(|c| p.compatibles.contains(&c.as_str()))
            .map_or("", String::as_str);
        format!("chosen from compatible \"{c}\"")
    };
    let _ = writeln!(out, "profile:   {} (Linux {}; {chosen})", p.name, p.driver);
    let _ = writeln!(out, "bus view:  {}", windows(&b.bus));
    match plan.pool.and_then(|i| layout.regions.get(i)) {
        Some(r) => {
            let _ = writeln!(
                out,
                "DMA pool:  {} (ANY carveouts and rings without a region of their own)",
                r.name
            );
        }
        None if p.pool == contig_rproc_glue::profile::Pool::None => {
            let _ = writeln!(
                out,
                "DMA pool:  none (its driver makes every memory-region a carveout; ANY \
                 carveouts and rings without a region fall back to the default pools)"
            );
        }
        None => {
            let _ = writeln!(
                out,
                "DMA pool:  none (its first memory-region is not a shared-dma-pool; ANY \
                 carveouts and rings without a region fall back to the default pools)"
            );
        }
    }
    for m in &plan.internal {
        let _ = writeln!(
            out,
            "internal:  {} pa {:#x} size {:#x} at da {:#x}",
            m.name,
            m.pa,
            m.len,
            m.da.as_u64()
        );
    }
    notes(&mut out, layout, processor);
    out.push('\n');
    regions(&mut out, map);
    entries(&mut out, plan, map);
    segments(&mut out, plan);
    fragmentation(&mut out, map);
    problems(&mut out, plan);
    out
}

/// What the tolerant read of the device tree skipped or ignored, and what could not be
/// read of the processor's own memories.
fn notes(out: &mut String, layout: &Layout, processor: &Processor) {
    for s in &layout.skipped {
        let _ = writeln!(
            out,
            "warning:   {}: skipped: {} ({}; no device this plan uses needs it)",
            s.path,
            s.error,
            s.linux()
        );
    }
    for n in &layout.notes {
        let _ = writeln!(out, "note:      {n}");
    }
    for n in &processor.notes {
        let _ = writeln!(out, "note:      {n}");
    }
}

fn regions(out: &mut String, map: &MemoryMap) {
    let width = |f: &dyn Fn(&crate::map::RegionRow) -> usize, title: &str| {
        map.regions
            .iter()
            .map(f)
            .chain([title.len()])
            .max()
            .unwrap_or(0)
    };
    let name = width(&|r| r.name.len(), "region");
    let flags = width(&|r| r.flags.len(), "flags");
    let role = width(&|r| r.role.len(), "use");
    let backend = width(&|r| r.backend.len(), "backend");
    let _ = writeln!(out, "Memory map");
    let _ = writeln!(
        out,
        "  {:<name$} {:>12} {:>10}  {:<flags$}  {:<role$}  {:<backend$} {:>10} {:>10}",
        "region", "base", "size", "flags", "use", "backend", "used", "free"
    );
    for r in &map.regions {
        let _ = writeln!(
            out,
            "  {:<name$} {:>#12x} {:>#10x}  {:<flags$}  {:<role$}  {:<backend$} {:>#10x} {:>#10x}",
            r.name, r.base, r.size, r.flags, r.role, r.backend, r.used, r.free
        );
    }
    if map
        .regions
        .iter()
        .any(|r| r.backend == crate::map::NO_BACKEND)
    {
        let _ = writeln!(
            out,
            "  (backend {}: no allocator; a memory entry's used bytes are the table entries \
             and segments placed in it)",
            crate::map::NO_BACKEND
        );
    }
    out.push('\n');
}

fn entries(out: &mut String, plan: &Plan, map: &MemoryMap) {
    let Some(table) = &plan.original_table else {
        let _ = writeln!(
            out,
            "Resource table: none (the firmware has no .resource_table)\n"
        );
        return;
    };
    let at = plan
        .table_da
        .map_or_else(String::new, |d| format!(" at da {:#x}", d.as_u64()));
    let _ = writeln!(out, "Resource table ({} bytes{at})", table.len());
    let _ = writeln!(
        out,
        "  {:>2}  {:<26} {:>12} {:>12} {:>9}  {:<14} notes",
        "#", "entry", "da", "pa", "size", "region"
    );
    for e in &map.entries {
        let index = if e.what.starts_with(' ') {
            String::new()
        } else {
            e.index.to_string()
        };
        match &e.placed {
            Some((da, pa, len, region)) => {
                let _ = writeln!(
                    out,
                    "  {index:>2}  {:<26} {da:>#12x} {pa:>#12x} {len:>#9x}  {region:<14} {}",
                    e.what, e.note
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  {index:>2}  {:<26} {:>12} {:>12} {:>9}  {:<14} {}",
                    e.what, "-", "-", "-", "-", e.note
                );
            }
        }
    }
    out.push('\n');
}

fn segments(out: &mut String, plan: &Plan) {
    let _ = writeln!(out, "Firmware segments");
    let _ = writeln!(
        out,
        "  {:>2}  {:>12} {:>12} {:>9} {:>9}  notes",
        "#", "da", "pa", "memsz", "filesz"
    );
    let loaded = plan.snapshot.as_ref().map(|s| s.segments.as_slice());
    for &(index, da, memsz, filesz) in &plan.segments {
        let at = loaded.and_then(|l| l.iter().find(|(i, _)| *i == index));
        let aside = plan
            .set_aside
            .iter()
            .find(|(a, _)| *a == SetAside::Segment(index));
        let (pa, note) = match (at, aside) {
            (_, Some((_, n))) => ("-".to_owned(), format!("NOT LOADED: problem {}", n + 1)),
            (Some((_, p)), None) => (format!("{:#x}", p.pa.as_u64()), "loaded".to_owned()),
            (None, None) if memsz == 0 => ("-".to_owned(), "empty".to_owned()),
            (None, None) => ("-".to_owned(), "not loaded: the boot failed".to_owned()),
        };
        let _ = writeln!(
            out,
            "  {index:>2}  {:>#12x} {pa:>12} {memsz:>#9x} {filesz:>#9x}  {note}",
            da.as_u64()
        );
    }
    out.push('\n');
}

fn fragmentation(out: &mut String, map: &MemoryMap) {
    let _ = writeln!(out, "Fragmentation");
    let _ = writeln!(
        out,
        "  {:<14} {:>10} {:>12} {:>13} {:>14}",
        "region", "free", "free runs", "largest free", "fragmentation"
    );
    for r in &map.regions {
        let _ = writeln!(
            out,
            "  {:<14} {:>#10x} {:>12} {:>#13x} {:>13.1}%",
            r.name,
            r.free,
            r.free_extents,
            r.largest_free,
            r.fragmentation()
        );
    }
    out.push('\n');
}

fn problems(out: &mut String, plan: &Plan) {
    if plan.fits() {
        let _ = writeln!(out, "Problems: none");
        let _ = writeln!(out, "\nVERDICT: FITS");
        return;
    }
    let _ = writeln!(out, "Problems ({})", plan.problems.len());
    for (n, p) in plan.problems.iter().enumerate() {
        let _ = writeln!(out, "  {}. {p}", n + 1);
    }
    let _ = writeln!(out, "\nVERDICT: DOES NOT FIT");
}
