#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# UpdateContainerResources through crictl against a private berthd with runc
# (the handler that runs on this node as is; BERTH_TEST_RUNTIME=crun on a
# prepared node), real CNI (bridge berthit15, 10.213.15.0/24) and the offline
# registry: the new limits reach the container's cgroups (read inside the
# container), ContainerStatus reports them, an exited container is refused,
# and the runtime's own refusal comes back in its words.

load helpers

BRIDGE=berthit15
SUBNET=10.213.15.0/24

setup_file() {
    berth_images_setup_file
}

setup() {
    [[ -d /sys/fs/cgroup/memory ]] || skip "needs the cgroup v1 memory hierarchy"
    berth_pod_setup updtest updpod
}

teardown() {
    berth_teardown
    ip link del "$BRIDGE" 2>/dev/null || true
}

# run_ctr NAME JSON-FRAGMENT: create and start; prints the ID
run_ctr() {
    local f=$BERTH_TMP/$1.json id
    cat >"$f" <<EOF
{"metadata":{"name":"$1"},"image":{"image":"$BUSYBOX"},"log_path":"$1.log",$2}
EOF
    id=$(berth_crictl create "$POD" "$f" "$POD_JSON" 2>/dev/null) || return 1
    berth_crictl start "$id" >/dev/null || return 1
    echo "$id"
}

cg() {
    berth_crictl exec -s "$1" cat "/sys/fs/cgroup/$2"
}

@test "update memory and cpu of a running container: cgroups and ContainerStatus follow" {
    id=$(run_ctr upd '"command":["sleep","600"],"linux":{"resources":{"memory_limit_in_bytes":134217728,"cpu_shares":512}}')
    [[ $(cg "$id" memory/memory.limit_in_bytes) == 134217728 ]]
    [[ $(berth_crictl inspect "$id" | jq -r .status.resources.linux.memoryLimitInBytes) == 134217728 ]]

    run berth_crictl update --memory 67108864 --cpu-quota 20000 --cpu-period 100000 "$id"
    [ "$status" -eq 0 ]
    [[ $(cg "$id" memory/memory.limit_in_bytes) == 67108864 ]]
    [[ $(cg "$id" cpu/cpu.cfs_quota_us) == 20000 ]]
    [[ $(cg "$id" cpu/cpu.cfs_period_us) == 100000 ]]
    # what the update left out stays as it was
    [[ $(cg "$id" cpu/cpu.shares) == 512 ]]
    st=$(berth_crictl inspect "$id")
    [[ $(jq -r .status.resources.linux.memoryLimitInBytes <<<"$st") == 67108864 ]]
    [[ $(jq -r .status.resources.linux.cpuQuota <<<"$st") == 20000 ]]
    [[ $(jq -r .status.resources.linux.cpuPeriod <<<"$st") == 100000 ]]
    [[ $(jq -r .status.resources.linux.cpuShares <<<"$st") == 512 ]]

    run berth_crictl update --cpu-share 256 --cpuset-cpus 0 "$id"
    [ "$status" -eq 0 ]
    [[ $(cg "$id" cpu/cpu.shares) == 256 ]]
    [[ $(cg "$id" cpuset/cpuset.cpus) == 0 ]]
    [[ $(cg "$id" memory/memory.limit_in_bytes) == 67108864 ]]
    [[ $(berth_crictl inspect "$id" | jq -r .status.resources.linux.cpusetCpus) == 0 ]]

    # the record keeps the update across a berthd restart
    stop_berthd
    start_berthd
    [[ $(berth_crictl inspect "$id" | jq -r .status.resources.linux.memoryLimitInBytes) == 67108864 ]]
    [[ $(berth_crictl inspect "$id" | jq -r .status.resources.linux.cpuShares) == 256 ]]
    # and the container still answers updates after the restart
    run berth_crictl update --memory 100663296 "$id"
    [ "$status" -eq 0 ]
    [[ $(cg "$id" memory/memory.limit_in_bytes) == 100663296 ]]
}

@test "update of an exited container is FAILED_PRECONDITION; unknown ID is NOT_FOUND" {
    id=$(run_ctr done '"command":["true"]')
    for i in $(seq 1 100); do
        [[ $(berth_crictl inspect "$id" | jq -r .status.state) == CONTAINER_EXITED ]] && break
        sleep 0.1
    done
    run berth_crictl update --memory 67108864 "$id"
    [ "$status" -ne 0 ]
    [[ $output == *"code = FailedPrecondition"* ]]
    [[ $(grpc_desc "$output") == *"$id"*"not running"* ]]
    run berth_crictl update --memory 67108864 0123456789abcdef0123456789abcdef
    [ "$status" -ne 0 ]
    [[ $output == *"code = NotFound"* ]]
}

