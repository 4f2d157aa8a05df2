//! A tour of the allocator backends: the same DMA-shaped workload on each, with the
//! stats and the typed errors a kernel developer would see.
//!
//! Run with `cargo run -p contig-allocators --example tour`.

use contig_allocators::bitmap::Bitmap;
use contig_allocators::first_fit::FirstFit;
use contig_allocators::genalloc::GenBackend;
use contig_allocators::{Backend, Error, Request};

/// 4 KiB pages; the region is 64 MiB and starts at 0x3020_1000 (not 2 MiB aligned, so
/// absolute alignment matters).
const GRANULE: usize = 4096;
const REGION_BASE: usize = 0x3020_1000;
const REGION_UNITS: usize = (64 << 20) / GRANULE;

fn pages(bytes: usize) -> usize {
    bytes.div_ceil(GRANULE)
}

/// Frames, vrings and a descriptor ring, as a media + rpmsg device would ask for them.
fn workload(backend: &mut dyn Backend) -> Result<(), Error> {
    let phase = REGION_BASE / GRANULE;
    println!(
        "== {} over {} units of {} B",
        backend.name(),
        backend.capacity(),
        GRANULE
    );

    let mut frames = Vec::new();
    for _ in 0..6 {
        // 1080p NV12, 64 KiB aligned for the display engine.
        frames.push((
            backend.allocate(Request::new(pages(3_110_400)).aligned(16))?,
            pages(3_110_400),
        ));
    }
    // Two vrings of 256 entries (12 KiB each) below 16 MiB (a 24-bit DMA mask).
    let vring_window = Request::new(3).within(0, (16 << 20) / GRANULE);
    let vrings = [
        backend.allocate(vring_window)?,
        backend.allocate(vring_window)?,
    ];
    // The firmware's fixed carveout at region offset 48 MiB.
    let carveout = ((48 << 20) / GRANULE, 256);
    backend.claim(carveout.0, carveout.1)?;

    for (offset, units) in &frames {
        let addr = REGION_BASE + offset * GRANULE;
        println!(
            "  frame  {addr:#x} ({units} pages, absolute page {} % 16 = {})",
            phase + offset,
            (phase + offset) % 16
        );
    }
    for offset in vrings {
        println!("  vring  {:#x}", REGION_BASE + offset * GRANULE);
    }

    // Free every other frame, then ask for something larger than any hole.
    for (offset, units) in frames.iter().step_by(2) {
        backend.free(*offset, *units)?;
    }
    let s = backend.stats();
    println!(
        "  after freeing every other frame: {} of {} units free in {} extents, largest {} ({} per-mille fragmented), {} live, metadata {} B",
        s.free,
        s.capacity,
        s.free_extents,
        s.largest_free,
        s.fragmentation_permille(),
        s.live_allocations,
        s.metadata_bytes
    );

    // Bad input is a typed error and changes nothing.
    let (offset, units) = frames[1];
    let attempts = [
        ("double free", backend.free(frames[0].0, frames[0].1)),
        ("free in the middle", backend.free(offset + 1, 1)),
        ("wrong size", backend.free(offset, units + 1)),
        ("claim over a frame", backend.claim(offset, 1)),
        (
            "alignment 3",
            backend.allocate(Request::new(1).aligned(3)).map(drop),
        ),
        (
            "more than the region",
            backend.allocate(Request::new(REGION_UNITS + 1)).map(drop),
        ),
    ];
    for (what, result) in attempts {
        match result {
            Err(e) => println!("  {what:<22} -> error: {e}"),
            Ok(()) => println!("  {what:<22} -> unexpectedly accepted"),
        }
    }
    assert_eq!(backend.stats(), s, "a refused operation changed the state");
    Ok(())
}

fn main() -> Result<(), Error> {
    let phase = REGION_BASE / GRANULE;
    let mut backends: Vec<Box<dyn Backend>> = vec![
        Box::new(FirstFit::new(REGION_UNITS, phase, 1024).unwrap()),
        Box::new(Bitmap::new(REGION_UNITS, phase).unwrap()),
        Box::new(GenBackend::first_fit(REGION_UNITS, phase).unwrap()),
        Box::new(GenBackend::best_fit(REGION_UNITS, phase).unwrap()),
    ];
    println!(
        "The allocator backends of contig-allocators, each managing the same 64 MiB region of
{GRANULE}-byte pages at {REGION_BASE:#x} (not 2 MiB aligned, so alignment is absolute, not
relative to the region). Each gets the same workload: six 1080p NV12 frames (760 pages,
64 KiB aligned), two 12 KiB vrings below 16 MiB (a 24-bit DMA mask) and a fixed 1 MiB
carveout at 48 MiB; then every other frame is freed, and the mistakes a driver makes are
tried (each is refused with a typed error and changes nothing). Backends never write into
the memory they manage: all they hand out are offsets.
"
    );
    for backend in &mut backends {
        workload(backend.as_mut())?;
        println!();
    }
    Ok(())
}
