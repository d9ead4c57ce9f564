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
    [[ $output == *"overlap"* ]]
    run berth_crictl runp "$(pod_json badun '{"mode":0,"uids":[{"container_id":1,"host_id":5,"length":9}],"gids":['"$m"']}')"
    [[ $output == *"container uid 0 must be mapped"* ]]
    [[ -z $(berth_crictl pods -q) ]]
    [[ -z $(ls "$BERTH_RUNROOT/ns/user" 2>/dev/null) ]]
    # two disjoint extents are a valid map: the pod runs with both
    grep -q "user namespaces available" "$BERTH_LOG" || return 0
    p=$(berth_crictl runp "$(pod_json split '{"mode":0,"uids":[{"container_id":0,"host_id":'"$HOSTID"',"length":1000},{"container_id":1000,"host_id":'$((HOSTID + 5000))',"length":64536}],"gids":['"$m"']}')")
    [[ $(berth_crictl inspectp "$p" | jq -r '.status.linux.namespaces.options.usernsOptions.uids | length') == 2 ]]
    berth_crictl rmp -f "$p"
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

# auto_pod_sc NAME MODE SECURITY-CONTEXT-JSON: auto_pod with the pod's
# linux.security_context (its runAsUser and groups)
auto_pod_sc() {
    local f=$BERTH_TMP/pod-$1.json
    cat >"$f" <<EOF2
{"metadata":{"name":"$1","namespace":"userns","uid":"u-$$-$BATS_TEST_NUMBER-$1","attempt":0},
 "log_directory":"$BERTH_TMP/logs-$1","annotations":{"io.kubernetes.cri-o.userns-mode":"$2"},
 "linux":{"security_context":$3}}
EOF2
    echo "$f"
}

# maps POD uids|gids: the pod's extents as "C:H:L" words
maps() {
    berth_crictl inspectp "$1" | jq -r '.status.linux.namespaces.options.usernsOptions.'"$2"'[] | "\(.containerId // 0):\(.hostId):\(.length)"' | tr '\n' ' ' | sed 's/ $//'
}

