#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Prints the directory of the pinned k8s.io/cri-api module, downloading it
# through the Go module proxy if it is not in the module cache yet. The pin is
# the version cri-tools v1.37.0 (crictl, critest) requires.
set -eu
CRI_API_VERSION=${CRI_API_VERSION:-v0.37.0}
PATH=$PATH:/usr/local/go/bin
export PATH
if ! command -v go >/dev/null 2>&1; then
    echo "cri-api-dir: go not found (looked in PATH and /usr/local/go/bin)" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
go mod download -json "k8s.io/cri-api@$CRI_API_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
