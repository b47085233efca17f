#!/usr/bin/env bash
# Template expansion at scale: a program with 3,010 instances (bench/gen_instances.py)
# checked and planned by nrp. Prints the wall time of `nrp check` (parse, expand, check,
# estimate) and of `nrp explain` (also grounds and plans), medians of 3 runs.
# usage: bench/instances.sh [--relations R] [--bases B]   (build first: cargo build --release;
# NRP=path/to/nrp runs another binary)
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out/instances
python3 bench/gen_instances.py "$out" "$@"
nrp=${NRP:-target/release/nrp}
[ -x "$nrp" ] || { echo "build first: cargo build --release" >&2; exit 1; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_of() {
    for _ in 1 2 3; do
        local t0 t1
        t0=$(date +%s.%N)
        "$nrp" "$@" > "$out/last.txt"
        t1=$(date +%s.%N)
        echo "$t1 - $t0" | bc -l
    done | median
}
instances=$("$nrp" check "$out/instances.nrp" --db "$out/db" | sed -n 's/^instances (\([0-9]*\)):$/\1/p')
echo "instances: $instances"
echo "nrp check   s: $(time_of check "$out/instances.nrp" --db "$out/db")"
echo "nrp explain s: $(time_of explain "$out/instances.nrp" --db "$out/db")"
