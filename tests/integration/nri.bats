#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# NRI ([crio.nri]; docs/nri.md) on a private berthd with berth's test plugin
# (tests/nri/plugin, built on NRI's own pkg/stub by tests/nri/build.sh;
# real runc, CNI bridge berthit47, 10.213.47.0/24, the offline registry):
# off by default (no socket); a plugin registers and sees Configure and
# Synchronize; plugins are kept in index order; a bad index and a plugin
# that never registers are dropped while berthd keeps serving; at
# CreateContainer a plugin adds an environment variable, an OCI annotation
# and a bind mount, seen inside the container; a plugin that fails
# CreateContainer fails the creation with nothing left, and the retry
# succeeds once the plugin is gone; a plugin's args, RLIMIT_NOFILE, device
# node, createRuntime hook and memory limit reach the container; two
# plugins setting one rlimit conflict; the default validator refuses a
# hook with nothing left, and a plugin cannot take a container out of its
# pod's network namespace unnoticed (the removal is applied, and refused
# with reject_namespace_adjustment); a plugin's CDI device resolves
# through cdi_spec_dirs and its mount removal drops the kubelet's mount.
# Updates: a plugin changing the CPU
# shares of `crictl update --memory`, a plugin updating another container
# at CreateContainer, a plugin's own UpdateContainers (cgroup files
# checked inside the containers); the Post* events in order and a plugin
# subscribed to one event seeing only it.

load helpers

BRIDGE=berthit47
SUBNET=10.213.47.0/24
BUSYBOX=registry.k8s.io/e2e-test-images/busybox:1.29-2

setup_file() {
    # BERTH_NRI_PLUGIN: a plugin built elsewhere (tests/nri/build.sh DIR)
    NRI_PLUGIN=${BERTH_NRI_PLUGIN:-$("$BATS_TEST_DIRNAME/../nri/build.sh" 2>/dev/null)} || NRI_PLUGIN=
    export NRI_PLUGIN
    export REG_DIR=${BERTH_REGISTRY_DIR:-/tmp/berth-registry}
    if command -v docker-registry >/dev/null; then
        "$BERTH_SRC/tests/fixtures/images/build.sh" "$REG_DIR" >"$BATS_FILE_TMPDIR/build.log" 2>&1 ||
            true
    fi
}

setup() {
    [[ -x ${NRI_PLUGIN:-} ]] || skip "NRI test plugin not built (tests/nri/build.sh needs Go)"
    berth_setup
    NRI_SOCK=$BERTH_TMP/nri/nri.sock
    PLUGIN_PIDS=()
}

teardown() {
    local p
    for p in "${PLUGIN_PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    berth_teardown
    ip link del "$BRIDGE" 2>/dev/null || true
}

# with_images: the offline registry, a CNI network and the runtime (call
# before start_nri); skips without test images
with_images() {
    [[ -s $REG_DIR/images.txt ]] || skip "no test images"
    write_conflist nritest "$BRIDGE" "$SUBNET"
    berth_conf_images
}

# pod_and_ctr_json: $BERTH_TMP/pod.json and ctr.json (a busybox sleeping)
pod_and_ctr_json() {
    cat >"$BERTH_TMP/pod.json" <<EOF
{"metadata":{"name":"nripod","namespace":"it","uid":"u-nri-$$-$BATS_TEST_NUMBER","attempt":0},
 "hostname":"nrihost","log_directory":"$BERTH_TMP/logs","linux":{}}
EOF
    cat >"$BERTH_TMP/ctr.json" <<EOF
{"metadata":{"name":"nrictr"},"image":{"image":"$BUSYBOX"},"log_path":"c.log",
 "command":["sleep","300"],"envs":[{"key":"FROM_KUBELET","value":"yes"}]}
EOF
}

# merged_mounts: how many container root filesystems of this test are mounted
merged_mounts() {
    awk -v d="$BERTH_ROOT/" 'index($2, d) == 1 && $2 ~ /merged$/' /proc/self/mounts | wc -l
}

start_nri() {
    start_berthd --set crio.nri.enable_nri=true --set "crio.nri.nri_listen=$NRI_SOCK" "$@"
}

