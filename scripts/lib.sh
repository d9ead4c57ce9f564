# SPDX-License-Identifier: Apache-2.0
# Shell helpers shared by scripts/* (sourced, never run). They only print,
# locate tools and look at processes by PID; they never kill anything that
# is not a berthd and never touch files outside the paths they are given.

BERTH_SRC=${BERTH_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

# The tools setup.sh pins live in /usr/local/bin and must win over any other
# crictl on PATH (e.g. an unpinned one in ~/go/bin). Go in /usr/local/go/bin
# may be missing from a non-login root shell's PATH (CI): see berth_find_go.
PATH=/usr/local/bin:$PATH
export PATH
# Go needs HOME for its caches; a CI runner may start us without one.
if [[ -z ${HOME:-} ]]; then
    HOME=$(getent passwd "$(id -u)" | cut -d: -f6)
    export HOME=${HOME:-/root}
fi

berth_note() {
    printf '%s: %s\n' "$(basename "$0")" "$*"
}

berth_die() {
    printf '%s: error: %s\n' "$(basename "$0")" "$*" >&2
    exit 1
}

# berth_find_go: makes `go` callable (PATH, then /usr/local/go/bin).
berth_find_go() {
    command -v go >/dev/null 2>&1 && return 0
    if [[ -x /usr/local/go/bin/go ]]; then
        PATH=$PATH:/usr/local/go/bin
        export PATH
        return 0
    fi
    return 1
}

# berth_pid_is_berthd PID [BINARY]: true when PID is a live process named
# berthd, or named as BINARY is (a copy such as berthd-old: the kernel keeps
# the first 15 bytes of its basename). comm survives a rebuild that replaced
# the binary, /proc/PID/exe may not.
berth_pid_is_berthd() {
    local pid=$1 want comm
    want=$(basename "${2:-berthd}")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ $comm == "${want:0:15}" ]]
}

# berth_stop_pid PID [SECONDS]: SIGTERM, wait, then SIGKILL. Only for a PID
# the caller started or checked with berth_pid_is_berthd. Returns 0 when the
# process is gone.
berth_stop_pid() {
    local pid=$1 secs=${2:-10} i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
    ! kill -0 "$pid" 2>/dev/null
}

# berth_bench_cni DIR PLUGINS NAME BRIDGE SUBNET: the CNI setup both benchmark
# runtimes get (scripts/bench-berth.sh, scripts/peer-containerd.sh), so that
# both pay the same CNI cost: DIR/cni-bin links the real plugins in PLUGINS
# (a benchmark may add its own there, berth-bench slow-cni does, without
# touching the system's directory), and DIR/cni-conf/10-NAME.conflist is a
# bridge (BRIDGE, host-local addresses from SUBNET, kept in DIR/cni-ipam, no
# masquerade: local traffic only) with portmap.
berth_bench_cni() {
    local dir=$1 plugins=$2 name=$3 bridge=$4 subnet=$5 p
    mkdir -p "$dir/cni-bin" "$dir/cni-conf" "$dir/cni-ipam"
    for p in "$plugins"/*; do
        ln -sfn "$p" "$dir/cni-bin/$(basename "$p")"
    done
    cat >"$dir/cni-conf/10-$name.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$name",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$subnet" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$dir/cni-ipam"
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
}
