#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The crun and runc runtime handlers against a private berthd, real conmon,
# crun and runc, CNI plugins (bridge berthit14, 10.213.14.0/24) and the
# offline test registry. On this node's hybrid cgroup layout crun 1.8 refuses
# to run containers: RunPodSandbox and CreateContainer with handler crun fail
# with FAILED_PRECONDITION naming crun, the layout and the fix, and Status
# says so. With BERTH_TEST_PREPARE_NODE=1 the test runs
# scripts/prepare-node-crun.sh (and undoes it afterwards if it was the one to
# prepare the node), then runs the crictl lifecycle under crun and runc, and
# a subset of the security contexts under crun: a pod with its own user
# namespace, a recursive read-only mount, Strict supplementary groups, a
# Localhost seccomp profile, a createRuntime hook and a CDI device.

load helpers

BRIDGE=berthit14
SUBNET=10.213.14.0/24
PREPARE=$BERTH_SRC/scripts/prepare-node-crun.sh

setup_file() {
    [[ -x /usr/bin/crun && -x /usr/sbin/runc ]] || skip "crun and runc are needed"
    berth_images_setup_file
}

setup() {
    [[ -s $REG_DIR/images.txt ]] || skip "no test images"
    PREPARED_BY_TEST=
    berth_setup
    write_conflist cruntest "$BRIDGE" "$SUBNET"
    berth_conf_images runc
    BUSYBOX=registry.k8s.io/e2e-test-images/busybox:1.29-2
}

teardown() {
    berth_teardown
    ip link del "$BRIDGE" 2>/dev/null || true
    # leave the node as found
    if [[ -n $PREPARED_BY_TEST ]]; then
        "$PREPARE" undo >&2 || true
    fi
}

# node_unprepared: crun is refused here (the layout this suite is about)
node_unprepared() {
    ! "$PREPARE" status >/dev/null
}

prepare_node() {
    [[ ${BERTH_TEST_PREPARE_NODE:-0} == 1 ]] ||
        skip "set BERTH_TEST_PREPARE_NODE=1 to let the test mount the v1 hugetlb hierarchy"
    if node_unprepared; then
        PREPARED_BY_TEST=1
        "$PREPARE" apply >&2
    fi
    "$PREPARE" status >&2
}

# pod_json NAME: a pod config file; prints its path
pod_json() { berth_pod_json "$1" crun "" "$1host"; }

# ctr_json NAME JSON-FRAGMENT: a container config file; prints its path
ctr_json() { berth_ctr_json "$@"; }

# lifecycle HANDLER: pod + container under HANDLER: create, start, logs,
# exec, stop, rm; the runtime named in the container's verbose status.
lifecycle() {
    local h=$1 pj pod cj id out
    pj=$(pod_json "life$h")
    pod=$(berth_crictl runp --runtime "$h" "$pj")
    [[ $pod =~ ^[0-9a-f]{64}$ ]]
    [[ $(berth_crictl inspectp "$pod" | jq -r .status.runtimeHandler) == "$h" ]]
    cj=$(ctr_json "c$h" '"command":["sh","-c","echo hello-'"$h"'; sleep 600"]')
    id=$(berth_crictl create "$pod" "$cj" "$pj")
    [[ $id =~ ^[0-9a-f]{64}$ ]]
    berth_crictl start "$id"
    [[ $(berth_crictl inspect "$id" | jq -r .status.state) == CONTAINER_RUNNING ]]
    [[ $(berth_crictl inspect "$id" | jq -r .info.runtime) == *"$h" ]]
    out=$(berth_crictl exec -s "$id" hostname)
    [[ $out == "life${h}host" ]]
    sleep 0.3
    out=$(berth_crictl logs "$id")
    [[ $out == *"hello-$h"* ]]
    # the container really runs under that runtime
    if [[ $h == crun ]]; then
        crun --root /run/crun list | grep -q "$id"
    else
        runc --root /run/runc list | grep -q "$id"
    fi
    berth_crictl stop -t 5 "$id"
    [[ $(berth_crictl inspect "$id" | jq -r .status.state) == CONTAINER_EXITED ]]
    berth_crictl rm "$id"
    berth_crictl stopp "$pod"
    berth_crictl rmp "$pod"
}

