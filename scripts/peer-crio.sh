#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Runs CRI-O as a CRI peer for berth's perf tools (perf/berth-bench), built
# from the Go module proxy: github.com/cri-o/cri-o@CRIO_VERSION into a cache
# outside the repository, once (crio and its C helper pinns). The daemon gets
# its own root, runroot, socket (STATE_DIR/crio.sock), version and shutdown
# files, exits, attach and namespace dirs, container logs, CNI conf and bin
# dirs (bridge berthcrio0, host-local 10.215.0.0/24, local traffic only),
# crio.conf, storage.conf (overlay), registries.conf (the mirrors of a
# containers-registries.conf, REGISTRIES_FILE), policy.json (accept
# anything) and containers.conf, all under STATE_DIR and passed by flags and
# environment; runc on cgroupfs through Debian's conmon, infra containers
# dropped. It never touches /etc/crio, /etc/containers or anything it did
# not start: stop removes the pods it ran through its own socket, then
# signals the recorded crio PID and the conmons under STATE_DIR, by PID.
#
# Usage: peer-crio.sh start|stop|status|build [STATE_DIR]
#   STATE_DIR        default /tmp/berth-peer-crio
#   build            only build (or find) crio and pinns; prints crio's path
# Environment:
#   CRIO_VERSION     module version (default v1.36.3, the newest the proxy
#                    serves here; listing is refused, exact versions work)
#   BERTH_PEER_CACHE build cache (default /var/cache/berth-peers): the
#                    binaries go to BERTH_PEER_CACHE/crio-CRIO_VERSION/
#   REGISTRIES_FILE  containers-registries.conf to copy (default the
#                    fixture's /tmp/berth-registry/registries.conf)
#   PAUSE_IMAGE      pause image (default registry.k8s.io/pause:3.10, from
#                    the fixture's mirror; used only for pods that share a
#                    PID namespace, since infra containers are dropped)
#   PEER_BRIDGE      bridge name (default berthcrio0)
#   PEER_SUBNET      pod subnet (default 10.215.0.0/24)
#   PEER_CNI_BIN     where the real plugins are (default /usr/lib/cni)
#   PEER_LOG_LEVEL   crio's log level (default warn: a benchmark should not
#                    measure its own logging; scripts/bench-berth.sh does the same)
#   PEER_RUN_TMPFS   1 (default): STATE_DIR/run (runroot, runc root, exits,
#                    attach sockets, pinned namespaces) is a tmpfs, as /run
#                    is on a node and as bench-berth.sh gives berthd; 0: disk
#   PEER_CRIO_OOM_CLAMP 1: runc through a wrapper (STATE_DIR/runc-oomclamp)
#                    that raises a negative process.oomScoreAdj in the
#                    bundle's config.json to its own oom_score_adj before
#                    `runc create`, as containerd's restrict_oom_score_adj
#                    does. Needed here for pause containers (CRI-O gives
#                    them -998; this VM has no CAP_SYS_RESOURCE, so runc's
#                    write fails) and Guaranteed pods (-997). Default 0: a
#                    shell per runc call would be measured, and the pods of
#                    berth-bench (a PID namespace per container, no pause
#                    container with drop_infra_ctr, BestEffort) run without it
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

cmd=${1:-}
STATE_DIR=${2:-/tmp/berth-peer-crio}
CRIO_VERSION=${CRIO_VERSION:-v1.36.3}
BERTH_PEER_CACHE=${BERTH_PEER_CACHE:-/var/cache/berth-peers}
PAUSE_IMAGE=${PAUSE_IMAGE:-registry.k8s.io/pause:3.10}
PEER_BRIDGE=${PEER_BRIDGE:-berthcrio0}
PEER_SUBNET=${PEER_SUBNET:-10.215.0.0/24}
PEER_CNI_BIN=${PEER_CNI_BIN:-/usr/lib/cni}
PEER_LOG_LEVEL=${PEER_LOG_LEVEL:-warn}
PEER_RUN_TMPFS=${PEER_RUN_TMPFS:-1}
PEER_CRIO_OOM_CLAMP=${PEER_CRIO_OOM_CLAMP:-0}
REGISTRIES_FILE=${REGISTRIES_FILE:-/tmp/berth-registry/registries.conf}
CACHE=$BERTH_PEER_CACHE/crio-$CRIO_VERSION
CRIO=$CACHE/crio
PINNS=$CACHE/pinns