# plugin NAME IDX [ARGS...]: starts the test plugin on the test's socket,
# its event log in $BERTH_TMP/NAME.log
plugin() {
    local name=$1 idx=$2
    shift 2
    "$NRI_PLUGIN" -name "$name" -idx "$idx" -socket "$NRI_SOCK" -log "$BERTH_TMP/$name.log" \
        "$@" </dev/null >>"$BERTH_TMP/$name.out" 2>&1 3>&- &
    PLUGIN_PIDS+=($!)
}

# wait_log FILE PATTERN: up to 10 s for an extended regex in FILE
wait_log() {
    local i
    for ((i = 0; i < 100; i++)); do
        grep -Eq "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "# no /$2/ in $1:"
    cat "$1" 2>/dev/null || true
    return 1
}

# refused_then_retried PLUGIN PATTERN: CreateContainer of pod_and_ctr_json
# in $POD fails with output matching PATTERN (a glob) and leaves nothing (no
# container, no bundle, no root filesystem mounted); once the only plugin,
# PLUGIN, is gone, the kubelet's retry of the same name succeeds ($CTR).
refused_then_retried() {
    local dirs mounts
    dirs=$(ls "$BERTH_RUNROOT/containers" | wc -l)
    mounts=$(merged_mounts)
    run berth_crictl create "$POD" "$BERTH_TMP/ctr.json" "$BERTH_TMP/pod.json"
    [ "$status" -ne 0 ]
    [[ $output == $2 ]]
    [ -z "$(berth_crictl ps -a -q)" ]
    [ "$(ls "$BERTH_RUNROOT/containers" | wc -l)" -eq "$dirs" ]
    [ "$(merged_mounts)" -eq "$mounts" ]
    kill "${PLUGIN_PIDS[0]}"
    wait_log "$BERTH_LOG" "NRI plugin disconnected.*plugin=$1"
    CTR=$(berth_crictl create "$POD" "$BERTH_TMP/ctr.json" "$BERTH_TMP/pod.json")
    [[ $CTR =~ ^[0-9a-f]{64}$ ]]
}

@test "nri: off by default, no socket" {
    start_berthd --set "crio.nri.nri_listen=$NRI_SOCK"
    [ ! -e "$NRI_SOCK" ]
    ! grep -q 'NRI serving' "$BERTH_LOG"
}

@test "nri: a plugin registers and sees Configure and Synchronize" {
    start_nri
    [ -S "$NRI_SOCK" ]
    plugin alpha 10
    wait_log "$BERTH_TMP/alpha.log" '^synchronize pods=0 containers=0$'
    grep -q '^configure runtime=berth version=' "$BERTH_TMP/alpha.log"
    wait_log "$BERTH_LOG" 'NRI plugin registered.*plugin=alpha index=10'
    berth_crictl version >/dev/null
}

@test "nri: plugins are kept in index order" {
    start_nri
    plugin late 30
    wait_log "$BERTH_LOG" 'plugin=late index=30'
    plugin early 05
    wait_log "$BERTH_LOG" 'NRI plugins in call order.*plugins=05-early,30-late'
}

@test "nri: a plugin with a bad index is refused; one that never registers is dropped" {
    start_nri --set crio.nri.nri_plugin_registration_timeout=1s
    plugin bad 7x
    wait_log "$BERTH_LOG" 'NRI plugin dropped before it registered.*invalid index'
    # a client that connects and says nothing
    python3 -c 'import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(30)' "$NRI_SOCK" &
    PLUGIN_PIDS+=($!)
    wait_log "$BERTH_LOG" 'registration timed out'
    plugin good 20
    wait_log "$BERTH_LOG" 'NRI plugin registered.*plugin=good'
    berth_crictl version >/dev/null
}

@test "nri: the socket goes away at the stop" {
    start_nri
    [ -S "$NRI_SOCK" ]
    stop_berthd
    BERTHD_PID=
    [ ! -e "$NRI_SOCK" ]
}

