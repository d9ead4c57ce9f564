#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Runs Debian's containerd (1.6) as a CRI peer for berth's perf tools and
# tests: its own root, state, socket (STATE_DIR/containerd.sock), CNI conf
# and bin dirs, bridge (berthpeer0) and subnet (10.214.0.0/24, local traffic
# only), runc v2 shims on cgroupfs, overlayfs, and registry mirrors taken
# from a containers-registries.conf (REGISTRIES_FILE, e.g. the one
# tests/fixtures/images/build.sh writes). It never touches /etc/containerd,
# /run/containerd's default socket or anything it did not start: stop kills
# the recorded containerd PID and the shims serving this socket, by PID.
#
# Usage: peer-containerd.sh start|stop|status [STATE_DIR]
#   STATE_DIR        default /tmp/berth-peer-containerd
# Environment:
#   REGISTRIES_FILE  containers-registries.conf whose [[registry.mirror]]s
#                    become containerd hosts.toml mirrors (default: the
#                    fixture's /tmp/berth-registry/registries.conf if present)
#   SANDBOX_IMAGE    pause image (default registry.k8s.io/pause:3.9)
#   PEER_BRIDGE      bridge name (default berthpeer0)
#   PEER_SUBNET      pod subnet (default 10.214.0.0/24)
#   PEER_CNI_BIN     where the real plugins are (default /usr/lib/cni)
set -euo pipefail

cmd=${1:-}
STATE_DIR=${2:-/tmp/berth-peer-containerd}
SANDBOX_IMAGE=${SANDBOX_IMAGE:-registry.k8s.io/pause:3.9}
PEER_BRIDGE=${PEER_BRIDGE:-berthpeer0}
PEER_SUBNET=${PEER_SUBNET:-10.214.0.0/24}
PEER_CNI_BIN=${PEER_CNI_BIN:-/usr/lib/cni}
if [[ -z ${REGISTRIES_FILE:-} && -f /tmp/berth-registry/registries.conf ]]; then
    REGISTRIES_FILE=/tmp/berth-registry/registries.conf
fi

note() { printf 'peer-containerd: %s\n' "$*"; }
die() {
    printf 'peer-containerd: error: %s\n' "$*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start|stop|status [STATE_DIR]" >&2
    exit 2
}

mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)
SOCK=$STATE_DIR/containerd.sock
PIDFILE=$STATE_DIR/containerd.pid

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

# The plugin directory containerd searches: the real plugins linked in, so a
# benchmark may add its own plugin (berth-bench slow-cni) without touching
# /usr/lib/cni.
write_cni() {
    mkdir -p "$STATE_DIR/cni-bin" "$STATE_DIR/cni-conf" "$STATE_DIR/cni-ipam"
    local p
    for p in "$PEER_CNI_BIN"/*; do
        ln -sfn "$p" "$STATE_DIR/cni-bin/$(basename "$p")"
    done
    cat >"$STATE_DIR/cni-conf/10-berthpeer.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "berthpeer",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$PEER_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$PEER_SUBNET" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$STATE_DIR/cni-ipam"
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
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

write_config() {
    cat >"$STATE_DIR/config.toml" <<EOF
# Generated by scripts/peer-containerd.sh: a private containerd for tests.
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
  level = "info"

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

start() {
    if running; then
        note "already running (pid $(cat "$PIDFILE")), socket $SOCK"
        return 0
    fi
    install_containerd
    command -v runc >/dev/null || die "runc not installed"
    mkdir -p "$STATE_DIR/root" "$STATE_DIR/state" "$STATE_DIR/opt"
    write_cni
    write_mirrors
    write_config
    rm -f "$SOCK" "$SOCK.ttrpc"
    setsid containerd --config "$STATE_DIR/config.toml" \
        >>"$STATE_DIR/containerd.log" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    local i
    for ((i = 0; i < 300; i++)); do
        if [[ -S $SOCK ]]; then
            note "started pid $(cat "$PIDFILE"), socket $SOCK"
            return 0
        fi
        running || break
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
        tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -qF -- "-address $SOCK " && echo "$pid"
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
    if [[ -d /run/containerd/runc/k8s.io ]]; then
        local id
        for id in $(runc --root /run/containerd/runc/k8s.io list -q 2>/dev/null); do
            if grep -qs "$STATE_DIR" "/run/containerd/runc/k8s.io/$id/state.json"; then
                runc --root /run/containerd/runc/k8s.io delete -f "$id" >/dev/null 2>&1 || true
            fi
        done
    fi
    # Mounts under our state dir, deepest first.
    awk -v p="$STATE_DIR/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo |
        sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    # The pods' netns were released by the rmp above (containerd cannot tell
    # us later which /var/run/netns/cni-* were its own); drop host-local's
    # leases and our bridge.
    rm -rf "$STATE_DIR/cni-ipam"
    if ip link show "$PEER_BRIDGE" >/dev/null 2>&1; then
        ip link del "$PEER_BRIDGE" 2>/dev/null || true
    fi
    rm -f "$SOCK" "$SOCK.ttrpc"
}

status() {
    if running; then
        note "running pid $(cat "$PIDFILE"), socket $SOCK"
        return 0
    fi
    note "not running (state $STATE_DIR)"
    return 3
}

case $cmd in
start) start ;;
stop) stop ;;
status) status ;;
*) usage ;;
esac