@test "userns-mode keep-id and map-to-root: extents, the process's IDs, file owners, a restart" {
    userns_conf
    start_berthd
    grep -q "user namespaces available" "$BERTH_LOG" || skip "this kernel lacks idmapped mounts"
    berth_crictl pull "$BUSYBOX" >/dev/null
    vol=$BERTH_TMP/vol
    mkdir -p "$vol"
    chmod 1777 "$vol"

    # keep-id: runAsUser 1000 and runAsGroup 3000 are themselves inside and
    # on the node; the rest of [0, 65536) comes from the containers range
    pk=$(berth_crictl runp "$(auto_pod_sc k auto:keep-id=true '{"run_as_user":{"value":1000},"run_as_group":{"value":3000}}')")
    [[ $(maps "$pk" uids) == "0:300000:1000 1001:301000:64535 1000:1000:1" ]]
    [[ $(maps "$pk" gids) == "0:500000:3000 3001:503000:62535 3000:3000:1" ]]
    cj=$(ctr_json k1 '"command":["sleep","600"],"linux":{"security_context":{"run_as_user":{"value":1000},"run_as_group":{"value":3000}}},"mounts":[{"container_path":"/vol","host_path":"'"$vol"'"}]')
    ik=$(berth_crictl create "$pk" "$cj" "$BERTH_TMP/pod-k.json")
    berth_crictl start "$ik"
    out=$(berth_crictl exec -s "$ik" cat /proc/self/uid_map)
    echo "uid_map: $out"
    [[ $(echo $out) == "0 300000 1000 1001 301000 64535 1000 1000 1" ]]
    [[ $(echo $(berth_crictl exec -s "$ik" cat /proc/self/gid_map)) == "0 500000 3000 3001 503000 62535 3000 3000 1" ]]
    [[ $(berth_crictl exec -s "$ik" id -u) == 1000 ]]
    # the node sees uid 1000 and gid 3000 themselves
    pid=$(berth_crictl inspect "$ik" | jq -r .info.pid)
    [[ $(awk '/^Uid:/ { print $2 }' "/proc/$pid/status") == 1000 ]]
    [[ $(awk '/^Gid:/ { print $2 }' "/proc/$pid/status") == 3000 ]]
    # the image's root is the pool's first ID outside
    [[ $(stat -c %u "/proc/$pid/root/bin/busybox") == 300000 ]]
    # what it writes is 1000:3000 in the upper layer and in the volume
    berth_crictl exec -s "$ik" sh -c 'echo k > /tmp/k && echo k > /vol/k'
    [[ $(stat -c %u:%g "$BERTH_ROOT/overlay-containers/$ik/upper/tmp/k") == 1000:3000 ]]
    [[ $(stat -c %u:%g "$vol/k") == 1000:3000 ]]

    # map-to-root: container root is the node's runAsUser 2000 (gid 4000);
    # the pool gives container IDs 1-65535, after the keep-id pod's 65535
    pm=$(berth_crictl runp "$(auto_pod_sc m 'auto:map-to-root=true;size=65536' '{"run_as_user":{"value":2000},"run_as_group":{"value":4000}}')")
    [[ $(maps "$pm" uids) == "1:365535:65535 0:2000:1" ]]
    [[ $(maps "$pm" gids) == "1:565535:65535 0:4000:1" ]]
    cj=$(ctr_json m1 '"command":["sleep","600"],"mounts":[{"container_path":"/vol","host_path":"'"$vol"'"}]')
    im=$(berth_crictl create "$pm" "$cj" "$BERTH_TMP/pod-m.json")
    berth_crictl start "$im"
    [[ $(echo $(berth_crictl exec -s "$im" cat /proc/self/uid_map)) == "1 365535 65535 0 2000 1" ]]
    [[ $(berth_crictl exec -s "$im" id -u) == 0 ]]
    pid=$(berth_crictl inspect "$im" | jq -r .info.pid)
    [[ $(awk '/^Uid:/ { print $2 }' "/proc/$pid/status") == 2000 ]]
    [[ $(awk '/^Gid:/ { print $2 }' "/proc/$pid/status") == 4000 ]]
    [[ $(stat -c %u "/proc/$pid/root/bin/busybox") == 2000 ]]
    # the idmapped rootfs and volume store the container's IDs: root's 0
    berth_crictl exec -s "$im" sh -c 'echo m > /m && echo m > /vol/m'
    [[ $(stat -c %u:%g "$BERTH_ROOT/overlay-containers/$im/upper/m") == 0:0 ]]
    [[ $(stat -c %u:%g "$vol/m") == 0:0 ]]

    # 65538 IDs are left: size=70000 is RESOURCE_EXHAUSTED naming subuid
    run berth_crictl runp "$(auto_pod_sc x auto:size=70000 '{}')"
    echo "$output"
    [[ $output == *"code = ResourceExhausted"* && $output == *"$BERTH_TMP/subuid"* ]]

    # a restart: the running containers keep their maps, the allocator
    # recomputes every extent from the restored pods
    stop_berthd
    start_berthd
    [[ $(echo $(berth_crictl exec -s "$ik" cat /proc/self/uid_map)) == "0 300000 1000 1001 301000 64535 1000 1000 1" ]]
    [[ $(echo $(berth_crictl exec -s "$im" cat /proc/self/uid_map)) == "1 365535 65535 0 2000 1" ]]
    pa=$(berth_crictl runp "$(auto_pod a auto)")
    [[ $(maps "$pa" uids) == "0:431070:65536" ]]
    # removal frees the keep-id pod's extents: a new keep-id pod gets them
    berth_crictl rmp -f "$pk"
    pk2=$(berth_crictl runp "$(auto_pod_sc k2 auto:keep-id '{"run_as_user":{"value":1000},"run_as_group":{"value":3000}}')")
    [[ $(maps "$pk2" uids) == "0:300000:1000 1001:301000:64535 1000:1000:1" ]]
    [[ $(maps "$pk2" gids) == "0:500000:3000 3001:503000:62535 3000:3000:1" ]]
    berth_crictl rmp -f "$pk2"
    # no runAsGroup: the gid map would take a whole 65536 of the pool, and
    # 65535 are free (the uids fit): RESOURCE_EXHAUSTED naming subgid
    run berth_crictl runp "$(auto_pod_sc k3 auto:keep-id '{"run_as_user":{"value":1001}}')"
    echo "$output"
    [[ $output == *"code = ResourceExhausted"* && $output == *"$BERTH_TMP/subgid"* ]]
    berth_crictl rmp -f "$pm" "$pa"
    [[ -z $(ls "$BERTH_RUNROOT/ns/user" 2>/dev/null) ]]
    run awk -v d="$BERTH_TMP/" 'index($2, d) == 1 && $2 !~ /\/run\/ns$/ { print $2 }' /proc/self/mounts
    [[ -z $output ]]
}

