#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds the kubelet that tests/kubelet/ runs berth under, from the Go module
# proxy, into a cache outside the repository keyed by version:
#   $BERTH_KUBELET_CACHE/<version>/kubelet   (default /var/cache/berth-kubelet)
# A later run finds it there and does nothing. Prints the binary's path as its
# last line. The module k8s.io/kubernetes is not built as a dependency: its
# go.mod points the 33 k8s.io/* staging modules at ./staging/..., and the
# module zip has no working go.work. So the module directory is copied out of
# the (read-only) module cache, go.work and vendor/ go, and every staging
# replace becomes a requirement on the published k8s.io/<x> v0.<minor>.<patch>.
# About 480 s and 92 MB on 2 cores.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

KUBELET_VERSION=${KUBELET_VERSION:-v1.37.2}
cache=${BERTH_KUBELET_CACHE:-/var/cache/berth-kubelet}
out=$cache/$KUBELET_VERSION/kubelet

if [[ -x $out ]] && "$out" --version 2>/dev/null | grep -qx "Kubernetes $KUBELET_VERSION"; then
    berth_note "kubelet $KUBELET_VERSION: present"
    echo "$out"
    exit 0
fi

berth_find_go || berth_die "Go not found in PATH or /usr/local/go/bin"
[[ $KUBELET_VERSION =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || berth_die "KUBELET_VERSION must be v1.N.M, not $KUBELET_VERSION"
staging_version=v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}

scratch=$(mktemp -d /tmp/berth-kubelet.XXXXXX)
trap 'chmod -R u+w "$scratch" 2>/dev/null; rm -rf "$scratch"' EXIT

berth_note "kubelet $KUBELET_VERSION: downloading k8s.io/kubernetes"
mod=$(cd "$scratch" && go mod download -json "k8s.io/kubernetes@$KUBELET_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -n $mod && -d $mod ]] || berth_die "cannot download k8s.io/kubernetes@$KUBELET_VERSION"

src=$scratch/kubernetes
cp -r "$mod" "$src"
chmod -R u+w "$src"
rm -rf "$src/go.work" "$src/go.work.sum" "$src/vendor"

# Each "k8s.io/x => ./staging/src/k8s.io/x" replace (single line or inside a
# replace block) becomes a requirement on the published module.
mapfile -t staged < <(sed -n 's#^[[:space:]]*\(replace[[:space:]]\+\)\?\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/.*#\2#p' "$src/go.mod")
((${#staged[@]} > 0)) || berth_die "no staging replaces in k8s.io/kubernetes@$KUBELET_VERSION go.mod"
sed -i '/=>[[:space:]]*\.\/staging\//d' "$src/go.mod"
(
    cd "$src"
    for m in "${staged[@]}"; do
        go mod edit -require="$m@$staging_version"
    done
)
berth_note "kubelet $KUBELET_VERSION: ${#staged[@]} staging modules pinned to $staging_version; building"

mkdir -p "$(dirname "$out")"
(
    cd "$src"
    CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
        -ldflags "-X k8s.io/component-base/version.gitVersion=$KUBELET_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${BASH_REMATCH[1]}" \
        -o "$out.new" ./cmd/kubelet
)
mv -f "$out.new" "$out"
berth_note "kubelet $KUBELET_VERSION: built"
echo "$out"