@test "the runtime's refusal comes back in its words and the container keeps its limits" {
    id=$(run_ctr refuse '"command":["sleep","600"],"linux":{"resources":{"memory_limit_in_bytes":134217728}}')
    # a cpuset of a CPU this node does not have
    run berth_crictl update --cpuset-cpus 4095 "$id"
    [ "$status" -ne 0 ]
    desc=$(grpc_desc "$output")
    echo "$desc"
    [[ $desc == UpdateContainerResources:*"runtime update"*"$id"* ]]
    [[ $(cg "$id" memory/memory.limit_in_bytes) == 134217728 ]]
    [[ $(berth_crictl inspect "$id" | jq -r .status.resources.linux.cpusetCpus) != 4095 ]]
    # the container still works and can be updated
    run berth_crictl update --memory 67108864 "$id"
    [ "$status" -eq 0 ]
    [[ $(cg "$id" memory/memory.limit_in_bytes) == 67108864 ]]
}

# The limits kubelet v1.37 sends for a container with cpu 500m and memory
# 64Mi: hugepage limits (0) for every page size the kernel has, swap equal
# to memory where swap accounting exists. On this VM hugetlb sits only in
# the cgroup2 mount, which runc does not use on a hybrid node: runc failed
# every such container ("cannot set hugetlb limit") until berth left out the
# limits the node cannot apply.
@test "the kubelet's exact limits, hugepages included, start a container on this node's layout" {
    local hp="" sz kb name
    for sz in /sys/kernel/mm/hugepages/hugepages-*kB; do
        [[ -d $sz ]] || continue
        kb=${sz##*hugepages-}
        kb=${kb%kB}
        if ((kb % 1048576 == 0)); then name=$((kb / 1048576))GB
        elif ((kb % 1024 == 0)); then name=$((kb / 1024))MB
        else name=${kb}KB; fi
        hp+="${hp:+,}{\"page_size\":\"$name\",\"limit\":0}"
    done
    swap=0
    [[ -e /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes ]] && swap=67108864
    info=$(berth_crictl info -o json)
    ctrls=$(jq -r '.config.runtimes.cgroups.controllers' <<<"$info")
    dropped0=$(jq -r '.config.runtimes.cgroups.droppedLimits' <<<"$info")
    echo "runtime's controllers: $ctrls; huge pages: $hp"
    [[ $ctrls == *cpu* && $ctrls == *memory* ]]

    id=$(run_ctr kubeletres '"command":["sleep","600"],"linux":{"resources":{"cpu_period":100000,"cpu_quota":50000,"cpu_shares":512,"memory_limit_in_bytes":67108864,"memory_swap_limit_in_bytes":'$swap',"oom_score_adj":1000,"hugepage_limits":['"$hp"']}}')
    [[ $(berth_crictl inspect "$id" | jq -r .status.state) == CONTAINER_RUNNING ]]
    [[ $(cg "$id" cpu/cpu.cfs_quota_us) == 50000 ]]
    [[ $(cg "$id" memory/memory.limit_in_bytes) == 67108864 ]]
    dropped1=$(berth_crictl info -o json | jq -r '.config.runtimes.cgroups.droppedLimits')
    if [[ -n $hp && " $ctrls " != *" hugetlb "* ]]; then
        # each hugepage limit the node cannot apply is counted, and logged
        # at debug level, which this test's berthd does not print
        (( dropped1 - dropped0 == $(grep -o page_size <<<"$hp" | wc -l) ))
        ! grep -q 'limits the node cannot apply' "$BERTH_LOG"
    else
        (( dropped1 == dropped0 ))
    fi

    # the same update through UpdateContainerResources
    run berth_crictl update --memory 33554432 "$id"
    [ "$status" -eq 0 ]
    [[ $(cg "$id" memory/memory.limit_in_bytes) == 33554432 ]]
}

@test "a limit the node could apply but that is invalid is INVALID_ARGUMENT, and nothing is made" {
    f=$BERTH_TMP/badquota.json
    cat >"$f" <<EOF
{"metadata":{"name":"badquota"},"image":{"image":"$BUSYBOX"},"log_path":"b.log",
 "command":["sleep","600"],"linux":{"resources":{"cpu_quota":5,"cpu_period":100000}}}
EOF
    run berth_crictl create "$POD" "$f" "$POD_JSON"
    echo "$output"
    [ "$status" -ne 0 ]
    [[ $output == *InvalidArgument* && $output == *"linux.resources.cpu_quota 5"* ]]
    [[ -z $(berth_crictl ps -a -q) ]]
    [[ -z $(ls -A "$BERTH_ROOT/containers" 2>/dev/null | grep -v '^\.' || true) ]]

    id=$(run_ctr okquota '"command":["sleep","600"]')
    run berth_crictl update --cpu-quota 5 --cpu-period 100000 "$id"
    echo "$output"
    [ "$status" -ne 0 ]
    [[ $output == *InvalidArgument* && $output == *cpu_quota* ]]
}