@test "nri: CreateContainer adjustments: an env var, an annotation and a mount, seen inside" {
    with_images
    mkdir -p "$BERTH_TMP/shared"
    echo from-nri >"$BERTH_TMP/shared/file"
    start_nri
    plugin adjuster 10 -mount-src "$BERTH_TMP/shared"
    wait_log "$BERTH_LOG" 'NRI plugin registered.*plugin=adjuster'
    berth_crictl pull "$BUSYBOX" >/dev/null
    pod_and_ctr_json
    POD=$(berth_crictl runp "$BERTH_TMP/pod.json")
    CTR=$(berth_crictl create "$POD" "$BERTH_TMP/ctr.json" "$BERTH_TMP/pod.json")
    berth_crictl start "$CTR" >/dev/null
    grep -q '^create-container name=nrictr pod=nripod$' "$BERTH_TMP/adjuster.log"
    run berth_crictl exec "$CTR" env
    [[ $output == *BERTH_NRI_TEST=injected* ]]
    [[ $output == *FROM_KUBELET=yes* ]]
    run berth_crictl exec "$CTR" cat /nri-mount/file
    [ "$output" = from-nri ]
    # read-only, as the plugin asked
    run berth_crictl exec "$CTR" touch /nri-mount/x
    [ "$status" -ne 0 ]
    grep -q '"berth.test/nri": *"seen"' "$BERTH_RUNROOT/containers/$CTR/config.json"
}

@test "nri: a plugin failing CreateContainer fails it with nothing left; the retry succeeds" {
    with_images
    start_nri
    plugin refuser 10 -fail-create
    wait_log "$BERTH_LOG" 'NRI plugin registered.*plugin=refuser'
    berth_crictl pull "$BUSYBOX" >/dev/null
    pod_and_ctr_json
    POD=$(berth_crictl runp "$BERTH_TMP/pod.json")
    refused_then_retried refuser '*10-refuser*refuses container nrictr*'
}

@test "nri: pod and container events reach the plugin in order; a refused RunPodSandbox leaves nothing" {
    with_images
    start_nri
    plugin watcher 10
    wait_log "$BERTH_LOG" 'NRI plugin registered.*plugin=watcher'
    berth_crictl pull "$BUSYBOX" >/dev/null
    pod_and_ctr_json
    POD=$(berth_crictl runp "$BERTH_TMP/pod.json")
    CTR=$(berth_crictl create "$POD" "$BERTH_TMP/ctr.json" "$BERTH_TMP/pod.json")
    berth_crictl start "$CTR" >/dev/null
    berth_crictl stop "$CTR" >/dev/null
    berth_crictl rm "$CTR" >/dev/null
    berth_crictl stopp "$POD" >/dev/null
    berth_crictl rmp "$POD" >/dev/null
    wait_log "$BERTH_TMP/watcher.log" '^remove-pod name=nripod$'
    run grep -E '^(run-pod|stop-pod|remove-pod|create-container|start-container|stop-container|remove-container) ' "$BERTH_TMP/watcher.log"
    [ "${lines[0]}" = "run-pod name=nripod" ]
    [ "${lines[1]}" = "create-container name=nrictr pod=nripod" ]
    [ "${lines[2]}" = "start-container name=nrictr" ]
    [ "${lines[3]}" = "stop-container name=nrictr" ]
    [ "${lines[4]}" = "remove-container name=nrictr" ]
    [ "${lines[5]}" = "stop-pod name=nripod" ]
    [ "${lines[6]}" = "remove-pod name=nripod" ]
    [ "${#lines[@]}" -eq 7 ]
}

@test "nri: a plugin failing RunPodSandbox fails it with nothing left; the retry succeeds" {
    with_images
    start_nri
    plugin podrefuser 10 -fail-run-pod
    wait_log "$BERTH_LOG" 'NRI plugin registered.*plugin=podrefuser'
    pod_and_ctr_json
    awk -v d="$BERTH_TMP/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort >"$BERTH_TMP/m0"
    run berth_crictl runp "$BERTH_TMP/pod.json"
    [ "$status" -ne 0 ]
    [[ $output == *"10-podrefuser"*"refuses pod nripod"* ]]
    [ -z "$(berth_crictl pods -q)" ]
    # nothing of the pod is left mounted or on disk (run/ns is the node's
    # namespace pin directory, mounted once for every pod)
    awk -v d="$BERTH_TMP/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts |
        grep -vx "$BERTH_RUNROOT/ns" | sort >"$BERTH_TMP/m1"
    diff "$BERTH_TMP/m0" "$BERTH_TMP/m1"
    [ -z "$(ls -A "$BERTH_ROOT/pods" "$BERTH_RUNROOT/pods" 2>/dev/null | grep -v ':$' | grep -v '^$')" ]
    kill "${PLUGIN_PIDS[0]}"
    wait_log "$BERTH_LOG" 'NRI plugin disconnected.*plugin=podrefuser'
    POD=$(berth_crictl runp "$BERTH_TMP/pod.json")
    [[ $POD =~ ^[0-9a-f]{64}$ ]]
}

