#!/usr/bin/env bash
# Runs every benchmark of this directory in order and collects their results
# (benches/results/*.md) into benches/results/ALL.md.
#
#   sudo benches/run_all.sh [NAME...]     # e.g. benches/run_all.sh format replay_memory
#
# Builds shadowtap and the synth example once (release) and hands them to each
# script. The pcap recorded by capture_live.sh is reused by
# capture_offline.sh. Scripts that need root are reported as skipped when not
# run as root. Exit status: 0 when every script ran (targets may still have
# failed: read the tables), 1 when a script failed. A script exits 3 when
# it needs root and 4 when the shadowtap command it measures does not exist.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
all=(format capture_live capture_offline replay_throughput replay_timing replay_memory tee compare_json compare)
if (($#)); then
    names=("$@")
else
    names=("${all[@]}")
fi

if ! command -v cargo >/dev/null; then
    echo "run_all: cargo is needed" >&2
    exit 1
fi
if [ "$(id -u)" = 0 ] && [ "${BENCH_NO_INSTALL:-0}" != 1 ] && command -v apt-get >/dev/null; then
    need=()
    for spec in pkg-config:pkg-config /usr/include/pcap.h:libpcap-dev; do
        c=${spec%%:*}
        case $c in
        /*) [ -e "$c" ] || need+=("${spec#*:}") ;;
        *) command -v "$c" >/dev/null || need+=("${spec#*:}") ;;
        esac
    done
    if ((${#need[@]})); then
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
    fi
fi
echo "run_all: building shadowtap and the synth example (release)" >&2
cargo build --release --locked -p shadowtap >&2
cargo build --release --locked -p shadowtap-replay --example synth >&2
export SHADOWTAP_BIN=$root/target/release/shadowtap
export SYNTH_BIN=$root/target/release/examples/synth

scratch=$(mktemp -d "${TMPDIR:-/tmp}/shadowtap-bench-all.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
pcap=$scratch/live.pcap

mkdir -p benches/results
declare -A status
failed=0
for name in "${names[@]}"; do
    script=benches/$name.sh
    if [ ! -x "$script" ]; then
        echo "run_all: no benchmark named $name" >&2
        status[$name]="unknown"
        failed=1
        continue
    fi
    echo >&2
    echo "run_all: ==== $name ====" >&2
    rc=0
    case $name in
    capture_live) BENCH_SAVE_PCAP=$pcap "$script" || rc=$? ;;
    capture_offline)
        if [ -s "$pcap" ]; then
            "$script" "$pcap" || rc=$?
        else
            "$script" || rc=$?
        fi
        ;;
    *) "$script" || rc=$? ;;
    esac
    case $rc in
    0) status[$name]="ran" ;;
    3) status[$name]="skipped (needs root)" ;;
    4) status[$name]="skipped (command not available in this build)" ;;
    *)
        status[$name]="FAILED (exit $rc)"
        failed=1
        ;;
    esac
done

out=benches/results/ALL.md
{
    printf '## Benchmark results\n\n'
    # shellcheck disable=SC2016
    printf 'Collected by `benches/run_all.sh` on %s.\n\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    for name in "${names[@]}"; do
        printf -- '- %s: %s\n' "$name" "${status[$name]}"
    done
    for name in "${names[@]}"; do
        if [ "${status[$name]}" = ran ] && [ -f "benches/results/$name.md" ]; then
            printf '\n'
            cat "benches/results/$name.md"
        fi
    done
} >"$out"
echo >&2
for name in "${names[@]}"; do
    echo "run_all: $name: ${status[$name]}" >&2
done
echo "run_all: collected in $out" >&2
exit "$failed"
