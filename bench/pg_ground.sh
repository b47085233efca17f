#!/usr/bin/env bash
# Issue 18 item 8: loading and grounding GCN from PostgreSQL, three ways in the same run —
# nrp with `--ground sql` (the database joins the bodies over tables), nrp with `--ground
# in-engine` (binary COPY, then nrp's join), and the way a PyG user loads the same tables
# (bench/pg_load_pyg.py: pandas.read_sql + torch tensors with gcn_norm's weights) —
# alternating `pyg sql in-engine` per repetition, reported as ratios of medians.
#
#   NRP_BENCH_VENV=… bench/pg_ground.sh [--reps 3] [--cases pubmed,scale] [--wait-quiet 300]
#
# Data: pubmed = examples/data/pubmed-random500 (examples/data/fetch.sh: the real PubMed
# graph with random 500-dim features, feature(id, dim, value)); scale = the 2 M-edge
# synthetic graph (bench/gen_synthetic.py --only scale, feature(id, f0..f63)). Both are
# loaded into a schema each of NRP_TEST_PG_URL's server, else of a scratch cluster
# (scripts/pg-scratch.sh) removed at the end. nrp's time is `load_seconds` of `nrp run
# --json` (read, ground, fold constants: before the first epoch) on a copy of the program
# trained for one epoch; Python's is the same stage. Results:
# bench/results/pg-ground-<date>/ (summary.txt).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REPS=3 CASES=pubmed,scale WAIT_QUIET=0 RETRY_NOISY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) REPS=$2; shift 2 ;;
        --cases) CASES=$2; shift 2 ;;
        --wait-quiet) WAIT_QUIET=$2; shift 2 ;;
        --retry-noisy) RETRY_NOISY=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 1 ;;
    esac
done
NRP=${NRP:-$ROOT/target/release/nrp}
PY=${NRP_BENCH_VENV:+$NRP_BENCH_VENV/bin/python}
PY=${PY:-python3}
[ -x "$NRP" ] || { echo "build first: cargo build --release ($NRP)" >&2; exit 1; }
OUT=$ROOT/bench/results/pg-ground-$(date -u +%Y%m%dT%H%M%S)
mkdir -p "$OUT"
source "$ROOT/bench/_runlib.sh"

PSQL=$(command -v psql || ls -d /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -1)
if [ -z "${NRP_TEST_PG_URL:-}" ]; then
    eval "$(bash "$ROOT/scripts/pg-scratch.sh" start --owner-pid $$)"
    trap 'bash "$ROOT/scripts/pg-scratch.sh" stop >/dev/null 2>&1 || true' EXIT
fi
URL=$NRP_TEST_PG_URL

# load NAME DIR LAYOUT DIM: the CSV folder into schema bench_NAME (once per server).
load() {
    local schema=bench_$1 dir=$2 layout=$3 dim=$4 cols i
    if [ "$layout" = wide ]; then
        cols="id bigint PRIMARY KEY"
        for ((i = 0; i < dim; i++)); do cols="$cols, f$i double precision"; done
    else
        cols="id bigint, dim int, value double precision"
    fi
    "$PSQL" "$URL" -q -v ON_ERROR_STOP=1 <<SQL
DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema; SET search_path TO $schema;
CREATE TABLE node (id bigint PRIMARY KEY, label int, split text);
CREATE TABLE edge (src bigint, dst bigint);
CREATE TABLE feature ($cols);
\copy node FROM '$dir/node.csv' CSV HEADER
\copy edge FROM '$dir/edge.csv' CSV HEADER
\copy feature FROM '$dir/feature.csv' CSV HEADER
ANALYZE;
SQL
}

header | tee "$OUT/summary.txt"
echo "reps: $REPS; cases: $CASES" | tee -a "$OUT/summary.txt"
IFS=, read -ra cases <<<"$CASES"
for c in "${cases[@]}"; do
    case "$c" in
        pubmed)
            dir=$ROOT/examples/data/pubmed-random500 prog=$ROOT/examples/gcn-pubmed.nrp
            layout=long dim=500
            [ -f "$dir/.complete" ] || NRP_BENCH_VENV=${NRP_BENCH_VENV:-} bash "$ROOT/examples/data/fetch.sh" >&2 ;;
        scale)
            dir=$ROOT/bench/data/synthetic/scale prog=$ROOT/bench/programs/gcn-scale.nrp
            layout=wide dim=64
            [ -f "$dir/.complete" ] || "$PY" "$ROOT/bench/gen_synthetic.py" --only scale >&2 ;;
        *) echo "unknown case $c" >&2; exit 1 ;;
    esac
    echo "loading $c into PostgreSQL" >&2
    load "$c" "$dir" "$layout" "$dim"
    db="$URL?schema=bench_$c"
    # Only the load counts: one epoch instead of the program's.
    sed 's/epochs=[0-9]*/epochs=1/' "$prog" >"$OUT/$c.nrp"
    for ((r = 1; r <= REPS; r++)); do
        timed "$c-pyg-$r" "$PY" "$ROOT/bench/pg_load_pyg.py" "$URL" "bench_$c" "$layout" "$dim" || true
        for g in sql in-engine; do
            timed "$c-$g-$r" "$NRP" run "$OUT/$c.nrp" --db "$db" --json --ground "$g" || true
        done
    done
done

# Medians of load_seconds, and the ratios nrp / PyG user.
for c in "${cases[@]}"; do
    for w in pyg sql in-engine; do
        for f in "$OUT/$c-$w-"*.out; do
            if [ "$w" = pyg ]; then
                awk '/^load_seconds/{print $2}' "$f"
            else
                tail -n 1 "$f" | sed -n 's/.*"load_seconds": *\([0-9.]*\).*/\1/p'
            fi
        done | sort -n | awk -v c="$c" -v w="$w" '{v[NR] = $1} END {
            if (NR == 0) { printf "%s %s n/a\n", c, w; exit }
            printf "%s %s %.3f\n", c, w, (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
    done
done >"$OUT/medians.txt"
awk '{m[$1 " " $2] = $3; cs[$1] = 1} END {
    printf "\n| case | PyG user (s) | nrp --ground sql (s) | nrp --ground in-engine (s) | sql / PyG | in-engine / PyG |\n|---|---|---|---|---|---|\n"
    for (c in cs) {
        p = m[c " pyg"]; s = m[c " sql"]; e = m[c " in-engine"]
        rs = (p + 0 > 0 && s != "n/a") ? sprintf("%.2f", s / p) : "n/a"
        re = (p + 0 > 0 && e != "n/a") ? sprintf("%.2f", e / p) : "n/a"
        printf "| %s | %s | %s | %s | %s | %s |\n", c, p, s, e, rs, re
    }}' "$OUT/medians.txt" | tee -a "$OUT/summary.txt"
echo "results: $OUT"