@test "nri: a plugin connecting later is synchronized with the pods and containers there are" {
    with_images
    start_nri
    berth_crictl pull "$BUSYBOX" >/dev/null
    pod_and_ctr_json
    POD=$(berth_crictl runp "$BERTH_TMP/pod.json")
    CTR=$(berth_crictl create "$POD" "$BERTH_TMP/ctr.json" "$BERTH_TMP/pod.json")
    plugin late 10
    wait_log "$BERTH_TMP/late.log" '^synchronize pods=1 containers=1$'
    grep -q "^synchronize pod id=$POD name=nripod namespace=it$" "$BERTH_TMP/late.log"
    grep -q "^synchronize container id=$CTR name=nrictr pod=$POD$" "$BERTH_TMP/late.log"
    # removed ones are forgotten
    berth_crictl rm "$CTR" >/dev/null
    berth_crictl rmp -f "$POD" >/dev/null
    plugin later 20
    wait_log "$BERTH_TMP/later.log" '^synchronize pods=0 containers=0$'
}

@test "nri: a pre-installed plugin is started with a connected socket and its configuration" {
    mkdir -p "$BERTH_TMP/plugins" "$BERTH_TMP/plugin-conf"
    cp "$NRI_PLUGIN" "$BERTH_TMP/plugins/05-preinst"
    echo "log=$BERTH_TMP/preinst.log" >"$BERTH_TMP/plugin-conf/preinst.conf"
    start_nri --set "crio.nri.nri_plugin_dir=$BERTH_TMP/plugins" \
        --set "crio.nri.nri_plugin_config_dir=$BERTH_TMP/plugin-conf" \
        --set crio.nri.nri_disable_connections=true
    wait_log "$BERTH_LOG" 'NRI plugin registered.*plugin=preinst index=05'
    grep -q "^configure runtime=berth .*config=\"log=$BERTH_TMP/preinst.log" "$BERTH_TMP/preinst.log"
    grep -q '^synchronize pods=0 containers=0$' "$BERTH_TMP/preinst.log"
    # no socket with nri_disable_connections
    [ ! -e "$NRI_SOCK" ]
}

# ctr_create_start: the pod and the container of pod_and_ctr_json, started
ctr_create_start() {
    berth_crictl pull "$BUSYBOX" >/dev/null
    pod_and_ctr_json
    POD=$(berth_crictl runp "$BERTH_TMP/pod.json")
    CTR=$(berth_crictl create "$POD" "$BERTH_TMP/ctr.json" "$BERTH_TMP/pod.json")
    berth_crictl start "$CTR" >/dev/null
}

@test "nri: args, an rlimit, a device node, a hook and a memory limit from a plugin reach the container" {
    with_images
    printf '#!/bin/sh\necho "hook ran for $1" >>%s\n' "$BERTH_TMP/hook.out" >"$BERTH_TMP/hook.sh"
    chmod 755 "$BERTH_TMP/hook.sh"
    start_nri
    plugin adjuster 10 -args "sleep 301" -nofile 4242 -device /dev/nri-zero:1:5 \
        -hook "$BERTH_TMP/hook.sh" -memory 67108864
    wait_log "$BERTH_LOG" 'NRI plugin registered.*plugin=adjuster'
    ctr_create_start
    # the args replaced the kubelet's command
    run berth_crictl exec "$CTR" cat /proc/1/cmdline
    [ "$output" = "$(printf 'sleep\0301')" ] || [ "$output" = "sleep301" ]
    # RLIMIT_NOFILE on the container's process (an exec has its own)
    run berth_crictl exec "$CTR" grep 'Max open files' /proc/1/limits
    [[ $output == *4242*4242* ]]
    # the device node, usable: the cgroup rule came with it
    run berth_crictl exec "$CTR" ls -l /dev/nri-zero
    [[ $output == c* ]] && [[ $output == *"1,"*5* ]]
    run berth_crictl exec "$CTR" sh -c 'head -c 3 /dev/nri-zero | wc -c'
    [ "$output" = 3 ]
    # the hook ran once, with its args
    [ "$(cat "$BERTH_TMP/hook.out")" = "hook ran for nrictr" ]
    # the memory limit, in the container's cgroup (v1 or v2)
    run berth_crictl exec "$CTR" sh -c \
        'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'
    [ "$output" = 67108864 ]
}

