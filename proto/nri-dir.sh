#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Prints the directory of the pinned github.com/containerd/nri module (for
# pkg/api/api.proto, the NRI protocol berth's NRI server speaks),
# downloading it through the Go module proxy if it is not in the module
# cache yet. The pin is the protocol version berth implements (v0.12);
# tests/nri/build.sh builds the test plugins from the same version.
set -eu
NRI_VERSION=${NRI_VERSION:-v0.12.5}
PATH=$PATH:/usr/local/go/bin
export PATH
if ! command -v go >/dev/null 2>&1; then
    echo "nri-dir: go not found (looked in PATH and /usr/local/go/bin)" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
go mod download -json "github.com/containerd/nri@$NRI_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
