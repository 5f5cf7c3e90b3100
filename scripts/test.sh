#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what is missing, builds the gateway (debug for the
# functional tests, release for the load test that judges speed), then runs every test, one at a time
# so load tests do not compete with each other for the machine's cores.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
swift build
swift build -c release --product gateway
swift test --no-parallel