@test "nri: two plugins setting RLIMIT_NOFILE conflict, naming both" {
    with_images
    start_nri
    plugin first 10 -no-env -nofile 1000
    plugin second 20 -no-env -nofile 2000
    wait_log "$BERTH_LOG" 'NRI plugins in call order.*plugins=10-first,20-second'
    berth_crictl pull "$BUSYBOX" >/dev/null
    pod_and_ctr_json
    POD=$(berth_crictl runp "$BERTH_TMP/pod.json")
    run berth_crictl create "$POD" "$BERTH_TMP/ctr.json" "$BERTH_TMP/pod.json"
    [ "$status" -ne 0 ]
    [[ $output == *"10-first and 20-second both adjust rlimit RLIMIT_NOFILE"* ]]
    [ -z "$(berth_crictl ps -a -q)" ]
}

@test "nri: the default validator refuses a hook with nothing left; the retry succeeds" {
    with_images
    start_nri --set crio.nri.default_validator.enable=true \
        --set crio.nri.default_validator.reject_oci_hook_adjustment=true
    plugin hooker 10 -hook /bin/true
    wait_log "$BERTH_LOG" 'NRI plugin registered.*plugin=hooker'
    berth_crictl pull "$BUSYBOX" >/dev/null
    pod_and_ctr_json
    POD=$(berth_crictl runp "$BERTH_TMP/pod.json")
    refused_then_retried hooker '*PermissionDenied*10-hooker*reject_oci_hook_adjustment*'
}

@test "nri: a plugin removing the network namespace puts the container in the node's" {
    with_images
    start_nri
    plugin hostnet 10 -remove-ns network
    wait_log "$BERTH_LOG" 'NRI plugin registered.*plugin=hostnet'
    ctr_create_start
    # the runtime's own network namespace, which is this shell's
    run berth_crictl exec "$CTR" readlink /proc/1/ns/net
    [ "$output" = "$(readlink /proc/$$/ns/net)" ]
}

@test "nri: reject_namespace_adjustment refuses the same, naming plugin and namespace" {
    with_images
    start_nri --set crio.nri.default_validator.enable=true \
        --set crio.nri.default_validator.reject_namespace_adjustment=true
    plugin hostnet 10 -remove-ns network
    wait_log "$BERTH_LOG" 'NRI plugin registered.*plugin=hostnet'
    berth_crictl pull "$BUSYBOX" >/dev/null
    pod_and_ctr_json
    POD=$(berth_crictl runp "$BERTH_TMP/pod.json")
    run berth_crictl create "$POD" "$BERTH_TMP/ctr.json" "$BERTH_TMP/pod.json"
    [ "$status" -ne 0 ]
    [[ $output == *PermissionDenied*"10-hostnet adjusts the network namespace"*"reject_namespace_adjustment"* ]]
}

