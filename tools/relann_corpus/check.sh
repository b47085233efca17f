#!/usr/bin/env bash
# Runs `nrp check` on every program extract.py wrote and sorts the outcomes:
#   bash tools/relann_corpus/check.sh CORPUS_DIR [NRP_BINARY]
# ok         checks unmodified
# needs-db   a bounded set's guard relation is read from the database (give the data to run it)
# tensor     stops at a shaped-embedding construct (`@`, view, encoder brackets: issue 16)
# python     names a module RelaNN's script defines in Python (NodeLookup)
# error      anything else (the first error is printed)
# RELANN_DBS="PATTERN=DIR …" checks the programs whose name matches a shell PATTERN against
# the database DIR (first match wins), e.g. RELANN_DBS="rgcn_onehot*=aifb-onehot rgcn_*=aifb"
# with the folders build_aifb.py writes.
set -euo pipefail
dir=${1:?usage: check.sh CORPUS_DIR [NRP_BINARY]}
nrp=${2:-$(dirname "$0")/../../target/release/nrp}
declare -A count=([ok]=0 [needs-db]=0 [tensor]=0 [python]=0 [error]=0)
printf '%-34s %-9s %s\n' program outcome "first error"
for f in "$dir"/*.relnn; do
    name=$(basename "$f" .relnn)
    db=()
    for pair in ${RELANN_DBS:-}; do
        # shellcheck disable=SC2254
        case "$name" in ${pair%%=*}) db=(--db "${pair#*=}"); break ;; esac
    done
    err=$("$nrp" check "$f" "${db[@]}" 2>&1 >/dev/null | grep -m1 'error:' || true)
    case "$err" in
        "") kind=ok ;;
        *"is read from the database"*) kind=needs-db ;;
        *"unexpected character \`@\`"* | *"encode \`[…]\`"*) kind=tensor ;;
        *"module \`NodeLookup\`"*) kind=python ;;
        *) kind=error ;;
    esac
    count[$kind]=$((count[$kind] + 1))
    printf '%-34s %-9s %s\n' "$(basename "$f")" "$kind" "${err#*error: }"
done
echo
echo "ok ${count[ok]}, needs-db ${count[needs-db]}, tensor ${count[tensor]}, python ${count[python]}, error ${count[error]}"
