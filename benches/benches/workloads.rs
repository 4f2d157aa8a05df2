//! Nanoseconds per allocate+free pair for every contender on the W1 (video frames at
//! 85 % of 256 MiB), W2 (virtio rings and packet buffers) and W3 (descriptors) traces.
//!
//! One criterion iteration is one pair: each sample replays the whole trace as often as
//! needed and divides, so criterion's median and spread are per pair. The replay's own
//! bookkeeping (a slot table indexed by id) is included and the same for everybody.
//!
//! Run with `cargo bench -p contig-benches --bench workloads`.

#![forbid(unsafe_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use contig_benches::workload::{SEED, throughput_set};
use contig_benches::{Contender, Replayer};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn pairs(c: &mut Criterion) {
    for (short, trace) in ["W1", "W2", "W3"].into_iter().zip(throughput_set(SEED)) {
        let pairs = trace.allocations() as u64;
        let mut group = c.benchmark_group(format!("pair/{short}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1))
            .throughput(Throughput::Elements(1));
        for contender in Contender::all() {
            let Some(mut arena) = contender.build(trace.arena_bytes) else {
                continue;
            };
            let mut replayer = Replayer::default();
            // One untimed pass: checks the contender and faults in in-band arena pages.
            let first = replayer.run(arena.as_mut(), &trace, false);
            assert_eq!(first.misplaced, 0, "{} misplaced blocks", arena.name());
            let name = arena.name();
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let replays = iters.div_ceil(pairs);
                    let start = Instant::now();
                    for _ in 0..replays {
                        black_box(replayer.run(arena.as_mut(), black_box(&trace), false));
                    }
                    let per_pair = start.elapsed().as_secs_f64() / (replays * pairs) as f64;
                    Duration::from_secs_f64(per_pair * iters as f64)
                });
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    // Plots and 100k bootstrap resamples per benchmark cost more than the measurement
    // on a small machine; the tables need only the median and its spread.
    config = Criterion::default().without_plots().nresamples(10_000);
    targets = pairs
}
criterion_main!(benches);
