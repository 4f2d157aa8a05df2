//! Scaling: allocate+free pairs of 1–16 × 4 KiB on an arena pre-filled to ~50 % with
//! random holes, at 64 MiB, 1 GiB and 4 GiB: the cost per pair and how it grows with
//! the arena.
//!
//! * Unit allocators (ours and the power-of-two baseline) at 4 KiB granules, driven
//!   through the `Backend` trait directly; `FirstFit` is sized for one live allocation
//!   per unit (its worst case).
//! * Peers through their adapters on a real arena, with byte sizes of 1–16 × 4 KiB at
//!   alignment 8 (a heap's natural alignment; our 4 KiB units are page aligned anyway).
//!   offset-allocator stops at 1 GiB (its offsets are `u32`), buddy_system_allocator
//!   at 1 GiB and linked_list_allocator at 64 MiB (see [`largest_run`]).
//!
//! * **Worst case** (group `worst_case`), unit allocators only: the same half-full
//!   region of 1–16-unit blocks, but the only run of 512 free units is the last 1,024
//!   units, so an address-ordered search has to get past every hole: how the cost of a
//!   512-unit allocate+free grows with the region. The bitmap remembers where a fit
//!   of a large request can start (for its last four count and alignment pairs), so
//!   after the first search a repeated request starts at the tail; `bitmap-unseen`
//!   asks for the same 512 units at five alignments in turn (1 to 16 units, all met
//!   at the tail), so that no request finds a floor of its own and every search goes
//!   through the run tree.
//!
//! Run with `cargo bench -p contig-benches --bench backends`.

#![forbid(unsafe_code)]

use std::hint::black_box;
use std::time::Duration;

use contig_allocators::Request;
use contig_benches::ours::OurBackend;
use contig_benches::{Contender, SplitMix64, prefill_half, prefill_half_arena};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, criterion_group, criterion_main};

const GRANULE: usize = 4096;
const REGIONS: [(&str, usize); 3] = [("64MiB", 64 << 20), ("1GiB", 1 << 30), ("4GiB", 4 << 30)];
const PEERS: [Contender; 5] = [
    Contender::Talc,
    Contender::Rlsf,
    Contender::Buddy,
    Contender::Offset,
    Contender::LinkedList,
];

/// The sizes every contender cycles through after the prefill (same seed for all).
fn sizes(rng: &mut SplitMix64) -> Vec<usize> {
    (0..4096).map(|_| rng.range(1, 16)).collect()
}

/// The largest arena a peer is run on: linked_list_allocator walks its hole list on
/// every operation and buddy_system_allocator walks a free list to find the buddy on
/// every free, so their half-full prefill alone takes minutes beyond these sizes.
fn largest_run(contender: Contender) -> usize {
    match contender {
        Contender::LinkedList => 64 << 20,
        Contender::Buddy => 1 << 30,
        _ => usize::MAX,
    }
}

fn units(group: &mut BenchmarkGroup<'_, WallTime>) {
    for contender in OurBackend::ALL {
        for (label, bytes) in REGIONS {
            let units = bytes / GRANULE;
            let mut backend = contender.build(units, units);
            let mut rng = SplitMix64::new(0x5eed);
            prefill_half(backend.as_mut(), &mut rng, 1, 16);
            let sizes = sizes(&mut rng);
            let mut next = 0;
            group.bench_function(BenchmarkId::new(contender.name(), label), |b| {
                b.iter(|| {
                    let count = sizes[next & 4095];
                    next += 1;
                    let start = backend
                        .allocate(black_box(Request::new(count)))
                        .expect("room in a half-full region");
                    backend
                        .free(black_box(start), count)
                        .expect("freeing what was just allocated");
                });
            });
        }
    }
}

/// Units at the end of the region kept free for the worst-case request.
const TAIL: usize = 1024;
/// The worst-case request: larger than any hole the prefill leaves (with overwhelming
/// probability: it would take ~60 freed blocks in a row), so only the tail fits it.
const LARGE: usize = 512;

/// The alignments `bitmap-unseen` cycles through: one more than the bitmap keeps
/// floors for, so each request's own floor was dropped before it comes round again.
const UNSEEN_ALIGNS: [usize; 5] = [1, 2, 4, 8, 16];

fn worst_case(group: &mut BenchmarkGroup<'_, WallTime>) {
    let unseen = (OurBackend::Bitmap, "bitmap-unseen", &UNSEEN_ALIGNS[..]);
    let runs = OurBackend::ALL
        .map(|contender| (contender, contender.name(), &[1][..]))
        .into_iter()
        .chain([unseen]);
    for (contender, name, aligns) in runs {
        for (label, bytes) in REGIONS {
            let units = bytes / GRANULE;
            let mut backend = contender.build(units, units);
            backend
                .claim(units - TAIL, TAIL)
                .expect("an empty region has room for the tail");
            prefill_half(backend.as_mut(), &mut SplitMix64::new(0x5eed), 1, 16);
            backend
                .free(units - TAIL, TAIL)
                .expect("freeing the tail claim");
            let mut next = 0;
            group.bench_function(BenchmarkId::new(name, label), |b| {
                b.iter(|| {
                    let align = aligns[next % aligns.len()];
                    next += 1;
                    let start = backend
                        .allocate(black_box(Request::new(LARGE).aligned(align)))
                        .expect("the tail fits");
                    backend
                        .free(black_box(start), LARGE)
                        .expect("freeing what was just allocated");
                });
            });
        }
    }
}

fn peers(group: &mut BenchmarkGroup<'_, WallTime>) {
    for contender in PEERS {
        for (label, bytes) in REGIONS {
            if bytes > largest_run(contender) {
                continue;
            }
            let Some(mut arena) = contender.build(bytes) else {
                continue;
            };
            let mut rng = SplitMix64::new(0x5eed);
            prefill_half_arena(arena.as_mut(), &mut rng, (1, 16, GRANULE), 8);
            let sizes = sizes(&mut rng);
            let mut next = 0;
            group.bench_function(BenchmarkId::new(arena.name(), label), |b| {
                b.iter(|| {
                    let size = sizes[next & 4095] * GRANULE;
                    next += 1;
                    let block = arena
                        .alloc(black_box(size), 8)
                        .expect("room in a half-full arena");
                    arena.free(black_box(block), size, 8);
                });
            });
        }
    }
}

fn scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("scaling");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    units(&mut group);
    peers(&mut group);
    group.finish();

    let mut group = c.benchmark_group("worst_case");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    worst_case(&mut group);
    group.finish();
}

criterion_group! {
    name = benches;
    // Plots and 100k bootstrap resamples per benchmark cost more than the measurement
    // on a small machine; the tables need only the median and its spread.
    config = Criterion::default().without_plots().nresamples(10_000);
    targets = scaling
}
criterion_main!(benches);
