#!/usr/bin/env bash
# .stlog write and read throughput per codec, bytes per exchange on disk and
# compression ratio, from the criterion bench format/benches/log_io.rs (a
# deterministic mix of 20,000 realistic exchanges, in memory, one core).
#
#   benches/format.sh
#
# Prints Markdown table rows on stdout; writes benches/results/format.md.
BENCH_NAME=format
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

ensure_cmds pkg-config:pkg-config
raw=$WORK/criterion.txt
log "running cargo bench -p shadowtap-format --bench log_io (about a minute)"
(cd "$BENCH_ROOT" && cargo bench --locked -p shadowtap-format --bench log_io) >"$raw" 2>&1 || {
    tail -n 30 "$raw" >&2
    die "cargo bench failed"
}

# Criterion prints "stlog/NAME  time: [...]" then "thrpt: [lo mid hi]"; a
# "change:" block with more thrpt lines may follow, which we skip. Units are
# elem/s with an optional K/M/G prefix.
parse_thrpt() {
    awk -v want="stlog/$1" '
        $1 == want { armed = 1; next }
        armed && /thrpt:/ {
            gsub(/[][]/, "")
            for (i = 1; i <= NF; i++) if ($i == "thrpt:") { v = $(i + 3); u = $(i + 4) }
            m = 1
            if (u ~ /^K/) m = 1e3; else if (u ~ /^M/) m = 1e6; else if (u ~ /^G/) m = 1e9
            printf "%.0f\n", v * m
            exit
        }' "$raw"
}

# "size zstd1: 20000 exchanges, 3128 wire bytes/exchange, 831 file bytes/exchange, ratio 3.76x"
size_field() {
    awk -v c="$1" -v f="$2" '
        $1 == "size" && $2 == c ":" {
            if (f == "wire") print $5
            else if (f == "file") print $8
            else if (f == "ratio") { r = $12; sub(/x$/, "", r); print r }
            exit
        }' "$raw"
}

# zstd level 3 is only sized, not timed, by the bench.
num_or_dash() { if [ -n "$1" ]; then thousands "$1"; else echo "—"; fi; }

md_title "Log format: write and read throughput" \
    "criterion bench \`format/benches/log_io.rs\`: 20,000 exchanges of a deterministic realistic mix (\`format/benches/support/mix.rs\`), written to and read from memory on one core. Throughput is criterion's middle estimate."
md_header "Codec" "Write (exchanges/s)" "Read (exchanges/s)" "Wire bytes/exchange" "File bytes/exchange" "Compression"
for codec in zstd1 zstd3 zstd-5 none; do
    w=$(parse_thrpt "write_$codec")
    r=$(parse_thrpt "read_$codec")
    wire=$(size_field "$codec" wire)
    file=$(size_field "$codec" file)
    ratio=$(size_field "$codec" ratio)
    [ -n "$file" ] || die "no size line for $codec in the bench output"
    case $codec in
    zstd1) label="zstd level 1 (default)" ;;
    zstd3) label="zstd level 3" ;;
    zstd-5) label="zstd level -5 (\`--compression zstd:-5\`)" ;;
    none) label="none (\`--compression none\`)" ;;
    esac
    md_row "$label" "$(num_or_dash "$w")" "$(num_or_dash "$r")" \
        "$(thousands "$wire")" "$(thousands "$file")" "${ratio}x"
done
zc=$(parse_thrpt zstd1_alone_compress)
zd=$(parse_thrpt zstd1_alone_decompress)
wz=$(parse_thrpt write_zstd1)
rz=$(parse_thrpt read_zstd1)
[ -n "$zc" ] && [ -n "$zd" ] || die "no zstd-alone lines in the bench output"
md_row "zstd level 1 alone (libzstd on the same block payloads, no shadowtap code)" \
    "$(thousands "$zc")" "$(thousands "$zd")" "—" "—" "—"
md_row "shadowtap zstd level 1 as a share of zstd alone" \
    "$(awk -v a="$wz" -v b="$zc" 'BEGIN { printf "%.0f%%", 100 * a / b }')" \
    "$(awk -v a="$rz" -v b="$zd" 'BEGIN { printf "%.0f%%", 100 * a / b }')" "—" "—" "—"
md_publish
