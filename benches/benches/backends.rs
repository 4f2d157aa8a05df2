//! Allocate+free pairs of 1–16 granules on a region pre-filled to ~50 % with random
//! holes, for every unit allocator (ours and the power-of-two baseline), at 64 MiB,
//! 1 GiB and 4 GiB of 4 KiB granules: the cost per pair and how it scales with region
//! size. `FirstFit` is sized for one live allocation per unit (its worst case).
//!
//! Run with `cargo bench -p contig-benches --bench backends`.

use std::hint::black_box;
use std::time::Duration;

use contig_allocators::Request;
use contig_benches::ours::OurBackend;
use contig_benches::{SplitMix64, prefill_half};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const GRANULE: usize = 4096;
const REGIONS: [(&str, usize); 3] = [("64MiB", 64 << 20), ("1GiB", 1 << 30), ("4GiB", 4 << 30)];

fn alloc_free_pairs(c: &mut Criterion) {
    let mut group = c.benchmark_group("alloc_free_pair");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for contender in OurBackend::ALL {
        for (label, bytes) in REGIONS {
            let units = bytes / GRANULE;
            let mut backend = contender.build(units, units);
            let mut rng = SplitMix64::new(0x5eed);
            prefill_half(backend.as_mut(), &mut rng, 1, 16);
            let sizes: Vec<usize> = (0..4096).map(|_| rng.range(1, 16)).collect();
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
    group.finish();
}

criterion_group!(benches, alloc_free_pairs);
criterion_main!(benches);
