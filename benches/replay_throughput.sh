#!/usr/bin/env bash
# Replay throughput (issue 4): against one nginx on loopback, in the same run,
# after a discarded warm-up, BENCH_ROUNDS rounds of `wrk -t2 -c64 -d10s` and
# `shadowtap replay LOG --speed max --concurrency 64` for the same 10 s (a
# synthetic log of 200,000 GETs, looped for the duration), alternating which
# goes first. Reports median req/s of each (replay's from its JSON report,
# achieved_rate_per_s) and the median per-round ratio (target >= 0.8).
#
#   benches/replay_throughput.sh
#
# Knobs: BENCH_DURATION (10s), BENCH_ROUNDS (5), BENCH_REPLAY_COUNT (200000),
# BENCH_CONCURRENCY (64), BENCH_NGINX_WORKERS (2), BENCH_REPLAY_LOOP (1: loop
# the log until BENCH_DURATION; 0: one pass over the log).
BENCH_NAME=replay_throughput
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

ensure_base_cmds nginx:nginx-light wrk:wrk
build_shadowtap
build_synth

DUR=${BENCH_DURATION:-10s}
COUNT=${BENCH_REPLAY_COUNT:-200000}
CONC=${BENCH_CONCURRENCY:-64}
LOOP=${BENCH_REPLAY_LOOP:-1}
ROUNDS=${BENCH_ROUNDS:-5}

"$SYNTH" --count "$COUNT" --interval 1ms --host bench.local -o "$WORK/gets.stlog" 2>"$WORK/synth.err" ||
    die "synth failed: $(cat "$WORK/synth.err")"

start_nginx target
url="http://127.0.0.1:$NGINX_PORT"

run_wrk() {
    log "$1: wrk -t2 -c$CONC -d$DUR $url/"
    wrk -t2 -c"$CONC" -d"$DUR" "$url/" >"$WORK/$1.txt" 2>&1 || die "wrk failed: $(cat "$WORK/$1.txt")"
}

run_replay() {
    local args=(replay "$WORK/gets.stlog" --target "$url" --speed max --concurrency "$CONC"
        --seed 1 --report json --report-file "$WORK/$1.json" --no-progress)
    if [ "$LOOP" = 1 ]; then
        args+=(--loop 0 --duration "$DUR")
    fi
    log "$1: shadowtap ${args[*]}"
    local rc=0
    /usr/bin/time -f '%e %M' -o "$WORK/$1.time" "$SHADOWTAP" "${args[@]}" 2>"$WORK/$1.err" || rc=$?
    [ "$rc" = 0 ] || die "replay exited with $rc: $(tail -n 5 "$WORK/$1.err")"
}

# A discarded warm-up (a machine that sat idle runs its first seconds of
# load slower), then rounds that alternate which tool goes first.
settle
log "warm-up: wrk -t2 -c$CONC -d3s (discarded)"
wrk -t2 -c"$CONC" -d3s "$url/" >/dev/null 2>&1 || die "wrk warm-up failed"
ratios=()
sum_wrk_done=0 sum_completed=0 sum_sent=0 sum_errors=0 sum_wrk_errors=0 rss_kb=0
: >"$WORK/p50" ; : >"$WORK/p99" ; : >"$WORK/wrk.rps" ; : >"$WORK/replay.rps"
for ((r = 1; r <= ROUNDS; r++)); do
    settle
    if ((r % 2)); then
        run_wrk "wrk$r"
        settle
        run_replay "replay$r"
    else
        run_replay "replay$r"
        settle
        run_wrk "wrk$r"
    fi
    R=$WORK/replay$r.json
    a=$(json "$R" 'd["overall"]["achieved_rate_per_s"]')
    b=$(wrk_rps "$WORK/wrk$r.txt")
    echo "$a" >>"$WORK/replay.rps"
    echo "$b" >>"$WORK/wrk.rps"
    ratios+=("$(fmt %.2f "$a / $b")")
    log "round $r: replay $a req/s, wrk $b req/s, ratio ${ratios[-1]}"
    sum_wrk_done=$((sum_wrk_done + $(wrk_requests "$WORK/wrk$r.txt")))
    sum_wrk_errors=$((sum_wrk_errors + $(wrk_errors "$WORK/wrk$r.txt")))
    sum_completed=$((sum_completed + $(json "$R" 'd["overall"]["completed"]')))
    sum_sent=$((sum_sent + $(json "$R" 'd["overall"]["sent"]')))
    sum_errors=$((sum_errors + $(json "$R" 'd["overall"]["errors_total"]')))
    json "$R" 'd["overall"]["latency_us"]["p50"]' >>"$WORK/p50"
    json "$R" 'd["overall"]["latency_us"]["p99"]' >>"$WORK/p99"
    k=$(cut -d' ' -f2 "$WORK/replay$r.time")
    ((k > rss_kb)) && rss_kb=$k
done
stop_nginx
served_total=$(nginx_served target)
rps_wrk=$(median <"$WORK/wrk.rps")
rps_replay=$(median <"$WORK/replay.rps")
median_ratio=$(printf '%s\n' "${ratios[@]}" | median)
below=0
for x in "${ratios[@]}"; do
    awk -v x="$x" 'BEGIN { exit !(x < 0.8) }' && below=$((below + 1))
done
p50=$(median <"$WORK/p50")
p99=$(median <"$WORK/p99")

md_title "Replay throughput: shadowtap replay vs wrk" \
    "One nginx (${BENCH_NGINX_WORKERS:-2} workers) on 127.0.0.1; after a discarded 3 s wrk warm-up, $ROUNDS rounds of \`wrk -t2 -c$CONC -d$DUR\` and \`shadowtap replay LOG --speed max --concurrency $CONC$([ "$LOOP" = 1 ] && echo " --loop 0 --duration $DUR")\`, alternating which goes first. LOG: $(thousands "$COUNT") synthetic GETs (\`replay/examples/synth.rs\`, ~110-byte requests; wrk's are ~40 bytes). Req/s are medians over the rounds; the ratio is the median of the per-round ratios."
md_header "Measurement" "shadowtap" "Peer" "Ratio" "Target"
md_row "Requests/s (median of $ROUNDS)" "$(thousands "$rps_replay")" "$(thousands "$rps_wrk") (wrk -c$CONC)" \
    "$median_ratio" "≥ 0.80: $(check "$median_ratio" '>=' 0.8)"
md_row "Per-round ratios (rounds below 0.80)" "${ratios[*]}" "—" "$below of $ROUNDS" "—"
md_row "Requests completed, all rounds" "$(thousands "$sum_completed")" \
    "$(thousands "$sum_wrk_done") (wrk)" "—" "—"
md_row "Errors (sent $(thousands "$sum_sent"))" "$sum_errors" "$sum_wrk_errors (wrk)" "—" "—"
md_row "Requests nginx served (incl. warm-up) ≥ wrk + replay completed" "$(thousands "$served_total")" \
    "$(thousands "$((sum_wrk_done + sum_completed))") (sum)" "—" "—"
md_row "Latency p50 / p99 (from intended send; medians)" "$(fmt %.2f "$p50 / 1000") / $(fmt %.2f "$p99 / 1000") ms" \
    "$(awk '/^    Latency/ {print $2 " avg"; exit}' "$WORK/wrk1.txt") (wrk, round 1)" "—" "—"
md_row "Peak RSS of shadowtap replay (largest round)" "$(fmt %.1f "$rss_kb / 1024") MiB" "—" "—" "—"
md_publish
