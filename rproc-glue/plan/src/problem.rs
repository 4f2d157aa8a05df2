//! Boot failures as messages an integrator can act on.
//!
//! This module owns [`describe`]: it turns an [`RprocError`] into one sentence naming
//! the table entry (by index, type and name), the sizes and addresses involved, the
//! region or pool that was asked, and what would fix it. It must never decide whether
//! something fits (the boot did) nor print.
#![forbid(unsafe_code)]

use contig_dma_pool::{self as dma_pool, BusMap, DeviceId, Devices, DmaAddr};
use contig_rproc_glue::firmware::Firmware;
use contig_rproc_glue::rsc::{Resource, RscTable};
use contig_rproc_glue::vring::vring_size;
use contig_rproc_glue::{DaError, DeviceAddr, MatchError, MemKind, RprocError};

use crate::plan::{Plan, span};

/// What a message may name.
pub(crate) struct Context<'a, 'm> {
    /// The plan so far.
    pub(crate) plan: &'a Plan,
    /// The board's devices after the failed boot.
    pub(crate) devs: &'a Devices<'m>,
    /// The processor device.
    pub(crate) device: DeviceId,
    /// The image booted.
    pub(crate) image: &'a [u8],
}

/// One message for `error`.
pub(crate) fn describe(error: &RprocError, ctx: &Context<'_, '_>) -> String {
    match error {
        RprocError::Resource {
            index,
            kind,
            ring,
            error,
        } => resource(ctx, *index, *kind, *ring, error),
        RprocError::Segment { segment, error } => {
            let what = segment_label(ctx, *segment);
            format!(
                "{what}: {}; the firmware must be linked to memory {} declares",
                da_error(error),
                ctx.plan.binding.name
            )
        }
        RprocError::TableSection { error } => format!(
            "the resource table section has no place in {}'s memory: {}",
            ctx.plan.binding.name,
            da_error(error)
        ),
        RprocError::Dma(e) => format!("DMA layer: {}", dma(ctx, e)),
        other => other.to_string(),
    }
}

/// A DMA-layer error with the board's device, pool and region names (a DMA-path error
/// names them by id).
fn dma(ctx: &Context<'_, '_>, error: &dma_pool::Error) -> String {
    match error {
        dma_pool::Error::Dma(e) => ctx.devs.explain(e).to_string(),
        other => other.to_string(),
    }
}

fn resource(
    ctx: &Context<'_, '_>,
    index: u32,
    kind: MemKind,
    ring: Option<u8>,
    error: &MatchError,
) -> String {
    let label = entry_label(ctx, index, ring);
    let rproc = &ctx.plan.binding.name;
    match (kind, error) {
        (_, MatchError::TooLong { entry, len, room }) => format!(
            "{label} does not fit memory-region {entry}: it needs {len:#x} bytes, the region \
             has {room:#x} from where it goes; enlarge the region in the device tree or shrink \
             the {}",
            kind_word(kind)
        ),
        (_, MatchError::Undeclared { da, pa, len }) => {
            let at = match (da, pa) {
                (Some(da), _) => format!("fixed da {:#x}", da.as_u64()),
                (None, Some(pa)) => format!("fixed pa {:#x}", pa.as_u64()),
                (None, None) => "its address".to_owned(),
            };
            let bus = da.map(|da| window_note(ctx, da, *len)).unwrap_or_default();
            format!(
                "{label}: {at} (+{len:#x}) lies outside every memory-region of {rproc} \
                 and its DMA pool{bus}"
            )
        }
        (MemKind::Vring, MatchError::Dma(e)) => format!(
            "{label}: no vdev{{N}}vring{{M}} memory-region matches it and {}: {}",
            pool_note(ctx),
            dma(ctx, e)
        ),
        (_, MatchError::Dma(e)) => format!("{label}: {}: {}", pool_note(ctx), dma(ctx, e)),
        (_, MatchError::Translate(e)) => format!(
            "{label}: {}; it must lie inside memory {rproc} has (a memory-region or a carveout)",
            da_error(e)
        ),
        (_, other) => format!("{label}: {other}"),
    }
}

fn kind_word(kind: MemKind) -> &'static str {
    match kind {
        MemKind::Carveout => "carveout",
        MemKind::Vring => "ring (num or align)",
        MemKind::VdevBuffer => "vdev buffer",
        MemKind::Trace => "trace buffer",
        MemKind::Devmem => "devmem entry",
    }
}

