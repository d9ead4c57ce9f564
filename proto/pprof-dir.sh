#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Prints the directory of the pinned github.com/google/pprof module (for its
# proto/profile.proto, the format of the debug endpoint's CPU profiles),
# downloading it through the Go module proxy if it is not in the module
# cache yet. profile.proto has not changed incompatibly since 2016, so any
# recent pin reads the same as the pprof that `go tool pprof` vendors.
set -eu
PPROF_VERSION=${PPROF_VERSION:-v0.0.0-20260402051712-545e8a4df936}
PATH=$PATH:/usr/local/go/bin
export PATH
if ! command -v go >/dev/null 2>&1; then
    echo "pprof-dir: go not found (looked in PATH and /usr/local/go/bin)" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
go mod download -json "github.com/google/pprof@$PPROF_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
