#!/usr/bin/env bash
# Installs what building, testing and benchmarking the gateway need on a Debian machine that has the
# Swift toolchain: C headers the packages link against, VictoriaMetrics (the Influx-compatible peer
# used by tests and the benchmark), the official Python InfluxDB client (compatibility test), python3
# (the proc tests start a process holding 1 GiB with it), psutil (the proc-pass benchmark's peer) and
# PostgreSQL (the dwmon postgres-source tests start a throwaway server; the package's own cluster is
# not needed and may stay stopped).
# Installs only what is missing; safe to run again.
set -euo pipefail

apt_packages=(zlib1g-dev libdeflate-dev libsqlite3-dev victoria-metrics netcat-openbsd curl python3 python3-psutil postgresql)
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

if ! python3 -c "import influxdb_client" >/dev/null 2>&1; then
    echo "install-deps: installing the Python influxdb-client" >&2
    python3 -m pip install -q --disable-pip-version-check influxdb-client 2>&1 | grep -v "WARNING: Running pip as the 'root' user" || true
    python3 -c "import influxdb_client"
fi