@test "nri: a plugin's CDI device is resolved like the kubelet's; its mount removal drops the kubelet's mount" {
    with_images
    mkdir -p "$BERTH_TMP/cdi" "$BERTH_TMP/kube"
    cat >"$BERTH_TMP/cdi/vendor.json" <<EOF
{"cdiVersion":"0.6.0","kind":"example.com/nri",
 "devices":[{"name":"dev0","containerEdits":{"env":["CDI_FROM_NRI=dev0"],
   "deviceNodes":[{"path":"/dev/cdi-nri","hostPath":"/dev/null"}]}}]}
EOF
    start_nri --set "crio.runtime.cdi_spec_dirs=$BERTH_TMP/cdi"
    plugin cdier 10 -no-env -cdi example.com/nri=dev0 -unmount /kube
    wait_log "$BERTH_LOG" 'NRI plugin registered.*plugin=cdier'
    berth_crictl pull "$BUSYBOX" >/dev/null
    pod_and_ctr_json
    sed -i "s|\"log_path\"|\"mounts\":[{\"container_path\":\"/kube\",\"host_path\":\"$BERTH_TMP/kube\"}],\"log_path\"|" \
        "$BERTH_TMP/ctr.json"
    POD=$(berth_crictl runp "$BERTH_TMP/pod.json")
    CTR=$(berth_crictl create "$POD" "$BERTH_TMP/ctr.json" "$BERTH_TMP/pod.json")
    berth_crictl start "$CTR" >/dev/null
    run berth_crictl exec "$CTR" sh -c 'echo $CDI_FROM_NRI; ls -l /dev/cdi-nri; ls -d /kube 2>&1'
    [[ ${lines[0]} == dev0 ]]
    [[ ${lines[1]} == c*"1,"*3*/dev/cdi-nri ]]
    [[ ${lines[2]} == *"No such file"* ]]
    ! grep -q "$BERTH_TMP/kube" "$BERTH_RUNROOT/containers/$CTR/config.json"
}

# cg CTR FILE: a cgroup (v1) file of the container, read inside it
cg() {
    berth_crictl exec -s "$1" cat "/sys/fs/cgroup/$2"
}

# second_json: $BERTH_TMP/ctr2.json, another busybox sleeping
second_json() {
    cat >"$BERTH_TMP/ctr2.json" <<EOF
{"metadata":{"name":"second"},"image":{"image":"$BUSYBOX"},"log_path":"c2.log",
 "command":["sleep","300"]}
EOF
}

@test "nri: UpdateContainer: a plugin sets the CPU shares of a memory update; PostUpdate follows" {
    with_images
    start_nri
    plugin updater 10 -update-shares 300
    wait_log "$BERTH_LOG" 'NRI plugin registered.*plugin=updater'
    ctr_create_start
    [[ $(cg "$CTR" cpu/cpu.shares) != 300 ]]
    berth_crictl update --memory 67108864 "$CTR"
    [[ $(cg "$CTR" memory/memory.limit_in_bytes) == 67108864 ]]
    [[ $(cg "$CTR" cpu/cpu.shares) == 300 ]]
    grep -q '^update-container name=nrictr memory=67108864$' "$BERTH_TMP/updater.log"
    wait_log "$BERTH_TMP/updater.log" '^post-update-container name=nrictr$'
    # the record has the plugin's shares too
    [[ $(berth_crictl inspect "$CTR" | jq -r .status.resources.linux.cpuShares) == 300 ]]
}

@test "nri: a plugin updates another container at CreateContainer" {
    with_images
    start_nri
    plugin other 10 -update-other nrictr=333
    wait_log "$BERTH_LOG" 'NRI plugin registered.*plugin=other'
    ctr_create_start
    [[ $(cg "$CTR" cpu/cpu.shares) != 333 ]]
    second_json
    CTR2=$(berth_crictl create "$POD" "$BERTH_TMP/ctr2.json" "$BERTH_TMP/pod.json")
    [[ $CTR2 =~ ^[0-9a-f]{64}$ ]]
    grep -q '^update-other name=nrictr shares=333$' "$BERTH_TMP/other.log"
    # applied before the creation answered
    [[ $(cg "$CTR" cpu/cpu.shares) == 333 ]]
}

@test "nri: a plugin's own UpdateContainers is applied; the missing container is answered failed" {
    with_images
    start_nri
    plugin rebalancer 10 -unsolicited nrictr=444
    wait_log "$BERTH_LOG" 'NRI plugin registered.*plugin=rebalancer'
    ctr_create_start
    wait_log "$BERTH_TMP/rebalancer.log" '^unsolicited shares=444 failed=1 err=<nil> failed-ids=0{64}$'
    [[ $(cg "$CTR" cpu/cpu.shares) == 444 ]]
    grep -q 'NRI container update failed.*plugin=10-rebalancer' "$BERTH_LOG"
}

