#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Pods with a user namespace of their own (CRI userns_options mode POD,
# Kubernetes hostUsers: false) against a private berthd with runc (crun with
# BERTH_TEST_RUNTIME=crun on a node prepared for it), CNI
# (bridge berthit31, 10.213.31.0/24) and the offline test registry: the
# container sees the requested uid map, the image's files appear owned by
# the mapped IDs inside and by the host IDs outside, a volume is writable by
# the container's root, bad mappings are refused with INVALID_ARGUMENT, and
# removal leaves no mount or namespace pin behind.

load helpers

BRIDGE=berthit31
SUBNET=10.213.31.0/24
HOSTID=200000

setup_file() {
    berth_images_setup_file
}

setup() {
    [[ -s $REG_DIR/images.txt ]] || skip "no test images"
    berth_setup
    write_conflist usernstest "$BRIDGE" "$SUBNET"
    berth_conf_images
    BUSYBOX=registry.k8s.io/e2e-test-images/busybox:1.29-2
}

teardown() {
    berth_teardown
    ip link del "$BRIDGE" 2>/dev/null || true
}

# pod_json NAME USERNS-JSON: a pod config file with the given userns_options
pod_json() {
    berth_pod_json "$1" userns '{"security_context":{"namespace_options":{"userns_options":'"$2"'}}}' "$1host"
}

ctr_json() { berth_ctr_json "$@"; }

pod_mapping() {
    echo '{"mode":0,"uids":[{"container_id":0,"host_id":'"$HOSTID"',"length":65536}],"gids":[{"container_id":0,"host_id":'"$HOSTID"',"length":65536}]}'
}

@test "Status advertises user namespaces for the handler" {
    start_berthd
    run berth_crictl info
    [ "$status" -eq 0 ]
    grep -q "user namespaces available" "$BERTH_LOG" || skip "this kernel lacks idmapped mounts"
    [[ $(jq -r --arg h "${BERTH_TEST_RUNTIME:-runc}" '.runtimeHandlers[] | select(.name==$h) | .features.user_namespaces' <<<"$output") == true ]]
    # the verbose info says so too (and would say why not)
    [[ $(jq -r '.config.userNamespaces.supported' <<<"$output") == true ]]
    # and a pod with its own user namespace on the node's network
    [[ $(jq -r '.features.user_namespaces_host_network' <<<"$output") == true ]]
}

@test "a pod with its own user namespace: uid map, file ownership, volume, no leaks" {
    start_berthd
    grep -q "user namespaces available" "$BERTH_LOG" || skip "this kernel lacks idmapped mounts"
    berth_crictl pull "$BUSYBOX" >/dev/null
    vol=$BERTH_TMP/vol
    mkdir -p "$vol"
    pj=$(pod_json un "$(pod_mapping)")
    pod=$(berth_crictl runp "$pj")
    [[ $pod =~ ^[0-9a-f]{64}$ ]]
    # the pod's namespaces are pinned, the user namespace among them
    [[ -e $BERTH_RUNROOT/ns/user/$pod ]]
    # and its status reports the mappings
    berth_crictl inspectp "$pod" | jq -c '.status.linux.namespaces.options'
    [[ $(berth_crictl inspectp "$pod" | jq -r '.status.linux.namespaces.options.usernsOptions.uids[0].hostId') == "$HOSTID" ]]
    cj=$(ctr_json c1 '"command":["sleep","600"],"mounts":[{"container_path":"/vol","host_path":"'"$vol"'"}]')
    id=$(berth_crictl create "$pod" "$cj" "$pj")
    berth_crictl start "$id"
    [[ $(berth_crictl inspect "$id" | jq -r .status.state) == CONTAINER_RUNNING ]]

    # the mapping inside is the requested one
    out=$(berth_crictl exec -s "$id" cat /proc/self/uid_map)
    echo "uid_map: $out"
    [[ $(echo $out) == "0 $HOSTID 65536" ]]
    out=$(berth_crictl exec -s "$id" cat /proc/self/gid_map)
    [[ $(echo $out) == "0 $HOSTID 65536" ]]
    # and the node sees the process under the host IDs
    pid=$(berth_crictl inspect "$id" | jq -r .info.pid)
    [[ $(awk '/^Uid:/ { print $2 }' "/proc/$pid/status") == "$HOSTID" ]]

    # the image's files appear owned by root inside, by the mapped ID outside
    [[ $(berth_crictl exec -s "$id" stat -c %u:%g /bin/busybox) == 0:0 ]]
    [[ $(stat -c %u "/proc/$pid/root/bin/busybox") == "$HOSTID" ]]
    # the rootfs is writable by the container's root; on disk it is the
    # image's own ID (0) in the upper layer
    berth_crictl exec -s "$id" sh -c 'echo hi > /written'
    [[ $(stat -c %u "$BERTH_ROOT/overlay-containers/$id/upper/written") == 0 ]]
    # /etc/hosts and /etc/hostname belong to root inside
    [[ $(berth_crictl exec -s "$id" stat -c %u /etc/hosts) == 0 ]]
    [[ $(berth_crictl exec -s "$id" cat /etc/hostname) == unhost ]]
    # the volume is writable by the container's root, as the host's root
    berth_crictl exec -s "$id" sh -c 'echo from-ctr > /vol/f && stat -c %u /vol/f' | grep -qx 0
    [[ $(cat "$vol/f") == from-ctr ]]
    [[ $(stat -c %u "$vol/f") == 0 ]]
    # its own network namespace works (loopback up) inside the user namespace
    berth_crictl exec -s "$id" ip link show lo | grep -q UP

    berth_crictl stop -t 2 "$id"
    berth_crictl rm "$id"
    berth_crictl stopp "$pod"
    berth_crictl rmp "$pod"
    # nothing is left mounted under the test's tree but berth's pin dir
    run awk -v d="$BERTH_TMP/" 'index($2, d) == 1 && $2 !~ /\/run\/ns$/ { print $2 }' /proc/self/mounts
    echo "$output"
    [[ -z $output ]]
    [[ ! -e $BERTH_RUNROOT/ns/user/$pod ]]
    [[ ! -e $BERTH_ROOT/overlay-containers/$id ]]
    # and the volume is intact
    [[ $(cat "$vol/f") == from-ctr ]]
}

