#!/usr/bin/env bash
# Live tee cost and completeness (issue 5).
#
# Phase 1, full speed: BENCH_TEE_ROUNDS rounds in which wrk drives nginx
# ("production") on loopback for BENCH_DURATION four times: with nothing
# else running, with `tcpdump -w` running, with `shadowtap tee --interface lo
# --port P --target http://127.0.0.1:Q` mirroring to `shadowtap serve --listen
# 127.0.0.1:0 --record M.stlog`, and with the same tee capped at
# BENCH_TEE_CAP (1000) requests/s (`--rate 1000/s --rate-policy drop`); the order
# of the last three alternates from round to round. Reports the median of the
# per-round wrk req/s ratios (tee vs tcpdump, target >= 1.0; a round counts
# only with low CPU steal) and the accounting over all tee runs:
# every request production served must reach the mirror or be counted by tee
# (mirrored + dropped + errors + skipped == served).
#
# Phase 2, 1,000 requests/s: `shadowtap replay` sends 10,000 synthetic GETs
# 1 ms apart to production at 1x while tee mirrors them; reports tee's mirror
# delay p99 (target <= 5 ms) from its JSON report.
#
#   sudo benches/tee.sh
#
# Two setups (BENCH_TEE_SETUP): `default` (nginx with 2 workers, wrk -t2
# -c32 -d10s; results in benches/results/tee.md) and `one-worker` (nginx
# with 1 worker, wrk -t1 -c16 -d3s: production leaves a CPU's worth of time
# to everything else, and the mirror target, at idle priority, saturates
# its --concurrency slots; results in benches/results/tee-one-worker.md).
# The knobs below override either setup's values.
#
# Written against the interface of issue 5; see benches/README.md for what
# it assumes about tee's output. Knobs: BENCH_DURATION (10s),
# BENCH_WRK_THREADS (2), BENCH_WRK_CONNS (32), BENCH_NGINX_WORKERS (2),
# BENCH_TEE_QUEUE (tee's
# default when unset), BENCH_TEE_PHASES ("1 2"), BENCH_TEE_ROUNDS (5),
# BENCH_TEE_MIRROR_SCHED (idle: serve runs under `chrt --idle 0`; normal),
# BENCH_TEE_EXTRA (more options for every tee run),
# BENCH_TEE_CAP (1000), BENCH_NGINX_LISTEN_OPTS (reuseport), BENCH_TEE_MAX_STEAL (2: a round counts only if CPU
# steal stayed at or below this percentage during its tcpdump and both its
# tee runs; other rounds are reported but replaced), BENCH_TEE_MAX_ATTEMPTS
# (3 x rounds).
BENCH_NAME="tee"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

require_root
ensure_base_cmds nginx:nginx-light wrk:wrk tcpdump:tcpdump chrt:util-linux
build_shadowtap
if ! "$SHADOWTAP" tee --help >/dev/null 2>&1; then
    log "skipped: this shadowtap has no 'tee' command"
    exit 4
fi

SETUP=${BENCH_TEE_SETUP:-default}
case $SETUP in
    default) RESULT_NAME=tee setup_dur=10s setup_threads=2 setup_conns=32 setup_workers=2 ;;
    one-worker) RESULT_NAME=tee-one-worker setup_dur=3s setup_threads=1 setup_conns=16 setup_workers=1 ;;
    *) die "BENCH_TEE_SETUP must be default or one-worker, not $SETUP" ;;