@test "userns-mode keep-id and map-to-root: refused with INVALID_ARGUMENT naming the option" {
    userns_conf
    start_berthd
    grep -q "user namespaces available" "$BERTH_LOG" || skip "this kernel lacks idmapped mounts"
    # no runAsUser: no uid to keep
    run berth_crictl runp "$(auto_pod_sc n1 auto:keep-id=true '{}')"
    echo "$output"
    [[ $output == *"code = InvalidArgument"* && $output == *"io.kubernetes.cri-o.userns-mode"* && $output == *"keep-id"* && $output == *"runAsUser"* ]]
    run berth_crictl runp "$(auto_pod_sc n2 auto:map-to-root=true '{}')"
    [[ $output == *"code = InvalidArgument"* && $output == *"map-to-root"* ]]
    # the node's root is never mapped
    run berth_crictl runp "$(auto_pod_sc n3 auto:keep-id=true '{"run_as_user":{"value":0}}')"
    echo "$output"
    [[ $output == *"code = InvalidArgument"* && $output == *"root"* ]]
    # a uid inside the containers range belongs to the pods berth gives it to
    run berth_crictl runp "$(auto_pod_sc n4 auto:keep-id=true '{"run_as_user":{"value":300500}}')"
    echo "$output"
    [[ $output == *"code = InvalidArgument"* && $output == *"$BERTH_TMP/subuid"* ]]
    run berth_crictl runp "$(auto_pod_sc n5 'auto:keep-id=true;map-to-root=true' '{"run_as_user":{"value":1000}}')"
    [[ $output == *"code = InvalidArgument"* && $output == *"exclude"* ]]
    run berth_crictl runp "$(auto_pod_sc n6 'auto:keep-id=maybe' '{"run_as_user":{"value":1000}}')"
    [[ $output == *"code = InvalidArgument"* && $output == *"keep-id"* ]]
    run berth_crictl runp "$(auto_pod_sc n7 'auto:uidmapping=0:1000:1' '{"run_as_user":{"value":1000}}')"
    [[ $output == *"code = Unimplemented"* && $output == *"uidmapping"* ]]
    run berth_crictl runp "$(auto_pod_sc n8 'auto:size=0' '{}')"
    [[ $output == *"code = InvalidArgument"* && $output == *"size"* ]]
    # nothing was created, nothing is held: a full-size pod still fits at the start
    [[ -z $(berth_crictl pods -q) ]]
    p=$(berth_crictl runp "$(auto_pod_sc ok auto '{}')")
    [[ $(maps "$p" uids) == "0:300000:65536" ]]
    berth_crictl rmp -f "$p"
}

@test "userns-mode: bad values, keep-id, a missing subuid file, and not allowed" {
    userns_conf
    start_berthd
    grep -q "user namespaces available" "$BERTH_LOG" || skip "this kernel lacks idmapped mounts"
    run berth_crictl runp "$(auto_pod b1 auto:size=x)"
    [[ $output == *"code = InvalidArgument"* && $output == *"size"* ]]
    run berth_crictl runp "$(auto_pod b2 auto:keep-id=true)"
    [[ $output == *"code = InvalidArgument"* && $output == *"keep-id"* ]]
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