@test "NODE mode: the container shares the node's user namespace" {
    start_berthd
    berth_crictl pull "$BUSYBOX" >/dev/null
    pj=$(pod_json node '{"mode":2}')
    pod=$(berth_crictl runp "$pj")
    [[ ! -e $BERTH_RUNROOT/ns/user/$pod ]]
    cj=$(ctr_json n1 '"command":["cat","/proc/self/uid_map"]')
    id=$(berth_crictl create "$pod" "$cj" "$pj")
    berth_crictl start "$id"
    sleep 1
    [[ $(echo $(berth_crictl logs "$id")) == "$(echo $(cat /proc/self/uid_map))" ]]
    berth_crictl rmp -f "$pod"
}

@test "bad user namespace options are refused with INVALID_ARGUMENT" {
    start_berthd
    m='{"container_id":0,"host_id":'"$HOSTID"',"length":65536}'
    declare -A cases=(
        [two]='{"mode":0,"uids":['"$m,$m"'],"gids":['"$m"']}'
        [unmapped]='{"mode":0,"uids":[{"container_id":1,"host_id":'"$HOSTID"',"length":65536}],"gids":['"$m"']}'
        [hostroot]='{"mode":0,"uids":[{"container_id":0,"host_id":0,"length":65536}],"gids":['"$m"']}'
        [none]='{"mode":0}'
        [container]='{"mode":1}'
        [target]='{"mode":3}'
    )
    for k in "${!cases[@]}"; do
        pj=$(pod_json "bad$k" "${cases[$k]}")
        run berth_crictl runp "$pj"
        echo "$k: $output"
        [ "$status" -ne 0 ]
        [[ $output == *"code = InvalidArgument"* ]]
    done
    run berth_crictl runp "$(pod_json badtwo '{"mode":0,"uids":['"$m,$m"'],"gids":['"$m"']}')"
    [[ $output == *"exactly one uid mapping"* ]]
    run berth_crictl runp "$(pod_json badun '{"mode":0,"uids":[{"container_id":1,"host_id":5,"length":9}],"gids":['"$m"']}')"
    [[ $output == *"container uid 0 must be mapped"* ]]
    [[ -z $(berth_crictl pods -q) ]]
    [[ -z $(ls "$BERTH_RUNROOT/ns/user" 2>/dev/null) ]]
}

