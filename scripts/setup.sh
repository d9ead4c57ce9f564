#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Prepares a fresh Debian 12 machine (run as root) to build and test berth:
# the Debian packages, the Go tools pinned to cri-tools v1.37.0 (crictl,
# critest, ginkgo) in /usr/local/bin, the pinned CRI schema in the Go
# module cache, and the kubelet of tests/kubelet (scripts/build-kubelet.sh:
# about 8 minutes once, cached in /var/cache/berth-kubelet/<version>/). Idempotent: when everything is in place it only runs local
# checks (no apt, no network) and finishes in about a second. It never
# touches a running berthd and never changes system configuration.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

CRI_TOOLS_VERSION=${CRI_TOOLS_VERSION:-v1.37.0}
GINKGO_FALLBACK_VERSION=v2.32.1
TOML_TEST_VERSION=v1.6.0
BIN_DIR=${BERTH_BIN_DIR:-/usr/local/bin}

packages=(
    build-essential meson ninja-build pkg-config cmake
    liburing-dev protobuf-c-compiler libprotobuf-c-dev protobuf-compiler
    libnghttp2-dev libseccomp-dev libcap-dev libck-dev libmimalloc-dev
    libcurl4-openssl-dev libarchive-dev libjansson-dev libyaml-dev libssl-dev zlib1g-dev
    conmon crun runc criu containernetworking-plugins busybox-static umoci skopeo
    docker-registry bats clang clang-format libclang-rt-14-dev
    iptables iproute2 jq python3 curl gnuplot-nox stress-ng
)

