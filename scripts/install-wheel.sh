#!/usr/bin/env bash
# Builds the Python package's wheel (maturin, from python/) and installs it into a venv:
#   bash scripts/install-wheel.sh VENV
# VENV must have maturin. The wheel goes to $CARGO_TARGET_DIR/wheels (default target/).
# Used by scripts/test and bench/python_vs_cli.sh, so both test the same build.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$1
WHEELS="${CARGO_TARGET_DIR:-$PWD/target}/wheels"
rm -f "$WHEELS"/nrp-*.whl
"$VENV/bin/maturin" build --release --locked --quiet -m python/Cargo.toml \
    -i "$VENV/bin/python" -o "$WHEELS"
"$VENV/bin/pip" install --quiet --force-reinstall --no-deps "$WHEELS"/nrp-*.whl
