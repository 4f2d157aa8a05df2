//! The fragmentation report: every contender on the same traces, same seeds, same
//! arena sizes. Prints a markdown table (the README's Performance section) and writes
//! `fragmentation.csv` plus SVG bar charts to `$CONTIG_REPORT_DIR`, by default
//! `target/contig-report/`.
//!
//! Columns:
//! * **W4 occ.**: requested bytes live at the first failure of the random trace
//!   (log-uniform 4 KiB–4 MiB, random frees, 256 MiB), as % of the arena; mean over five
//!   seeds and the worst seed.
//! * **W4 chk.**: the same for the checkerboard trace (small blocks, every other freed,
//!   then 1–4 MiB blocks).
//! * **W1 fail**: failed frame allocations as % of all, counting only failures while the
//!   ideal free space (arena − live requested bytes) was ≥ the request, at 70/85/95 %
//!   target load on 256 MiB, and at 85 % on 64 MiB.
//! * **largest/free**: largest allocatable block (probed at 4 KiB steps) / ideal free
//!   space, after churning log-uniform blocks at 50/75/90 % occupancy of 256 MiB.
//! * **waste**: bytes taken beyond the request (rounding plus in-band headers) as % of
//!   the requested bytes, on W1 (85 %, 256 MiB) and W3.
//! * **meta B/MiB**: out-of-band metadata per MiB managed (256 MiB arena); **bits/gr.**
//!   the same per granule for the unit allocators.
//! * **meta B/alloc**: out-of-band metadata spread over the W3 peak live set, plus the
//!   in-band header each allocation carries.
//!
//! Run with `cargo bench -p contig-benches --bench fragmentation`; add `-- tlsf rlsf` to
//! measure only the contenders whose name contains one of those words.

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use contig_benches::contender::Contender;
use contig_benches::workload::{SEED, adversarial, descriptors, video};
use contig_benches::{Replayer, largest_allocatable, svg};

const ARENA: usize = 256 << 20;
const W4_SEEDS: u64 = 5;
const LOADS: [usize; 3] = [70, 85, 95];
const OCCUPANCIES: [usize; 3] = [50, 75, 90];

/// One contender's measurements.
struct Row {
    name: String,
    w4_mean: f64,
    w4_min: f64,
    w4_checkerboard: f64,
    w1_fail: [f64; 3],
    w1_fail_64: f64,
    largest: [f64; 3],
    waste_w1: f64,
    waste_w3: f64,
    meta_per_mib: f64,
    bits_per_granule: Option<f64>,
    meta_per_alloc: f64,
}

fn percent(part: f64, whole: f64) -> f64 {
    100.0 * part / whole
}

fn waste(out: &contig_benches::Outcome) -> f64 {
    percent((out.footprint - out.requested) as f64, out.requested as f64)
}

