# shellcheck shell=bash disable=SC2034,SC2016
# Helpers shared by the benchmark scripts of this directory. Sourced, never
# run: each script sets BENCH_NAME and then sources this file.
#
# Environment knobs understood by every script:
#   SHADOWTAP_BIN   use this shadowtap binary instead of building one
#   BENCH_NO_BUILD  1: do not run cargo (needs SHADOWTAP_BIN, and SYNTH_BIN
#                   for the scripts that generate logs)
#   BENCH_KEEP      1: keep the scratch directory (logs, pcaps, outputs)
#   BENCH_NO_INSTALL 1: never call apt-get

set -euo pipefail

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_RESULTS="$BENCH_ROOT/benches/results"
: "${BENCH_NAME:?BENCH_NAME must be set before sourcing lib.sh}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/shadowtap-bench-$BENCH_NAME.XXXXXX")"
chmod 755 "$WORK"
BG_PIDS=()
# The command as the result file shows it: knobs set in the environment, the
# script, its arguments.
BENCH_KNOBS=$(env | grep -E '^BENCH_' | grep -vE '^BENCH_(KEEP|SAVE_PCAP|NO_BUILD|NO_INSTALL|PCAP)=' | sort | tr '\n' ' ' || true)
BENCH_COMMAND="${BENCH_KNOBS}benches/$BENCH_NAME.sh${*:+ $*}"
BENCH_MD="$WORK/result.md"
: >"$BENCH_MD"

log() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; }

# Flushes dirty pages (a fresh build, a large pcap from the previous script)
# so their writeback does not compete with the next measurement.
settle() { sync; }
die() {
    log "error: $*"
    exit 1
}

