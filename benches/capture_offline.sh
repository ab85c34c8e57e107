#!/usr/bin/env bash
# Offline import speed (issue 3): `shadowtap capture --pcap FILE -o X.stlog`
# against `tshark -r FILE -Y http.request -T fields -e http.request.uri`
# (target: shadowtap at least 10x faster) and `tcpdump -r FILE -w /dev/null`
# (a floor: reading and writing packets, no HTTP). Median wall time of
# BENCH_RUNS runs each, with hyperfine when installed, otherwise a loop of
# /usr/bin/time; tshark, 30-200x slower, is timed once unless
# BENCH_TSHARK_RUNS says otherwise.
#
#   benches/capture_offline.sh [FILE.pcap]
#
# Without FILE (or BENCH_PCAP) it first records a fresh pcap: wrk -> nginx on
# loopback for BENCH_DURATION (10s) with `tcpdump -w` running (needs root).
# Knobs: BENCH_RUNS (5), BENCH_TSHARK_RUNS (1), BENCH_PCAP_PORT (the server
# port in FILE; found from the first SYN when not given), BENCH_VXLAN (1: also
# time the import of a VXLAN-wrapped copy of FILE, made by
# capture/examples/vxlan_wrap.rs, against FILE itself in alternating rounds;
# target >= 0.85x the plain speed; VXLAN_WRAP_BIN overrides the example).
BENCH_NAME=capture_offline
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

PCAP=${1:-${BENCH_PCAP:-}}
RUNS=${BENCH_RUNS:-5}
TSHARK_RUNS=${BENCH_TSHARK_RUNS:-1}
ensure_base_cmds tshark:tshark tcpdump:tcpdump
if ! command -v hyperfine >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
    ensure_cmds hyperfine:hyperfine || log "hyperfine not installable: timing with /usr/bin/time"
fi
build_shadowtap

if [ -z "$PCAP" ]; then
    require_root
    ensure_cmds nginx:nginx-light wrk:wrk
    DUR=${BENCH_DURATION:-10s}
    start_nginx rec
    PCAP=$WORK/rec.pcap
    start_bg rec-tcpdump tcpdump -i lo -n -s 0 -B 65536 -Z root -w "$PCAP" "tcp port $NGINX_PORT"
    td=$BG_PID
    wait_for_line "$WORK/rec-tcpdump.err" 'listening on' "$td" 30 || die "tcpdump did not start"
    log "recording a pcap: wrk -t2 -c32 -d$DUR against nginx on port $NGINX_PORT"
    wrk -t2 -c32 -d"$DUR" "http://127.0.0.1:$NGINX_PORT/" >"$WORK/rec.wrk" 2>&1 || die "wrk failed"
    stop_nginx
    stop_pid "$td" INT 30
    PORT=$NGINX_PORT
fi
[ -r "$PCAP" ] || die "cannot read $PCAP"

# The server port: tshark only dissects HTTP on its well-known ports unless
# told, so it gets `-d tcp.port==PORT,http`.
if [ -z "${PORT:-}" ]; then
    PORT=${BENCH_PCAP_PORT:-$(tcpdump -nn -r "$PCAP" -c 1 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn' 2>/dev/null |
        sed -nE 's/.* > [0-9a-f.:]+\.([0-9]+): .*/\1/p')}
fi
[ -n "$PORT" ] || die "cannot find the server port in $PCAP (set BENCH_PCAP_PORT)"
pcap_bytes=$(stat -c %s "$PCAP")
cat "$PCAP" >/dev/null # page cache warm for every tool alike

ST=("$SHADOWTAP" capture --pcap "$PCAP" --port "$PORT" -o "$WORK/import.stlog")
TS=(tshark -n -r "$PCAP" -d "tcp.port==$PORT,http" -Y http.request -T fields -e http.request.uri)
TD=(tcpdump -n -r "$PCAP" -w /dev/null)

