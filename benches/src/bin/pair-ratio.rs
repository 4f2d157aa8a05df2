//! Ns per allocate+free pair of a few contenders on the workload traces, measured
//! interleaved (contender by contender, round after round, short batches): the best round
//! of each, and the median over rounds of each one's ratio to the first contender named
//! in the same round (neighbouring batches share the machine's load). Steadier than
//! separate criterion runs on a loaded machine, for side-by-side checks while optimising.
//!
//! `cargo run -p contig-benches --release --bin pair-ratio -- [ROUNDS] NAME...`, e.g.
//! `-- 7 talc rlsf tlsf/4K tlsf/64B` (names as in the workloads bench; ratios are to
//! the first name; `replay-overhead` is the harness alone, as in the workloads bench).
//! `PAIR_RATIO_TRACES=W2,R-desc` limits the traces.

#![forbid(unsafe_code)]

use std::hint::black_box;
use std::time::Instant;

use contig_benches::workload::{named_throughput_traces, seed_from_env};
use contig_benches::{Arena, Contender, ReplayOverhead, Replayer};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let rounds = match args.first().and_then(|a| a.parse::<usize>().ok()) {
        Some(r) => {
            args.remove(0);
            r
        }
        None => 5,
    };
    let traces = named_throughput_traces(seed_from_env());
    let only = std::env::var("PAIR_RATIO_TRACES").ok();
    for (short, trace) in traces {
        if only
            .as_ref()
            .is_some_and(|o| !o.split(',').any(|t| t == short))
        {
            continue;
        }
        let mut arenas: Vec<_> = args
            .iter()
            .filter_map(|name| {
                let mut arena: Box<dyn Arena> = if name == "replay-overhead" {
                    Box::new(ReplayOverhead(trace.arena_bytes))
                } else {
                    let c = Contender::all().into_iter().find(|c| &c.name() == name)?;
                    c.build(trace.arena_bytes)?
                };
                let mut replayer = Replayer::default();
                replayer.run(arena.as_mut(), &trace, false);
                Some((name.clone(), arena, replayer, f64::INFINITY, Vec::new()))
            })
            .collect();
        let allocations = trace.allocations().max(1);
        let pairs = allocations as f64;
        // About 0.05 s per replay batch: many short rounds, so the best of each catches a quiet moment.
        let reps = 500_000_usize.div_ceil(allocations);
        for _ in 0..rounds {
            for (_, arena, replayer, best, times) in &mut arenas {
                let start = Instant::now();
                for _ in 0..reps {
                    black_box(replayer.run(arena.as_mut(), black_box(&trace), false));
                }
                let ns = start.elapsed().as_secs_f64() * 1e9 / (reps as f64 * pairs);
                *best = best.min(ns);
                times.push(ns);
            }
        }
        let base: Vec<f64> = arenas.first().map(|a| a.4.clone()).unwrap_or_default();
        let row: Vec<String> = arenas
            .iter()
            .map(|(name, _, _, best, times)| {
                let mut ratios: Vec<f64> = times.iter().zip(&base).map(|(t, b)| t / b).collect();
                ratios.sort_by(f64::total_cmp);
                let median = ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN);
                format!("{name} {best:.1} ({median:.2}x)")
            })
            .collect();
        println!("{short:9} {}", row.join("  "));
    }
}
