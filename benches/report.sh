#!/bin/sh
# Runs every benchmark of contig-benches and prints the markdown for the README's
# "Performance" section: the machine, the per-pair and scaling tables (criterion) and
# the fragmentation table. Run on an idle machine from anywhere:
#
#     benches/report.sh            # the published seed
#     benches/report.sh --seed 42  # another seed for the workload traces (decimal or 0x hex)
#
# Results: target/criterion/ (criterion's HTML and JSON), target/contig-report/
# (fragmentation.md, fragmentation.csv, SVG charts; override with CONTIG_REPORT_DIR).
set -eu
cd "$(dirname "$0")/.."
while [ $# -gt 0 ]; do
    case "$1" in
    --seed)
        [ $# -ge 2 ] || { echo "--seed needs a value" >&2; exit 2; }
        export CONTIG_BENCH_SEED="$2"
        shift 2
        ;;
    *)
        echo "usage: $0 [--seed N]" >&2
        exit 2
        ;;
    esac
done
export CONTIG_REPORT_DIR="${CONTIG_REPORT_DIR:-$PWD/target/contig-report}"
mkdir -p "$CONTIG_REPORT_DIR"

# Stale results (a contender or size no longer run) would otherwise reach the tables.
rm -rf target/criterion/pair_W1 target/criterion/pair_W2 target/criterion/pair_W3 \
    target/criterion/pair_R-virtio target/criterion/pair_R-desc target/criterion/pair_R-video \
    target/criterion/scaling target/criterion/worst_case

start=$(date +%s)
cargo bench -p contig-benches --bench workloads
cargo bench -p contig-benches --bench backends
cargo bench -p contig-benches --bench fragmentation >"$CONTIG_REPORT_DIR/fragmentation.txt"
end=$(date +%s)

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
cores=$(nproc 2>/dev/null || echo "?")
{
    echo "## Performance"
    echo
    echo "Measured $(date -u +%Y-%m-%d) on ${cpu:-unknown CPU} (${cores} cores), $(uname -sr), $(rustc --version)."
    echo "Commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown); all benches took $((end - start)) s; workload seed ${CONTIG_BENCH_SEED:-default}."
    echo "Reproduce with \`benches/report.sh\` (or the three \`cargo bench -p contig-benches --bench ...\` commands in it)."
    echo
    cargo run -q -p contig-benches --release --bin perf-table -- target/criterion
    echo
    echo "Fragmentation (same seed, same arena size for everybody; see \`benches/benches/fragmentation.rs\` for the definitions):"
    echo
    cat "$CONTIG_REPORT_DIR/fragmentation.txt"
} | tee "$CONTIG_REPORT_DIR/performance.md"
