#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Runs containerd as a CRI peer for berth's perf tools and tests: by default
# containerd CONTAINERD_VERSION (v2.4.2) built once from the Go module proxy
# (github.com/containerd/containerd/v2, containerd and its runc v2 shim) into
# a cache outside the repository, with Debian's containerd 1.6 as the
# fallback (PEER_CONTAINERD). Either gets its own root, state, socket
# (STATE_DIR/containerd.sock), CNI conf and bin dirs, bridge (berthpeer0) and
# subnet (10.214.0.0/24, local traffic only), runc v2 shims on cgroupfs,
# overlayfs, restrict_oom_score_adj, and registry mirrors taken from a
# containers-registries.conf (REGISTRIES_FILE, e.g. the one
# tests/fixtures/images/build.sh writes). It never touches /etc/containerd,
# /run/containerd's default socket or anything it did not start: stop kills
# the recorded containerd PID and the shims serving this socket, by PID.
#
# Usage: peer-containerd.sh start|stop|status|build [STATE_DIR]
#   STATE_DIR        default /tmp/berth-peer-containerd
#   build            only build (or find) containerd CONTAINERD_VERSION;
#                    prints the binary's path
# Environment:
#   PEER_CONTAINERD  auto (default): the built CONTAINERD_VERSION, or Debian's
#                    when it cannot be built (no Go, no proxy; said on
#                    stderr); built: the built one or fail; debian: the
#                    containerd in PATH, Debian's 1.6 (apt-get install
#                    containerd when there is none; the package brings
#                    /etc/containerd/config.toml, which is never read here)
#   CONTAINERD_VERSION  module version (default v2.4.2)
#   BERTH_PEER_CACHE build cache (default /var/cache/berth-peers): the
#                    binaries go to BERTH_PEER_CACHE/containerd-VERSION/
#   REGISTRIES_FILE  containers-registries.conf whose [[registry.mirror]]s
#                    become containerd hosts.toml mirrors (default: the
#                    fixture's /tmp/berth-registry/registries.conf if present)
#   SANDBOX_IMAGE    pause image (default registry.k8s.io/pause:3.10 for the
#                    built containerd, registry.k8s.io/pause:3.9 for 1.6)
#   PEER_BRIDGE      bridge name (default berthpeer0)
#   PEER_SUBNET      pod subnet (default 10.214.0.0/24)
#   PEER_CNI_BIN     where the real plugins are (default /usr/lib/cni)
#   PEER_LOG_LEVEL   containerd's log level (default warn: a benchmark should
#                    not measure its own logging; bench-berth.sh does the same)
#   PEER_RUN_TMPFS   1 (default): STATE_DIR/state (containerd's state, the
#                    shims' sockets, runc's root, the pods' netns with the
#                    built containerd) is a tmpfs, as /run/containerd is on a
#                    node and as bench-berth.sh gives berthd; 0: the disk
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

cmd=${1:-}
STATE_DIR=${2:-/tmp/berth-peer-containerd}
PEER_CONTAINERD=${PEER_CONTAINERD:-auto}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.4.2}
BERTH_PEER_CACHE=${BERTH_PEER_CACHE:-/var/cache/berth-peers}
PEER_BRIDGE=${PEER_BRIDGE:-berthpeer0}
PEER_SUBNET=${PEER_SUBNET:-10.214.0.0/24}
PEER_CNI_BIN=${PEER_CNI_BIN:-/usr/lib/cni}
PEER_LOG_LEVEL=${PEER_LOG_LEVEL:-warn}
PEER_RUN_TMPFS=${PEER_RUN_TMPFS:-1}
CACHE=$BERTH_PEER_CACHE/containerd-$CONTAINERD_VERSION
if [[ -z ${REGISTRIES_FILE:-} && -f /tmp/berth-registry/registries.conf ]]; then
    REGISTRIES_FILE=/tmp/berth-registry/registries.conf
fi

note() { printf 'peer-containerd: %s\n' "$*"; }
die() {
    printf 'peer-containerd: error: %s\n' "$*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start|stop|status|build [STATE_DIR]" >&2
    exit 2
}