# Stops every background process this script started (newest first), each
# with SIGTERM, then SIGKILL after 5 s; removes the scratch directory.
bench_cleanup() {
    local rc=$?
    local i pid n
    for ((i = ${#BG_PIDS[@]} - 1; i >= 0; i--)); do
        pid=${BG_PIDS[i]}
        kill -0 "$pid" 2>/dev/null || continue
        kill -TERM "$pid" 2>/dev/null || true
        for ((n = 0; n < 100; n++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        log "scratch files kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

require_root() {
    if [ "$(id -u)" != 0 ]; then
        log "skipped: needs root (live capture on lo needs CAP_NET_RAW)"
        exit 3
    fi
}

# ensure_cmds CMD:PACKAGE... installs the Debian packages of missing
# commands (as root), or fails naming them.
ensure_cmds() {
    local spec cmd pkg missing=()
    for spec in "$@"; do
        cmd=${spec%%:*}
        pkg=${spec#*:}
        case $cmd in
        /*) [ -e "$cmd" ] || missing+=("$pkg") ;;
        *) command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg") ;;
        esac
    done
    ((${#missing[@]})) || return 0
    if [ "$(id -u)" = 0 ] && [ "${BENCH_NO_INSTALL:-0}" != 1 ] && command -v apt-get >/dev/null; then
        log "installing ${missing[*]}"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    else
        die "missing packages: ${missing[*]} (run as root on Debian to install them)"
    fi
}

# The programs every script uses. nginx-light puts nginx in /usr/sbin.
ensure_base_cmds() {
    ensure_cmds python3:python3-minimal curl:curl /usr/bin/time:time pkg-config:pkg-config \
        /usr/include/pcap.h:libpcap-dev "$@"
}

# release_binary VAR OVERRIDE WHAT PATH CARGO_ARGS...: sets VAR to the
# release binary at PATH (under the workspace), built with CARGO_ARGS unless
# BENCH_NO_BUILD=1, or to the path in the environment variable OVERRIDE.
release_binary() {
    local var=$1 override=$2 what=$3 path=$4 bin
    shift 4
    if [ -n "${!override:-}" ]; then
        bin=${!override}
    else
        if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
            log "building $what (release)"
            (cd "$BENCH_ROOT" && cargo build --release --locked "$@" >&2)
        fi
        bin=$BENCH_ROOT/$path
    fi
    [ -x "$bin" ] || die "no $what binary at $bin"
    printf -v "$var" '%s' "$bin"
}

# Sets SHADOWTAP (SHADOWTAP_BIN overrides).
build_shadowtap() {
    release_binary SHADOWTAP SHADOWTAP_BIN shadowtap target/release/shadowtap -p shadowtap
}

# Sets SYNTH to the synthetic log generator, replay/examples/synth.rs
# (SYNTH_BIN overrides).
build_synth() {
    release_binary SYNTH SYNTH_BIN "the synth example" target/release/examples/synth \
        -p shadowtap-replay --example synth
}

# A TCP port free on 127.0.0.1 right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_bg NAME CMD... runs CMD in the background with its output in
# $WORK/NAME.out and $WORK/NAME.err; sets BG_PID.
start_bg() {
    local name=$1
    shift
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
}

# wait_for_line FILE REGEX PID [SECONDS]: polls (every 20 ms, bounded) until
# FILE has a line matching REGEX; fails if PID exits first or time runs out.
wait_for_line() {
    local file=$1 re=$2 pid=$3 secs=${4:-20} n
    for ((n = 0; n < secs * 50; n++)); do
        grep -qE "$re" "$file" 2>/dev/null && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            log "process $pid exited before printing /$re/; its stderr:"
            tail -n 20 "$file" >&2 || true
            return 1
        fi
        sleep 0.02
    done
    log "timed out after ${secs}s waiting for /$re/ in $file"
    return 1
}

# reap PID WHY: kills PID if it is still running (logging WHY), then waits for
# it and sets STOP_RC to its exit status (137 when it had to be killed).
reap() {
    local pid=$1
    if kill -0 "$pid" 2>/dev/null; then
        log "$2: killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    STOP_RC=0
    wait "$pid" 2>/dev/null || STOP_RC=$?
}

# stop_pid PID SIGNAL [SECONDS]: signals PID and waits (bounded) for it to
# exit; sets STOP_RC to its exit status (137 when it had to be killed).
stop_pid() {
    local pid=$1 sig=$2 secs=${3:-30} n
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((n = 0; n < secs * 50; n++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.02
    done
    reap "$pid" "process $pid still running ${secs}s after SIG$sig"
}

# stop_live_capture PID PORT [SECONDS]: SIGINT to a live capture of PORT on
# lo and a bounded wait for it to exit; sets STOP_RC, and WAKEUPS to the
# number of connection attempts to PORT (refused, so no HTTP) that were
# needed to make it notice: libpcap's TPACKET_V3 reads on Linux can ignore the
# read timeout while no packet arrives, so a capture that checks its stop flag
# only between packets hangs on an idle interface. WAKEUPS > 0 means the
# capture has that problem; the benchmark reports it.
stop_live_capture() {
    local pid=$1 port=$2 secs=${3:-30} n
    WAKEUPS=0
    kill -INT "$pid" 2>/dev/null || true
    for ((n = 0; n < secs * 50; n++)); do
        kill -0 "$pid" 2>/dev/null || break
        # After 2 s, one refused connection attempt every 200 ms.
        if ((n >= 100 && n % 10 == 0)); then
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || true
            WAKEUPS=$((WAKEUPS + 1))
        fi
        sleep 0.02
    done
    reap "$pid" "capture $pid still running ${secs}s after SIGINT"
    if ((WAKEUPS > 0)); then
        log "warning: the capture needed $WAKEUPS wake-up packets to notice SIGINT"
    fi
}

# Peak resident set size of a running process, in KiB.
peak_rss_kb() {
    awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0
}

# ---------------------------------------------------------------- nginx ----

NGINX_BODY='{"status":"ok","service":"shadowtap-bench","items":[1,2,3,4,5,6,7,8,9,10]}'

# start_nginx NAME [WORKERS]: nginx on 127.0.0.1 at a free port, answering
# every request with a fixed 200 (and /ready for the readiness probe). Its
# access log is $WORK/NAME/access.log, buffered; stop it with stop_nginx to
# have the log complete. Sets NGINX_PORT and NGINX_PID. NGINX_LISTEN_OPTS
# is appended to the listen directive (e.g. reuseport).
start_nginx() {
    local name=$1 workers=${2:-${BENCH_NGINX_WORKERS:-2}} dir attempt
    dir=$WORK/$name
    mkdir -p "$dir"
    for attempt in 1 2 3; do
        NGINX_PORT=$(free_port)
        cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes $workers;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log $dir/access.log combined buffer=256k flush=1s;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_requests 100000;
    keepalive_timeout 60s;
    server {
        listen 127.0.0.1:$NGINX_PORT${NGINX_LISTEN_OPTS:+ $NGINX_LISTEN_OPTS};
        location = /ready { access_log off; return 204; }
        location / {
            default_type application/json;
$(if [ -n "${NGINX_ROOT:-}" ]; then
            printf '            root %s;\n            server_tokens off;\n' "$NGINX_ROOT"
        else
            printf "            return 200 '%s\\\\n';\n" "$NGINX_BODY"
        fi)
        }
    }
}
EOF
        start_bg "$name-nginx" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
        NGINX_PID=$BG_PID
        if wait_http "http://127.0.0.1:$NGINX_PORT/ready" "$NGINX_PID" 10; then
            return 0
        fi
        stop_pid "$NGINX_PID" TERM 5
        log "nginx did not start on port $NGINX_PORT (attempt $attempt); error log:"
        tail -n 5 "$dir/error.log" >&2 || true
    done
    die "nginx would not start"
}

# Graceful stop (finishes in-flight requests, flushes the access log).
stop_nginx() {
    stop_pid "$NGINX_PID" QUIT 20
}

# Requests nginx logged under NAME (readiness probes are not logged).
nginx_served() {
    if [ -f "$WORK/$1/access.log" ]; then
        wc -l <"$WORK/$1/access.log" | tr -d ' '
    else
        echo 0
    fi
}

# wait_http URL PID [SECONDS]: polls URL until it answers (bounded).
wait_http() {
    local url=$1 pid=$2 secs=${3:-10} n
    for ((n = 0; n < secs * 20; n++)); do
        curl -fs -o /dev/null --max-time 1 "$url" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# ------------------------------------------------------------------ wrk ----

# wrk output parsing: completed requests, requests/s, socket errors, non-2xx.
wrk_requests() { awk '/ requests in / {print $1; exit}' "$1"; }
wrk_rps() { awk '/^Requests\/sec:/ {print $2; exit}' "$1"; }
wrk_errors() {
    awk '/Socket errors:/ {gsub(",", ""); s = $4 + $6 + $8 + $10} /Non-2xx or 3xx/ {n = $5} END {print s + n + 0}' "$1"
}

# ----------------------------------------------------------- arithmetic ----

# calc EXPR: floating-point arithmetic (awk), printed with up to 6 decimals.
calc() { awk "BEGIN { v = $1; printf \"%.6g\n\", v }"; }
# fmt FORMAT EXPR: printf an awk expression, as one line.
fmt() { awk "BEGIN { printf \"$1\\n\", $2 }"; }
# Integer with thousands separators.
thousands() {
    awk -v v="$1" 'BEGIN {
        if (v == "" || v !~ /^-?[0-9.eE+-]+$/) { print "n/a"; exit }
        s = sprintf("%.0f", v); neg = ""
        if (substr(s, 1, 1) == "-") { neg = "-"; s = substr(s, 2) }
        out = ""
        while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
        print neg s out
    }'
}
# check VALUE OP TARGET -> pass / FAIL (OP is an awk comparison: >= <= < >).
check() { awk "BEGIN { if (($1) $2 ($3)) print \"pass\"; else print \"FAIL\" }"; }

# Median of numbers, one a line, on stdin.
median() {
    sort -g | awk '{a[NR] = $1} END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# json FILE EXPR: evaluates a Python expression over the JSON document `d`.
json() {
    python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2], {"d": d})
print(v)' "$1" "$2"
}

# --------------------------------------------------------------- output ----

# md_title TITLE DESCRIPTION: starts the result file (title, machine,
# command).
md_title() {
    local cpu
    cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
    {
        printf '### %s\n\n' "$1"
        [ -n "${2:-}" ] && printf '%s\n\n' "$2"
        printf 'Command: `%s`  \n' "$BENCH_COMMAND"
        printf 'Machine: %s, %s CPUs, Linux %s; run %s  \n' "${cpu:-unknown CPU}" "$(nproc)" \
            "$(uname -r)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        printf 'shadowtap %s (%s)\n\n' "$(git -C "$BENCH_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" \
            "$(git -C "$BENCH_ROOT" status --porcelain 2>/dev/null | grep -q . && echo 'uncommitted changes' || echo clean)"
    } >>"$BENCH_MD"
}

# md_note TEXT: a paragraph after the table.
md_note() { printf '\n%s\n' "$*" >>"$BENCH_MD"; }

# md_header COL...: the table header (stdout and the result file).
md_header() {
    local line="|" sep="" c
    for c in "$@"; do
        line+=" $c |"
        sep+="|---"
    done
    sep+="|"
    printf '%s\n%s\n' "$line" "$sep" | tee -a "$BENCH_MD"
}

# md_row CELL...: one table row (stdout and the result file).
md_row() {
    local line="|" c
    for c in "$@"; do
        line+=" $c |"
    done
    printf '%s\n' "$line" | tee -a "$BENCH_MD"
}

# md_publish [NAME]: moves the finished result file into
# benches/results/NAME.md (NAME: the script's, BENCH_NAME, by default).
md_publish() {
    local name=${1:-$BENCH_NAME}
    mkdir -p "$BENCH_RESULTS"
    cp "$BENCH_MD" "$BENCH_RESULTS/$name.md"
    log "results in benches/results/$name.md"
}
