#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Security contexts through crictl against a private berthd, real conmon and
# runc (crun with BERTH_TEST_RUNTIME=crun on a node prepared for it), real
# CNI plugins (bridge berthit31, 10.213.31.0/24) and the offline test
# registry: a recursive read-only mount (a tmpfs under the host path is
# read-only in the container, where a plain read-only mount leaves it
# writable; the CRI's two rejections; no mount left on the node), the
# supplementary groups under Merge and Strict and ContainerStatus.user, the
# CRI stop signal, and AppArmor on a node without it.

load helpers

BRIDGE=berthit31
SUBNET=10.213.31.0/24

setup_file() {
    berth_images_setup_file
}

setup() {
    [[ -s $REG_DIR/images.txt ]] || skip "no test images"
    berth_setup
    write_conflist sectest "$BRIDGE" "$SUBNET"
    berth_conf_images
    start_berthd
    BUSYBOX=registry.k8s.io/e2e-test-images/busybox:1.29-2
    GROUPIMG=gcr.io/k8s-staging-cri-tools/test-image-predefined-group:latest
    berth_crictl pull "$BUSYBOX" >/dev/null
    POD_JSON=$BERTH_TMP/pod.json
    cat >"$POD_JSON" <<EOF
{"metadata":{"name":"secpod","namespace":"it","uid":"u-$$-$BATS_TEST_NUMBER","attempt":0},
 "log_directory":"$BERTH_TMP/logs","linux":{}}
EOF
    POD=$(berth_crictl runp "$POD_JSON" 2>/dev/null)
    [[ $POD =~ ^[0-9a-f]{64}$ ]]
    HOSTDIR=$BERTH_TMP/vol
}

teardown() {
    if [[ -n ${HOSTDIR:-} ]] && mountpoint -q "$HOSTDIR/sub" 2>/dev/null; then
        umount -l "$HOSTDIR/sub" || true
    fi
    berth_teardown
    ip link del "$BRIDGE" 2>/dev/null || true
}

# ctr NAME IMAGE JSON-FRAGMENT: a container config file; prints its path
ctr() {
    local f=$BERTH_TMP/$1.json
    cat >"$f" <<EOF
{"metadata":{"name":"$1"},"image":{"image":"$2"},"log_path":"$1.log",$3}
EOF
    echo "$f"
}

# run_ctr NAME IMAGE JSON-FRAGMENT: create and start; prints the ID
run_ctr() {
    local f id
    f=$(ctr "$1" "$2" "$3")
    id=$(berth_crictl create "$POD" "$f" "$POD_JSON" 2>/dev/null) || return 1
    berth_crictl start "$id" >/dev/null || return 1
    echo "$id"
}

# host_volume: $HOSTDIR with a tmpfs mounted at $HOSTDIR/sub
host_volume() {
    mkdir -p "$HOSTDIR/sub"
    mount -t tmpfs -o size=1m tmpfs "$HOSTDIR/sub"
}

# rro_mounts: how many of the node's mounts berth made for rro in this test
rro_mounts() {
    grep -c "$BERTH_RUNROOT/.*/rro/" /proc/self/mountinfo || true
}

@test "rro: a sub-mount of a recursive read-only mount is read-only (EROFS); a plain read-only one is not" {
    host_volume
    rro=$(run_ctr rro "$BUSYBOX" '"command":["sleep","600"],"mounts":[{"container_path":"/rro","host_path":"'"$HOSTDIR"'","readonly":true,"recursive_read_only":true}]')
    [[ $rro =~ ^[0-9a-f]{64}$ ]]
    run berth_crictl exec -s "$rro" touch /rro/sub/file
    [[ $status -ne 0 && $output == *"Read-only file system"* ]]
    run berth_crictl exec -s "$rro" touch /rro/file
    [[ $status -ne 0 && $output == *"Read-only file system"* ]]
    # the node's side stays writable
    touch "$HOSTDIR/sub/from-node"
    plain=$(run_ctr plain "$BUSYBOX" '"command":["sleep","600"],"mounts":[{"container_path":"/ro","host_path":"'"$HOSTDIR"'","readonly":true}]')
    run berth_crictl exec -s "$plain" touch /ro/sub/file
    [[ $status -eq 0 ]]
    run berth_crictl exec -s "$plain" touch /ro/file
    [[ $status -ne 0 ]]
    # the node keeps no clone once the runtime has bound it, so the host
    # path's submount can go while the container runs (a kubelet's volume
    # cleanup)
    [[ $(rro_mounts) == 0 ]]
    umount "$HOSTDIR/sub"
    rmdir "$HOSTDIR/sub"
    berth_crictl rm -f "$rro" "$plain" >/dev/null
    [[ $(rro_mounts) == 0 ]]
    [[ ! -e $BERTH_RUNROOT/containers/$rro ]]
}

