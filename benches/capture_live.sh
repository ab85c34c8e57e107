#!/usr/bin/env bash
# Live capture cost and completeness (issue 3): wrk drives nginx on loopback
# at full speed three times, with nothing capturing, with `shadowtap capture`
# running, and with `tcpdump -w` running instead. Reports wrk's req/s in each
# run, exchanges shadowtap recorded against requests nginx served (its access
# log) and wrk completed, shadowtap's peak RSS and kernel drops, and the
# .stlog's bytes per exchange against the pcap's.
#
#   sudo benches/capture_live.sh
#
# Knobs: BENCH_DURATION (10s), BENCH_WRK_THREADS (2), BENCH_WRK_CONNS (32),
# BENCH_NGINX_WORKERS (2), BENCH_CAPTURE_BUFFER_MIB (64, given to both
# shadowtap --buffer and tcpdump -B), BENCH_SAVE_PCAP (keep tcpdump's pcap
# at this path, for capture_offline.sh).
BENCH_NAME=capture_live
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

require_root
ensure_base_cmds nginx:nginx-light wrk:wrk tcpdump:tcpdump
build_shadowtap

DUR=${BENCH_DURATION:-10s}
THREADS=${BENCH_WRK_THREADS:-2}
CONNS=${BENCH_WRK_CONNS:-32}
BUFFER_MIB=${BENCH_CAPTURE_BUFFER_MIB:-64}

declare -A PORT_OF

# run_case NAME none|shadowtap|tcpdump
run_case() {
    local name=$1 mode=$2 pid=""
    start_nginx "$name"
    PORT_OF[$name]=$NGINX_PORT
    case $mode in
    shadowtap)
        start_bg "$name-shadowtap" "$SHADOWTAP" capture --interface lo --port "$NGINX_PORT" \
            --buffer "${BUFFER_MIB}MiB" -o "$WORK/$name.stlog"
        pid=$BG_PID
        wait_for_line "$WORK/$name-shadowtap.err" '^shadowtap: capturing on' "$pid" 30 ||
            die "shadowtap capture did not start"
        ;;
    tcpdump)
        start_bg "$name-tcpdump" tcpdump -i lo -n -s 0 -B "$((BUFFER_MIB * 1024))" -Z root \
            -w "$WORK/$name.pcap" "tcp port $NGINX_PORT"
        pid=$BG_PID
        wait_for_line "$WORK/$name-tcpdump.err" 'listening on' "$pid" 30 || die "tcpdump did not start"
        ;;
    esac
    log "$name: wrk -t$THREADS -c$CONNS -d$DUR against nginx on port $NGINX_PORT"
    wrk -t"$THREADS" -c"$CONNS" -d"$DUR" "http://127.0.0.1:$NGINX_PORT/" >"$WORK/$name.wrk" 2>&1 ||
        die "wrk failed: $(cat "$WORK/$name.wrk")"
    # nginx first: every response is on the wire before the capture stops.
    stop_nginx
    case $mode in
    shadowtap)
        RSS_KB=$(peak_rss_kb "$pid")
        stop_live_capture "$pid" "$NGINX_PORT" 60
        ST_WAKEUPS=$WAKEUPS
        [ "$STOP_RC" = 0 ] || die "shadowtap capture exited with $STOP_RC: $(tail -n 5 "$WORK/$name-shadowtap.err")"
        ;;
    tcpdump)
        TD_RSS_KB=$(peak_rss_kb "$pid")
        stop_pid "$pid" INT 30
        [ "$STOP_RC" = 0 ] || die "tcpdump exited with $STOP_RC: $(tail -n 5 "$WORK/$name-tcpdump.err")"
        ;;
    esac
}

run_case baseline none
run_case shadowtap shadowtap
run_case tcpdump tcpdump

rps_base=$(wrk_rps "$WORK/baseline.wrk")
rps_st=$(wrk_rps "$WORK/shadowtap.wrk")
rps_td=$(wrk_rps "$WORK/tcpdump.wrk")
wrk_done_st=$(wrk_requests "$WORK/shadowtap.wrk")
wrk_done_td=$(wrk_requests "$WORK/tcpdump.wrk")
wrk_err_st=$(wrk_errors "$WORK/shadowtap.wrk")
served_st=$(nginx_served shadowtap)
served_td=$(nginx_served tcpdump)