# One run each outside the timing: what each tool found, and peak RSS.
/usr/bin/time -f '%e %M' -o "$WORK/st.time" "${ST[@]}" --stats-interval 1h 2>"$WORK/st.err" || die "import failed: $(tail -n 5 "$WORK/st.err")"
/usr/bin/time -f '%e %M' -o "$WORK/ts.time" "${TS[@]}" >"$WORK/ts.out" 2>"$WORK/ts.err" || die "tshark failed: $(tail -n 5 "$WORK/ts.err")"
/usr/bin/time -f '%e %M' -o "$WORK/td.time" "${TD[@]}" 2>"$WORK/td.err" || die "tcpdump -r failed"
st_found=$("$SHADOWTAP" stats --json "$WORK/import.stlog" | python3 -c 'import json, sys; print(json.load(sys.stdin)["exchanges"])')
ts_found=$(wc -l <"$WORK/ts.out" | tr -d ' ')
packets=$(awk '/packets=/ {for (i = 1; i <= NF; i++) if ($i ~ /^packets=/) {sub("packets=", "", $i); print $i}}' "$WORK/st.err" | tail -n 1)

ST+=(--stats-interval 0s)

# quote CMD...: one shell-quoted string (for hyperfine and the report).
quote() { printf '%q ' "$@"; }

# timed_median CMD...: median wall time of RUNS runs with /usr/bin/time.
timed_median() {
    local i
    for ((i = 0; i < RUNS; i++)); do
        /usr/bin/time -f '%e' -o "$WORK/t.time" "$@" >/dev/null 2>&1 || die "$1 failed"
        cat "$WORK/t.time"
    done | median
}

# shadowtap and tcpdump: RUNS runs each. tshark is 30-200x slower, so by
# default its one run above is its time (TSHARK_RUNS more runs otherwise).
if command -v hyperfine >/dev/null 2>&1; then
    method="hyperfine -N --warmup 1 --runs $RUNS, median"
    hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$WORK/hf.json" \
        -n shadowtap "$(quote "${ST[@]}")" -n tcpdump "$(quote "${TD[@]}")" >&2
    med() { json "$WORK/hf.json" "[r['median'] for r in d['results'] if r['command'] == '$1'][0]"; }
    t_st=$(med shadowtap)
    t_td=$(med tcpdump)
else
    method="/usr/bin/time, $RUNS runs, median"
    t_st=$(timed_median "${ST[@]}")
    t_td=$(timed_median "${TD[@]}")
fi
if ((TSHARK_RUNS > 1)); then
    t_ts=$(RUNS=$TSHARK_RUNS timed_median "${TS[@]}")
    method+="; tshark: $TSHARK_RUNS runs, median"
else
    t_ts=$(cut -d' ' -f1 "$WORK/ts.time")
    method+="; tshark: one run (/usr/bin/time)"
fi

# Tunnelled traffic (issue 15): the same packets inside VXLAN, as a VPC
# Traffic Mirroring collector receives them. Plain and wrapped runs
# alternate, so that a machine whose speed drifts slows both alike.
if [ "${BENCH_VXLAN:-1}" = 1 ]; then
    release_binary VXLAN_WRAP VXLAN_WRAP_BIN "the vxlan_wrap example" target/release/examples/vxlan_wrap \
        -p shadowtap-capture --example vxlan_wrap
    "$VXLAN_WRAP" "$PCAP" "$WORK/vxlan.pcap" 2>"$WORK/vxlan_wrap.err" || die "vxlan_wrap failed: $(cat "$WORK/vxlan_wrap.err")"
    cat "$WORK/vxlan.pcap" >/dev/null
    STV=("$SHADOWTAP" capture --pcap "$WORK/vxlan.pcap" --port "$PORT" -o "$WORK/vxlan.stlog" --stats-interval 0s)
    "${STV[@]}" 2>"$WORK/stv.err" || die "VXLAN import failed: $(tail -n 5 "$WORK/stv.err")"
    vx_found=$("$SHADOWTAP" stats --json "$WORK/vxlan.stlog" | python3 -c 'import json, sys; print(json.load(sys.stdin)["exchanges"])')
    for ((i = 0; i < RUNS; i++)); do
        /usr/bin/time -f '%e' -o "$WORK/tp.time" "${ST[@]}" >/dev/null 2>&1 || die "plain import failed"
        /usr/bin/time -f '%e' -o "$WORK/tv.time" "${STV[@]}" >/dev/null 2>&1 || die "VXLAN import failed"
        cat "$WORK/tp.time" >>"$WORK/plain.times"
        cat "$WORK/tv.time" >>"$WORK/vxlan.times"
        log "round $((i + 1)): plain $(cat "$WORK/tp.time") s, vxlan $(cat "$WORK/tv.time") s"
    done
    t_plain=$(median <"$WORK/plain.times")
    t_vx=$(median <"$WORK/vxlan.times")
