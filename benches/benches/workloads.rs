//! Nanoseconds per allocate+free pair for every contender on the W1 (video frames at
//! 85 % of 256 MiB), W2 (virtio rings and packet buffers) and W3 (descriptors) traces,
//! and on the random-order traces with mixed lifetimes (`R-virtio`, `R-desc`,
//! `R-video`, see `contig_benches::workload::random_order`).
//!
//! One criterion iteration is one pair: each sample replays the whole trace as often as
//! needed and divides, so criterion's median and spread are per pair. The replay's own
//! bookkeeping (a slot table indexed by id, a dynamic call per operation) is included and
//! the same for everybody; the `replay-overhead` entry measures it alone, with an arena
//! that does no allocation work at all.
//!
//! Run with `cargo bench -p contig-benches --bench workloads`; one group alone with e.g.
//! `-- pair/R-virtio`. The seed is `$CONTIG_BENCH_SEED` when set (see
//! `contig_benches::workload::seed_from_env`).

#![forbid(unsafe_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use contig_benches::workload::{Trace, named_throughput_traces, seed_from_env};
use contig_benches::{Arena, Contender, ReplayOverhead, Replayer};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn pairs(c: &mut Criterion) {
    let named = named_throughput_traces(seed_from_env());
    for (short, trace) in named {
        bench_trace(c, short, &trace);
    }
}

fn bench_trace(c: &mut Criterion, short: &str, trace: &Trace) {
    let pairs = trace.allocations() as u64;
    let mut group = c.benchmark_group(format!("pair/{short}"));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(1));
    let contenders = Contender::all()
        .into_iter()
        .filter(|c| c.can_manage(trace.arena_bytes))
        .map(|c| (c.name(), Some(c)));
    for (name, contender) in contenders.chain([("replay-overhead".to_owned(), None)]) {
        // Built on first use, so a filtered-out contender costs nothing (some take
        // seconds to replay a trace on a 2 GiB arena); dropped before the next one.
        let mut state: Option<(Box<dyn Arena>, Replayer)> = None;
        group.bench_function(name, |b| {
            let (arena, replayer) = state.get_or_insert_with(|| {
                let mut arena: Box<dyn Arena> = match contender {
                    Some(c) => c.build(trace.arena_bytes).expect("checked by can_manage"),
                    None => Box::new(ReplayOverhead(trace.arena_bytes)),
                };
                let mut replayer = Replayer::default();
                // One untimed pass: checks the contender and faults in in-band pages.
                let first = replayer.run(arena.as_mut(), trace, false);
                assert_eq!(first.misplaced, 0, "{} misplaced blocks", arena.name());
                (arena, replayer)
            });
            b.iter_custom(|iters| {
                let replays = iters.div_ceil(pairs);
                let start = Instant::now();
                for _ in 0..replays {
                    black_box(replayer.run(arena.as_mut(), black_box(trace), false));
                }
                let per_pair = start.elapsed().as_secs_f64() / (replays * pairs) as f64;
                Duration::from_secs_f64(per_pair * iters as f64)
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Plots and 100k bootstrap resamples per benchmark cost more than the measurement
    // on a small machine; the tables need only the median and its spread.
    config = Criterion::default().without_plots().nresamples(10_000);
    targets = pairs
}
criterion_main!(benches);
