//! Prints the markdown tables of the criterion results for the README's Performance
//! section: nanoseconds per allocate+free pair per workload and contender (median and
//! median absolute deviation), the scaling from 64 MiB to 4 GiB, and how the performance
//! goals fare. Run after `cargo bench -p contig-benches`:
//!
//! `cargo run -p contig-benches --release --bin perf-table [-- target/criterion]`

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::path::PathBuf;

use contig_benches::Contender;
use contig_benches::criterion_json::{Estimate, collect};
use contig_benches::ours::OurBackend;

const WORKLOADS: [(&str, &str); 6] = [
    ("pair/W1", "W1 video 85 %"),
    ("pair/W2", "W2 virtio"),
    ("pair/W3", "W3 descriptors"),
    ("pair/R-virtio", "random virtio"),
    ("pair/R-desc", "random descriptors"),
    ("pair/R-video", "random video"),
];
const REGIONS: [&str; 3] = ["64MiB", "1GiB", "4GiB"];

fn find<'a>(
    all: &'a [Estimate],
    group: &str,
    function: &str,
    value: Option<&str>,
) -> Option<&'a Estimate> {
    all.iter()
        .find(|e| e.group == group && e.function == function && e.value.as_deref() == value)
}

fn cell(e: Option<&Estimate>) -> String {
    e.map_or_else(
        || "–".to_owned(),
        |e| format!("{:.1} ± {:.1}", e.median, e.mad),
    )
}

fn pairs_table(all: &[Estimate]) -> String {
    let mut md = String::from("| contender |");
    for (_, title) in WORKLOADS {
        let _ = write!(md, " {title} |");
    }
    md.push_str("\n|---|");
    md.push_str(&"---:|".repeat(WORKLOADS.len()));
    md.push('\n');
    let names = Contender::all().into_iter().map(Contender::name);
    for name in names.chain(["replay-overhead".to_owned()]) {
        let _ = write!(md, "| {name} |");
        for (group, _) in WORKLOADS {
            let _ = write!(md, " {} |", cell(find(all, group, &name, None)));
        }
        md.push('\n');
    }
    md
}

fn scaling_table(all: &[Estimate]) -> String {
    let mut md = String::from("| contender | 64 MiB | 1 GiB | 4 GiB |\n|---|---:|---:|---:|\n");
    let names = OurBackend::ALL.iter().map(|b| b.name().to_owned()).chain(
        [
            Contender::Talc,
            Contender::Rlsf,
            Contender::Buddy,
            Contender::Offset,
            Contender::LinkedList,
        ]
        .map(Contender::name),
    );
    for name in names {
        let _ = write!(md, "| {name} |");
        for region in REGIONS {
            let _ = write!(md, " {} |", cell(find(all, "scaling", &name, Some(region))));
        }
        md.push('\n');
    }
    md
}

fn worst_case_table(all: &[Estimate]) -> String {
    let mut md = String::from("| backend | 64 MiB | 1 GiB | 4 GiB |\n|---|---:|---:|---:|\n");
    let names = OurBackend::ALL.map(OurBackend::name);
    for name in names.iter().copied().chain(["bitmap-unseen"]) {
        let _ = write!(md, "| {name} |");
        for region in REGIONS {
            let _ = write!(
                md,
                " {} |",
                cell(find(all, "worst_case", name, Some(region)))
            );
        }
        md.push('\n');
    }
    md
}

fn goals(all: &[Estimate]) -> String {
    let mut out = String::from("\nGoals, this run:\n");
    for (group, title) in &WORKLOADS[1..] {
        let best = Contender::all()
            .into_iter()
            .filter(|c| c.is_ours())
            .filter_map(|c| find(all, group, &c.name(), None).map(|e| (c.name(), e.median)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let peer = |n: &str| find(all, group, n, None).map(|e| e.median);
        if let (Some((name, ours)), Some(rlsf), Some(talc)) = (best, peer("rlsf"), peer("talc")) {
            let _ = writeln!(
                out,
                "- {title}: best of ours {name} {ours:.1} ns; rlsf/ours {:.2}, talc/ours {:.2} (goal >= 1.0); p50 <= 40 ns: {}",
                rlsf / ours,
                talc / ours,
                if ours <= 40.0 { "met" } else { "missed" }
            );
        }
    }
    for name in ["first-fit", "bitmap", "bitmap-unseen", "tlsf"] {
        let at = |r: &str| find(all, "worst_case", name, Some(r)).map(|e| e.median);
        if let (Some(small), Some(large)) = (at("64MiB"), at("4GiB")) {
            let _ = writeln!(
                out,
                "- {name}: worst-case pair cost 4 GiB / 64 MiB {:.2}x (goal: flat)",
                large / small
            );
        }
    }
    out
}

fn main() {
    let dir = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/criterion")),
        PathBuf::from,
    );
    let all = collect(&dir);
    if all.is_empty() {
        eprintln!(
            "no criterion results under {}; run `cargo bench -p contig-benches` first",
            dir.display()
        );
        std::process::exit(1);
    }
    println!(
        "Nanoseconds per allocate+free pair (median ± median absolute deviation); \
         `replay-overhead` is the harness alone (included in every row):\n"
    );
    println!("{}", pairs_table(&all));
    println!("Scaling: ns per pair of 1–16 × 4 KiB on a half-full arena (median ± MAD):\n");
    println!("{}", scaling_table(&all));
    println!(
        "Worst case: ns per 512-unit pair when only the last 1,024 units of a half-full region fit it (median ± MAD):\n"
    );
    println!("{}", worst_case_table(&all));
    println!("{}", goals(&all));
}
