#!/usr/bin/env bash
# Installs the gateway as a service: a release binary in PREFIX/bin (default /usr/local), the shipped
# gateway.yaml and plugins.d in CONFDIR (default /etc/gateway; existing files are kept), a systemd
# unit, and a `gateway` system user. Starts nothing: `systemctl enable --now gateway` does.
# Relative paths in the configuration start at its own folder, so the installed copies name the
# state folder STATEDIR (default /var/lib/gateway, the unit's StateDirectory) where the shipped
# files say ./data.
#
#   scripts/install.sh [--prefix DIR] [--confdir DIR] [--statedir DIR] [--no-systemd]
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=/usr/local
confdir=/etc/gateway
statedir=/var/lib/gateway
systemd=true
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --confdir) confdir="$2"; shift 2 ;;
        --statedir) statedir="$2"; shift 2 ;;
        --no-systemd) systemd=false; shift ;;
        *) echo "install.sh: unknown option $1 (--prefix DIR, --confdir DIR, --statedir DIR, --no-systemd)" >&2; exit 2 ;;
    esac
done
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

scripts/install-deps.sh
if [ ! -x .build/release/gateway ] || [ -n "$(find Sources Package.swift -newer .build/release/gateway -print -quit)" ]; then
    swift build -c release --product gateway
fi

$SUDO install -D -m 0755 .build/release/gateway "$prefix/bin/gateway"
echo "install.sh: $prefix/bin/gateway" >&2
$SUDO install -d -m 0755 "$confdir/plugins.d"
if [ ! -e "$confdir/gateway.yaml" ]; then
    sed "s#\./data#$statedir#g" gateway.yaml | $SUDO tee "$confdir/gateway.yaml" >/dev/null
    echo "install.sh: $confdir/gateway.yaml" >&2
else
    echo "install.sh: kept the existing $confdir/gateway.yaml" >&2
fi
for f in plugins.d/*; do
    [ -e "$confdir/$f" ] || sed "s#\./data#$statedir#g" "$f" | $SUDO tee "$confdir/$f" >/dev/null
done

if $systemd && [ -d /etc/systemd/system ]; then
    if ! getent passwd gateway >/dev/null; then
        $SUDO useradd --system --home-dir /var/lib/gateway --no-create-home --shell /usr/sbin/nologin gateway
    fi
    sed -e "s#@BINDIR@#$prefix/bin#" -e "s#@CONFDIR@#$confdir#" scripts/packaging/gateway.service \
        | $SUDO tee /etc/systemd/system/gateway.service >/dev/null
    echo "install.sh: /etc/systemd/system/gateway.service (systemctl enable --now gateway)" >&2
    if [ -d /run/systemd/system ]; then $SUDO systemctl daemon-reload; fi
fi
"$prefix/bin/gateway" check --config "$confdir/gateway.yaml"