@test "a pod with a user namespace survives a berthd restart and is removed cleanly" {
    start_berthd
    grep -q "user namespaces available" "$BERTH_LOG" || skip "this kernel lacks idmapped mounts"
    berth_crictl pull "$BUSYBOX" >/dev/null
    pj=$(pod_json re "$(pod_mapping)")
    pod=$(berth_crictl runp "$pj")
    cj=$(ctr_json r1 '"command":["sleep","600"]')
    id=$(berth_crictl create "$pod" "$cj" "$pj")
    berth_crictl start "$id"
    stop_berthd
    start_berthd
    [[ $(echo $(berth_crictl exec -s "$id" cat /proc/self/uid_map)) == "0 $HOSTID 65536" ]]
    # a second container joins the same user namespace after the restart
    cj2=$(ctr_json r2 '"command":["sleep","600"]')
    id2=$(berth_crictl create "$pod" "$cj2" "$pj")
    berth_crictl start "$id2"
    p1=$(berth_crictl inspect "$id" | jq -r .info.pid)
    p2=$(berth_crictl inspect "$id2" | jq -r .info.pid)
    [[ $(stat -L -c %i "/proc/$p1/ns/user") == $(stat -L -c %i "/proc/$p2/ns/user") ]]
    [[ $(stat -L -c %i "/proc/$p1/ns/net") == $(stat -L -c %i "/proc/$p2/ns/net") ]]
    # the pinned one
    [[ $(stat -L -c %i "/proc/$p1/ns/user") == $(stat -c %i "$BERTH_RUNROOT/ns/user/$pod") ]]
    berth_crictl rmp -f "$pod"
    run awk -v d="$BERTH_TMP/" 'index($2, d) == 1 && $2 !~ /\/run\/ns$/ { print $2 }' /proc/self/mounts
    echo "$output"
    [[ -z $output ]]
    [[ ! -e $BERTH_RUNROOT/ns/user/$pod ]]
}

@test "a user namespace on the node's network: the node's interfaces, the node's /sys bound" {
    start_berthd
    grep -q "user namespaces available" "$BERTH_LOG" || skip "this kernel lacks idmapped mounts"
    berth_crictl pull "$BUSYBOX" >/dev/null
    f=$BERTH_TMP/pod-hn.json
    cat >"$f" <<EOF
{"metadata":{"name":"hn","namespace":"userns","uid":"u-$$-hn","attempt":0},
 "log_directory":"$BERTH_TMP/logs-hn",
 "linux":{"security_context":{"namespace_options":{"network":2,"userns_options":$(pod_mapping)}}}}
EOF
    pod=$(berth_crictl runp "$f")
    [[ -e $BERTH_RUNROOT/ns/user/$pod && ! -e $BERTH_RUNROOT/ns/net/$pod ]]
    cj=$(ctr_json h1 '"command":["sleep","600"]')
    id=$(berth_crictl create "$pod" "$cj" "$f")
    berth_crictl start "$id"
    pid=$(berth_crictl inspect "$id" | jq -r .info.pid)
    [[ $(stat -L -c %i "/proc/$pid/ns/net") == $(stat -L -c %i /proc/self/ns/net) ]]
    [[ $(echo $(berth_crictl exec -s "$id" cat /proc/self/uid_map)) == "0 $HOSTID 65536" ]]
    # /sys is the node's, read-only: its interfaces are listed
    berth_crictl exec -s "$id" ls /sys/class/net | grep -qx lo
    run berth_crictl exec -s "$id" touch /sys/x
    [ "$status" -ne 0 ]
    berth_crictl rmp -f "$pod"
    [[ ! -e $BERTH_RUNROOT/ns/user/$pod ]]
}

# userns_conf: the handler allows CRI-O's userns-mode annotation, and the
# "containers" ranges come from the test's own subuid/subgid files
userns_conf() {
    rt=${BERTH_TEST_RUNTIME:-runc}
    printf 'alice:100000:65536\ncontainers:300000:196608\n' >"$BERTH_TMP/subuid"
    printf 'containers:500000:196608\n' >"$BERTH_TMP/subgid"
    cat >"$BERTH_CONF_DIR/50-userns.conf" <<EOF2
[crio.runtime]
subuid_file = "$BERTH_TMP/subuid"
subgid_file = "$BERTH_TMP/subgid"

[crio.runtime.runtimes.$rt]
runtime_path = "/usr/bin/$rt"
runtime_root = "/run/$rt"
allowed_annotations = ["io.kubernetes.cri-o.userns-mode"]
EOF2
}

# auto_pod NAME MODE: a pod without userns_options, with the annotation
auto_pod() {
    local f=$BERTH_TMP/pod-$1.json
    cat >"$f" <<EOF2
{"metadata":{"name":"$1","namespace":"userns","uid":"u-$$-$BATS_TEST_NUMBER-$1","attempt":0},
 "log_directory":"$BERTH_TMP/logs-$1","annotations":{"io.kubernetes.cri-o.userns-mode":"$2"}}
EOF2
    echo "$f"
}

