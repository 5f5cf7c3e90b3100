#!/usr/bin/env bash
# Builds the gateway and gateway-bench in release mode, then runs the benchmark with the given options.
# Examples:
#   scripts/bench.sh                                  # every scenario, 3 runs of 10 s (about 6 minutes)
#   scripts/bench.sh --runs 1 --duration 5            # a quick look
#   scripts/bench.sh --scenario udp --udp-rate 500k   # one UDP rate only
#   scripts/bench.sh --skip-vm                        # the gateway alone
# VictoriaMetrics comes from the Debian package victoria-metrics (apt-get install victoria-metrics).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product gateway
swift build -c release --product gateway-bench
exec .build/release/gateway-bench --gateway .build/release/gateway "$@"
