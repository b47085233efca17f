#!/usr/bin/env bash
# Results must not depend on the plan rewrites: with each rule switched off
# (NRP_DISABLE_RULES=<rule>, and once with all of them), run
#   1. the golden-program differential test (engine vs the f64 reference on every
#      `nrp query` of tests/programs, crates/nrp/tests/differential.rs),
#   2. the random-program differential test (NRP_PROP_CASES random programs, default 300,
#      engine vs reference; crates/nrp-engine/tests/random_programs.rs),
#   3. the GCN forward pass on Cora with PyG's weights (examples/gcn-cora.nrp --load
#      examples/data/gcn-cora-weights.safetensors, relation Out) against the same query with
#      every rule on: max |difference| <= 1e-4.
#   bench/check_rules.sh [rule ...]        (default: every rule, then all)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RULES="${*:-hoist onehot_sum fold factor_split gather_through merge_sums linear_pushdown cleanup sparsify compose_reduce fuse_heads eliminate all}"
CASES="${NRP_PROP_CASES:-300}"
cargo build --release -q -p nrp || exit 1
NRP="${CARGO_TARGET_DIR:-$ROOT/target}/release/nrp"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
query() {
    "$NRP" query examples/gcn-cora.nrp --db examples/data/cora --relation Out \
        --load examples/data/gcn-cora-weights.safetensors 2>/dev/null
}
query >"$tmp/base.csv" || { echo "baseline query failed"; exit 1; }
maxdiff() {  # max |a - b| over the embedding columns of two CSVs with the same rows
    paste -d '\n' "$1" "$2" | awk -F, 'NR > 2 && NR % 2 == 0 {split(prev, p, ","); for (i = 2; i <= NF; i++) {d = $i - p[i]; if (d < 0) d = -d; if (d > m) m = d}} {prev = $0} END {printf "%.3g", m + 0}'
}
fail=0
for r in $RULES; do
    printf '%-16s ' "$r"
    if NRP_DISABLE_RULES="$r" cargo test --release -q -p nrp --test differential >"$tmp/d.log" 2>&1; then
        printf 'golden differential ok; '
    else
        printf 'golden differential FAILED; '; fail=1; tail -20 "$tmp/d.log" >"$tmp/$r.golden.log"
    fi
    if NRP_DISABLE_RULES="$r" NRP_PROP_CASES="$CASES" cargo test --release -q -p nrp-engine \
        --test random_programs engine_agrees_with_reference >"$tmp/p.log" 2>&1; then
        printf 'random (%s) ok; ' "$CASES"
    else
        printf 'random FAILED; '; fail=1; grep -m3 -E "seed|panicked" "$tmp/p.log"
    fi
    if NRP_DISABLE_RULES="$r" query >"$tmp/$r.csv"; then
        if [ "$(wc -l <"$tmp/$r.csv")" = "$(wc -l <"$tmp/base.csv")" ]; then
            d=$(maxdiff "$tmp/base.csv" "$tmp/$r.csv")
            ok=$(awk -v d="$d" 'BEGIN{print (d <= 1e-4) ? "ok" : "FAILED"}')
            [ "$ok" = ok ] || fail=1
            printf 'gcn-cora Out max |diff| %s %s\n' "$d" "$ok"
        else
            printf 'gcn-cora Out: different row count FAILED\n'; fail=1
        fi
    else
        printf 'gcn-cora query FAILED\n'; fail=1
    fi
done
[ -n "$(ls "$tmp"/*.golden.log 2>/dev/null)" ] && for f in "$tmp"/*.golden.log; do echo "== $f"; cat "$f"; done
exit $fail
