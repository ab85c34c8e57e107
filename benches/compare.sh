#!/usr/bin/env bash
# Replay with --compare against the recording (issue 14): the request rate
# of `shadowtap replay --speed max --compare` against that of the same
# replay without --compare, in alternating rounds (target: >= 0.7x), and
# the peak RSS of a 1,000,000-exchange replay with --compare (target:
# <= 128 MB, flat with the log's length).
#
#   benches/compare.sh
#
# The API: replay/examples/synth_json.rs writes JSON documents of 1-10 KiB
# (3.3 KiB on average) that nginx serves as static files, and a log of
# requests for them whose recorded responses are the same documents with
# another timestamp and request id (noise), and another price for one
# document in ten (a real difference): every comparison parses and diffs
# two JSON bodies. Knobs: BENCH_COMPARE_COUNT (200000, per rate run),
# BENCH_COMPARE_ROUNDS (3), BENCH_COMPARE_MEMORY_COUNT (1000000),
# BENCH_CONCURRENCY (64), BENCH_NGINX_WORKERS (1: nginx, serving files,
# is not the bottleneck and leaves a core to shadowtap).
BENCH_NAME=compare
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

COUNT=${BENCH_COMPARE_COUNT:-200000}
ROUNDS=${BENCH_COMPARE_ROUNDS:-3}
MEM_COUNT=${BENCH_COMPARE_MEMORY_COUNT:-1000000}
CONC=${BENCH_CONCURRENCY:-64}
ensure_base_cmds nginx:nginx-light
build_shadowtap
release_binary SYNTH_JSON SYNTH_JSON_BIN "the synth_json example" target/release/examples/synth_json \
    -p shadowtap-replay --example synth_json

API=$WORK/api
"$SYNTH_JSON" --count "$COUNT" --files 500 --dir "$API" -o "$WORK/rate.stlog" 2>"$WORK/synth.err" ||
    die "synth_json failed: $(cat "$WORK/synth.err")"
docs=$(cat "$WORK/synth.err")
NGINX_ROOT=$API start_nginx target "${BENCH_NGINX_WORKERS:-1}"
port=$NGINX_PORT

# run_replay NAME LOG [FLAGS...]: replays LOG, sets RATE, RSS_KB, WALL.
run_replay() {
    local name=$1 log=$2 rc=0
    shift 2
    /usr/bin/time -f '%e %M' -o "$WORK/$name.time" "$SHADOWTAP" replay "$log" \
        --target "http://127.0.0.1:$port" --speed max --concurrency "$CONC" --no-progress \
        --report json --report-file "$WORK/$name.json" "$@" 2>"$WORK/$name.err" || rc=$?
    [ "$rc" = 0 ] || die "replay $name exited with $rc: $(tail -n 5 "$WORK/$name.err")"
    read -r WALL RSS_KB <"$WORK/$name.time"
    RATE=$(json "$WORK/$name.json" 'd["overall"]["achieved_rate_per_s"]')
    ERRORS=$(json "$WORK/$name.json" 'd["overall"]["errors_total"]')
    [ "$ERRORS" = 0 ] || die "replay $name had $ERRORS errors"
}

plain_rates=() compare_rates=() ratios=()
for round in $(seq "$ROUNDS"); do
    if ((round % 2)); then order="plain compare"; else order="compare plain"; fi
    for mode in $order; do
        if [ "$mode" = plain ]; then
            run_replay "plain-$round" "$WORK/rate.stlog"
            plain=$RATE
        else
            run_replay "compare-$round" "$WORK/rate.stlog" --compare
            compared=$RATE
            C=$WORK/compare-$round.json
        fi
    done
    plain_rates+=("$plain")
    compare_rates+=("$compared")
    ratios+=("$(calc "$compared / $plain")")
    log "round $round: plain $plain/s, --compare $compared/s"
done
P=$(printf '%s\n' "${plain_rates[@]}" | median)
Q=$(printf '%s\n' "${compare_rates[@]}" | median)
R=$(printf '%s\n' "${ratios[@]}" | median)
cmp_compared=$(json "$C" 'd["comparison"]["overall"]["compared"]')
cmp_differing=$(json "$C" 'd["comparison"]["overall"]["differing"]')
cmp_noise=$(json "$C" 'd["comparison"]["overall"]["noise_only"]')
rm -f "$WORK/rate.stlog"

"$SYNTH_JSON" --count "$MEM_COUNT" --files 500 --dir "$WORK/api-mem" -o "$WORK/mem.stlog" 2>"$WORK/synth.err" ||
    die "synth_json failed: $(cat "$WORK/synth.err")"
log_mb=$(calc "$(stat -c %s "$WORK/mem.stlog") / 1e6")
run_replay memory "$WORK/mem.stlog" --compare
mem_rss_mb=$(calc "$RSS_KB * 1024 / 1e6")
mem_rate=$RATE
mem_wall=$WALL
mem_compared=$(json "$WORK/memory.json" 'd["comparison"]["overall"]["compared"]')
stop_nginx

md_title "Replay with --compare against the recording" \
    "\`shadowtap replay LOG --target http://127.0.0.1:P --speed max --concurrency $CONC [--compare]\` against nginx (${BENCH_NGINX_WORKERS:-1} worker) serving the API's documents as files, $ROUNDS alternating rounds of $(thousands "$COUNT") exchanges. API: $docs (\`replay/examples/synth_json.rs\`); every recorded response differs from nginx's in its timestamp and request id, one document in ten in its price."
md_header "Measurement" "shadowtap --compare" "Peer" "Ratio" "Target"
md_row "Requests/s (median of $ROUNDS rounds)" "$(thousands "$(fmt %.0f "$Q")")" "$(thousands "$(fmt %.0f "$P")") (without --compare)" "$(fmt %.2f "$R")" "≥ 0.70: $(check "$R" '>=' 0.7)"
md_row "Per-round requests/s, with / without" "$(printf '%.0f ' "${compare_rates[@]}")" "$(printf '%.0f ' "${plain_rates[@]}")" "$(printf '%.2f ' "${ratios[@]}")" "—"
md_row "Compared / differing / noise only (last round)" "$(thousands "$cmp_compared") / $(thousands "$cmp_differing") / $(thousands "$cmp_noise")" "—" "—" "—"
md_row "Peak RSS, $(thousands "$MEM_COUNT") exchanges ($(fmt %.0f "$log_mb") MB log) with --compare" "$(fmt %.1f "$mem_rss_mb") MB" "—" "—" "≤ 128 MB: $(check "$mem_rss_mb" '<=' 128)"
md_row "That run: compared, requests/s, wall time" "$(thousands "$mem_compared"), $(thousands "$(fmt %.0f "$mem_rate")")/s, $(fmt %.1f "$mem_wall") s" "—" "—" "—"
md_publish