@test "rro: readonly false, a non-private propagation and a missing host path are refused" {
    host_volume
    f=$(ctr rw "$BUSYBOX" '"command":["true"],"mounts":[{"container_path":"/x","host_path":"'"$HOSTDIR"'","readonly":false,"recursive_read_only":true}]')
    run berth_crictl create "$POD" "$f" "$POD_JSON"
    [[ $status -ne 0 && $output == *InvalidArgument* && $output == *"recursive_read_only needs readonly: true"* ]]
    for prop in 1 2; do
        f=$(ctr prop$prop "$BUSYBOX" '"command":["true"],"mounts":[{"container_path":"/x","host_path":"'"$HOSTDIR"'","readonly":true,"recursive_read_only":true,"propagation":'$prop'}]')
        run berth_crictl create "$POD" "$f" "$POD_JSON"
        [[ $status -ne 0 && $output == *InvalidArgument* && $output == *PROPAGATION_PRIVATE* ]]
    done
    # a missing host path: NOT_FOUND, nothing left behind
    f=$(ctr missing "$BUSYBOX" '"command":["true"],"mounts":[{"container_path":"/x","host_path":"'"$BERTH_TMP"'/nope","readonly":true,"recursive_read_only":true}]')
    run berth_crictl create "$POD" "$f" "$POD_JSON"
    [[ $status -ne 0 && $output == *"does not exist"* ]]
    [[ $(rro_mounts) == 0 ]]
    [[ -z $(berth_crictl ps -a -q) ]]
}

@test "features: rro per handler, supplemental groups policy, AppArmor in the verbose info" {
    run berth_crictl info
    [[ $status -eq 0 ]]
    [[ $(jq -r --arg h "${BERTH_TEST_RUNTIME:-runc}" '.runtimeHandlers[] | select(.name==$h) | .features.recursive_read_only_mounts' <<<"$output") == true ]]
    # the default handler, also under the CRI's name for it ("")
    [[ $(jq -r '.runtimeHandlers[] | select((.name // "")=="") | .features.recursive_read_only_mounts' <<<"$output") == true ]]
    [[ $(jq -r '.features.supplemental_groups_policy' <<<"$output") == true ]]
    [[ $(jq -r '.config.apparmor.enabled' <<<"$output") == false ]]
    [[ $(jq -r '.config.apparmor.message' <<<"$output") == *"no AppArmor"* ]]
}

@test "groups: Merge adds the image's /etc/group memberships, Strict only the configured ones; ContainerStatus.user" {
    berth_crictl pull "$GROUPIMG" >/dev/null
    # the image's default-user (1000) is in group-defined-in-image (50000)
    merge=$(run_ctr merge "$GROUPIMG" '"command":["sleep","600"],"linux":{"security_context":{"run_as_user":{"value":1000},"supplemental_groups":[1234]}}')
    strict=$(run_ctr strict "$GROUPIMG" '"command":["sleep","600"],"linux":{"security_context":{"run_as_user":{"value":1000},"supplemental_groups":[1234],"supplemental_groups_policy":1}}')
    run berth_crictl exec -s "$merge" id -G
    echo "merge: $output"
    [[ $output == "1000 1234 50000" ]]
    run berth_crictl exec -s "$strict" id -G
    echo "strict: $output"
    [[ $output == "1000 1234" ]]
    run berth_crictl inspect "$merge"
    [[ $(jq -c '.status.user.linux | [.uid, .gid, .supplementalGroups]' <<<"$output") == '["1000","1000",["1000","1234","50000"]]' ]]
    run berth_crictl inspect "$strict"
    [[ $(jq -c '.status.user.linux.supplementalGroups' <<<"$output") == '["1000","1234"]' ]]
}

@test "stop signal: the config's signal reaches the container and is reported" {
    # SIGUSR1 is value 29 of the CRI's Signal enum
    id=$(run_ctr stopsig "$BUSYBOX" '"command":["sh","-c","trap \"echo got-usr1; exit 0\" USR1; echo ready; while true; do sleep 0.1; done"],"stop_signal":29')
    for i in $(seq 1 50); do
        grep -q ready "$BERTH_TMP/logs/stopsig.log" 2>/dev/null && break
        sleep 0.1
    done
    run berth_crictl inspect "$id"
    [[ $(jq -r '.status.stopSignal' <<<"$output") == SIGNAL_SIGUSR1 ]]
    berth_crictl stop -t 20 "$id" >/dev/null
    run berth_crictl inspect "$id"
    [[ $(jq -r '.status.exitCode' <<<"$output") == 0 ]]
    grep -q got-usr1 "$BERTH_TMP/logs/stopsig.log"
    # without one: the image's, else SIGTERM
    id2=$(run_ctr plainstop "$BUSYBOX" '"command":["sleep","600"]')
    run berth_crictl inspect "$id2"
    [[ $(jq -r '.status.stopSignal' <<<"$output") == SIGNAL_SIGTERM ]]
    # a value outside the enum
    f=$(ctr badsig "$BUSYBOX" '"command":["true"],"stop_signal":99')
    run berth_crictl create "$POD" "$f" "$POD_JSON"
    [[ $status -ne 0 && $output == *InvalidArgument* && $output == *stop_signal* ]]
}

@test "apparmor: RuntimeDefault and Unconfined run, a Localhost profile is refused on a node without AppArmor" {
    [[ -e /sys/module/apparmor ]] && skip "this node has AppArmor"
    id=$(run_ctr aadefault "$BUSYBOX" '"command":["sleep","600"],"linux":{"security_context":{"apparmor":{"profile_type":0}}}')
    [[ $id =~ ^[0-9a-f]{64}$ ]]
    id=$(run_ctr aaunconfined "$BUSYBOX" '"command":["sleep","600"],"linux":{"security_context":{"apparmor":{"profile_type":1}}}')
    [[ $id =~ ^[0-9a-f]{64}$ ]]
    f=$(ctr aalocal "$BUSYBOX" '"command":["true"],"linux":{"security_context":{"apparmor":{"profile_type":2,"localhost_ref":"my-profile"}}}')
    run berth_crictl create "$POD" "$f" "$POD_JSON"
    [[ $status -ne 0 && $output == *FailedPrecondition* && $output == *my-profile* && $output == *"no AppArmor"* ]]
}
