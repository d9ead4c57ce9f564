#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepares a node with a hybrid cgroup layout (v1 hierarchies plus a cgroup2
# mount that still holds controllers, e.g. Debian 12 without systemd) so that
# crun 1.8 accepts it: every controller left in cgroup2 gets its own v1
# hierarchy under /sys/fs/cgroup, which empties cgroup2 ("cgroups in hybrid
# mode not supported, drop all controllers from cgroupv2" goes away). runc
# works either way. Idempotent; `undo` removes only what this script mounted
# (recorded in a state file) and leaves the node as it was found.
#
#   prepare-node-crun.sh [apply]   mount the missing v1 hierarchies
#   prepare-node-crun.sh undo      unmount what apply mounted (waits up to
#                                  BERTH_PREPARE_UNDO_WAIT s, default 30, for
#                                  containers' cgroups under it to go)
#   prepare-node-crun.sh status    print the layout; exit 0 when crun can run
#
# berthd probes the layout at start: restart it after apply or undo.
set -euo pipefail

CGROOT=${BERTH_CGROUP_ROOT:-/sys/fs/cgroup}
STATE=${BERTH_PREPARE_STATE:-/run/berth/prepare-node-crun.state}
# seconds undo waits for cgroups still in use under a hierarchy it mounted
UNDO_WAIT=${BERTH_PREPARE_UNDO_WAIT:-30}

# The cgroup2 mount point, "" when none.
unified_path() {
    awk '$0 ~ / - cgroup2 / { print $5; exit }' /proc/self/mountinfo
}

v2_controllers() {
    local u
    u=$(unified_path)
    [[ -n $u && -r $u/cgroup.controllers ]] && cat "$u/cgroup.controllers" || true
}

# mounted_v1 CONTROLLER: true when a v1 hierarchy carries it
mounted_v1() {
    awk -v c="$1" '$0 ~ / - cgroup / {
        n = split($NF, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) found = 1 }
        END { exit !found }' /proc/self/mountinfo
}

has_v1() {
    grep -q ' - cgroup ' /proc/self/mountinfo
}

status() {
    local u c
    u=$(unified_path)
    c=$(v2_controllers)
    if [[ -z $u ]]; then
        echo "cgroup2: not mounted; crun can run"
        return 0
    fi
    if ! has_v1; then
        echo "cgroup2 at $u (unified); crun can run"
        return 0
    fi
    if [[ -z $c ]]; then
        echo "hybrid: cgroup2 at $u holds no controller; crun can run"
        return 0
    fi
    echo "hybrid: cgroup2 at $u holds controllers ($c); crun 1.8 refuses this layout"
    echo "run: $0 apply"
    return 1
}

apply() {
    if [[ $(id -u) != 0 ]]; then
        echo "prepare-node-crun: must run as root" >&2
        return 1
    fi
    local c dir done_any=0
    mkdir -p "$(dirname "$STATE")"
    touch "$STATE"
    has_v1 || {
        echo "prepare-node-crun: no v1 hierarchy mounted: not a hybrid layout, nothing to do"
        return 0
    }
    for c in $(v2_controllers); do
        if mounted_v1 "$c"; then
            continue
        fi
        dir=$CGROOT/$c
        if mountpoint -q "$dir"; then
            echo "prepare-node-crun: $dir is already a mount point without $c; leaving it" >&2
            return 1
        fi
        local made_dir=0
        if [[ ! -d $dir ]]; then
            mkdir "$dir"
            made_dir=1
        fi
        mount -t cgroup -o "$c" cgroup "$dir"
        echo "$c $dir $made_dir" >>"$STATE"
        echo "prepare-node-crun: mounted the v1 $c hierarchy at $dir"
        done_any=1
    done
    [[ $done_any == 1 ]] || echo "prepare-node-crun: nothing to do"
    status
}

# rmdir_children DIR: removes the (empty) child cgroups below DIR, deepest
# first; a cgroup with tasks stays and makes undo fail.
rmdir_children() {
    find "$1" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null || true
}

# wait_back_in_v2 CONTROLLER SECONDS: the kernel destroys an unmounted v1
# hierarchy asynchronously; the controller returns to cgroup2 only then.
wait_back_in_v2() {
    local i
    [[ -n $(unified_path) ]] || return 0
    for ((i = 0; i < $2 * 10; i++)); do
        if [[ " $(v2_controllers) " == *" $1 "* ]]; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# drain DIR: removes the child cgroups below DIR, waiting up to UNDO_WAIT s
# for those of containers being removed; fails when some stay in use.
drain() {
    local waited=0
    while rmdir_children "$1" && find "$1" -mindepth 1 -type d | grep -q . &&
        ((waited < UNDO_WAIT * 10)); do
        sleep 0.1
        waited=$((waited + 1))
    done
    if find "$1" -mindepth 1 -type d | grep -q .; then
        echo "prepare-node-crun: $1 still has cgroups in use:" \
            "$(find "$1" -mindepth 1 -type d | head -3 | tr '\n' ' ')" >&2
        return 1
    fi
}

# unmount_hierarchy CONTROLLER DIR: a v1 hierarchy unmounted while a child
# cgroup still existed (one created between the drain and the umount, or a
# dying one) outlives its mount and keeps the controller from cgroup2; it is
# then mounted again (the kernel hands back the same hierarchy), drained and
# unmounted until the controller is back.
unmount_hierarchy() {
    local c=$1 dir=$2 attempt
    for ((attempt = 0; attempt < 5; attempt++)); do
        if ! mountpoint -q "$dir"; then
            mkdir -p "$dir"
            mount -t cgroup -o "$c" cgroup "$dir"
        fi
        drain "$dir" || return 1
        umount "$dir"
        wait_back_in_v2 "$c" 3 && return 0
    done
    echo "prepare-node-crun: $c did not return to cgroup2" >&2
    return 1
}

undo() {
    if [[ ! -s $STATE ]]; then
        echo "prepare-node-crun: nothing to undo ($STATE is empty or missing)"
        return 0
    fi
    local c dir made_dir rc=0 keep=()
    # newest first
    while read -r c dir made_dir; do
        [[ -n $c ]] || continue
        if mountpoint -q "$dir" || [[ " $(v2_controllers) " != *" $c "* ]]; then
            if ! unmount_hierarchy "$c" "$dir"; then
                keep+=("$c $dir $made_dir")
                rc=1
                continue
            fi
        fi
        if [[ $made_dir == 1 && -d $dir ]]; then
            rmdir "$dir" 2>/dev/null || true
        fi
        echo "prepare-node-crun: removed the v1 $c hierarchy at $dir; $c is back in cgroup2"
    done < <(tac "$STATE")
    if ((${#keep[@]})); then
        printf '%s\n' "${keep[@]}" >"$STATE"
    else
        rm -f "$STATE"
    fi
    return $rc
}

case ${1:-apply} in
apply | prepare) apply ;;
undo) undo ;;
status) status ;;
*)
    echo "usage: $0 [apply|undo|status]" >&2
    exit 2
    ;;
esac
