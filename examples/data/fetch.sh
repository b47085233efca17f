#!/usr/bin/env bash
# Makes the example databases that are too large to commit, from the project's shared
# folder (default ../shared next to this checkout; override with NRP_SHARED=/path).
#
#   examples/data/fetch.sh            # -> examples/data/pubmed-random500/ (~210 MB, ~15 s)
#
# pubmed-random500: the real PubMed graph, labels and split (shared/data/pubmed) with the
# benchmark's deterministic random 500-dim dense features
# (numpy.random.default_rng(0).standard_normal((19717, 500)) as float32, see
# shared/bench/README.md "PubMed features"), written by the benchmark's own generator
# (shared/bench/_common.py ensure_pubmed_db), so it is byte-identical to
# shared/bench/.cache/pubmed-random500/. Needs a python with numpy (the bench venv:
# NRP_BENCH_VENV, default ../shared/bench/.venv). The folder is git-ignored.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SHARED="${NRP_SHARED:-$(cd "$HERE/../../.." && pwd)/shared}"
VENV="${NRP_BENCH_VENV:-$SHARED/bench/.venv}"
PY="$VENV/bin/python"; [ -x "$PY" ] || PY=python3
if [ -f "$SHARED/bench/.cache/pubmed-random500/.complete" ]; then
    echo "copying $SHARED/bench/.cache/pubmed-random500"
    mkdir -p "$HERE/pubmed-random500"
    cp "$SHARED/bench/.cache/pubmed-random500/"{node.csv,edge.csv,feature.csv,README.md,.complete} "$HERE/pubmed-random500/"
else
    (cd "$SHARED/bench" && NRP_BENCH_CACHE="$HERE" "$PY" -c 'import _common; print(_common.ensure_pubmed_db())')
fi
ls -la "$HERE/pubmed-random500"