note() { printf 'peer-crio: %s\n' "$*" >&2; }
die() {
    printf 'peer-crio: error: %s\n' "$*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start|stop|status|build [STATE_DIR]" >&2
    exit 2
}

[[ -n $cmd ]] || usage
[[ $(id -u) == 0 ]] || die "run as root"

# need_packages PKG...: installs the Debian packages that are missing.
need_packages() {
    local p missing=()
    for p in "$@"; do
        dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    note "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" </dev/null >/dev/null
}

# build: crio and pinns into $CACHE, once. The module directory is copied out
# of the (read-only) module cache: pinns builds in place and go build wants
# a writable go.sum. 2.5 to 5 minutes on 2 cores.
build() {
    local v=${CRIO_VERSION#v}
    if [[ -x $CRIO && -x $PINNS ]] && "$CRIO" --version 2>/dev/null | grep -qx "crio version $v"; then
        return 0
    fi
    berth_find_go || die "Go not found in PATH or /usr/local/go/bin"
    need_packages gcc make pkg-config libgpgme-dev libseccomp-dev libbtrfs-dev
    local scratch mod
    scratch=$(mktemp -d /tmp/berth-peer-crio-build.XXXXXX)
    # shellcheck disable=SC2064 # expand now: $scratch is local
    trap "chmod -R u+w '$scratch' 2>/dev/null; rm -rf '$scratch'" EXIT
    note "crio $CRIO_VERSION: downloading github.com/cri-o/cri-o"
    mod=$(cd "$scratch" && go mod download -json "github.com/cri-o/cri-o@$CRIO_VERSION" |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [[ -n $mod && -d $mod ]] || die "cannot download github.com/cri-o/cri-o@$CRIO_VERSION"
    cp -r "$mod" "$scratch/cri-o"
    chmod -R u+w "$scratch/cri-o"
    note "crio $CRIO_VERSION: building crio (minutes) and pinns"
    mkdir -p "$CACHE"
    (
        cd "$scratch/cri-o"
        CGO_ENABLED=1 GOFLAGS=-mod=mod go build -trimpath \
            -tags "containers_image_ostree_stub seccomp" -o "$CRIO.new" ./cmd/crio
        make -s -C pinns >/dev/null
    )
    install -m 0755 "$scratch/cri-o/bin/pinns" "$PINNS"
    mv -f "$CRIO.new" "$CRIO"
    rm -rf "$scratch"
    trap - EXIT
    "$CRIO" --version 2>/dev/null | grep -qx "crio version $v" ||
        die "$CRIO does not report version $v"
    note "crio $CRIO_VERSION: built in $CACHE"
}

[[ $cmd == build ]] && {
    build
    echo "$CRIO"
    exit 0
}
[[ $cmd == start || $cmd == stop || $cmd == status ]] || usage

mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)
SOCK=$STATE_DIR/crio.sock
PIDFILE=$STATE_DIR/crio.pid
LOG=$STATE_DIR/crio.log
RUN=$STATE_DIR/run
ENDPOINT=unix://$SOCK

# running: true when the recorded PID is a live crio.
running() {
    local pid comm
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ $comm == crio ]]
}

crictl_here() {
    crictl --config /dev/null --runtime-endpoint "$ENDPOINT" --image-endpoint "$ENDPOINT" "$@"
}

# CRI-O's CNI dirs: the same network shape as berthd's and containerd's.
write_cni() {
    berth_bench_cni "$STATE_DIR" "$PEER_CNI_BIN" berthcrio "$PEER_BRIDGE" "$PEER_SUBNET"
}