fi

mb=$(calc "$pcap_bytes / 1048576")
# shellcheck disable=SC2034 # read by md_title
[ -n "${1:-}${BENCH_PCAP:-}" ] && BENCH_COMMAND="benches/capture_offline.sh FILE.pcap"
md_title "Offline import of a pcap" \
    "The pcap: $(fmt %.1f "$mb") MiB, ${packets:-?} packets of wrk → nginx traffic on loopback. Timing: wall clock, page cache warm; $method. shadowtap: \`capture --pcap FILE --port $PORT -o X.stlog\` (full reassembly, responses tracked, log written). tshark: \`tshark -n -r FILE -d tcp.port==$PORT,http -Y http.request -T fields -e http.request.uri\` (output to /dev/null). tcpdump: \`tcpdump -r FILE -w /dev/null\`."
md_header "Measurement" "shadowtap" "Peer" "Ratio (peer time / shadowtap time)" "Target"
md_row "Import time vs tshark" "$(fmt %.3f "$t_st") s" "$(fmt %.3f "$t_ts") s (tshark)" \
    "$(fmt %.1f "$t_ts / $t_st")x" "≥ 10x: $(check "$t_ts / $t_st" '>=' 10)"
md_row "Import time vs tcpdump -r -w /dev/null" "$(fmt %.3f "$t_st") s" "$(fmt %.3f "$t_td") s (tcpdump)" \
    "$(fmt %.2f "$t_td / $t_st")x" "report"
md_row "Throughput" "$(fmt %.0f "$mb / $t_st") MiB/s" "$(fmt %.0f "$mb / $t_ts") MiB/s (tshark)" "—" "—"
if [ "${BENCH_VXLAN:-1}" = 1 ]; then
    md_row "VXLAN-wrapped copy: import speed vs the plain file (alternating rounds, $RUNS each, median)" \
        "$(fmt %.3f "$t_vx") s" "$(fmt %.3f "$t_plain") s (plain)" \
        "$(fmt %.2f "$t_plain / $t_vx")x" "≥ 0.85x: $(check "$t_plain / $t_vx" '>=' 0.85)"
    md_row "VXLAN-wrapped copy: exchanges" "$(thousands "$vx_found")" "$(thousands "$st_found") (plain)" "—" \
        "equal: $(check "$vx_found" '==' "$st_found")"
fi
md_row "HTTP requests found" "$(thousands "$st_found")" "$(thousands "$ts_found") (tshark)" "—" "equal: $(check "$st_found" '==' "$ts_found")"
md_row "Peak RSS" "$(fmt %.1f "$(cut -d' ' -f2 "$WORK/st.time") / 1024") MiB" \
    "$(fmt %.1f "$(cut -d' ' -f2 "$WORK/ts.time") / 1024") MiB (tshark), $(fmt %.1f "$(cut -d' ' -f2 "$WORK/td.time") / 1024") MiB (tcpdump)" "—" "—"
md_publish
