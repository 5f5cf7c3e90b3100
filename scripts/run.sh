#!/usr/bin/env bash
# Builds the gateway (release) and runs it on the shipped gateway.yaml, or on the arguments given.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product gateway
exec .build/release/gateway "${@:-run}"
