#!/usr/bin/env bash
# Installs what the gateway needs on a Debian machine that has the Swift toolchain. Installs only
# what is missing; safe to run again.
#
#   scripts/install-deps.sh          building and running: the C headers the packages link against
#                                    (zlib, libdeflate, SQLite, snappy for Prometheus remote write)
#   scripts/install-deps.sh --test   also what the tests and the benchmark start: VictoriaMetrics (the
#                                    Influx-compatible peer), Prometheus (promtool lints /metrics), PostgreSQL (dwmon's postgres source; its
#                                    own cluster may stay stopped), python3 with psutil (the proc tests
#                                    and proc-pass benchmark), the official Python clients
#                                    influxdb-client (2.x API), influxdb (1.x API), datadog (DogStatsD)
#                                    and statsd in a virtual environment under the project (.venv/), as
#                                    Debian 12 refuses system-wide pip installs (PEP 668), and Debian's
#                                    InfluxDB 1.x server unpacked into .deps/influxdb (the tests start it
#                                    on free ports; it is not installed as a service), headless
#                                    Chromium (the status page test), collectd (the StatsD peer in the
#                                    benchmark), tmux (`gateway top` test) and protoc (regenerating the
#                                    committed remote-write protobuf code)
set -euo pipefail
cd "$(dirname "$0")/.."

test_deps=false
[ "${1:-}" = "--test" ] && test_deps=true

apt_packages=(zlib1g-dev libdeflate-dev libsqlite3-dev libsnappy-dev)
if $test_deps; then
    apt_packages+=(victoria-metrics prometheus netcat-openbsd curl python3 python3-venv python3-psutil postgresql
        chromium collectd-core tmux protobuf-compiler)
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

if $test_deps && ! .venv/bin/python3 -c "import influxdb_client, influxdb, datadog, statsd" >/dev/null 2>&1; then
    echo "install-deps: creating .venv with the Python influxdb-client, influxdb, datadog (DogStatsD) and statsd clients" >&2
    # Debian's python3 (python3-venv above); another python3 on PATH works as well.
    python=/usr/bin/python3
    [ -x "$python" ] || python=python3
    "$python" -m venv .venv
    .venv/bin/python3 -m pip install -q --disable-pip-version-check influxdb-client influxdb datadog statsd
    .venv/bin/python3 -c "import influxdb_client, influxdb, datadog, statsd"
fi

if $test_deps && [ ! -x .deps/influxdb/usr/bin/influxd ]; then
    echo "install-deps: unpacking Debian's influxdb (InfluxDB 1.x) into .deps/influxdb" >&2
    download=$(mktemp -d)
    if ! (cd "$download" && apt-get download -qq influxdb >/dev/null 2>&1); then
        SUDO=""
        [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        $SUDO apt-get update -qq
        (cd "$download" && apt-get download -qq influxdb >/dev/null)
    fi
    mkdir -p .deps/influxdb
    dpkg-deb -x "$download"/influxdb_*.deb .deps/influxdb
    rm -rf "$download"
    .deps/influxdb/usr/bin/influxd version >&2
fi