/// `table entry 0 (carveout "heap", 0x8000 bytes, da ANY)`, from the original table.
pub(crate) fn entry_label(ctx: &Context<'_, '_>, index: u32, ring: Option<u8>) -> String {
    let table = ctx
        .plan
        .original_table
        .as_deref()
        .and_then(|t| RscTable::parse(t).ok());
    let Some(entry) = table.as_ref().and_then(|t| t.entry(index)) else {
        return format!("table entry {index}");
    };
    let any =
        |da: Option<DeviceAddr>| da.map_or("ANY".to_owned(), |d| format!("{:#x}", d.as_u64()));
    match entry.resource {
        Resource::Carveout(c) => format!(
            "table entry {index} (carveout \"{}\", {:#x} bytes, da {})",
            String::from_utf8_lossy(c.name()),
            c.len,
            any(c.da)
        ),
        Resource::Trace(t) => format!(
            "table entry {index} (trace \"{}\", {:#x} bytes at da {:#x})",
            String::from_utf8_lossy(t.name()),
            t.len,
            t.da.as_u64()
        ),
        Resource::Devmem(d) => format!(
            "table entry {index} (devmem \"{}\", {:#x} bytes at da {:#x})",
            String::from_utf8_lossy(d.name()),
            d.len,
            d.da.as_u64()
        ),
        Resource::Vdev(v) => match ring.and_then(|r| v.vring(r).map(|vr| (r, vr))) {
            Some((r, vr)) => {
                let size = vring_size(vr.num, vr.align)
                    .map_or_else(|e| e.to_string(), |s| format!("{s:#x} bytes"));
                format!(
                    "table entry {index} (vdev id {}, vring {r}: num {}, align {:#x}, {size}, da {})",
                    v.id,
                    vr.num,
                    vr.align,
                    any(vr.da)
                )
            }
            None => format!("table entry {index} (vdev id {})", v.id),
        },
        Resource::Vendor(v) => format!("table entry {index} (vendor type {})", v.kind),
        Resource::Unknown { kind } => format!("table entry {index} (type {kind})"),
    }
}

fn segment_label(ctx: &Context<'_, '_>, index: usize) -> String {
    let seg = Firmware::parse(ctx.image)
        .ok()
        .and_then(|fw| fw.segments().find(|s| s.index == index));
    match seg {
        Some(s) => format!(
            "firmware segment {index} (da {:#x}, {:#x} bytes)",
            s.da.as_u64(),
            s.memsz
        ),
        None => format!("firmware segment {index}"),
    }
}

fn da_error(e: &DaError) -> String {
    match e {
        DaError::NotFound { da, len } => format!(
            "no memory of the processor holds da {:#x} (+{len:#x})",
            da.as_u64()
        ),
        DaError::CrossesEnd {
            entry,
            da,
            len,
            room,
        } => format!(
            "da {:#x} + {len:#x} runs past the end of memory-region {entry} ({room:#x} bytes left there)",
            da.as_u64()
        ),
    }
}

/// What the processor's pool chain had to offer.
fn pool_note(ctx: &Context<'_, '_>) -> String {
    let rproc = &ctx.plan.binding.name;
    let pool = ctx.devs.pool(ctx.device).ok().flatten();
    match pool {
        Some(p) => {
            let s = p.stats();
            format!(
                "{rproc}'s DMA pool {} ({}, {:#x} bytes, largest free run {:#x} before this boot's \
                 allocations) cannot provide it; enlarge {} or give the entry a memory-region of its own",
                p.name(),
                span(p.phys()),
                s.size_bytes(),
                s.largest_free_bytes(),
                p.name()
            )
        }
        None if ctx.plan.profile.pool == contig_rproc_glue::profile::Pool::None => format!(
            "{rproc} has no DMA pool (profile {}: its driver makes every memory-region a \
             carveout) and no CMA area or default pool could provide it; name the entry after \
             one of {rproc}'s memory-regions or give it a fixed address inside one",
            ctx.plan.profile.name
        ),
        None => format!(
            "{rproc} has no DMA pool (its first memory-region is not a shared-dma-pool) and no \
             CMA area or default pool could provide it; add a pool or a matching memory-region"
        ),
    }
}

/// Whether `da` is on the processor's bus at all.
fn window_note(ctx: &Context<'_, '_>, da: DeviceAddr, len: u64) -> String {
    let bus = &ctx.plan.binding.bus;
    let size = usize::try_from(len).unwrap_or(usize::MAX);
    match bus {
        BusMap::Windows(_) if bus.to_phys(DmaAddr::new(da.as_u64()), size).is_err() => format!(
            ", and outside every dma-ranges window of its bus ({})",
            crate::plan::windows(bus)
        ),
        _ => String::new(),
    }
}
