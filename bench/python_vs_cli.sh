#!/usr/bin/env bash
# The Python package against the command line, same build, same run (issue 17, item 7):
#   bench/python_vs_cli.sh [REPS] [THREADS]
# Builds target/release/nrp and the wheel (into $NRP_VENV, default .venv, as scripts/test
# does), generates the synthetic `scale` data when missing, then runs
# bench/python_vs_cli.py: training step per case (CLI vs Session, ratio) and a 2M-row
# table passed as a DataFrame vs read from CSV.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3} threads=${2:-2}
VENV="${NRP_VENV:-$PWD/.venv}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
if [ ! -x "$VENV/bin/maturin" ]; then
    echo "bench/python_vs_cli.sh: $VENV has no maturin; run bash scripts/test once (it makes the venv)" >&2
    exit 1
fi
cargo build --release -q -p nrp
bash scripts/install-wheel.sh "$VENV"
"$VENV/bin/python" bench/gen_synthetic.py --only scale
"$VENV/bin/python" bench/python_vs_cli.py --reps "$reps" --threads "$threads"
