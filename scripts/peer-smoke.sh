#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Smoke test of the two peer scripts, run by hand (not in CI or test-all:
# the first CRI-O build takes minutes). Starts scripts/peer-crio.sh and
# scripts/peer-containerd.sh in fresh state dirs with bridges and subnets of
# their own, runs `berth-bench density -n N` against each, and checks that
# every pod started, that berth-bench counted the runtime's processes (the
# daemon plus one monitor per pod: conmon, or shim and pause), and that stop
# leaves no mount, process, bridge or socket behind. Exit 0 when all hold.
#
# Usage: peer-smoke.sh [BERTH_BENCH]   (default build/perf/berth-bench)
# Environment: N (pods, default 3); PEER_CONTAINERD, CRIO_VERSION,
#   CONTAINERD_VERSION, REGISTRIES_FILE as for the peer scripts.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

BENCH=${1:-$BERTH_SRC/build/perf/berth-bench}
N=${N:-3}
[[ -x $BENCH ]] || berth_die "$BENCH not built (ninja -C build perf/berth-bench)"
[[ $(id -u) == 0 ]] || berth_die "run as root"
command -v jq >/dev/null || berth_die "jq not installed"

# Short: containerd's shim socket dir (STATE_DIR/state/s) must fit 42 bytes.
work=$(mktemp -d /tmp/bps.XXXXXX)
CRIO_DIR=$work/crio
CTD_DIR=$work/containerd
fails=0

stop_all() {
    PEER_BRIDGE=berthsmk0 "$here/peer-crio.sh" stop "$CRIO_DIR" >/dev/null 2>&1 || true
    PEER_BRIDGE=berthsmk1 "$here/peer-containerd.sh" stop "$CTD_DIR" >/dev/null 2>&1 || true
}
trap 'stop_all; rm -rf "$work"' EXIT

check() {
    local what=$1
    shift
    if "$@"; then
        printf 'ok - %s\n' "$what"
    else
        printf 'not ok - %s\n' "$what"
        fails=$((fails + 1))
    fi
}

# run_one LABEL SOCK MIN_PROCS: density against one peer, then the checks
# on its JSON.
run_one() {
    local label=$1 sock=$2 min=$3 json=$work/$1.json
    check "$label: density -n $N" "$BENCH" density --socket "$sock" -n "$N" -P 2 --json "$json"
    [[ -f $json ]] || return 0
    # shellcheck disable=SC2016 # jq's own variables
    check "$label: $N pods started, no errors" \
        jq -e --argjson n "$N" '.runs[0].result | .started == $n and .errors == 0' "$json"
    # shellcheck disable=SC2016 # jq's own variables
    check "$label: at least $min runtime processes counted with $N pods" \
        jq -e --argjson m "$min" '.runs[0].result.runtime.loaded.nprocs >= $m' "$json"
}

# left_behind DIR BRIDGE: true when nothing of a stopped peer remains.
left_behind() {
    local dir=$1 bridge=$2 d
    if grep -qF " $dir/" /proc/self/mountinfo; then
        echo "mounts under $dir remain" >&2
        return 1
    fi
    for d in /proc/[0-9]*; do
        if tr '\0' ' ' 2>/dev/null <"$d/cmdline" | grep -qF -- "$dir/"; then
            echo "process ${d#/proc/} still runs from $dir" >&2
            return 1
        fi
    done
    if ip link show "$bridge" >/dev/null 2>&1; then
        echo "bridge $bridge remains" >&2
        return 1
    fi
    ! compgen -G "$dir/*.sock" >/dev/null
}

check "crio: start" env PEER_BRIDGE=berthsmk0 PEER_SUBNET=10.215.9.0/24 \
    "$here/peer-crio.sh" start "$CRIO_DIR"
check "containerd: start" env PEER_BRIDGE=berthsmk1 PEER_SUBNET=10.214.9.0/24 \
    "$here/peer-containerd.sh" start "$CTD_DIR"
# crio + a conmon per pod (no pause: drop_infra_ctr); containerd + a shim
# and a pause per pod (Debian's 1.6 as well).
run_one crio "$CRIO_DIR/crio.sock" $((N + 1))
run_one containerd "$CTD_DIR/containerd.sock" $((2 * N + 1))
stop_all
check "crio: nothing left after stop" left_behind "$CRIO_DIR" berthsmk0
check "containerd: nothing left after stop" left_behind "$CTD_DIR" berthsmk1

((fails == 0)) || berth_die "$fails check(s) failed"
berth_note "all checks passed"
