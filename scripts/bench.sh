#!/usr/bin/env bash
# Builds the gateway and gateway-bench in release mode, then runs the benchmark with the given options:
# the gateway (blackhole sink) against VictoriaMetrics' own line-protocol ingest, same load, same machine;
# the influx2 sink's spool (write and replay rates); and UDP -> gateway -> VictoriaMetrics end to end.
# Examples:
#   scripts/bench.sh                                  # every scenario, 3 runs of 10 s (about 12 minutes)
#   scripts/bench.sh --runs 1 --duration 5            # a quick look
#   scripts/bench.sh --scenario udp --udp-rate 500k   # one UDP rate only
#   scripts/bench.sh --scenario spool                 # spool-write and spool-replay (with VictoriaMetrics' http-1c)
#   scripts/bench.sh --scenario e2e --e2e-rate 1M     # UDP -> gateway -> VictoriaMetrics, and RSS in an outage
#   scripts/bench.sh --scenario statsd                # StatsD over UDP: the gateway beside collectd's statsd plugin
#   scripts/bench.sh --skip-vm                        # the gateway alone (no replay or e2e-udp scenarios)
# Prints a table of medians, then RESULT and RATIO lines; `gateway-bench --help` lists every option.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product gateway
swift build -c release --product gateway-bench
exec .build/release/gateway-bench --gateway .build/release/gateway "$@"
