#!/usr/bin/env bash
# Each technique's own effect: nrp alone, every case run with one rewrite rule switched off
# (NRP_DISABLE_RULES=<rule>, see crates/nrp-engine/src/plan/rules/mod.rs) or with one
# thread, alternating with the unchanged engine ("base") in every repetition. Then
# bench/summarize.py prints each variant's ms/step against base. See bench/README.md.
#
#   bench/ablate.sh [--cases LIST] [--variants LIST] [--reps N] [--epochs N] [--threads N]
#                   [--out DIR] [--wait-quiet S] [--retry-noisy N] [--timeout S] [--mem-gb G]
#
# --cases     default: gcn-cora gcn-citeseer gcn-pubmed hgnn-cocitation-cora hgt-imdb
#             gcn-scale dhn-triangles twohop-cora
# --variants  default: hoist onehot_sum fold factor_split gather_through merge_sums
#             linear_pushdown cleanup cse sparsify compose_reduce fuse_heads eliminate threads1 (base always runs);
#             a rule name disables that rule, threads1 runs base with --threads 1
# --epochs N  run a copy of each program with ?fit epochs=N (default: the program's own;
#             ms/step is a median over epochs, so fewer epochs only save time)
# --timeout S a run taking longer is killed and reported FAILED (default 900)
# --mem-gb G  address-space limit per run (ulimit -v, default 12): a variant that would
#             materialise a huge per-match tensor fails fast instead of swapping
# Programs: examples/<case>.nrp (the model zoo) or bench/programs/<case>.nrp. Data: the
# shared data sets (../shared/data), pubmed-random500 from $NRP_BENCH_CACHE (default
# examples/data, made by examples/data/fetch.sh), bench/data/synthetic (gen_synthetic.py).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
DATA="${NRP_SHARED:-$ROOT/../shared}/data"
CACHE="${NRP_BENCH_CACHE:-$ROOT/examples/data}"
NRP="${NRP:-$ROOT/target/release/nrp}"

CASES="gcn-cora gcn-citeseer gcn-pubmed hgnn-cocitation-cora hgt-imdb gcn-scale dhn-triangles twohop-cora"
VARIANTS="hoist onehot_sum fold factor_split gather_through merge_sums linear_pushdown cleanup cse sparsify compose_reduce fuse_heads eliminate threads1"
REPS=2
EPOCHS=""
THREADS="$(nproc 2>/dev/null || echo 1)"
OUT=""
WAIT_QUIET=0
RETRY_NOISY=0
TIMEOUT=900
MEM_GB=12
while [ $# -gt 0 ]; do
    case "$1" in
        --cases) CASES="${2//,/ }"; shift 2 ;;
        --variants) VARIANTS="${2//,/ }"; shift 2 ;;
        --reps) REPS="$2"; shift 2 ;;
        --epochs) EPOCHS="$2"; shift 2 ;;
        --threads) THREADS="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --wait-quiet) WAIT_QUIET="$2"; shift 2 ;;
        --retry-noisy) RETRY_NOISY="$2"; shift 2 ;;
        --timeout) TIMEOUT="$2"; shift 2 ;;
        --mem-gb) MEM_GB="$2"; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
        *) echo "ablate.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ -x "$NRP" ] || { echo "ablate.sh: no nrp binary at $NRP (cargo build --release)" >&2; exit 2; }
OUT="${OUT:-$HERE/out/ablate-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT/programs"
# shellcheck source=bench/_runlib.sh
. "$HERE/_runlib.sh"

db() {
    case "$1" in
        gcn-cora|twohop-cora) echo "$DATA/cora" ;;
        gcn-citeseer) echo "$DATA/citeseer" ;;
        gcn-pubmed) echo "$CACHE/pubmed-random500" ;;
        hgnn-cocitation-cora) echo "$DATA/hypergraph-cocitation-cora" ;;
        hgt-imdb) echo "$DATA/hetero-imdb" ;;
        gcn-scale) echo "$HERE/data/synthetic/scale" ;;
        dhn-triangles) echo "$HERE/data/synthetic/triangles" ;;
        *) echo "ablate.sh: unknown case $1" >&2; exit 2 ;;
    esac
}
program() {
    local src
    if [ -f "$ROOT/examples/$1.nrp" ]; then src="$ROOT/examples/$1.nrp"; else src="$HERE/programs/$1.nrp"; fi
    [ -f "$src" ] || { echo "ablate.sh: no program for $1" >&2; return 1; }
    if [ -n "$EPOCHS" ]; then
        sed -E "s/epochs *= *[0-9]+/epochs=$EPOCHS/" "$src" >"$OUT/programs/$1.nrp"
        echo "$OUT/programs/$1.nrp"
    else
        echo "$src"
    fi
}

{
    echo "# nrp ablation"
    header
    echo "threads: $THREADS, repetitions: $REPS, cases: $CASES, variants: base $VARIANTS${EPOCHS:+, epochs overridden: $EPOCHS}"
    echo "results: $OUT"
} | tee "$OUT/header.txt"
echo

for c in $CASES; do
    d="$(db "$c")"; p="$(program "$c")" || continue
    [ -e "$d" ] || { echo "[$c] data missing: $d (skipped)"; continue; }
    for r in $(seq 1 "$REPS"); do
        for v in base $VARIANTS; do
            case "$v" in
                base) env=(); t="$THREADS" ;;
                threads1) env=(); t=1 ;;
                *) env=("NRP_DISABLE_RULES=$v"); t="$THREADS" ;;
            esac
            name="$v"; [ "$v" = base ] || [ "$v" = threads1 ] || name="no-$v"
            timed "$c.$name.$r" bash -c 'ulimit -v $(('"$MEM_GB"' * 1048576)); exec "$@"' _ \
                env NRP_TRACE=1 "${env[@]}" timeout "$TIMEOUT" "$NRP" run "$p" --db "$d" --threads "$t" --json
        done
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/header.txt"
echo
CASES_ORDER="$CASES" python3 "$HERE/summarize.py" "$OUT"
