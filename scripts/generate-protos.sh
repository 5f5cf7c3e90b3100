#!/usr/bin/env bash
# Regenerates the Swift of the prometheus_remote_write sink's protobuf messages from its .proto
# files (Sources/Sinks/prometheus_remote_write/Proto/). The generated files are committed, so a
# normal build needs neither protoc nor the plugin; run this after editing a .proto file.
#
# Needs protoc (Debian: protobuf-compiler) and protoc-gen-swift of the swift-protobuf version the
# package resolves (1.39): found on PATH, or given as PROTOC_GEN_SWIFT=/path, or else built here
# from the package's checkout in .build/checkouts/swift-protobuf (a first build takes minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
proto_dir=Sources/Sinks/prometheus_remote_write/Proto

plugin="${PROTOC_GEN_SWIFT:-$(command -v protoc-gen-swift || true)}"
if [[ -z "$plugin" ]]; then
    checkout=.build/checkouts/swift-protobuf
    [[ -d "$checkout" ]] || swift package resolve
    swift build --package-path "$checkout" -c release --product protoc-gen-swift
    plugin="$(swift build --package-path "$checkout" -c release --show-bin-path)/protoc-gen-swift"
fi

protoc --plugin=protoc-gen-swift="$plugin" --proto_path="$proto_dir" \
    --swift_opt=Visibility=Public --swift_out="$proto_dir" \
    "$proto_dir/types.proto" "$proto_dir/remote.proto"
echo "generated: $(ls "$proto_dir"/*.pb.swift | tr '\n' ' ')"