install_packages() {
    local missing=() p
    for p in "${packages[@]}"; do
        # "ii " is installed-and-configured; anything else (absent, half
        # installed, removed with config left) needs apt.
        if [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null) != "ii " ]]; then
            missing+=("$p")
        fi
    done
    if ((${#missing[@]} == 0)); then
        berth_note "debian packages: all ${#packages[@]} present"
        return 0
    fi
    [[ $(id -u) == 0 ]] || berth_die "must run as root to install: ${missing[*]}"
    berth_note "debian packages: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -q -y --no-install-recommends "${missing[@]}" </dev/null
}

# go_mod_version BIN MODULE: the version of MODULE that BIN was built from,
# read from the build info Go embeds (empty when BIN is missing or not Go).
go_mod_version() {
    [[ -x $1 ]] || return 0
    go version -m "$1" 2>/dev/null | awk -v m="$2" '$1 == "mod" && $2 == m { print $3 }'
}

# The cri-tools module directory in the module cache (downloads it if needed).
cri_tools_dir() {
    (cd "$scratch" && go mod download -json "sigs.k8s.io/cri-tools@$CRI_TOOLS_VERSION") |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

version_ldflags="-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRI_TOOLS_VERSION"

install_crictl() {
    if [[ $(go_mod_version "$BIN_DIR/crictl" sigs.k8s.io/cri-tools) == "$CRI_TOOLS_VERSION" ]]; then
        berth_note "crictl $CRI_TOOLS_VERSION: present"
        return 0
    fi
    berth_note "crictl $CRI_TOOLS_VERSION: installing into $BIN_DIR"
    (cd "$scratch" && GOBIN=$BIN_DIR go install -ldflags "$version_ldflags" \
        "sigs.k8s.io/cri-tools/cmd/crictl@$CRI_TOOLS_VERSION")
}

install_critest() {
    # critest is a Go test binary: its build info says "(devel)", so the
    # version is the one stamped in with -ldflags and printed by -version.
    if [[ -x $BIN_DIR/critest ]] &&
        "$BIN_DIR/critest" -version 2>/dev/null | grep -qx "critest version: $CRI_TOOLS_VERSION"; then
        berth_note "critest $CRI_TOOLS_VERSION: present"
        return 0
    fi
    berth_note "critest $CRI_TOOLS_VERSION: building into $BIN_DIR"
    local dir
    dir=$(cri_tools_dir)
    [[ -n $dir && -d $dir ]] || berth_die "cannot download sigs.k8s.io/cri-tools@$CRI_TOOLS_VERSION"
    # The module cache is read-only; go test -c only reads it.
    (cd "$dir" && go test -c -ldflags "$version_ldflags" -o "$BIN_DIR/critest.new" ./cmd/critest)
    mv -f "$BIN_DIR/critest.new" "$BIN_DIR/critest"
}

install_ginkgo() {
    # critest -parallel N runs the ginkgo CLI, which must match the ginkgo
    # library critest was built with: take the version from cri-tools' go.mod.
    local want="" dir
    dir=$(cri_tools_dir 2>/dev/null || true)
    if [[ -n $dir && -f $dir/go.mod ]]; then
        want=$(awk '$1 == "github.com/onsi/ginkgo/v2" { print $2; exit }' "$dir/go.mod")
    fi
    want=${want:-$GINKGO_FALLBACK_VERSION}
    if [[ $(go_mod_version "$BIN_DIR/ginkgo" github.com/onsi/ginkgo/v2) == "$want" ]]; then
        berth_note "ginkgo $want: present"
        return 0
    fi
    berth_note "ginkgo $want: installing into $BIN_DIR"
    (cd "$scratch" && GOBIN=$BIN_DIR go install "github.com/onsi/ginkgo/v2/ginkgo@$want")
}

# toml-test, the TOML conformance runner (tests/conformance/toml-test.sh).
# `go install ...@v1.6.0` is refused by the module proxy: its go.mod pins a
# BurntSushi/toml pseudo-version the proxy does not serve. So it is built in a
# scratch module that takes BurntSushi/toml v1.6.0 (served) in its place.
install_toml_test() {
    if [[ $(go_mod_version "$BIN_DIR/toml-test" github.com/toml-lang/toml-test) == "$TOML_TEST_VERSION" ]]; then
        berth_note "toml-test $TOML_TEST_VERSION: present"
        return 0
    fi
    berth_note "toml-test $TOML_TEST_VERSION: building into $BIN_DIR"
    local m=$scratch/toml-test
    mkdir -p "$m"
    printf 'module berth.local/tomltest\n\ngo 1.21\n\nrequire github.com/toml-lang/toml-test %s\n\nreplace github.com/BurntSushi/toml => github.com/BurntSushi/toml v1.6.0\n' \
        "$TOML_TEST_VERSION" >"$m/go.mod"
    printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/toml-lang/toml-test/cmd/toml-test"\n' \
        >"$m/tools.go"
    if ! (cd "$m" && GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 &&
        GOFLAGS=-mod=mod go build -o "$BIN_DIR/toml-test" github.com/toml-lang/toml-test/cmd/toml-test); then
        # tests/conformance/toml-test.sh still runs the cases from the
        # module cache with its own runner.
        berth_note "warning: cannot build toml-test $TOML_TEST_VERSION"
    fi
}

# The test images use Debian's dynamic busybox (tests/fixtures/images/build.sh
# explains why); it conflicts with busybox-static, so its .deb is cached, not
# installed.
fetch_busybox_deb() {
    local cache=/var/cache/berth-fixtures
    if ls "$cache"/busybox_*.deb >/dev/null 2>&1; then
        berth_note "busybox .deb for the test images: present"
        return 0
    fi
    mkdir -p "$cache"
    if ! (cd "$cache" && apt-get download -q -o APT::Sandbox::User=root busybox) >/dev/null 2>&1; then
        apt-get update -q >/dev/null
        (cd "$cache" && apt-get download -q -o APT::Sandbox::User=root busybox) >/dev/null ||
            berth_note "warning: cannot download Debian's busybox .deb (critest MaskedPaths will fail)"
    fi
    berth_note "busybox .deb for the test images: $(ls "$cache"/busybox_*.deb 2>/dev/null)"
}

main() {
    install_packages
    fetch_busybox_deb
    berth_find_go || berth_die "Go not found in PATH or /usr/local/go/bin (cri-tools $CRI_TOOLS_VERSION needs Go >= 1.26 from go.dev)"
    scratch=$(mktemp -d /tmp/berth-setup.XXXXXX)
    trap 'rm -rf "$scratch"' EXIT
    mkdir -p "$BIN_DIR"
    install_crictl
    install_critest
    install_ginkgo
    install_toml_test
    # Pre-fetch the CRI schema that meson's configure step reads (proto/).
    local api
    api=$(sh "$BERTH_SRC/proto/cri-api-dir.sh") || berth_die "cannot fetch k8s.io/cri-api"
    berth_note "cri-api schema: $api"
    # The toml-test cases (tests/conformance/toml-test.sh) come from this
    # module; fetch them here so no timed test waits on the network.
    if (cd "$scratch" && go mod download "github.com/toml-lang/toml-test@$TOML_TEST_VERSION") >/dev/null 2>&1; then
        berth_note "toml-test $TOML_TEST_VERSION cases: present"
    else
        berth_note "warning: cannot fetch github.com/toml-lang/toml-test@$TOML_TEST_VERSION"
    fi
    # The kubelet of the kubelet end-to-end suite (tests/kubelet); a no-op
    # when its cache holds the binary.
    local kubelet
    kubelet=$("$here/build-kubelet.sh" | tail -n 1) || berth_die "cannot build the kubelet (scripts/build-kubelet.sh)"
    berth_note "kubelet: $kubelet"
    berth_note "setup done"
}

main "$@"
