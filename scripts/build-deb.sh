#!/usr/bin/env bash
# Builds a Debian package of the gateway with dpkg-deb: /usr/bin/gateway, /etc/gateway/gateway.yaml and
# plugins.d (conffiles: an upgrade keeps the operator's edits), the systemd unit, and maintainer scripts
# that create the `gateway` system user and (where systemd runs) reload units. Prints the .deb's path.
#
#   scripts/build-deb.sh [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

out=.build/deb
[ "${1:-}" = "--out" ] && out="$2"
version=$(sed -n 's/.*static let current = "\(.*\)".*/\1/p' Sources/Gateway/CLI/GatewayCommand.swift)
arch=$(dpkg --print-architecture)

# The package carries the Swift runtime linked in (--static-swift-stdlib), so it runs on a Debian
# without the toolchain. GATEWAY_BINARY=PATH packages a binary built already (the tests do).
binary="${GATEWAY_BINARY:-}"
if [ -z "$binary" ]; then
    swift build -c release --product gateway --static-swift-stdlib >&2
    binary=.build/release/gateway
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
install -D -m 0755 "$binary" "$root/usr/bin/gateway"
# Relative paths start at the configuration's folder: the packaged copies name /var/lib/gateway
# (the unit's StateDirectory) where the shipped files say ./data.
install -d "$root/etc/gateway/plugins.d"
sed 's#\./data#/var/lib/gateway#g' gateway.yaml > "$root/etc/gateway/gateway.yaml"
for f in plugins.d/*; do sed 's#\./data#/var/lib/gateway#g' "$f" > "$root/etc/gateway/$f"; done
chmod 0644 "$root/etc/gateway/gateway.yaml" "$root"/etc/gateway/plugins.d/*
mkdir -p "$root/lib/systemd/system"
sed -e "s#@BINDIR@#/usr/bin#" -e "s#@CONFDIR@#/etc/gateway#" scripts/packaging/gateway.service \
    > "$root/lib/systemd/system/gateway.service"
mkdir -p "$root/DEBIAN"
# Shared libraries beyond libc and the Swift runtime: libdeflate, SQLite and zlib, from Debian.
cat > "$root/DEBIAN/control" <<CONTROL
Package: gateway
Version: $version
Architecture: $arch
Maintainer: gateway maintainers <gateway@localhost>
Depends: libdeflate0, libsqlite3-0, zlib1g, libstdc++6, libgcc-s1, adduser
Section: net
Priority: optional
Description: monitoring gateway
 One binary every service on a host sends its metric points to: InfluxDB line protocol and JSON
 points over UDP and HTTP, routed to InfluxDB (with a durable spool), archives and stdout.
CONTROL
(cd "$root" && find etc -type f | sed 's#^#/#' | sort) > "$root/DEBIAN/conffiles"
cat > "$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    if ! getent passwd gateway >/dev/null; then
        adduser --system --group --home /var/lib/gateway --no-create-home gateway >/dev/null
    fi
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null || true
    fi
fi
exit 0
POSTINST
cat > "$root/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    systemctl stop gateway.service >/dev/null 2>&1 || true
fi
exit 0
PRERM
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm"
mkdir -p "$out"
deb="$out/gateway_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$root" "$deb" >&2
echo "$deb"
