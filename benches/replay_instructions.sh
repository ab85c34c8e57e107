#!/usr/bin/env bash
# Instructions per replayed request, A/B: two shadowtap binaries (BENCH_A_BIN
# and BENCH_B_BIN; B defaults to this checkout's release build) replay the
# same synthetic log against `shadowtap serve` on loopback under valgrind's
# callgrind, alternating A, B for BENCH_ROUNDS rounds. callgrind counts
# instructions, not seconds, so the figure holds on a shared, noisy machine
# where req/s rounds move by ±0.1. Reports the instructions of the whole
# process per request (startup included) and the B/A ratio per round.
#
#   BENCH_A_BIN=/path/to/old/shadowtap benches/replay_instructions.sh
#
# Knobs: BENCH_INSN_COUNT (20000 requests), BENCH_INSN_CONCURRENCY (8),
# BENCH_ROUNDS (2).
BENCH_NAME=replay_instructions
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

ensure_base_cmds valgrind:valgrind
build_shadowtap
build_synth
A=${BENCH_A_BIN:?BENCH_A_BIN: the binary to compare with (e.g. a release build of an earlier commit)}
B=${BENCH_B_BIN:-$SHADOWTAP}
COUNT=${BENCH_INSN_COUNT:-20000}
CONC=${BENCH_INSN_CONCURRENCY:-8}
ROUNDS=${BENCH_ROUNDS:-2}

"$SYNTH" --count "$COUNT" --interval 1ms --host bench.local -o "$WORK/gets.stlog" 2>"$WORK/synth.err" ||
    die "synth failed: $(cat "$WORK/synth.err")"
start_bg serve "$SHADOWTAP" serve --listen 127.0.0.1:0
wait_for_line "$WORK/serve.err" 'listening on' "$BG_PID" || die "serve did not start: $(cat "$WORK/serve.err")"
addr=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$WORK/serve.err" | head -1)

# insns NAME BIN: instructions of one replay of the log.
insns() {
    valgrind --tool=callgrind --callgrind-out-file="$WORK/$1.cg" "$2" replay "$WORK/gets.stlog" \
        --target "http://$addr" --speed max --concurrency "$CONC" --no-progress \
        >/dev/null 2>"$WORK/$1.err" || die "$1 failed: $(tail -3 "$WORK/$1.err")"
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$WORK/$1.err"
}

rows=()
for r in $(seq 1 "$ROUNDS"); do
    a=$(insns "a$r" "$A")
    b=$(insns "b$r" "$B")
    log "round $r: A $a, B $b instructions"
    rows+=("$r|$a|$b")
done

md_title "Replay instructions per request, A/B (callgrind)" \
    "$(thousands "$COUNT") synthetic GETs replayed at \`--speed max --concurrency $CONC\` to \`shadowtap serve\` on 127.0.0.1, each run under \`valgrind --tool=callgrind\`, alternating A then B. A: \`$A\`; B: \`$B\`. Instructions of the whole process (startup, reading the log, the report) over the requests sent."
md_header "Round" "A insns/request" "B insns/request" "B/A"
for row in "${rows[@]}"; do
    IFS='|' read -r r a b <<<"$row"
    md_row "$r" "$(fmt %.0f "$a / $COUNT")" "$(fmt %.0f "$b / $COUNT")" "$(fmt %.3f "$b / $a")"
done
md_publish