@test "userns-mode auto: ranges from the containers entries, no overlap, kept over a restart, released" {
    userns_conf
    start_berthd
    grep -q "user namespaces available" "$BERTH_LOG" || skip "this kernel lacks idmapped mounts"
    berth_crictl pull "$BUSYBOX" >/dev/null
    # 65536: the pause image's user (65535) must be mapped too
    p1=$(berth_crictl runp "$(auto_pod a1 auto)")
    [[ $(berth_crictl inspectp "$p1" | jq -r '.status.linux.namespaces.options.usernsOptions.uids[0].hostId') == 300000 ]]
    [[ $(berth_crictl inspectp "$p1" | jq -r '.status.linux.namespaces.options.usernsOptions.gids[0].hostId') == 500000 ]]
    cj=$(ctr_json a1 '"command":["sleep","600"]')
    id=$(berth_crictl create "$p1" "$cj" "$BERTH_TMP/pod-a1.json")
    berth_crictl start "$id"
    [[ $(echo $(berth_crictl exec -s "$id" cat /proc/self/uid_map)) == "0 300000 65536" ]]
    [[ $(echo $(berth_crictl exec -s "$id" cat /proc/self/gid_map)) == "0 500000 65536" ]]
    [[ $(berth_crictl exec -s "$id" stat -c %u /bin/busybox) == 0 ]]
    # a kubelet pod holding the range right after it is not overlapped
    pk=$(berth_crictl runp "$(pod_json kube '{"mode":0,"uids":[{"container_id":0,"host_id":365536,"length":65536}],"gids":[{"container_id":0,"host_id":565536,"length":65536}]}')")
    # the next one after a restart: recomputed from the restored pods
    stop_berthd
    start_berthd
    [[ $(echo $(berth_crictl exec -s "$id" cat /proc/self/uid_map)) == "0 300000 65536" ]]
    p2=$(berth_crictl runp "$(auto_pod a2 auto)")
    [[ $(berth_crictl inspectp "$p2" | jq -r '.status.linux.namespaces.options.usernsOptions.uids[0].hostId') == 431072 ]]
    [[ $(berth_crictl inspectp "$p2" | jq -r '.status.linux.namespaces.options.usernsOptions.uids[0].length') == 65536 ]]
    # no gap of 65536 is left in the containers entry: RESOURCE_EXHAUSTED
    run berth_crictl runp "$(auto_pod a3 auto)"
    echo "$output"
    [ "$status" -ne 0 ]
    [[ $output == *"code = ResourceExhausted"* && $output == *"no free range"* ]]
    # removal frees the range for the next pod
    berth_crictl rmp -f "$p1"
    p3=$(berth_crictl runp "$(auto_pod a4 auto:size=65536)")
    [[ $(berth_crictl inspectp "$p3" | jq -r '.status.linux.namespaces.options.usernsOptions.uids[0].hostId') == 300000 ]]
    berth_crictl rmp -f "$p2" "$p3" "$pk"
    [[ -z $(ls "$BERTH_RUNROOT/ns/user" 2>/dev/null) ]]
}

@test "userns-mode: bad values, keep-id, a missing subuid file, and not allowed" {
    userns_conf
    start_berthd
    grep -q "user namespaces available" "$BERTH_LOG" || skip "this kernel lacks idmapped mounts"
    run berth_crictl runp "$(auto_pod b1 auto:size=x)"
    [[ $output == *"code = InvalidArgument"* && $output == *"size"* ]]
    run berth_crictl runp "$(auto_pod b2 auto:keep-id=true)"
    [[ $output == *"code = Unimplemented"* && $output == *"keep-id"* ]]
    run berth_crictl runp "$(auto_pod b3 private)"
    [[ $output == *"code = InvalidArgument"* ]]
    [[ -z $(berth_crictl pods -q) ]]
    stop_berthd
    rm "$BERTH_TMP/subuid"
    start_berthd
    run berth_crictl runp "$(auto_pod b4 auto)"
    echo "$output"
    [[ $output == *"code = FailedPrecondition"* && $output == *"$BERTH_TMP/subuid"* ]]
    # where the handler does not allow it, the annotation is ignored
    stop_berthd
    sed -i 's/^allowed_annotations.*/allowed_annotations = []/' "$BERTH_CONF_DIR/50-userns.conf"
    start_berthd
    p=$(berth_crictl runp "$(auto_pod b5 auto)")
    [[ ! -e $BERTH_RUNROOT/ns/user/$p ]]
    berth_crictl rmp -f "$p"
}
