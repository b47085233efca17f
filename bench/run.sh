#!/usr/bin/env bash
# The repo's own side-by-side cases (the shared runner ../shared/bench/run.sh has the
# others): nrp and its peer alternate, each in a fresh process, then bench/summarize.py
# prints medians and ratios. See bench/README.md.
#
#   bench/run.sh [--cases gcn-scale,dhn-triangles] [--reps N] [--threads N] [--out DIR]
#                [--wait-quiet S] [--retry-noisy N]
#
# --cases      subset of: gcn-scale dhn-triangles (default: both)
# --reps N     repetitions per side, alternating peer nrp peer nrp ... (default 3)
# --threads N  torch.set_num_threads / nrp --threads (default: nproc)
# --out DIR    results folder (default: bench/out/run-<UTC timestamp>)
# --wait-quiet S, --retry-noisy N   as ../shared/bench/run.sh: wait up to S seconds for
#              idle CPUs before each run; repeat a run that shared the CPUs up to N times
# Environment: NRP_BENCH_VENV (the peer venv, default ../shared/bench/.venv), NRP (the
# binary, default target/release/nrp; build it first: cargo build --release).
# nrp runs with NRP_TRACE=1, so the .err files hold its stage timings (grounding alone).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
VENV="${NRP_BENCH_VENV:-$ROOT/../shared/bench/.venv}"
PY="$VENV/bin/python"
NRP="${NRP:-$ROOT/target/release/nrp}"

ALL_CASES="gcn-scale dhn-triangles"
CASES="$ALL_CASES"
REPS=3
THREADS="$(nproc 2>/dev/null || echo 1)"
OUT=""
WAIT_QUIET=0
RETRY_NOISY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --cases) CASES="${2//,/ }"; shift 2 ;;
        --reps) REPS="$2"; shift 2 ;;
        --threads) THREADS="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --wait-quiet) WAIT_QUIET="$2"; shift 2 ;;
        --retry-noisy) RETRY_NOISY="$2"; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
for c in $CASES; do
    case " $ALL_CASES " in *" $c "*) ;; *) echo "run.sh: unknown case '$c' (cases: $ALL_CASES)" >&2; exit 2 ;; esac
done
[ -x "$PY" ] || { echo "run.sh: no peer venv at $VENV (../shared/bench/setup.sh; NRP_BENCH_VENV)" >&2; exit 2; }
[ -x "$NRP" ] || { echo "run.sh: no nrp binary at $NRP (cargo build --release)" >&2; exit 2; }
OUT="${OUT:-$HERE/out/run-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
# shellcheck source=bench/_runlib.sh
. "$HERE/_runlib.sh"

peer() {
    case "$1" in
        gcn-scale) echo "$HERE/pyg_scale.py --db $HERE/data/synthetic/scale" ;;
        dhn-triangles) echo "$HERE/torch_triangles.py --db $HERE/data/synthetic/triangles" ;;
    esac
}
db() {
    case "$1" in
        gcn-scale) echo "$HERE/data/synthetic/scale" ;;
        dhn-triangles) echo "$HERE/data/synthetic/triangles" ;;
    esac
}

"$PY" "$HERE/gen_synthetic.py" >/dev/null || { echo "run.sh: data generation failed" >&2; exit 1; }
{
    echo "# nrp vs peer, repo cases"
    header
    echo "threads: $THREADS, repetitions: $REPS, cases: $CASES"
    echo "peer: $("$PY" -W ignore -c 'import torch, torch_geometric as g; print(f"torch {torch.__version__}, torch_geometric {g.__version__}")' 2>/dev/null)"
    echo "results: $OUT"
} | tee "$OUT/header.txt"
echo

for c in $CASES; do
    for r in $(seq 1 "$REPS"); do
        # shellcheck disable=SC2046
        timed "$c.pyg.$r" "$PY" $(peer "$c") --threads "$THREADS" --seed 0 --json
        timed "$c.nrp.$r" env NRP_TRACE=1 "$NRP" run "$ROOT/bench/programs/$c.nrp" --db "$(db "$c")" --threads "$THREADS" --json
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/header.txt"
echo
python3 "$HERE/summarize.py" "$OUT"