# The wrapper PEER_CRIO_OOM_CLAMP=1 puts between conmon/CRI-O and runc.
write_oom_clamp() {
    local runc=$1
    command -v jq >/dev/null || need_packages jq
    sed "s#@RUNC@#$runc#" >"$STATE_DIR/runc-oomclamp" <<'EOF'
#!/bin/bash
# Generated by scripts/peer-crio.sh (PEER_CRIO_OOM_CLAMP=1): before
# `runc create`, raise process.oomScoreAdj in the bundle's config.json to
# this process's own oom_score_adj when it is lower (without
# CAP_SYS_RESOURCE the kernel refuses to lower it), then exec runc.
set -euo pipefail
create=0 bundle='' prev=''
for a in "$@"; do
    case $prev in --bundle | -b) bundle=$a ;; esac
    case $a in create) create=1 ;; --bundle=*) bundle=${a#--bundle=} ;; esac
    prev=$a
done
if ((create)) && [[ -n $bundle && -f $bundle/config.json ]]; then
    own=$(cat /proc/self/oom_score_adj)
    if jq -e --argjson own "$own" '(.process.oomScoreAdj // $own) < $own' "$bundle/config.json" >/dev/null; then
        jq -c --argjson own "$own" '.process.oomScoreAdj = $own' "$bundle/config.json" >"$bundle/config.json.clamp"
        mv -f "$bundle/config.json.clamp" "$bundle/config.json"
    fi
fi
exec @RUNC@ "$@"
EOF
    chmod 0755 "$STATE_DIR/runc-oomclamp"
}

write_config() {
    [[ -f $REGISTRIES_FILE ]] || die "registries file $REGISTRIES_FILE not found (run tests/fixtures/images/build.sh)"
    local runc
    runc=$(command -v runc) || die "runc not installed"
    [[ -x /usr/bin/conmon ]] || die "/usr/bin/conmon not installed (apt-get install conmon)"
    if [[ $PEER_CRIO_OOM_CLAMP == 1 ]]; then
        write_oom_clamp "$runc"
        runc=$STATE_DIR/runc-oomclamp
    fi
    mkdir -p "$STATE_DIR/root" "$STATE_DIR/crio.conf.d" "$STATE_DIR/registries.conf.d" \
        "$STATE_DIR/policies" "$STATE_DIR/hooks.d" "$STATE_DIR/cdi" "$STATE_DIR/keys" \
        "$STATE_DIR/podlogs" "$STATE_DIR/lib" "$STATE_DIR/auth"
    # A copy, so a later rebuild of the fixture does not change a running peer.
    cp "$REGISTRIES_FILE" "$STATE_DIR/registries.conf"
    cat >"$STATE_DIR/policy.json" <<'EOF'
{ "default": [{ "type": "insecureAcceptAnything" }] }
EOF
    cat >"$STATE_DIR/storage.conf" <<EOF
# Generated by scripts/peer-crio.sh (CONTAINERS_STORAGE_CONF).
[storage]
driver = "overlay"
graphroot = "$STATE_DIR/root"
runroot = "$RUN/storage"

[storage.options.overlay]
mountopt = "nodev"
EOF
    # containers.conf (CONTAINERS_CONF): only so that none under /etc or
    # /usr/share is read; CRI-O takes its settings from crio.conf.
    printf '# Generated by scripts/peer-crio.sh: empty on purpose.\n' >"$STATE_DIR/containers.conf"
    cat >"$STATE_DIR/crio.conf" <<EOF
# Generated by scripts/peer-crio.sh: a private CRI-O for benchmarks.
[crio]
root = "$STATE_DIR/root"
runroot = "$RUN/storage"
storage_driver = "overlay"
log_dir = "$STATE_DIR/podlogs"
version_file = "$RUN/version"
version_file_persist = "$STATE_DIR/lib/version"
clean_shutdown_file = "$STATE_DIR/lib/clean.shutdown"

[crio.api]
listen = "$SOCK"
stream_address = "127.0.0.1"
stream_port = "0"

[crio.runtime]
log_level = "$PEER_LOG_LEVEL"
cgroup_manager = "cgroupfs"
default_runtime = "runc"
# Kubelet-shaped pods (a PID namespace per container) get no pause
# container; only a pod that shares one PID namespace does.
drop_infra_ctr = true
decryption_keys_path = "$STATE_DIR/keys"
hooks_dir = ["$STATE_DIR/hooks.d"]
cdi_spec_dirs = ["$STATE_DIR/cdi"]
container_exits_dir = "$RUN/exits"
container_attach_socket_dir = "$RUN/attach"
namespaces_dir = "$RUN/ns"
pinns_path = "$PINNS"
irqbalance_config_file = ""
irqbalance_config_restore_file = ""
selinux = false

[crio.runtime.runtimes.runc]
runtime_path = "$runc"
runtime_type = "oci"
runtime_root = "$RUN/runc"
monitor_path = "/usr/bin/conmon"
monitor_cgroup = "pod"

[crio.image]
pause_image = "$PAUSE_IMAGE"
signature_policy = "$STATE_DIR/policy.json"
signature_policy_dir = "$STATE_DIR/policies"
# Default /etc/crio/auth, which CRI-O creates at start.
namespaced_auth_dir = "$STATE_DIR/auth"

[crio.network]
network_dir = "$STATE_DIR/cni-conf"
plugin_dirs = ["$STATE_DIR/cni-bin"]

[crio.metrics]
enable_metrics = false

[crio.nri]
enable_nri = false
EOF
}