@test "unprepared hybrid node: RunPodSandbox with crun fails clearly, Status says why" {
    node_unprepared || skip "crun already works on this node's cgroup layout"
    start_berthd
    pj=$(pod_json refused)
    run berth_crictl runp --runtime crun "$pj"
    [ "$status" -ne 0 ]
    [[ $output == *"code = FailedPrecondition"* ]]
    desc=$(grpc_desc "$output")
    echo "$desc"
    [[ $desc == RunPodSandbox:* ]]
    [[ $desc == *"runtime handler 'crun' (/usr/bin/crun)"* ]]
    [[ $desc == *hybrid* ]]
    [[ $desc == *"mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb"* ]]
    [[ $desc == *prepare-node-crun.sh* ]]
    [[ $desc == *runc* ]]
    # nothing was made for it
    [[ -z $(berth_crictl pods -q) ]]

    run berth_crictl info
    [ "$status" -eq 0 ]
    info=$output
    # the default (runc) works: the runtime is ready; crun's trouble is named
    [[ $(jq -r '.status.conditions[] | select(.type=="RuntimeReady") | .status' <<<"$info") == true ]]
    [[ $(jq -r '.status.conditions[] | select(.type=="RuntimeHandlersReady") | .status' <<<"$info") == false ]]
    [[ $(jq -r '.status.conditions[] | select(.type=="RuntimeHandlersReady") | .message' <<<"$info") == *"'crun'"*hybrid* ]]
    [[ $(jq -r '.config.runtimes.handlers.crun.usable' <<<"$info") == false ]]
    [[ $(jq -r '.config.runtimes.handlers.crun.reason' <<<"$info") == CrunHybridCgroups ]]
    [[ $(jq -r '.config.runtimes.handlers.runc.usable' <<<"$info") == true ]]
    [[ $(jq -r '.config.runtimes.cgroups.mode' <<<"$info") == hybrid ]]
    [[ $(jq -r '.config.runtimes.cgroups.v2Controllers' <<<"$info") == *hugetlb* ]]

    # runc still runs pods and containers here
    berth_crictl pull "$BUSYBOX" >/dev/null
    lifecycle runc
}

@test "unprepared hybrid node with crun as the default: RuntimeReady is false with the reason" {
    node_unprepared || skip "crun already works on this node's cgroup layout"
    start_berthd --set crio.runtime.default_runtime=crun
    run berth_crictl info
    [ "$status" -eq 0 ]
    [[ $(jq -r '.status.conditions[] | select(.type=="RuntimeReady") | .status' <<<"$output") == false ]]
    [[ $(jq -r '.status.conditions[] | select(.type=="RuntimeReady") | .reason' <<<"$output") == CrunHybridCgroups ]]
    [[ $(jq -r '.status.conditions[] | select(.type=="RuntimeReady") | .message' <<<"$output") == *"mount -t cgroup -o hugetlb"* ]]
    # no silent switch to runc: a pod without a handler gets the default's refusal
    pj=$(pod_json dflt)
    run berth_crictl runp "$pj"
    [ "$status" -ne 0 ]
    [[ $output == *"code = FailedPrecondition"* && $output == *"'crun'"* ]]
    grep -q 'the default runtime handler cannot run containers here' "$BERTH_LOG"
}

@test "prepared node: crun and runc lifecycles; a crun pod left from before fails CreateContainer clearly after undo" {
    prepare_node
    start_berthd
    run berth_crictl info
    [[ $(jq -r '.config.runtimes.handlers.crun.usable' <<<"$output") == true ]]
    [[ $(jq -r '.status.conditions[] | select(.type=="RuntimeHandlersReady") | .type' <<<"$output") == "" ]]
    berth_crictl pull "$BUSYBOX" >/dev/null
    lifecycle crun
    lifecycle runc

    # Only when this test prepared the node can it undo and look at a crun
    # pod on the unprepared layout again.
    [[ -n $PREPARED_BY_TEST ]] || return 0
    pj=$(pod_json old)
    pod=$(berth_crictl runp --runtime crun "$pj")
    stop_berthd
    "$PREPARE" undo >&2
    PREPARED_BY_TEST=
    start_berthd
    cj=$(ctr_json old '"command":["sleep","600"]')
    run berth_crictl create "$pod" "$cj" "$pj"
    [ "$status" -ne 0 ]
    [[ $output == *"code = FailedPrecondition"* ]]
    desc=$(grpc_desc "$output")
    [[ $desc == CreateContainer:*"'crun'"*hybrid*"mount -t cgroup -o hugetlb"* ]]
    [[ -z $(berth_crictl ps -a -q) ]]
}

