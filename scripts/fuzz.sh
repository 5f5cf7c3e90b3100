#!/usr/bin/env bash
# Fuzzes the decoders with libFuzzer, each target for a bounded time:
#
#   scripts/fuzz.sh [--time SECONDS] [TARGET...]     targets: line-protocol json gzip roundtrip journal statsd (default: all)
#
# Builds gateway-fuzz instrumented (-sanitize=fuzzer,address) into its own scratch path, .build-fuzz,
# then runs each target from its seed corpus, Tests/Fuzz/corpus/TARGET (only read; the inputs libFuzzer
# finds go to .build-fuzz/corpus/TARGET), with the line-protocol or JSON dictionary in Tests/Fuzz.
# Fails on the first crash, sanitizer report, timeout or round-trip mismatch: the input is left in
# .build-fuzz/artifacts/TARGET/ and the log in .build-fuzz/TARGET.log. Replay an input without
# libFuzzer: `swift run gateway-fuzz TARGET FILE...`.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
    --time) seconds="$2"; shift 2 ;;
    --time=*) seconds="${1#--time=}"; shift ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(line-protocol json gzip roundtrip journal statsd)

scratch=.build-fuzz
# The Swift runtime's own crash handler would run inside AddressSanitizer's; libFuzzer reports the crash.
export SWIFT_BACKTRACE=enable=no
# Optimised (overflow and bounds checks stay on in -O): many times the executions of a debug build.
swift build -c release --scratch-path "$scratch" --product gateway-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld -Xswiftc -DGATEWAY_FUZZ
binary="$scratch/release/gateway-fuzz"

failed=0
for target in "${targets[@]}"; do
    case "$target" in
    line-protocol | roundtrip) dictionary=Tests/Fuzz/line-protocol.dict ;;
    json) dictionary=Tests/Fuzz/json.dict ;;
    gzip | journal) dictionary="" ;;
    statsd) dictionary=Tests/Fuzz/statsd.dict ;;
    *) echo "fuzz.sh: unknown target $target (line-protocol, json, gzip, roundtrip, journal, statsd)" >&2; exit 2 ;;
    esac
    corpus="$scratch/corpus/$target"
    artifacts="$scratch/artifacts/$target"
    log="$scratch/$target.log"
    mkdir -p "$corpus" "$artifacts"
    flags=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1
        -artifact_prefix="$artifacts/")
    [ -z "$dictionary" ] || flags+=(-dict="$dictionary")
    status=0
    "$binary" "$target" "${flags[@]}" "$corpus" "Tests/Fuzz/corpus/$target" >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    if [ "$status" -ne 0 ]; then
        echo "fuzz $target: FAILED (exit $status) after ${runs:-?} executions; log: $log, input: $artifacts/" >&2
        grep -E "Fatal error|ERROR: (AddressSanitizer|libFuzzer)|SUMMARY|Test unit written" "$log" | head -10 >&2 || true
        failed=1
    else
        echo "fuzz $target: ${runs:-?} executions in ${seconds}s (${speed:-?}/s), no failure"
    fi
done
exit "$failed"
