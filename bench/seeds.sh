#!/usr/bin/env bash
# Test accuracy over several seeds: mean ± standard deviation of `test_acc`.
#   bench/seeds.sh PROGRAM DB [FIRST_SEED LAST_SEED] [-- extra nrp flags]
# e.g. bench/seeds.sh examples/gcn-cora.nrp examples/data/cora 0 4
set -euo pipefail
cd "$(dirname "$0")/.."
prog=$1 db=$2 first=${3:-0} last=${4:-4}
shift $(( $# < 4 ? $# : 4 ))
[ "${1:-}" = "--" ] && shift
cargo build --release -q -p nrp
accs=()
for s in $(seq "$first" "$last"); do
    line=$(./target/release/nrp run "$prog" --db "$db" --seed "$s" --json "$@" 2>/dev/null | tail -n 1)
    acc=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["test_acc"])' "$line")
    ms=$(python3 -c 'import json,sys; print(round(json.loads(sys.argv[1])["ms_per_epoch"], 3))' "$line")
    printf 'seed %s: test_acc %.4f  (%s ms/epoch)\n' "$s" "$acc" "$ms"
    accs+=("$acc")
done
python3 - "${accs[@]}" <<'PY'
import statistics, sys
xs = [float(x) for x in sys.argv[1:]]
sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
print(f"mean {100*statistics.mean(xs):.2f} % ± {100*sd:.2f} over {len(xs)} seeds")
PY