case $PEER_CONTAINERD in
auto | built | debian) ;;
*) die "PEER_CONTAINERD must be auto, built or debian, not $PEER_CONTAINERD" ;;
esac

# built_ok: true when the cache holds containerd CONTAINERD_VERSION and its shim.
built_ok() {
    [[ -x $CACHE/containerd && -x $CACHE/containerd-shim-runc-v2 ]] &&
        "$CACHE/containerd" --version 2>/dev/null | grep -qF " $CONTAINERD_VERSION"
}

# build: containerd and containerd-shim-runc-v2 into $CACHE, once (under 2
# minutes on 2 cores). Returns non-zero (with the reason on stderr) when it
# cannot build, so that auto can fall back to Debian's.
build() {
    built_ok && return 0
    berth_find_go || {
        note "Go not found in PATH or /usr/local/go/bin"
        return 1
    }
    local scratch mod rc=0
    scratch=$(mktemp -d /tmp/berth-peer-containerd-build.XXXXXX)
    note "containerd $CONTAINERD_VERSION: downloading github.com/containerd/containerd/v2"
    mod=$(cd "$scratch" && go mod download -json "github.com/containerd/containerd/v2@$CONTAINERD_VERSION" |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || true
    if [[ -z $mod || ! -d $mod ]]; then
        rm -rf "$scratch"
        note "cannot download github.com/containerd/containerd/v2@$CONTAINERD_VERSION"
        return 1
    fi
    note "containerd $CONTAINERD_VERSION: building containerd and containerd-shim-runc-v2"
    mkdir -p "$CACHE"
    # A writable copy: the module cache is read-only, and -mod=mod may
    # have to complete go.sum.
    cp -r "$mod" "$scratch/containerd"
    chmod -R u+w "$scratch/containerd"
    (
        cd "$scratch/containerd"
        ld="-X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION"
        GOFLAGS=-mod=mod go build -trimpath -tags urfave_cli_no_docs -ldflags "$ld" \
            -o "$CACHE/containerd.new" ./cmd/containerd &&
            CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -tags "urfave_cli_no_docs no_grpc" \
                -ldflags "$ld" -o "$CACHE/containerd-shim-runc-v2.new" ./cmd/containerd-shim-runc-v2
    ) || rc=$?
    chmod -R u+w "$scratch" 2>/dev/null || true
    rm -rf "$scratch"
    if ((rc != 0)); then
        rm -f "$CACHE/containerd.new" "$CACHE/containerd-shim-runc-v2.new"
        note "containerd $CONTAINERD_VERSION: build failed"
        return 1
    fi
    mv -f "$CACHE/containerd-shim-runc-v2.new" "$CACHE/containerd-shim-runc-v2"
    mv -f "$CACHE/containerd.new" "$CACHE/containerd"
    built_ok || {
        note "$CACHE/containerd does not report $CONTAINERD_VERSION"
        return 1
    }
    note "containerd $CONTAINERD_VERSION: built in $CACHE"
}

if [[ $cmd == build ]]; then
    build || die "cannot build containerd $CONTAINERD_VERSION"
    echo "$CACHE/containerd"
    exit 0
fi
[[ $cmd == start || $cmd == stop || $cmd == status ]] || usage

mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)
SOCK=$STATE_DIR/containerd.sock
PIDFILE=$STATE_DIR/containerd.pid
# Which containerd start ran ("built VERSION BINARY" or "debian BINARY"):
# stop and status read it back.
FLAVOUR_FILE=$STATE_DIR/flavour

# running: true when the recorded PID is a live containerd.
running() {
    local pid comm
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ $comm == containerd ]]
}

install_containerd() {
    command -v containerd >/dev/null && return 0
    note "installing Debian's containerd"
    DEBIAN_FRONTEND=noninteractive apt-get install -y containerd </dev/null >/dev/null
}

