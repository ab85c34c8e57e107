#!/usr/bin/env bash
# The JSON comparison's throughput (issue 14): `compare::json::diff` of
# response pairs like an API's (1-10 KiB, differing in a request id, a
# timestamp and 0-3 other fields) against a plain serde_json parse of the
# same documents into a Value, in alternating rounds on one core
# (replay/examples/compare_json.rs). Target: >= 200 MB/s (bytes of both
# documents per second).
#
#   benches/compare_json.sh
#
# Knobs: BENCH_JSON_PAIRS (2000), BENCH_JSON_ROUNDS (7), BENCH_JSON_CORPUS
# (`api`: edits that mostly add or remove members; `orders`: documents
# shaped like benches/compare.sh's, whose keys agree; results then go to
# compare_json-orders.md).
CORPUS=${BENCH_JSON_CORPUS:-api}
case $CORPUS in
api) BENCH_NAME=compare_json ;;
orders) BENCH_NAME=compare_json-orders ;;
*)
    echo "compare_json: BENCH_JSON_CORPUS must be api or orders, not $CORPUS" >&2
    exit 2
    ;;
esac
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

PAIRS=${BENCH_JSON_PAIRS:-2000}
ROUNDS=${BENCH_JSON_ROUNDS:-7}
release_binary CJ COMPARE_JSON_BIN "the compare_json example" target/release/examples/compare_json \
    -p shadowtap-replay --example compare_json

log "running $ROUNDS alternating rounds over $PAIRS pairs"
# One core: the comparison is single-threaded, and the reference too.
taskset -c 0 "$CJ" --pairs "$PAIRS" --rounds "$ROUNDS" --corpus "$CORPUS" >"$WORK/out" 2>"$WORK/err" ||
    die "compare_json failed: $(tail -n 5 "$WORK/err")"
cat "$WORK/out" >&2
ours=$(awk '/^round / {print $4}' "$WORK/out" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
serde=$(awk '/^round / {print $8}' "$WORK/out" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
ratio=$(awk '/^median ratio/ {print $NF}' "$WORK/out")
corpus=$(sed -n 's/^corpus: //p' "$WORK/out" | head -n 1)

md_title "JSON comparison throughput" \
    "\`compare::json::diff\` of every pair vs \`serde_json::from_slice::<Value>\` of both documents of every pair, $ROUNDS alternating rounds pinned to one CPU (\`taskset -c 0\`). Corpus: $corpus"
md_header "Measurement" "shadowtap diff" "serde_json parse" "Ratio" "Target ≥ 200 MB/s"
md_row "MB/s (median of $ROUNDS rounds; both documents' bytes)" "$ours" "$serde" "$ratio" "$(check "$ours" '>=' 200)"
md_note "Per round: $(awk '/^round / {printf "%s%s / %s", sep, $4, $8; sep="; "}' "$WORK/out") (diff / parse, MB/s)."
md_publish