start() {
    if running; then
        note "already running (pid $(cat "$PIDFILE")), socket $SOCK"
        return 0
    fi
    command -v crictl >/dev/null || die "crictl not installed (scripts/setup.sh installs it)"
    build
    write_cni
    write_config
    mkdir -p "$RUN"
    if [[ $PEER_RUN_TMPFS == 1 ]] && ! mountpoint -q "$RUN"; then
        # stop unmounts it with everything else under STATE_DIR.
        mount -t tmpfs -o mode=0755 berth-peer-run "$RUN" ||
            die "cannot mount a tmpfs on $RUN (PEER_RUN_TMPFS=0 to skip)"
    fi
    rm -f "$SOCK"
    # setsid: the daemon outlives this shell. Every path CRI-O would take
    # from /etc/crio or /etc/containers is given here or in crio.conf.
    CONTAINERS_STORAGE_CONF=$STATE_DIR/storage.conf \
        CONTAINERS_REGISTRIES_CONF=$STATE_DIR/registries.conf \
        CONTAINERS_CONF=$STATE_DIR/containers.conf \
        setsid "$CRIO" --config "$STATE_DIR/crio.conf" --config-dir "$STATE_DIR/crio.conf.d" \
        --registries-conf "$STATE_DIR/registries.conf" \
        --registries-conf-dir "$STATE_DIR/registries.conf.d" \
        </dev/null >>"$LOG" 2>&1 &
    echo $! >"$PIDFILE"
    local i
    for ((i = 0; i < 600; i++)); do
        if [[ -S $SOCK ]] && crictl_here --timeout 2s version >/dev/null 2>&1; then
            note "started crio $CRIO_VERSION pid $(cat "$PIDFILE"), socket $SOCK"
            return 0
        fi
        # Not running(): until setsid has exec'd, comm is still "setsid".
        kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 20 "$LOG" >&2 || true
    die "crio did not answer on $SOCK; see $LOG"
}

# our_conmons: conmons of this CRI-O (they outlive crio by design), told
# from others by our state dir on their command line (bundle, exit dir).
our_conmons() {
    local d
    for d in /proc/[0-9]*; do
        [[ $(cat "$d/comm" 2>/dev/null) == conmon ]] || continue
        tr '\0' ' ' 2>/dev/null <"$d/cmdline" | grep -qF -- "$STATE_DIR/" && echo "${d#/proc/}"
    done
    return 0
}

stop() {
    if running && [[ -S $SOCK ]]; then
        # Let CRI-O tear its pods down (containers, CNI DEL, namespaces, mounts).
        crictl_here --timeout 120s rmp -fa >/dev/null 2>&1 || true
    fi
    if running; then
        local pid
        pid=$(cat "$PIDFILE")
        berth_stop_pid "$pid" 20 || die "crio (pid $pid) did not stop"
        note "stopped crio pid $pid"
    fi
    rm -f "$PIDFILE"
    local p id
    for p in $(our_conmons); do
        kill -KILL "$p" 2>/dev/null || true
    done
    # Containers left behind (crio killed mid-teardown): the runc root is ours.
    if [[ -d $RUN/runc ]]; then
        for id in $(runc --root "$RUN/runc" list -q 2>/dev/null); do
            runc --root "$RUN/runc" delete -f "$id" >/dev/null 2>&1 || true
        done
    fi
    # Mounts under our state dir (pinned namespaces, overlays, the tmpfs),
    # deepest first.
    awk -v p="$STATE_DIR/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo |
        sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$STATE_DIR/cni-ipam"
    if ip link show "$PEER_BRIDGE" >/dev/null 2>&1; then
        ip link del "$PEER_BRIDGE" 2>/dev/null || true
    fi
    rm -f "$SOCK"
}

status() {
    if running; then
        note "running crio $CRIO_VERSION pid $(cat "$PIDFILE"), socket $SOCK"
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