esac
DUR=${BENCH_DURATION:-$setup_dur}
THREADS=${BENCH_WRK_THREADS:-$setup_threads}
CONNS=${BENCH_WRK_CONNS:-$setup_conns}
# start_nginx reads it.
BENCH_NGINX_WORKERS=${BENCH_NGINX_WORKERS:-$setup_workers}
PHASES=${BENCH_TEE_PHASES:-1 2}
ROUNDS=${BENCH_TEE_ROUNDS:-5}
MAX_STEAL=${BENCH_TEE_MAX_STEAL:-2}
MAX_ATTEMPTS=${BENCH_TEE_MAX_ATTEMPTS:-$((3 * ROUNDS))}
# The mirror target stands in for the new version's hosts, which a real
# trial runs elsewhere; on this machine it shares the two CPUs with
# production, so by default it runs in the idle class (chrt --idle 0) and its
# own CPU time does not count against production. "normal" runs it at the
# same priority as nginx.
MIRROR_SCHED=${BENCH_TEE_MIRROR_SCHED:-idle}
# Each nginx worker gets its own listening socket (reuseport) and the kernel
# spreads wrk's connections over them by hash. With one shared socket the
# worker that wakes first takes the connections, and how they split varies
# from run to run: here, wrk alone ranged from 107k to 169k req/s over six
# runs that way, and from 112k to 134k over eight with reuseport.
# BENCH_NGINX_LISTEN_OPTS= (empty) turns it off.
NGINX_LISTEN_OPTS=${BENCH_NGINX_LISTEN_OPTS-reuseport}
queue_args=()
[ -n "${BENCH_TEE_QUEUE:-}" ] && queue_args=(--queue "$BENCH_TEE_QUEUE")
# Extra tee options for every tee run, split on spaces.
read -r -a extra_args <<<"${BENCH_TEE_EXTRA:-}"
# The second tee configuration of each round: the mirror capped at CAP
# requests/s; what is over the cap is dropped and counted (rate_limit)
# rather than queued, so what is mirrored stays fresh.
CAP=${BENCH_TEE_CAP:-1000}
cap_args=(--rate "$CAP/s" --rate-policy drop)

# start_mirror NAME: `shadowtap serve --record` on a free port; sets
# MIRROR_PORT and MIRROR_PID.
start_mirror() {
    local sched=()
    [ "$MIRROR_SCHED" = idle ] && sched=(chrt --idle 0)
    start_bg "$1-serve" "${sched[@]}" "$SHADOWTAP" serve --listen 127.0.0.1:0 --record "$WORK/$1-mirror.stlog"
    MIRROR_PID=$BG_PID
    wait_for_line "$WORK/$1-serve.err" '^listening on ' "$MIRROR_PID" 20 || die "serve did not start"
    MIRROR_PORT=$(sed -nE 's/^listening on .*:([0-9]+)$/\1/p' "$WORK/$1-serve.err" | head -n 1)
}

# start_tee NAME PROD_PORT [TEE_OPTION...]: tee from lo:PROD_PORT to the
# mirror; sets TEE_PID.
start_tee() {
    local name=$1 port=$2
    shift 2
    start_bg "$name-tee" "$SHADOWTAP" tee --interface lo --port "$port" --target "http://127.0.0.1:$MIRROR_PORT" \
        --buffer 64MiB "$@" "${extra_args[@]}" --no-progress --report json --report-file "$WORK/$name-tee.json"
    TEE_PID=$BG_PID
    # tee reuses the capture engine, which announces itself with "capturing
    # on IFACE"; accept a few other plausible wordings too.
    wait_for_line "$WORK/$name-tee.err" 'capturing on|mirroring|listening on|started' "$TEE_PID" 30 ||
        die "shadowtap tee did not start"
}

# stop_tee_and_mirror NAME PROD_PORT: SIGINT to tee (it drains its queue and
# writes its report), then to serve (it finishes its log). Sets TEE_RSS_KB,
# TEE_WAKEUPS, MIRROR_RECEIVED.
stop_tee_and_mirror() {
    TEE_RSS_KB=$(peak_rss_kb "$TEE_PID")
    stop_live_capture "$TEE_PID" "$2" 60
    TEE_WAKEUPS=$WAKEUPS
    [ "$STOP_RC" = 0 ] || [ "$STOP_RC" = 130 ] ||
        die "tee exited with $STOP_RC: $(tail -n 5 "$WORK/$1-tee.err")"
    [ -s "$WORK/$1-tee.json" ] || die "tee wrote no JSON report"
    stop_pid "$MIRROR_PID" INT 30
    [ "$STOP_RC" = 0 ] || die "serve exited with $STOP_RC: $(tail -n 5 "$WORK/$1-serve.err")"
    MIRROR_RECEIVED=$(sed -nE 's/^served ([0-9]+) requests.*/\1/p' "$WORK/$1-serve.err" | tail -n 1)
    [ -n "$MIRROR_RECEIVED" ] || MIRROR_RECEIVED=$("$SHADOWTAP" stats --json "$WORK/$1-mirror.stlog" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["exchanges"])')
}

