#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The crun and runc runtime handlers against a private berthd, real conmon,
# crun and runc, CNI plugins (bridge berthit14, 10.213.14.0/24) and the
# offline test registry. On this node's hybrid cgroup layout crun 1.8 refuses
# to run containers: RunPodSandbox and CreateContainer with handler crun fail
# with FAILED_PRECONDITION naming crun, the layout and the fix, and Status
# says so. With BERTH_TEST_PREPARE_NODE=1 the test runs
# scripts/prepare-node-crun.sh (and undoes it afterwards if it was the one to
# prepare the node), then runs the crictl lifecycle under crun and runc.

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
