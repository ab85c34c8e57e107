#!/usr/bin/env bash
# Replay throughput (issue 4): against one nginx on loopback, in the same run,
# `wrk -t2 -c64 -d10s` and then `shadowtap replay LOG --speed max
# --concurrency 64` for the same 10 s (a synthetic log of 200,000 GETs,
# looped for the duration). Reports req/s of each (replay's from its JSON
# report, achieved_rate_per_s) and the ratio (target >= 0.8).
#
#   benches/replay_throughput.sh
#
# Knobs: BENCH_DURATION (10s), BENCH_REPLAY_COUNT (200000),
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

"$SYNTH" --count "$COUNT" --interval 1ms --host bench.local -o "$WORK/gets.stlog" 2>"$WORK/synth.err" ||
    die "synth failed: $(cat "$WORK/synth.err")"

start_nginx target
url="http://127.0.0.1:$NGINX_PORT"

settle
log "wrk -t2 -c$CONC -d$DUR $url/"
wrk -t2 -c"$CONC" -d"$DUR" "$url/" >"$WORK/wrk.txt" 2>&1 || die "wrk failed: $(cat "$WORK/wrk.txt")"

settle
replay_args=(replay "$WORK/gets.stlog" --target "$url" --speed max --concurrency "$CONC"
    --seed 1 --report json --report-file "$WORK/report.json" --no-progress)
if [ "$LOOP" = 1 ]; then
    replay_args+=(--loop 0 --duration "$DUR")
fi
log "shadowtap ${replay_args[*]}"
rc=0
/usr/bin/time -f '%e %M' -o "$WORK/replay.time" "$SHADOWTAP" "${replay_args[@]}" 2>"$WORK/replay.err" || rc=$?
[ "$rc" = 0 ] || die "replay exited with $rc: $(tail -n 5 "$WORK/replay.err")"
stop_nginx
served_total=$(nginx_served target)

rps_wrk=$(wrk_rps "$WORK/wrk.txt")
done_wrk=$(wrk_requests "$WORK/wrk.txt")
R=$WORK/report.json
rps_replay=$(json "$R" 'd["overall"]["achieved_rate_per_s"]')
sent=$(json "$R" 'd["overall"]["sent"]')
completed=$(json "$R" 'd["overall"]["completed"]')
errors=$(json "$R" 'd["overall"]["errors_total"]')
secs=$(json "$R" 'd["duration_us"] / 1e6')
p50=$(json "$R" 'd["overall"]["latency_us"]["p50"]')
p99=$(json "$R" 'd["overall"]["latency_us"]["p99"]')
rss_kb=$(cut -d' ' -f2 "$WORK/replay.time")

md_title "Replay throughput: shadowtap replay vs wrk" \
    "One nginx (${BENCH_NGINX_WORKERS:-2} workers) on 127.0.0.1; in the same run \`wrk -t2 -c$CONC -d$DUR\` then \`shadowtap replay LOG --speed max --concurrency $CONC$([ "$LOOP" = 1 ] && echo " --loop 0 --duration $DUR")\`. LOG: $(thousands "$COUNT") synthetic GETs (\`replay/examples/synth.rs\`, ~110-byte requests; wrk's are ~40 bytes)."
md_header "Measurement" "shadowtap" "Peer" "Ratio" "Target"
md_row "Requests/s" "$(thousands "$rps_replay")" "$(thousands "$rps_wrk") (wrk -c$CONC)" \
    "$(fmt %.2f "$rps_replay / $rps_wrk")" "≥ 0.80: $(check "$rps_replay / $rps_wrk" '>=' 0.8)"
md_row "Requests completed / duration" "$(thousands "$completed") in $(fmt %.1f "$secs") s" \
    "$(thousands "$done_wrk") in $DUR (wrk)" "—" "—"
md_row "Errors (sent $(thousands "$sent"))" "$errors" "$(wrk_errors "$WORK/wrk.txt") (wrk)" "—" "—"
md_row "Requests nginx served (both runs) = wrk + replay completed" "$(thousands "$served_total")" \
    "$(thousands "$((done_wrk + completed))") (sum)" "—" "—"
md_row "Latency p50 / p99 (from intended send)" "$(fmt %.2f "$p50 / 1000") / $(fmt %.2f "$p99 / 1000") ms" \
    "$(awk '/^    Latency/ {print $2 " avg"; exit}' "$WORK/wrk.txt") (wrk)" "—" "—"
md_row "Peak RSS of shadowtap replay" "$(fmt %.1f "$rss_kb / 1024") MiB" "—" "—" "—"
md_publish
