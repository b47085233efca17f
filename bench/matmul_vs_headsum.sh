#!/usr/bin/env bash
# RelaNN-style attention with `@` against nrp's HeadSum/Repeat form, side by side in one run:
#   bench/matmul_vs_headsum.sh [REPS] [THREADS]
# Alternates `nrp run examples/hgt-imdb.nrp` and `nrp run bench/programs/hgt-imdb-matmul.nrp`
# (the same model, its score and message written with shaped embeddings) on hetero-imdb and
# prints each side's median training step and the ratio (issue 16's target: within 1.1).
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3} threads=${2:-2}
cargo build --release -q -p nrp
db=examples/data/hetero-imdb
declare -A ms
for r in $(seq 1 "$reps"); do
    for side in headsum matmul; do
        prog=examples/hgt-imdb.nrp
        [ "$side" = matmul ] && prog=bench/programs/hgt-imdb-matmul.nrp
        line=$(./target/release/nrp run "$prog" --db "$db" --threads "$threads" --json 2>/dev/null | tail -n 1)
        ms[$side]+="$(python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(j["ms_per_epoch"], j["test_acc"])' "$line");"
    done
done
python3 - "${ms[headsum]}" "${ms[matmul]}" <<'PY'
import statistics, sys
def parse(s):
    rows = [r.split() for r in s.strip(";").split(";")]
    return [float(a) for a, _ in rows], [float(b) for _, b in rows]
(hs, ha), (mm, ma) = parse(sys.argv[1]), parse(sys.argv[2])
h, m = statistics.median(hs), statistics.median(mm)
print("| form | ms/step (median) | test acc | runs |")
print("|---|---:|---:|---:|")
print(f"| HeadSum/Repeat (examples/hgt-imdb.nrp) | {h:.2f} | {100*ha[0]:.1f} % | {len(hs)} |")
print(f"| `@` and broadcasting (bench/programs/hgt-imdb-matmul.nrp) | {m:.2f} | {100*ma[0]:.1f} % | {len(mm)} |")
print(f"\nratio @ / HeadSum: {m / h:.3f}")
PY