@test "nri: Post events in order; a plugin sees only the events it subscribed to" {
    with_images
    start_nri
    plugin watcher 10
    plugin narrow 20 -events PostStartContainer
    wait_log "$BERTH_LOG" 'NRI plugin registered.*plugin=watcher'
    wait_log "$BERTH_LOG" 'NRI plugin registered.*plugin=narrow.*events=0x40'
    ctr_create_start
    berth_crictl update --memory 67108864 "$CTR"
    berth_crictl stop "$CTR" >/dev/null
    berth_crictl rm "$CTR" >/dev/null
    wait_log "$BERTH_TMP/watcher.log" '^remove-container name=nrictr$'
    run grep -E '^(post-)?(create|start|update|stop|remove)-container ' "$BERTH_TMP/watcher.log"
    [ "${lines[0]}" = "create-container name=nrictr pod=nripod" ]
    [ "${lines[1]}" = "post-create-container name=nrictr" ]
    [ "${lines[2]}" = "start-container name=nrictr" ]
    [ "${lines[3]}" = "post-start-container name=nrictr" ]
    [ "${lines[4]}" = "update-container name=nrictr memory=67108864" ]
    [ "${lines[5]}" = "post-update-container name=nrictr" ]
    [ "${lines[6]}" = "stop-container name=nrictr" ]
    [ "${lines[7]}" = "remove-container name=nrictr" ]
    [ "${#lines[@]}" -eq 8 ]
    run grep -vE '^(configure|synchronize) ' "$BERTH_TMP/narrow.log"
    [ "$output" = "post-start-container name=nrictr" ]
}

@test "nri: after a restart, Synchronize includes the pods and containers restored from disk; its updates apply" {
    with_images
    start_nri
    ctr_create_start
    second_json
    CTR2=$(berth_crictl create "$POD" "$BERTH_TMP/ctr2.json" "$BERTH_TMP/pod.json")
    stop_berthd
    start_nri
    # the plugin's answer updates the running one
    plugin afterwards 10 -sync-update nrictr=555
    wait_log "$BERTH_TMP/afterwards.log" '^synchronize pods=1 containers=2$'
    grep -q "^synchronize pod id=$POD name=nripod namespace=it$" "$BERTH_TMP/afterwards.log"
    grep -q "^synchronize container id=$CTR name=nrictr pod=$POD$" "$BERTH_TMP/afterwards.log"
    grep -q "^synchronize container id=$CTR2 name=second pod=$POD$" "$BERTH_TMP/afterwards.log"
    local i
    for ((i = 0; i < 50; i++)); do
        [[ $(cg "$CTR" cpu/cpu.shares) == 555 ]] && break
        sleep 0.2
    done
    [[ $(cg "$CTR" cpu/cpu.shares) == 555 ]]
}

@test "nri: Synchronize over the 4 MiB message limit is split and the plugin gets every container" {
    with_images
    start_nri
    berth_crictl pull "$BUSYBOX" >/dev/null
    pod_and_ctr_json
    POD=$(berth_crictl runp "$BERTH_TMP/pod.json")
    # 20 containers with a 250 kB annotation each: about 5 MB of containers
    local big i
    big=$(head -c 250000 /dev/zero | tr '\0' a)
    for ((i = 0; i < 20; i++)); do
        printf '{"metadata":{"name":"big%d"},"image":{"image":"%s"},"log_path":"b%d.log","command":["sleep","300"],"annotations":{"big":"%s"}}' \
            "$i" "$BUSYBOX" "$i" "$big" >"$BERTH_TMP/big.json"
        berth_crictl create "$POD" "$BERTH_TMP/big.json" "$BERTH_TMP/pod.json" >/dev/null
    done
    plugin bigsync 10
    wait_log "$BERTH_TMP/bigsync.log" '^synchronize pods=1 containers=20$' || { cat "$BERTH_TMP/bigsync.out"; false; }
    grep -Eq 'NRI Synchronize split.*containers=20 messages=2' "$BERTH_LOG"
    wait_log "$BERTH_LOG" 'NRI plugin registered.*plugin=bigsync'
}
