#!/usr/bin/env bash
# Builds the gateway (release) and runs it on the shipped gateway.yaml, or on the arguments given.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# Build only when a source is newer than the binary (a no-op build still takes tens of seconds).
if [ ! -x .build/release/gateway ] || [ -n "$(find Sources Package.swift -newer .build/release/gateway -print -quit)" ]; then
    swift build -c release --product gateway
fi
exec .build/release/gateway "${@:-run}"
