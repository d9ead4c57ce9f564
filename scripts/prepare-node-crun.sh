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
#   prepare-node-crun.sh undo      unmount what apply mounted
#   prepare-node-crun.sh status    print the layout; exit 0 when crun can run
#
# berthd probes the layout at start: restart it after apply or undo.
set -euo pipefail

CGROOT=${BERTH_CGROUP_ROOT:-/sys/fs/cgroup}
STATE=${BERTH_PREPARE_STATE:-/run/berth/prepare-node-crun.state}

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

undo() {
    if [[ ! -s $STATE ]]; then
        echo "prepare-node-crun: nothing to undo ($STATE is empty or missing)"
        return 0
    fi
    local c dir made_dir rc=0 keep=()
    # newest first
    while read -r c dir made_dir; do
        [[ -n $c ]] || continue
        if mountpoint -q "$dir"; then
            rmdir_children "$dir"
            if find "$dir" -mindepth 1 -type d | grep -q .; then
                echo "prepare-node-crun: $dir still has cgroups in use: $(find "$dir" -mindepth 1 -type d | head -3 | tr '\n' ' ')" >&2
                keep+=("$c $dir $made_dir")
                rc=1
                continue
            fi
            umount "$dir"
        fi
        if [[ $made_dir == 1 && -d $dir ]]; then
            rmdir "$dir" 2>/dev/null || true
        fi
        echo "prepare-node-crun: removed the v1 $c hierarchy at $dir"
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