fn measure(contender: Contender) -> Option<Row> {
    let mut replayer = Replayer::default();
    let fresh = |bytes: usize| contender.build(bytes);
    let arena = fresh(ARENA)?;
    let name = arena.name();

    let mut w4 = Vec::new();
    for seed in SEED..SEED + W4_SEEDS {
        let trace = adversarial::random(seed, ARENA);
        let mut a = fresh(ARENA)?;
        let out = replayer.run(a.as_mut(), &trace, true);
        let live = out
            .first_failure_live
            .expect("the trace overcommits the arena");
        w4.push(percent(live as f64, ARENA as f64));
    }
    let trace = adversarial::checkerboard(SEED, ARENA);
    let out = replayer.run(fresh(ARENA)?.as_mut(), &trace, true);
    let live = out
        .first_failure_live
        .expect("the trace overcommits the arena");
    let w4_checkerboard = percent(live as f64, ARENA as f64);

    let mut w1_fail = [0.0; 3];
    let mut waste_w1 = 0.0;
    for (slot, load) in w1_fail.iter_mut().zip(LOADS) {
        let trace = video::trace(SEED, ARENA, load, 3_000);
        let out = replayer.run(fresh(ARENA)?.as_mut(), &trace, false);
        *slot = percent(out.avoidable_failures as f64, out.allocations as f64);
        if load == 85 {
            waste_w1 = waste(&out);
        }
    }
    let trace = video::trace(SEED, 64 << 20, 85, 3_000);
    let out = replayer.run(fresh(64 << 20)?.as_mut(), &trace, false);
    let w1_fail_64 = percent(out.avoidable_failures as f64, out.allocations as f64);

    let mut largest = [0.0; 3];
    for (slot, occupancy) in largest.iter_mut().zip(OCCUPANCIES) {
        let trace = adversarial::churn(SEED, ARENA, occupancy, 1_000);
        let mut a = fresh(ARENA)?;
        let out = replayer.run(a.as_mut(), &trace, false);
        let ideal_free = ARENA - out.live_at_end;
        *slot = percent(
            largest_allocatable(a.as_mut(), 4096) as f64,
            ideal_free as f64,
        );
    }

    let trace = descriptors::trace(SEED, 10);
    let mut a = fresh(trace.arena_bytes)?;
    let out = replayer.run(a.as_mut(), &trace, false);
    let waste_w3 = waste(&out);
    let meta_per_alloc =
        a.metadata_bytes() as f64 / out.peak_count as f64 + a.header_bytes() as f64;

    let meta = arena.metadata_bytes() as f64;
    let bits_per_granule = match contender {
        Contender::Ours(_, granule) => Some(meta * 8.0 / (ARENA / granule) as f64),
        _ => None,
    };
    Some(Row {
        name,
        w4_mean: w4.iter().sum::<f64>() / w4.len() as f64,
        w4_min: w4.iter().copied().fold(f64::INFINITY, f64::min),
        w4_checkerboard,
        w1_fail,
        w1_fail_64,
        largest,
        waste_w1,
        waste_w3,
        meta_per_mib: meta / (ARENA >> 20) as f64,
        bits_per_granule,
        meta_per_alloc,
    })
}

fn markdown(rows: &[Row]) -> String {
    let mut md = String::new();
    md.push_str("| contender | W4 occ. mean / min | W4 chk. | W1 fail 70 / 85 / 95 % | W1 fail 64 MiB | largest/free 50 / 75 / 90 % | waste W1 / W3 | meta B/MiB | bits/gr. | meta B/alloc |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let bits = r
            .bits_per_granule
            .map_or_else(|| "–".to_owned(), |b| format!("{b:.2}"));
        let _ = writeln!(
            md,
            "| {} | {:.1} / {:.1} % | {:.1} % | {:.2} / {:.2} / {:.2} % | {:.2} % | {:.1} / {:.1} / {:.1} % | {:.2} / {:.1} % | {:.0} | {} | {:.1} |",
            r.name,
            r.w4_mean,
            r.w4_min,
            r.w4_checkerboard,
            r.w1_fail[0],
            r.w1_fail[1],
            r.w1_fail[2],
            r.w1_fail_64,
            r.largest[0],
            r.largest[1],
            r.largest[2],
            r.waste_w1,
            r.waste_w3,
            r.meta_per_mib,
            bits,
            r.meta_per_alloc,
        );
    }
    md
}

fn csv(rows: &[Row]) -> String {
    let mut csv = String::from(
        "contender,w4_occupancy_mean_pct,w4_occupancy_min_pct,w4_checkerboard_pct,\
         w1_fail70_pct,w1_fail85_pct,w1_fail95_pct,w1_fail85_64mib_pct,\
         largest_free50_pct,largest_free75_pct,largest_free90_pct,\
         waste_w1_pct,waste_w3_pct,metadata_bytes_per_mib,metadata_bits_per_granule,\
         metadata_bytes_per_live_alloc\n",
    );
    for r in rows {
        let bits = r
            .bits_per_granule
            .map_or(String::new(), |b| format!("{b:.4}"));
        let _ = writeln!(
            csv,
            "{},{:.3},{:.3},{:.3},{:.4},{:.4},{:.4},{:.4},{:.3},{:.3},{:.3},{:.4},{:.4},{:.2},{},{:.3}",
            r.name,
            r.w4_mean,
            r.w4_min,
            r.w4_checkerboard,
            r.w1_fail[0],
            r.w1_fail[1],
            r.w1_fail[2],
            r.w1_fail_64,
            r.largest[0],
            r.largest[1],
            r.largest[2],
            r.waste_w1,
            r.waste_w3,
            r.meta_per_mib,
            bits,
            r.meta_per_alloc,
        );
    }
    csv
}

