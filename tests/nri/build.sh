#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds berth's NRI test plugin (tests/nri/plugin, on NRI's pkg/stub) with
# the Go module proxy, into $1 (default /var/cache/berth-nri/<nri
# version>/<sources' hash>/, so that worktrees with different plugin
# sources do not rebuild over each other), and prints the binary's path.
# Cached: a second run with the same sources only prints the path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PATH=$PATH:/usr/local/go/bin
NRI_VERSION=v0.12.5
sum=$(cat "$here/plugin/main.go" "$here/plugin/go.mod" | sha256sum | cut -c1-16)
out=${1:-/var/cache/berth-nri/$NRI_VERSION/$sum}
bin=$out/berth-nri-test
if [[ -x $bin && -f $out/.sum && $(cat "$out/.sum") == "$sum" ]]; then
    echo "$bin"
    exit 0
fi
mkdir -p "$out"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp "$here/plugin/main.go" "$here/plugin/go.mod" "$scratch/"
(cd "$scratch" && go mod tidy >&2 && CGO_ENABLED=0 go build -o "$bin.new" .) >&2
mv -f "$bin.new" "$bin"
echo "$sum" >"$out/.sum"
echo "$bin"
