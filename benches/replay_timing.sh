#!/usr/bin/env bash
# Replay timing accuracy (issue 4), checked from the target side: a synthetic
# log of 10,000 GETs exactly 1 ms apart (recorded span 9.999 s) is replayed
# to nginx on loopback at 1x and at 10x while `tcpdump -i lo -w` records the
# target port. From the pcap: kernel timestamps of the first and the last
# client->server packet whose payload starts with "GET "; their distance is
# compared with recorded span / speed (target: within 0.5%). Also the
# schedule lag p99 of shadowtap's JSON report (target: <= 1 ms).
#
#   sudo benches/replay_timing.sh
#
# Knobs: BENCH_TIMING_COUNT (10000), BENCH_TIMING_INTERVAL (1ms),
# BENCH_SPEEDS ("1x 10x").
BENCH_NAME=replay_timing
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

require_root
ensure_base_cmds nginx:nginx-light tcpdump:tcpdump
build_shadowtap
build_synth

COUNT=${BENCH_TIMING_COUNT:-10000}
INTERVAL=${BENCH_TIMING_INTERVAL:-1ms}
SPEEDS=${BENCH_SPEEDS:-1x 10x}

"$SYNTH" --count "$COUNT" --interval "$INTERVAL" --host bench.local -o "$WORK/timed.stlog" 2>"$WORK/synth.err" ||
    die "synth failed: $(cat "$WORK/synth.err")"
"$SHADOWTAP" stats --json "$WORK/timed.stlog" >"$WORK/timed.json"
span=$(json "$WORK/timed.json" '(d["last_ts_ns"] - d["first_ts_ns"]) / 1e9')

start_nginx target

md_title "Replay timing, measured at the target" \
    "$(thousands "$COUNT") synthetic GETs $INTERVAL apart (recorded span $(fmt %.3f "$span") s, \`replay/examples/synth.rs\`) replayed with \`shadowtap replay LOG --target http://127.0.0.1:P --speed S\` to nginx on loopback. Measured span: kernel timestamps (\`tcpdump -i lo -w\`) of the first and last packet to the target whose payload starts with \`GET \`. Error = measured span / (recorded span / speed) − 1. Lag = actual − intended send time, from the JSON report."
md_header "Speed" "Measured span (s)" "Expected span (s)" "Error" "Target ±0.5%" "Schedule lag p50 / p99 / max" "Target lag p99 ≤ 1 ms" "GETs seen in the pcap / sent / completed / dropped"

# Payload offset of a TCP segment is its data offset field (tcp[12] >> 4,
# in 32-bit words); 0x47455420 is "GET ".
get_filter="tcp dst port $NGINX_PORT and tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420"

for speed in $SPEEDS; do
    factor=${speed%x}
    pcap=$WORK/replay-$speed.pcap
    # --immediate-mode: without it tcpdump loses the packets of its last
    # unfinished ring block when it is stopped.
    start_bg "tcpdump-$speed" tcpdump -i lo -n -s 256 -B 65536 --immediate-mode -Z root -w "$pcap" "tcp port $NGINX_PORT"
    td=$BG_PID
    wait_for_line "$WORK/tcpdump-$speed.err" 'listening on' "$td" 30 || die "tcpdump did not start"
    log "replay at $speed"
    rc=0
    "$SHADOWTAP" replay "$WORK/timed.stlog" --target "http://127.0.0.1:$NGINX_PORT" --speed "$speed" \
        --concurrency 64 --seed 1 --no-progress --report json --report-file "$WORK/report-$speed.json" \
        2>"$WORK/replay-$speed.err" || rc=$?
    [ "$rc" = 0 ] || die "replay at $speed exited with $rc: $(tail -n 5 "$WORK/replay-$speed.err")"
    stop_pid "$td" INT 30
    tcpdump -tt -n -r "$pcap" "$get_filter" 2>/dev/null | awk '{print $1}' >"$WORK/gets-$speed.txt"
    seen=$(wc -l <"$WORK/gets-$speed.txt" | tr -d ' ')
    first=$(head -n 1 "$WORK/gets-$speed.txt")
    last=$(tail -n 1 "$WORK/gets-$speed.txt")
    [ -n "$first" ] || die "no GET packets in the pcap of the $speed run"
    measured=$(calc "$last - $first")
    expected=$(calc "$span / $factor")
    err_pct=$(calc "($measured / $expected - 1) * 100")
    abs_err=$(calc "($err_pct) < 0 ? -($err_pct) : ($err_pct)")
    R=$WORK/report-$speed.json
    lag50=$(json "$R" 'd["overall"]["schedule_lag_us"]["p50"]')
    lag99=$(json "$R" 'd["overall"]["schedule_lag_us"]["p99"]')
    lagmax=$(json "$R" 'd["overall"]["schedule_lag_us"]["max"]')
    sent=$(json "$R" 'd["overall"]["sent"]')
    completed=$(json "$R" 'd["overall"]["completed"]')
    dropped=$(json "$R" 'd["overall"]["dropped_total"]')
    md_row "$speed" "$(fmt %.4f "$measured")" "$(fmt %.4f "$expected")" "$(fmt %+.3f "$err_pct")%" \
        "$(check "$abs_err" '<=' 0.5)" \
        "$(fmt %.3f "$lag50 / 1000") / $(fmt %.3f "$lag99 / 1000") / $(fmt %.3f "$lagmax / 1000") ms" \
        "$(check "$lag99" '<=' 1000)" "$(thousands "$seen") / $(thousands "$sent") / $(thousands "$completed") / $(thousands "$dropped")"
done
stop_nginx
md_publish