fn charts(rows: &[Row]) -> Vec<(&'static str, String)> {
    let series = |f: &dyn Fn(&Row) -> f64| -> Vec<(String, f64)> {
        rows.iter().map(|r| (r.name.clone(), f(r))).collect()
    };
    let max_of = |v: &[(String, f64)]| v.iter().map(|(_, x)| *x).fold(0.0, f64::max);
    let waste = series(&|r| r.waste_w1);
    let meta = series(&|r| r.meta_per_alloc);
    let fail = series(&|r| r.w1_fail[1]);
    vec![
        (
            "w4_occupancy.svg",
            svg::bar_chart(
                "W4: occupancy at first failure (mean of 5 seeds, 256 MiB)",
                " %",
                &series(&|r| r.w4_mean),
                100.0,
            ),
        ),
        (
            "w1_failures_85.svg",
            svg::bar_chart(
                "W1: avoidable failures at 85 % load (256 MiB)",
                " %",
                &fail,
                max_of(&fail).max(1.0),
            ),
        ),
        (
            "largest_free_90.svg",
            svg::bar_chart(
                "Largest allocatable / ideal free at 90 % occupancy",
                " %",
                &series(&|r| r.largest[2]),
                100.0,
            ),
        ),
        (
            "waste_w1.svg",
            svg::bar_chart(
                "W1: bytes taken beyond the request (85 %, 256 MiB)",
                " %",
                &waste,
                max_of(&waste).max(1.0),
            ),
        ),
        (
            "metadata_per_alloc.svg",
            svg::bar_chart(
                "Metadata bytes per live allocation (W3 peak)",
                " B",
                &meta,
                max_of(&meta).max(1.0),
            ),
        ),
    ]
}

fn goals(rows: &[Row]) -> String {
    let mut out = String::from("\nGoals:\n");
    let find = |name: &str| rows.iter().find(|r| r.name == name);
    for name in ["first-fit/4K", "first-fit/64B"] {
        if let Some(r) = find(name) {
            let _ = writeln!(
                out,
                "- W4 occupancy at first failure >= 97 % for {name}: {:.1} % ({})",
                r.w4_mean,
                if r.w4_mean >= 97.0 { "met" } else { "missed" }
            );
        }
    }
    for r in rows.iter().filter(|r| !r.name.starts_with("pow2")) {
        if r.bits_per_granule.is_some() {
            let _ = writeln!(
                out,
                "- {}: W1 waste {:.3} % (goal <= 0.15 %), failures at 85 % {:.2} % (goal 0), metadata {:.2} bits/granule",
                r.name,
                r.waste_w1,
                r.w1_fail[1],
                r.bits_per_granule.unwrap_or(0.0)
            );
        }
    }
    out
}

fn report_dir() -> PathBuf {
    std::env::var_os("CONTIG_REPORT_DIR").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/contig-report"
            ))
        },
        PathBuf::from,
    )
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary
    // without it, and a test run should not take the report's time.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("fragmentation report: run it with `cargo bench`");
        return;
    }
    // Optional words after `--`: only the contenders whose name contains one of them
    // (e.g. `cargo bench -p contig-benches --bench fragmentation -- tlsf rlsf`).
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |c: &Contender| only.is_empty() || only.iter().any(|w| c.name().contains(w));
    let mut rows = Vec::new();
    for contender in Contender::all().into_iter().filter(wanted) {
        let start = Instant::now();
        match measure(contender) {
            Some(row) => {
                eprintln!("{:<28} {:>6.1} s", row.name, start.elapsed().as_secs_f64());
                rows.push(row);
            }
            None => eprintln!("{contender:?}: cannot run on a {} MiB arena", ARENA >> 20),
        }
    }
    let md = markdown(&rows);
    println!("{md}{}", goals(&rows));
    let dir = report_dir();
    std::fs::create_dir_all(&dir).expect("create the report directory");
    std::fs::write(dir.join("fragmentation.md"), &md).expect("write the markdown table");
    std::fs::write(dir.join("fragmentation.csv"), csv(&rows)).expect("write the CSV");
    for (file, chart) in charts(&rows) {
        std::fs::write(dir.join(file), chart).expect("write a chart");
    }
    eprintln!("report written to {}", dir.display());
}