# tee_field NAME WHAT: a number from tee's JSON report; empty when absent.
# The report is replay's (`overall.sent`, `.completed`, `.errors_total`,
# `.dropped_total` (queue-full drops included), `.mirror_delay_us.p99`). The
# captured-requests count is on tee's stderr ("shadowtap tee: captured N
# requests; ..."); a `captured` key in the report is used if one appears.
tee_field() {
    python3 - "$WORK/$1-tee.json" "$2" <<'EOF'
import json, re, sys
d = json.load(open(sys.argv[1]))
o = d.get("overall", d)
def find(node, pattern):
    """First value whose key matches pattern, depth first."""
    if isinstance(node, dict):
        for k, v in node.items():
            if re.search(pattern, k):
                return v
        for v in node.values():
            r = find(v, pattern)
            if r is not None:
                return r
    elif isinstance(node, list):
        for v in node:
            r = find(v, pattern)
            if r is not None:
                return r
    return None
what = sys.argv[2]
if what == "captured":
    v = find(d, r"^(captured|captured_requests|requests_captured)$")
    v = v.get("requests", v.get("total")) if isinstance(v, dict) else v
elif what == "mirror_delay_p99":
    h = o.get("mirror_delay_us")
    if not isinstance(h, dict):
        h = find(d, r"^mirror_delay(_us)?$")
    v = h.get("p99") if isinstance(h, dict) else None
elif what == "skipped":
    s = d.get("skipped", {})
    v = (sum(s.values()) if isinstance(s, dict) else s) + d.get("sampled_out", 0)
else:
    v = o.get(what)
print("" if v is None else v)
EOF
}

# Microseconds as milliseconds, or "not reported".
# tee_field, with 0 for a missing number.
tee_num() {
    local v
    v=$(tee_field "$1" "$2")
    echo "${v:-0}"
}

