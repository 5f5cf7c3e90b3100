#!/usr/bin/env bash
# Installs what the gateway needs on a Debian machine that has the Swift toolchain. Installs only
# what is missing; safe to run again.
#
#   scripts/install-deps.sh          building and running: the C headers the packages link against
#                                    (zlib, libdeflate, SQLite)
#   scripts/install-deps.sh --test   also what the tests and the benchmark start: VictoriaMetrics (the
#                                    Influx-compatible peer), Prometheus (promtool lints /metrics), PostgreSQL (dwmon's postgres source; its
#                                    own cluster may stay stopped), python3 with psutil (the proc tests
#                                    and proc-pass benchmark), and the official Python influxdb-client, datadog and statsd clients
#                                    in a virtual environment under the project (.venv/), as Debian 12
#                                    refuses system-wide pip installs (PEP 668)
set -euo pipefail
cd "$(dirname "$0")/.."

test_deps=false
[ "${1:-}" = "--test" ] && test_deps=true

apt_packages=(zlib1g-dev libdeflate-dev libsqlite3-dev)
if $test_deps; then
    apt_packages+=(victoria-metrics prometheus netcat-openbsd curl python3 python3-venv python3-psutil postgresql)
fi
missing=()
for p in "${apt_packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if $test_deps && ! .venv/bin/python3 -c "import influxdb_client, datadog, statsd" >/dev/null 2>&1; then
    echo "install-deps: creating .venv with the Python influxdb-client, datadog (DogStatsD) and statsd clients" >&2
    # Debian's python3 (python3-venv above); another python3 on PATH works as well.
    python=/usr/bin/python3
    [ -x "$python" ] || python=python3
    "$python" -m venv .venv
    .venv/bin/python3 -m pip install -q --disable-pip-version-check influxdb-client datadog statsd
    .venv/bin/python3 -c "import influxdb_client, datadog, statsd"
fi