# pick_flavour: sets FLAVOUR (built|debian) and BIN from PEER_CONTAINERD.
pick_flavour() {
    case $PEER_CONTAINERD in
    debian) FLAVOUR=debian ;;
    built)
        build || die "cannot build containerd $CONTAINERD_VERSION (PEER_CONTAINERD=debian for Debian's)"
        FLAVOUR=built
        ;;
    auto)
        if build; then
            FLAVOUR=built
        else
            note "falling back to Debian's containerd 1.6"
            FLAVOUR=debian
        fi
        ;;
    esac
    if [[ $FLAVOUR == built ]]; then
        BIN=$CACHE/containerd
        SANDBOX_IMAGE=${SANDBOX_IMAGE:-registry.k8s.io/pause:3.10}
    else
        install_containerd
        BIN=$(command -v containerd)
        SANDBOX_IMAGE=${SANDBOX_IMAGE:-registry.k8s.io/pause:3.9}
    fi
}

# containerd's CNI dirs: the same network shape as berthd's in bench-berth.sh.
write_cni() {
    berth_bench_cni "$STATE_DIR" "$PEER_CNI_BIN" berthpeer "$PEER_BRIDGE" "$PEER_SUBNET"
}

# hosts.toml per mirrored registry, from REGISTRIES_FILE's
# [[registry]] prefix = "H" ... [[registry.mirror]] location = "M[/path]".
# A mirror with a path is a namespace in the local registry: override_path
# makes containerd use it verbatim (<mirror>/v2/<path>/<repo>/...).
write_mirrors() {
    rm -rf "$STATE_DIR/certs.d"
    mkdir -p "$STATE_DIR/certs.d"
    [[ -n ${REGISTRIES_FILE:-} ]] || return 0
    [[ -f $REGISTRIES_FILE ]] || die "registries file $REGISTRIES_FILE not found"
    awk -v out="$STATE_DIR/certs.d" '
        function val(s) { sub(/^[^=]*=[ \t]*"/, "", s); sub(/".*$/, "", s); return s }
        /^\[\[registry\]\]/ { prefix = ""; loc = ""; inmirror = 0; next }
        /^\[\[registry\.mirror\]\]/ { inmirror = 1; next }
        /^\[/ { inmirror = 0; prefix = ""; next }
        /^[ \t]*prefix[ \t]*=/ && !inmirror { prefix = val($0); next }
        /^[ \t]*location[ \t]*=/ && !inmirror { if (prefix == "") prefix = val($0); next }
        /^[ \t]*location[ \t]*=/ && inmirror && prefix != "" {
            m = val($0); host = m; path = ""
            i = index(m, "/"); if (i > 0) { host = substr(m, 1, i - 1); path = substr(m, i) }
            dir = out "/" prefix; system("mkdir -p \"" dir "\"")
            f = dir "/hosts.toml"
            up = (prefix == "docker.io") ? "registry-1.docker.io" : prefix
            if (!(f in seen)) { printf "server = \"https://%s\"\n", up > f; seen[f] = 1 }
            if (path != "") {
                printf "\n[host.\"http://%s/v2%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n  skip_verify = true\n  override_path = true\n", host, path >> f
            } else {
                printf "\n[host.\"http://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n  skip_verify = true\n", host >> f
            }
            close(f)
        }
    ' "$REGISTRIES_FILE"
}

# Debian's containerd 1.6: config version 2.
write_config_debian() {
    cat >"$STATE_DIR/config.toml" <<EOF
# Generated by scripts/peer-containerd.sh: a private containerd 1.6 for tests.
version = 2
root = "$STATE_DIR/root"
state = "$STATE_DIR/state"
plugin_dir = ""
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "$SOCK"

[ttrpc]
  address = "$SOCK.ttrpc"

[debug]
  address = ""
  level = "$PEER_LOG_LEVEL"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE_DIR/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$SANDBOX_IMAGE"
  # No CAP_SYS_RESOURCE here: never lower a score below our own.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  max_container_log_line_size = 16384

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # No systemd on this machine: cgroupfs only.
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$STATE_DIR/cni-bin"
    conf_dir = "$STATE_DIR/cni-conf"
    max_conf_num = 1

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$STATE_DIR/certs.d"
EOF
}

# shim_socket_dir: where the built containerd's shims listen. containerd
# 2.x refuses a socket_dir longer than 42 bytes (the socket path is the dir,
# "/" and a 64-character hash), so a long STATE_DIR gets a short directory
# of its own under /tmp instead; stop removes it.
shim_socket_dir() {
    local d=$STATE_DIR/state/s
    if ((${#d} > 42)); then
        d=/tmp/berth-ctd-s.$(printf '%s' "$STATE_DIR" | cksum | cut -d' ' -f1)
    fi
    echo "$d"
}

# The built containerd (2.x): config version 4, where the servers' addresses
# are plugin settings and the CRI plugin is split in runtime, images and the
# gRPC service. imports = [] says what already holds: containerd follows only
# the imports of the file it is given (/etc/containerd/conf.d/*.toml is just
# the default's own import list, which `config dump` shows), so nothing under
# /etc/containerd is read.
write_config_built() {
    cat >"$STATE_DIR/config.toml" <<EOF
# Generated by scripts/peer-containerd.sh: a private containerd $CONTAINERD_VERSION for tests.
version = 4
root = "$STATE_DIR/root"
state = "$STATE_DIR/state"
temp = "$STATE_DIR/tmp"
imports = []
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.blockfile",
                    "io.containerd.snapshotter.v1.erofs", "io.containerd.nri.v1.nri",
                    "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[debug]
  level = "$PEER_LOG_LEVEL"

[plugins.'io.containerd.server.v1.grpc']
  address = "$SOCK"

[plugins.'io.containerd.server.v1.ttrpc']
  address = "$SOCK.ttrpc"

[plugins.'io.containerd.internal.v1.opt']
  path = "$STATE_DIR/opt"

[plugins.'io.containerd.image-verifier.v1.bindir']
  bin_dir = "$STATE_DIR/image-verifier"

[plugins.'io.containerd.transfer.v1.local']
  config_path = "$STATE_DIR/certs.d"

[plugins.'io.containerd.shim.v1.manager']
  # Default /run/containerd/s.
  socket_dir = "$(shim_socket_dir)"

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"

  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$SANDBOX_IMAGE"

  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "$STATE_DIR/certs.d"

[plugins.'io.containerd.cri.v1.runtime']
  # No CAP_SYS_RESOURCE here: never lower a score below our own.
  restrict_oom_score_adj = true
  enable_selinux = false
  max_container_log_line_size = 16384
  # The pods' netns under state/netns instead of /var/run/netns.
  netns_mounts_under_state_dir = true
  cdi_spec_dirs = ["$STATE_DIR/cdi"]

  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"

    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      runtime_path = "$CACHE/containerd-shim-runc-v2"

      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        # No systemd on this machine: cgroupfs only.
        SystemdCgroup = false
        BinaryName = "$(command -v runc)"
        # Default /run/containerd/runc.
        Root = "$STATE_DIR/state/runc"

  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["$STATE_DIR/cni-bin"]
    conf_dir = "$STATE_DIR/cni-conf"
    max_conf_num = 1
EOF
}

start() {
    if running; then
        note "already running (pid $(cat "$PIDFILE")), socket $SOCK"
        return 0
    fi
    command -v runc >/dev/null || die "runc not installed"
    local FLAVOUR BIN
    pick_flavour
    mkdir -p "$STATE_DIR/root" "$STATE_DIR/state" "$STATE_DIR/opt"
    if [[ $PEER_RUN_TMPFS == 1 ]] && ! mountpoint -q "$STATE_DIR/state"; then
        # stop unmounts it with everything else under STATE_DIR.
        mount -t tmpfs -o mode=0711 berth-peer-state "$STATE_DIR/state" ||
            die "cannot mount a tmpfs on $STATE_DIR/state (PEER_RUN_TMPFS=0 to skip)"
    fi
    write_cni
    write_mirrors
    if [[ $FLAVOUR == built ]]; then
        mkdir -p "$STATE_DIR/tmp" "$STATE_DIR/cdi" "$STATE_DIR/image-verifier"
        write_config_built
        echo "built $CONTAINERD_VERSION $BIN" >"$FLAVOUR_FILE"
    else
        write_config_debian
        echo "debian $BIN" >"$FLAVOUR_FILE"
    fi
    rm -f "$SOCK" "$SOCK.ttrpc"
    # PATH: the built shim first, for anything that looks it up by name.
    PATH=$(dirname "$BIN"):$PATH setsid "$BIN" --config "$STATE_DIR/config.toml" \
        >>"$STATE_DIR/containerd.log" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    local i
    for ((i = 0; i < 300; i++)); do
        if [[ -S $SOCK ]]; then
            note "started $("$BIN" --version | awk '{ print $1, $3 }') pid $(cat "$PIDFILE"), socket $SOCK"
            return 0
        fi
        # Not running(): until setsid has exec'd, comm is still "setsid".
        kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 20 "$STATE_DIR/containerd.log" >&2 || true
    die "containerd did not create $SOCK"
}

# Shims serving our socket (they outlive containerd by design): found by
# the -address argument on their command line, so another containerd's
# shims are never touched.
our_shims() {
    local d pid
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        [[ $(cat "$d/comm" 2>/dev/null) == containerd-shim* ]] || continue
        tr '\0' ' ' 2>/dev/null <"$d/cmdline" | grep -qF -- "-address $SOCK " && echo "$pid"
    done
    return 0
}

stop() {
    if running && [[ -S $SOCK ]] && command -v crictl >/dev/null; then
        # Let containerd tear its pods down (CNI DEL, netns, mounts) first.
        crictl --runtime-endpoint "unix://$SOCK" --timeout 60s rmp -fa >/dev/null 2>&1 || true
    fi
    if running; then
        local pid i
        pid=$(cat "$PIDFILE")
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        note "stopped pid $pid"
    fi
    rm -f "$PIDFILE"
    local s
    for s in $(our_shims); do
        kill -KILL "$s" 2>/dev/null || true
    done
    # Container processes whose shim died are orphans in our cgroups: the
    # shims above were their only managers, so kill runc's view of them.
    # The built containerd has a runc root of its own; 1.6 shares the
    # default one, where our containers are those with our state dir.
    local id root
    if [[ -d $STATE_DIR/state/runc/k8s.io ]]; then
        root=$STATE_DIR/state/runc/k8s.io
        for id in $(runc --root "$root" list -q 2>/dev/null); do
            runc --root "$root" delete -f "$id" >/dev/null 2>&1 || true
        done
    fi
    if [[ -d /run/containerd/runc/k8s.io ]]; then
        root=/run/containerd/runc/k8s.io
        for id in $(runc --root "$root" list -q 2>/dev/null); do
            if grep -qs "$STATE_DIR" "$root/$id/state.json"; then
                runc --root "$root" delete -f "$id" >/dev/null 2>&1 || true
            fi
        done
    fi
    # Mounts under our state dir (with the built containerd the pods' netns
    # too; the tmpfs last), deepest first.
    awk -v p="$STATE_DIR/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo |
        sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    # 1.6's pod netns were released by the rmp above (containerd cannot tell
    # us later which /var/run/netns/cni-* were its own); drop host-local's
    # leases and our bridge.
    rm -rf "$STATE_DIR/cni-ipam"
    if ip link show "$PEER_BRIDGE" >/dev/null 2>&1; then
        ip link del "$PEER_BRIDGE" 2>/dev/null || true
    fi
    rm -f "$SOCK" "$SOCK.ttrpc"
    local sd
    sd=$(shim_socket_dir)
    [[ $sd == "$STATE_DIR"/* ]] || rm -rf "$sd"
}

status() {
    if running; then
        note "running $(cut -d' ' -f1,2 "$FLAVOUR_FILE" 2>/dev/null) pid $(cat "$PIDFILE"), socket $SOCK"
        return 0
    fi
    note "not running (state $STATE_DIR)"
    return 3
}

case $cmd in
start) start ;;
stop) stop ;;
status) status ;;
esac