# cpu_times: "steal total" jiffies of all CPUs so far (/proc/stat). Steal is
# CPU time the hypervisor gave to others: on a shared virtual machine,
# stretches of it stall every process for milliseconds.
cpu_times() { awk '/^cpu / { print $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
# steal_pct BEFORE AFTER: steal as a percentage of all CPU time between them.
steal_pct() { echo "$1 $2" | awk '{ t = $4 - $2; printf "%.1f", (t > 0 ? 100 * ($3 - $1) / t : 0) }'; }

# task_sum PID capture|mirror|all ticks|switches: summed over PID's threads,
# CPU time (clock ticks, user + system) or voluntary context switches (the
# thread blocked, to be woken later); `capture` counts only tee's capture
# thread (normal priority), `mirror` every other thread (tee's mirror, idle
# priority).
task_sum() {
    local t comm sum=0 v
    for t in /proc/"$1"/task/*; do
        comm=$(cat "$t/comm" 2>/dev/null) || continue
        case $2 in
            capture) [[ $comm == shadowtap-captu* ]] || continue ;;
            mirror) [[ $comm == shadowtap-captu* ]] && continue ;;
        esac
        case $3 in
            ticks) v=$(awk '{ print $14 + $15 }' "$t/stat" 2>/dev/null) || continue ;;
            switches) v=$(awk '$1 == "voluntary_ctxt_switches:" { print $2 }' "$t/status" 2>/dev/null) || continue ;;
        esac
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}
# task_ticks PID [capture|mirror], task_switches PID [capture|mirror].
task_ticks() { task_sum "$1" "${2:-all}" ticks; }
task_switches() { task_sum "$1" "${2:-all}" switches; }
CLK_TCK=$(getconf CLK_TCK)
# cpu_pct TICKS SECONDS: CPU time as a percentage of one CPU.
cpu_pct() { fmt %.1f "100 * $1 / $CLK_TCK / $2"; }

ms_or_na() { if [ -n "$1" ]; then echo "$(fmt %.3f "$1 / 1000") ms"; else echo "not reported"; fi; }

if [[ " $PHASES " == *" 1 "* ]]; then
    # run_wrk NAME [PID:WHICH...]: wrk against production; records the CPU
    # steal during the run in $WORK/NAME.steal and, for each PID:WHICH
    # (see task_ticks), that process's CPU over the run as a percentage of
    # one CPU, its CPU time in ticks and its voluntary context switches per
    # second in $WORK/NAME.cpu, one "WHICH PCT TICKS SWITCHES" line each.
    run_wrk() {
        local name=$1 spec before after t0 t1 secs ticks
        shift
        declare -A c0 w0
        for spec in "$@"; do
            c0[$spec]=$(task_ticks "${spec%%:*}" "${spec#*:}")
            w0[$spec]=$(task_switches "${spec%%:*}" "${spec#*:}")
        done
        before=$(cpu_times)
        t0=$(date +%s.%N)
        wrk -t"$THREADS" -c"$CONNS" -d"$DUR" "http://127.0.0.1:$NGINX_PORT/" >"$WORK/$name.wrk" 2>&1 ||
            die "wrk failed: $(cat "$WORK/$name.wrk")"
        t1=$(date +%s.%N)
        after=$(cpu_times)
        steal_pct "$before" "$after" >"$WORK/$name.steal"
        secs=$(calc "$t1 - $t0")
        : >"$WORK/$name.cpu"
        for spec in "$@"; do
            ticks=$(($(task_ticks "${spec%%:*}" "${spec#*:}") - c0[$spec]))
            echo "${spec#*:} $(cpu_pct "$ticks" "$secs") $ticks" \
                "$(fmt %.0f "($(task_switches "${spec%%:*}" "${spec#*:}") - ${w0[$spec]}) / $secs")" >>"$WORK/$name.cpu"
        done
    }
    # cpu_of NAME WHICH [FIELD]: a percentage (FIELD 2), ticks (3) or
    # context switches per second (4) recorded by run_wrk.
    cpu_of() { awk -v w="$2" -v f="${3:-2}" '$1 == w { print $f }' "$WORK/$1.cpu"; }

    run_tcpdump() {
        start_nginx "$1"
        start_bg "$1-tcpdump" tcpdump -i lo -n -s 0 -B 65536 -Z root -w "$WORK/$1.pcap" "tcp port $NGINX_PORT"
        local td=$BG_PID
        wait_for_line "$WORK/$1-tcpdump.err" 'listening on' "$td" 30 || die "tcpdump did not start"
        log "$1: wrk -t$THREADS -c$CONNS -d$DUR with tcpdump -w"
        run_wrk "$1" "$td:all"
        stop_nginx
        stop_pid "$td" INT 30
        rm -f "$WORK/$1.pcap"
    }

    # Sums over all tee runs, for the accounting rows.
    t_served=0 t_received=0 t_captured=0 t_sent=0 t_completed=0 t_dropped=0 t_errors=0 t_skipped=0
    t_kdrops=0 t_rss_kb=0 causes_json="$WORK/tee-causes.txt"
    : >"$causes_json"
    # run_tee NAME [TEE_OPTION...]
    run_tee() {
        local name=$1
        shift
        start_nginx "$name"
        local prod_port=$NGINX_PORT
        start_mirror "$name"
        start_tee "$name" "$prod_port" "$@"
        log "$name: wrk -t$THREADS -c$CONNS -d$DUR with tee mirroring to port $MIRROR_PORT"
        run_wrk "$name" "$TEE_PID:capture" "$TEE_PID:mirror" "$MIRROR_PID:serve"
        stop_nginx
        stop_tee_and_mirror "$name" "$prod_port"
        local served captured kd
        served=$(nginx_served "$name")
        captured=$(sed -nE 's/.*tee: captured ([0-9]+) requests.*/\1/p' "$WORK/$name-tee.err" | tail -n 1)
        kd=$(sed -nE 's/.*tee: captured .*kernel drops ([0-9]+).*/\1/p' "$WORK/$name-tee.err" | tail -n 1)
        # CPU time per captured request, in microseconds, of tee's capture
        # thread and of its mirror threads: "capture mirror".
        echo "$(fmt %.2f "$(cpu_of "$name" capture 3) * 1000000 / $CLK_TCK / ${captured:-1}")" \
            "$(fmt %.2f "$(cpu_of "$name" mirror 3) * 1000000 / $CLK_TCK / ${captured:-1}")" >"$WORK/$name.us"
        t_served=$((t_served + served))
        t_received=$((t_received + MIRROR_RECEIVED))
        t_captured=$((t_captured + ${captured:-0}))
        t_kdrops=$((t_kdrops + ${kd:-0}))
        t_sent=$((t_sent + $(tee_num "$name" sent)))
        t_completed=$((t_completed + $(tee_num "$name" completed)))
        t_dropped=$((t_dropped + $(tee_num "$name" dropped_total)))
        t_errors=$((t_errors + $(tee_num "$name" errors_total)))
        t_skipped=$((t_skipped + $(tee_num "$name" skipped)))
        ((TEE_RSS_KB > t_rss_kb)) && t_rss_kb=$TEE_RSS_KB
        json "$WORK/$name-tee.json" '"\n".join(f"{k} {v}" for k, v in d["overall"].get("dropped", {}).items())' >>"$causes_json"
        tee_field "$name" mirror_delay_p99 >>"$WORK/${name%%[0-9]*}-delay99.txt"
    }

    # Each round runs production alone, then with tcpdump, with tee (its
    # defaults) and with tee whose mirror is capped (cap_args); the order of
    # the last three is reversed every other round, so that a drift of the
    # machine over the run favours none of them, and each tee run is
    # compared with the tcpdump run of its own round. This machine is a
    # shared virtual one: while the hypervisor steals CPU time, single runs
    # lose up to half their throughput, which says nothing about the
    # processes measured. A round in which any of those three runs saw more
    # steal than MAX_STEAL is reported but does not count, and another is
    # run in its place (at most MAX_ATTEMPTS in all).
    for f in base.rps tcpdump.rps cpu-tcpdump.txt {tee,cap}{.rps,-delay99.txt,-ratios.txt} \
        cpu-{tee,cap}-{capture,mirror,serve}.txt {us,switches}-{tee,cap}-{capture,mirror}.txt; do
        : >"$WORK/$f"
    done
    tee_ratios=()
    cap_ratios=()
    discarded=()
    clean=0
    phase1_before=$(cpu_times)
    for ((r = 1; r <= MAX_ATTEMPTS && clean < ROUNDS; r++)); do
        start_nginx "base$r"
        log "base$r: wrk -t$THREADS -c$CONNS -d$DUR, nothing else running"
        run_wrk "base$r"
        stop_nginx
        if ((r % 2)); then
            run_tcpdump "tcpdump$r"
            run_tee "tee$r" "${queue_args[@]}"
            run_tee "cap$r" "${cap_args[@]}"
        else
            run_tee "cap$r" "${cap_args[@]}"
            run_tee "tee$r" "${queue_args[@]}"
            run_tcpdump "tcpdump$r"
        fi
        a=$(wrk_rps "$WORK/tee$r.wrk")
        c=$(wrk_rps "$WORK/cap$r.wrk")
        b=$(wrk_rps "$WORK/tcpdump$r.wrk")
        sa=$(cat "$WORK/tee$r.steal")
        sc=$(cat "$WORK/cap$r.steal")
        sb=$(cat "$WORK/tcpdump$r.steal")
        ra=$(fmt %.2f "$a / $b")
        rc=$(fmt %.2f "$c / $b")
        if awk -v a="$sa" -v b="$sb" -v c="$sc" -v m="$MAX_STEAL" 'BEGIN { exit !(a > m || b > m || c > m) }'; then
            discarded+=("$ra/$rc (steal $sb%/$sa%/$sc%)")
            log "round $r: ratios $ra (defaults) and $rc (capped); steal $sb%/$sa%/$sc% > $MAX_STEAL%: not counted"
            continue
        fi
        clean=$((clean + 1))
        wrk_rps "$WORK/base$r.wrk" >>"$WORK/base.rps"
        echo "$b" >>"$WORK/tcpdump.rps"
        cpu_of "tcpdump$r" all >>"$WORK/cpu-tcpdump.txt"
        tee_ratios+=("$ra")
        cap_ratios+=("$rc")
        for k in tee cap; do
            v=$(wrk_rps "$WORK/$k$r.wrk")
            echo "$v" >>"$WORK/$k.rps"
            fmt %.6f "$v / $b" >>"$WORK/$k-ratios.txt"
            for which in capture mirror serve; do
                cpu_of "$k$r" "$which" >>"$WORK/cpu-$k-$which.txt"
            done
            awk '{ print $1 }' "$WORK/$k$r.us" >>"$WORK/us-$k-capture.txt"
            awk '{ print $2 }' "$WORK/$k$r.us" >>"$WORK/us-$k-mirror.txt"
            for which in capture mirror; do
                cpu_of "$k$r" "$which" 4 >>"$WORK/switches-$k-$which.txt"
            done
        done
        log "round $r: tee $a, capped $c, tcpdump $b req/s: ratios $ra and $rc (steal $sb%/$sa%/$sc%)"
    done
    phase1_after=$(cpu_times)
    ((clean > 0)) || die "no round ran with CPU steal at or below $MAX_STEAL% in $MAX_ATTEMPTS attempts"
    rps_base=$(median <"$WORK/base.rps")
    rps_td=$(median <"$WORK/tcpdump.rps")
    rps_tee=$(median <"$WORK/tee.rps")
    rps_cap=$(median <"$WORK/cap.rps")
    # wins RATIO...: how many of them reach 1.
    wins() { printf '%s\n' "$@" | awk '$1 >= 1 { n++ } END { print n + 0 }'; }
    # The headline is the median of the per-round ratios: the runs of a
    # round are adjacent, so drift of the machine's speed across rounds,
    # which moves them all, cancels out of each ratio.
    tee_ratio=$(median <"$WORK/tee-ratios.txt")
    cap_ratio=$(median <"$WORK/cap-ratios.txt")
    accounted=$((t_completed + t_dropped + t_errors + t_skipped))
    short=""
    ((clean < ROUNDS)) && short=" (only $clean of $ROUNDS rounds ran with low steal)"

    md_title "Live tee at full speed: wrk → nginx, mirrored to shadowtap serve" \
        "Setup \`$SETUP\` (\`BENCH_TEE_SETUP\`): $clean rounds of wrk -t$THREADS -c$CONNS -d$DUR against nginx ($BENCH_NGINX_WORKERS worker$( ((BENCH_NGINX_WORKERS == 1)) || echo s)$([ -n "$NGINX_LISTEN_OPTS" ] && echo ", \`listen ... $NGINX_LISTEN_OPTS\`")) on 127.0.0.1: nothing else running; \`tcpdump -i lo -s 0 -B 65536 -w\`; \`shadowtap tee --interface lo --port P --target http://127.0.0.1:Q\` (default \`--mirror-priority idle\`) mirroring to \`shadowtap serve --listen 127.0.0.1:0 --record M.stlog\`, which stands in for the mirror hosts a real trial runs elsewhere and here shares the two CPUs with production, at $([ "$MIRROR_SCHED" = idle ] && echo "idle priority (\`chrt --idle 0\`; \`BENCH_TEE_MIRROR_SCHED=normal\` runs it at nginx's)" || echo "nginx's priority"). A second tee run in each round caps the mirror at $CAP requests/s (\`${cap_args[*]}\`): with the mirror target on the same two CPUs, every mirrored request also costs production CPU time (see below). The tcpdump and tee runs of a round alternate their order; the headline ratio is the median of the per-round ratios (as for replay's throughput), and req/s are medians over the rounds. A round counts only if the hypervisor stole at most $MAX_STEAL% of the CPU time during both its tcpdump and its tee run (\`/proc/stat\`); other rounds are listed and replaced. Served = lines in nginx's access log; received = requests \`serve\` answered. Counts are summed over all tee runs, counted or not."
    md_header "Measurement" "shadowtap tee" "Peer" "Ratio" "Target"
    md_row "wrk req/s on production with tee, mirror capped at $CAP req/s (\`${cap_args[*]}\`), vs with tcpdump -w: median of the $clean per-round ratios$short" "—" "—" \
        "$(fmt %.2f "$cap_ratio")" "≥ 1.00: $(check "$cap_ratio" '>=' 1)"
    md_row "The same with tee's defaults (mirror not capped)" "—" "—" \
        "$(fmt %.2f "$tee_ratio")" "≥ 1.00: $(check "$tee_ratio" '>=' 1)"
    md_row "Per-round ratios, capped (rounds where tee ≥ tcpdump)" "${cap_ratios[*]}" "—" "$(wins "${cap_ratios[@]}") of $clean" "—"
    md_row "Per-round ratios, defaults (rounds where tee ≥ tcpdump)" "${tee_ratios[*]}" "—" "$(wins "${tee_ratios[@]}") of $clean" "—"
    md_row "Rounds not counted: ratios defaults/capped (steal in the tcpdump/defaults/capped runs)" "$( ((${#discarded[@]})) && printf '%s; ' "${discarded[@]}" | sed 's/; $//' || echo none)" "—" "—" "—"
    md_row "wrk req/s on production (median of $clean, each run on its own)" "$(thousands "$rps_cap") capped, $(thousands "$rps_tee") defaults" "$(thousands "$rps_td") (tcpdump -w)" \
        "$(fmt %.2f "$rps_cap / $rps_td"), $(fmt %.2f "$rps_tee / $rps_td")" "—"
    md_row "wrk req/s, nothing else running (median of $clean)" "—" "$(thousands "$rps_base") (no capture)" \
        "$(fmt %.2f "$rps_cap / $rps_base") capped, $(fmt %.2f "$rps_tee / $rps_base") defaults" "—"
    md_row "CPU of the observer, % of one CPU (median over counted rounds)" \
        "$(for k in tee cap; do printf '%s: capture thread %s%% (normal priority), mirror threads %s%% and serve %s%% (idle priority); ' \
            "$([ "$k" = tee ] && echo defaults || echo capped)" "$(median <"$WORK/cpu-$k-capture.txt")" \
            "$(median <"$WORK/cpu-$k-mirror.txt")" "$(median <"$WORK/cpu-$k-serve.txt")"; done | sed 's/; $//')" \
        "tcpdump $(median <"$WORK/cpu-tcpdump.txt")%" "—" "—"
    md_row "CPU time per captured request, µs, and voluntary context switches per second (medians over counted rounds)" \
        "$(for k in tee cap; do printf '%s: capture thread %s µs, %s/s; mirror threads %s µs, %s/s; ' \
            "$([ "$k" = tee ] && echo defaults || echo capped)" "$(median <"$WORK/us-$k-capture.txt")" \
            "$(median <"$WORK/switches-$k-capture.txt")" "$(median <"$WORK/us-$k-mirror.txt")" \
            "$(median <"$WORK/switches-$k-mirror.txt")"; done | sed 's/; $//')" "—" "—" "—"
    md_row "Requests the mirror received vs production served" "$(thousands "$t_received")" \
        "$(thousands "$t_served") (nginx)" "missing $(thousands "$((t_served - t_received))")" "—"
    md_row "Tee accounting: completed + dropped + errors + skipped vs served" \
        "$(thousands "$t_completed") + $(thousands "$t_dropped") + $(thousands "$t_errors") + $(thousands "$t_skipped") = $(thousands "$accounted")" \
        "$(thousands "$t_served") (nginx)" "unaccounted $(thousands "$((t_served - accounted))")" \
        "0 unaccounted: $(check "$t_served - $accounted" '==' 0)"
    drop_causes=$(awk 'NF == 2 { s[$1] += $2 } END { for (k in s) if (s[k]) printf "%s%s %d", (n++ ? ", " : ""), k, s[k]; if (!n) printf "none" }' "$causes_json")
    md_row "Mirror drops by cause" "$drop_causes" "—" "—" "—"
    md_row "Requests served but never captured (served − captured)" "$(thousands "$((t_served - t_captured))")" "—" "—" "—"
    md_row "Requests tee captured / sent to the mirror" "$(thousands "$t_captured") / $(thousands "$t_sent")" "—" "—" "—"
    md_row "Kernel drops (packets) during the tee runs" "$t_kdrops" "—" "—" "—"
    md_row "Mirror delay p99 at full speed (median of all runs): capped; defaults" "$(ms_or_na "$(median <"$WORK/cap-delay99.txt")"); $(ms_or_na "$(median <"$WORK/tee-delay99.txt")")" "—" "—" "—"
    md_row "CPU steal over all rounds (time the hypervisor gave to other guests)" "$(steal_pct "$phase1_before" "$phase1_after")%" "—" "—" "—"
    md_row "Peak RSS of shadowtap tee (largest run)" "$(fmt %.1f "$t_rss_kb / 1024") MiB" "—" "—" "—"
fi

if [[ " $PHASES " == *" 2 "* ]]; then
    # ----------------------------------------------------------- phase 2 --
    build_synth
    "$SYNTH" --count 10000 --interval 1ms --host bench.local -o "$WORK/paced.stlog" 2>"$WORK/synth.err" ||
        die "synth failed: $(cat "$WORK/synth.err")"
    start_nginx paced
    prod_port=$NGINX_PORT
    start_mirror paced
    start_tee paced "$prod_port" "${queue_args[@]}"
    log "paced: shadowtap replay at 1x (1,000 requests/s for 10 s) to production, tee mirroring"
    rc=0
    steal_before=$(cpu_times)
    "$SHADOWTAP" replay "$WORK/paced.stlog" --target "http://127.0.0.1:$prod_port" --speed 1x --seed 1 \
        --no-progress --report json --report-file "$WORK/paced-replay.json" 2>"$WORK/paced-replay.err" || rc=$?
    steal_after=$(cpu_times)
    [ "$rc" = 0 ] || die "replay exited with $rc: $(tail -n 5 "$WORK/paced-replay.err")"
    stop_nginx
    stop_tee_and_mirror paced "$prod_port"
    served=$(nginx_served paced)
    delay99=$(tee_field paced mirror_delay_p99)
    completed=$(tee_field paced completed)
    dropped=$(tee_field paced dropped_total)
    errors=$(tee_field paced errors_total)
    prod_p99=$(json "$WORK/paced-replay.json" 'd["overall"]["latency_us"]["p99"]')

    if [[ " $PHASES " != *" 1 "* ]]; then
        md_title "Live tee" ""
        md_header "Measurement" "shadowtap tee" "Peer" "Ratio" "Target"
    fi
    md_row "Mirror delay p99 at 1,000 req/s (shadowtap replay 1x → nginx)" \
        "$(ms_or_na "$delay99")" "—" "—" \
        "≤ 5 ms: $([ -n "$delay99" ] && check "$delay99" '<=' 5000 || echo FAIL)"
    md_row "Same run: production latency p99 seen by replay; CPU steal" "$(ms_or_na "$prod_p99"); steal $(steal_pct "$steal_before" "$steal_after")%" \
        "—" "—" "—"
    md_row "Mirror received vs production served (1,000 req/s)" "$(thousands "$MIRROR_RECEIVED")" \
        "$(thousands "$served") (nginx)" "tee completed ${completed:-?}, dropped ${dropped:-?}, errors ${errors:-?}" "—"
fi
md_publish "$RESULT_NAME"
