#!/usr/bin/env bash
# Replay memory (issue 4): peak RSS of `shadowtap replay --speed max` over a
# synthetic log of 1,000,000 exchanges (target: <= 64 MB), and over one of
# 100,000 for comparison (memory must not grow with the file). The target is
# nginx on loopback (BENCH_TARGET=serve: `shadowtap serve` instead).
#
#   benches/replay_memory.sh
#
# The logs: 90% GETs, 10% POSTs with 1 KiB bodies, each with a stored 512-byte
# response (replay reads and discards responses), made by
# replay/examples/synth.rs. Knobs: BENCH_MEMORY_COUNTS ("100000 1000000"),
# BENCH_CONCURRENCY (64), BENCH_TARGET (nginx).
BENCH_NAME=replay_memory
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

TARGET=${BENCH_TARGET:-nginx}
COUNTS=${BENCH_MEMORY_COUNTS:-100000 1000000}
CONC=${BENCH_CONCURRENCY:-64}
case $TARGET in
nginx) ensure_base_cmds nginx:nginx-light ;;
serve) ensure_base_cmds ;;
*) die "BENCH_TARGET must be nginx or serve" ;;
esac
build_shadowtap
build_synth

if [ "$TARGET" = nginx ]; then
    start_nginx target
    port=$NGINX_PORT
    target_desc="nginx (${BENCH_NGINX_WORKERS:-2} workers)"
else
    start_bg serve "$SHADOWTAP" serve --listen 127.0.0.1:0
    serve_pid=$BG_PID
    wait_for_line "$WORK/serve.err" '^listening on ' "$serve_pid" 20 || die "serve did not start"
    port=$(sed -nE 's/^listening on .*:([0-9]+)$/\1/p' "$WORK/serve.err" | head -n 1)
    target_desc="\`shadowtap serve\`"
fi

md_title "Replay memory" \
    "\`/usr/bin/time -f %M shadowtap replay LOG --target http://127.0.0.1:P --speed max --concurrency $CONC\` against $target_desc on loopback. LOG: synthetic (\`replay/examples/synth.rs --post-pct 10 --body-size 1024 --response-size 512\`): 90% GETs, 10% 1 KiB POSTs, each with a stored 512-byte response."
md_header "Exchanges in the log" "Log size" "Peak RSS" "Target ≤ 64 MB" "Sent / completed / errors" "Wall time" "Requests/s"
for count in $COUNTS; do
    log="$WORK/log-$count.stlog"
    "$SYNTH" --count "$count" --interval 1ms --post-pct 10 --body-size 1024 --response-size 512 \
        -o "$log" 2>"$WORK/synth.err" || die "synth failed: $(cat "$WORK/synth.err")"
    log_bytes=$(stat -c %s "$log")
    log "replaying $count exchanges ($log_bytes bytes)"
    rc=0
    /usr/bin/time -f '%e %M' -o "$WORK/replay-$count.time" "$SHADOWTAP" replay "$log" \
        --target "http://127.0.0.1:$port" --speed max --concurrency "$CONC" --seed 1 --no-progress \
        --report json --report-file "$WORK/report-$count.json" 2>"$WORK/replay-$count.err" || rc=$?
    [ "$rc" = 0 ] || die "replay exited with $rc: $(tail -n 5 "$WORK/replay-$count.err")"
    read -r wall rss_kb <"$WORK/replay-$count.time"
    R=$WORK/report-$count.json
    sent=$(json "$R" 'd["overall"]["sent"]')
    completed=$(json "$R" 'd["overall"]["completed"]')
    errors=$(json "$R" 'd["overall"]["errors_total"]')
    rate=$(json "$R" 'd["overall"]["achieved_rate_per_s"]')
    rss_mb=$(calc "$rss_kb * 1024 / 1e6")
    md_row "$(thousands "$count")" "$(fmt %.1f "$log_bytes / 1e6") MB" "$(fmt %.1f "$rss_mb") MB ($(fmt %.1f "$rss_kb / 1024") MiB)" \
        "$(check "$rss_mb" '<=' 64)" "$(thousands "$sent") / $(thousands "$completed") / $errors" \
        "$(fmt %.1f "$wall") s" "$(thousands "$rate")"
    rm -f "$log"
done
if [ "$TARGET" = nginx ]; then
    stop_nginx
else
    stop_pid "$serve_pid" INT 20
fi
md_publish