# ---- security contexts under crun ------------------------------------------
# A representative subset of userns.bats, security.bats, security_seccomp.bats
# and security_hooks.bats under crun, so that CI (which prepares the node)
# covers crun as well; the whole files run under crun with
# BERTH_TEST_RUNTIME=crun (docs/runtimes.md).

# security_conf: hooks, CDI specs and Localhost seccomp profiles of the test
security_conf() {
    HOOKS=$BERTH_TMP/hooks.d
    CDI=$BERTH_TMP/cdi
    PROFILES=$BERTH_TMP/seccomp
    OUT=$BERTH_TMP/hookout
    mkdir -p "$HOOKS" "$CDI" "$PROFILES" "$OUT"
    cat >"$BERTH_CONF_DIR/50-security.conf" <<EOF
[crio.runtime]
hooks_dir = ["$HOOKS"]
cdi_spec_dirs = ["$CDI"]
seccomp_localhost_root = "$PROFILES"
EOF
    printf '#!/bin/sh\ncat >"$1.tmp" && mv "$1.tmp" "$1"\n' >"$OUT/hook.sh"
    chmod 755 "$OUT/hook.sh"
    cat >"$HOOKS/10-cr.json" <<EOF
{"version":"1.0.0","hook":{"path":"$OUT/hook.sh","args":["hook.sh","$OUT/createRuntime.json"]},
 "when":{"annotations":{"^crunhook$":"^yes$"}},"stages":["createRuntime"]}
EOF
    cat >"$CDI/vendor.json" <<EOF
{"cdiVersion":"0.6.0","kind":"example.com/test",
 "devices":[{"name":"dev0","containerEdits":{"env":["CDI_DEV=dev0"],
   "deviceNodes":[{"path":"/dev/cdi-null","hostPath":"/dev/null"}]}}]}
EOF
    echo '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}' \
        >"$PROFILES/nomkdir.json"
}

# crun_ctr POD POD-JSON NAME IMAGE FIELDS: create and start under the pod;
# prints the ID
crun_ctr() {
    local f=$BERTH_TMP/ctr-$3.json id
    cat >"$f" <<EOF
{"metadata":{"name":"$3"},"image":{"image":"$4"},"log_path":"$3.log",$5}
EOF
    id=$(berth_crictl create "$1" "$f" "$2") || return 1
    berth_crictl start "$id" >/dev/null || return 1
    echo "$id"
}

@test "prepared node, crun: a pod with its own user namespace (uid map, file ownership)" {
    prepare_node
    start_berthd
    grep -q "user namespaces available" "$BERTH_LOG" || skip "this kernel lacks idmapped mounts"
    berth_crictl pull "$BUSYBOX" >/dev/null
    local hid=200000
    pj=$(berth_pod_json usern crun '{"security_context":{"namespace_options":{"userns_options":{"mode":0,"uids":[{"container_id":0,"host_id":'$hid',"length":65536}],"gids":[{"container_id":0,"host_id":'$hid',"length":65536}]}}}}' usernhost)
    pod=$(berth_crictl runp --runtime crun "$pj")
    id=$(crun_ctr "$pod" "$pj" u1 "$BUSYBOX" '"command":["sleep","600"]')
    crun --root /run/crun list | grep -q "$id"
    [[ $(echo $(berth_crictl exec -s "$id" cat /proc/self/uid_map)) == "0 $hid 65536" ]]
    [[ $(echo $(berth_crictl exec -s "$id" cat /proc/self/gid_map)) == "0 $hid 65536" ]]
    pid=$(berth_crictl inspect "$id" | jq -r .info.pid)
    [[ $(awk '/^Uid:/ { print $2 }' "/proc/$pid/status") == "$hid" ]]
    # the image's files: root's inside, the mapped ID's seen from the node
    [[ $(berth_crictl exec -s "$id" stat -c %u:%g /bin/busybox) == 0:0 ]]
    [[ $(stat -c %u "/proc/$pid/root/bin/busybox") == "$hid" ]]
    berth_crictl exec -s "$id" sh -c 'echo hi >/written'
    berth_crictl rmp -f "$pod"
    run awk -v d="$BERTH_TMP/" 'index($2, d) == 1 && $2 !~ /\/run\/ns$/ { print $2 }' /proc/self/mounts
    [[ -z $output ]]
}