"$SHADOWTAP" stats --json "$WORK/shadowtap.stlog" >"$WORK/shadowtap.stats.json"
recorded=$(json "$WORK/shadowtap.stats.json" 'd.get("with_response", 0)')
exchanges=$(json "$WORK/shadowtap.stats.json" 'd.get("exchanges", 0)')
ok2xx=$(json "$WORK/shadowtap.stats.json" 'd.get("status_classes", {}).get("2xx", 0)')
flags=$(json "$WORK/shadowtap.stats.json" '", ".join(f"{k} {v}" for k, v in sorted(d.get("flags", {}).items())) or "none"')
drops_st=$(grep -oE 'kernel_drops=[0-9]+' "$WORK/shadowtap-shadowtap.err" | tail -n 1 | cut -d= -f2)
drops_td=$(awk '/packets dropped by kernel/ {print $1}' "$WORK/tcpdump-tcpdump.err" | tail -n 1)
stlog_bytes=$(stat -c %s "$WORK/shadowtap.stlog")
pcap_bytes=$(stat -c %s "$WORK/tcpdump.pcap")
# Requests in the pcap: client->server segments whose payload starts with
# "GET " (tcpdump may lose its last ring block when stopped, so this is the
# honest denominator, not what nginx served).
pcap_port=${PORT_OF[tcpdump]}
pcap_gets=$(tcpdump -n -r "$WORK/tcpdump.pcap" \
    "tcp dst port $pcap_port and tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420" 2>/dev/null | wc -l | tr -d ' ')
# Traffic differs a little between the two runs: compare per exchange.
per_ex_st=$(calc "$stlog_bytes / ($exchanges > 0 ? $exchanges : 1)")
per_ex_td=$(calc "$pcap_bytes / ($pcap_gets > 0 ? $pcap_gets : 1)")
lost_served=$((served_st - recorded))
lost_wrk=$((wrk_done_st - recorded))

md_title "Live capture: wrk → nginx on loopback" \
    "wrk -t$THREADS -c$CONNS -d$DUR against nginx (${BENCH_NGINX_WORKERS:-2} workers) on 127.0.0.1, three runs in a row: nothing capturing, \`shadowtap capture --interface lo --port P --buffer ${BUFFER_MIB}MiB\` (responses tracked), \`tcpdump -i lo -s 0 -B $((BUFFER_MIB * 1024)) -w\`. Served = lines in nginx's access log for the run."
md_header "Measurement" "shadowtap" "Peer" "Ratio" "Target"
md_row "wrk req/s while capturing" "$(thousands "$rps_st")" "$(thousands "$rps_td") (tcpdump -w)" \
    "$(fmt %.2f "$rps_st / $rps_td")" "≥ 1.00: $(check "$rps_st / $rps_td" '>=' 1)"
md_row "wrk req/s, nothing capturing" "—" "$(thousands "$rps_base") (no capture)" \
    "$(fmt %.2f "$rps_st / $rps_base")" "—"
md_row "Exchanges recorded with a response vs requests nginx served" "$(thousands "$recorded")" \
    "$(thousands "$served_st") (nginx)" "lost $(thousands "$lost_served")" "0 lost: $(check "$lost_served" '<=' 0)"
md_row "Exchanges recorded with a response vs requests wrk completed" "$(thousands "$recorded")" \
    "$(thousands "$wrk_done_st") (wrk)" "lost $(thousands "$((lost_wrk > 0 ? lost_wrk : 0))")" "0 lost: $(check "$lost_wrk" '<=' 0)"
md_row "Exchanges with a 2xx status / with flags" "$(thousands "$ok2xx") / $flags" "—" "—" "—"
md_row "wrk socket errors + non-2xx (shadowtap run)" "$wrk_err_st" "—" "—" "—"
md_row "Peak RSS (includes the mmap'ed kernel ring)" "$(fmt %.1f "$RSS_KB / 1024") MiB" "$(fmt %.1f "$TD_RSS_KB / 1024") MiB (tcpdump)" "—" "—"
md_row "Kernel drops" "${drops_st:-not reported}" "${drops_td:-not reported} (tcpdump)" "—" "—"
md_row "Bytes on disk per exchange (.stlog vs pcap)" "$(fmt %.0f "$per_ex_st")" \
    "$(fmt %.0f "$per_ex_td") (pcap)" "$(fmt %.3f "$per_ex_st / $per_ex_td")" \
    "≤ 0.10: $(check "$per_ex_st / $per_ex_td" '<=' 0.10)"
md_row "File size" "$(thousands "$stlog_bytes") B, $(thousands "$exchanges") exchanges" \
    "$(thousands "$pcap_bytes") B, $(thousands "$pcap_gets") requests" "—" "—"
md_note "wrk completed $(thousands "$wrk_done_td") requests in the tcpdump run; nginx served $(thousands "$served_td"). Lost = served (or completed) − recorded; a negative value means shadowtap recorded requests still in flight when wrk stopped. Peak RSS is VmHWM read just before SIGINT."
if ((ST_WAKEUPS > 0)); then
    md_note "**shadowtap capture did not exit on SIGINT by itself**: it needed $ST_WAKEUPS refused connection attempts to the port (packets) to notice the signal on the idle interface."
fi
md_publish

if [ -n "${BENCH_SAVE_PCAP:-}" ]; then
    mv "$WORK/tcpdump.pcap" "$BENCH_SAVE_PCAP"
    log "pcap of the tcpdump run saved to $BENCH_SAVE_PCAP"
fi
