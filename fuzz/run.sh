#!/usr/bin/env bash
# The long fuzzing campaign: builds the AFL++ binaries (fuzz/afl) and runs
# each target from its committed corpus, then prints one markdown row per
# target (executions, time, crashes, hangs, coverage) from AFL++'s
# fuzzer_stats and copies any crash or hang into fuzz/regressions/<target>/.
#
#   fuzz/run.sh [target...]        every target when none is named
#   EXECS=10000000 fuzz/run.sh     stop each target after that many runs (default)
#   SECONDS_PER_TARGET=600 ...     stop after that long instead
#   JOBS=2 fuzz/run.sh             targets run in parallel (one per core)
#   MEM_MB=512 TIMEOUT_MS=1000     per-run memory limit and timeout
#   HANG_MS=5000                   a run over TIMEOUT_MS is saved as a hang only
#                                  if it also exceeds this when run again (on a
#                                  shared machine a run can stall for a second)
#
# Needs cargo-afl (`cargo install --locked cargo-afl`); uses its AFL++.
set -euo pipefail
cd "$(dirname "$0")"
FUZZ=$PWD
ALL=(http1 stlog_read decode pipeline rewrite target threshold units compare gor_read report)
targets=("$@")
((${#targets[@]})) || targets=("${ALL[@]}")
EXECS=${EXECS:-10000000}
JOBS=${JOBS:-1}
MEM_MB=${MEM_MB:-512}
TIMEOUT_MS=${TIMEOUT_MS:-1000}
OUT=${OUT:-$FUZZ/out}
HANG_MS=${HANG_MS:-5000}
export AFL_HANG_TMOUT=$HANG_MS
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 \
    AFL_NO_AFFINITY=1 AFL_SKIP_CRASHES=1 AFL_AUTORESUME=1

export CARGO_TARGET_DIR=$FUZZ/afl/target
(cd afl && cargo afl build --release --locked)
bin=$CARGO_TARGET_DIR/release

run_one() {
    local t=$1 stop
    if [ -n "${SECONDS_PER_TARGET:-}" ]; then
        stop=(-V "$SECONDS_PER_TARGET")
    else
        stop=(-E "$EXECS")
    fi
    mkdir -p "$OUT/$t"
    cargo afl fuzz -i "corpus/$t" -o "$OUT/$t" -m "$MEM_MB" -t "$TIMEOUT_MS" \
        "${stop[@]}" -- "$bin/$t" >"$OUT/$t.log" 2>&1 || true
}

running=0
for t in "${targets[@]}"; do
    run_one "$t" &
    running=$((running + 1))
    if ((running >= JOBS)); then
        wait -n || true
        running=$((running - 1))
    fi
done
wait

stat() { sed -n "s/^$1 *: *//p" "$2"; }
echo "| target | executions | time (s) | exec/s | crashes | hangs | edges | coverage |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for t in "${targets[@]}"; do
    s=$OUT/$t/default/fuzzer_stats
    if [ ! -f "$s" ]; then
        echo "| $t | (no stats: see $OUT/$t.log) | | | | | | |"
        continue
    fi
    execs=$(stat execs_done "$s")
    time=$(stat run_time "$s")
    echo "| $t | $execs | $time | $(stat execs_per_sec "$s") | $(stat saved_crashes "$s") | $(stat saved_hangs "$s") | $(stat edges_found "$s")/$(stat total_edges "$s") | $(stat bitmap_cvg "$s") |"
    for kind in crashes hangs; do
        for f in "$OUT/$t/default/$kind"/id:*; do
            [ -f "$f" ] || continue
            mkdir -p "regressions/$t"
            cp "$f" "regressions/$t/$kind-$(sha1sum "$f" | cut -c1-12)"
        done
    done
done