@test "prepared node, crun: rro, Strict groups, a Localhost seccomp profile, a createRuntime hook, a CDI device" {
    prepare_node
    security_conf
    start_berthd
    berth_crictl pull "$BUSYBOX" >/dev/null
    GROUPIMG=gcr.io/k8s-staging-cri-tools/test-image-predefined-group:latest
    berth_crictl pull "$GROUPIMG" >/dev/null
    pj=$(pod_json sec)
    pod=$(berth_crictl runp --runtime crun "$pj")
    [[ $(berth_crictl inspectp "$pod" | jq -r .status.runtimeHandler) == crun ]]

    # rro: a tmpfs under the host path is read-only inside too
    vol=$BERTH_TMP/vol
    mkdir -p "$vol/sub"
    mount -t tmpfs -o size=1m tmpfs "$vol/sub"
    rro=$(crun_ctr "$pod" "$pj" rro "$BUSYBOX" '"command":["sleep","600"],"mounts":[{"container_path":"/rro","host_path":"'"$vol"'","readonly":true,"recursive_read_only":true}]')
    run berth_crictl exec -s "$rro" touch /rro/sub/file
    umount "$vol/sub"
    [[ $status -ne 0 && $output == *"Read-only file system"* ]]

    # Strict: only the configured groups, also through the streaming exec
    strict=$(crun_ctr "$pod" "$pj" strict "$GROUPIMG" '"command":["sleep","600"],"linux":{"security_context":{"run_as_user":{"value":1000},"supplemental_groups":[1234],"supplemental_groups_policy":1}}')
    [[ $(berth_crictl exec -s "$strict" id -G) == "1000 1234" ]]
    [[ $(berth_crictl exec "$strict" id -G | tr -d '\r') == "1000 1234" ]]
    [[ $(berth_crictl inspect "$strict" | jq -c .status.user.linux.supplementalGroups) == '["1000","1234"]' ]]

    # a Localhost profile refusing mkdir
    sc=$(crun_ctr "$pod" "$pj" sc "$BUSYBOX" '"command":["sleep","600"],"linux":{"security_context":{"seccomp":{"profile_type":2,"localhost_ref":"'"$PROFILES"'/nomkdir.json"}}}')
    out=$(berth_crictl exec -s "$sc" sh -c 'mkdir /tmp/d 2>&1 && echo made || echo refused')
    [[ $out == *"not permitted"*refused* ]]

    # a createRuntime hook with the container's state; a CDI device
    hk=$(crun_ctr "$pod" "$pj" hk "$BUSYBOX" '"command":["sleep","600"],"annotations":{"crunhook":"yes"},"CDI_devices":[{"name":"example.com/test=dev0"}]')
    jq -e --arg id "$hk" '.id == $id and .pid > 0' "$OUT/createRuntime.json"
    out=$(berth_crictl exec -s "$hk" sh -c 'echo $CDI_DEV; ls -l /dev/cdi-null; echo x >/dev/cdi-null && echo wrote')
    [[ $out == *dev0* && $out == *"1,"*"3"*"/dev/cdi-null"* && $out == *wrote* ]]

    # crun's own failure to start the command is an error in its words,
    # not the command's exit code 255
    run berth_crictl exec -s "$hk" /nope
    [[ $status -ne 0 && $output == *"code = NotFound"* && $output == *"executable file \`/nope\` not found"* ]]
    # and the process crun left in the container's PID namespace is reaped:
    # the container still stops (berthd, a subreaper under berth-monitor,
    # reaps it; under conmon the node's init does, later)
    berth_crictl stop -t 1 "$hk" >/dev/null
    [[ $(berth_crictl inspect "$hk" | jq -r .status.state) == CONTAINER_EXITED ]]
    if [[ ${BERTH_TEST_MONITOR:-berth} == berth ]]; then
        grep -q 'reaped a process the runtime left in a container' "$BERTH_LOG"
    fi

    # every one of them ran under crun
    for id in "$rro" "$strict" "$sc"; do
        crun --root /run/crun list | grep -q "$id"
    done
    berth_crictl rmp -f "$pod"
}
