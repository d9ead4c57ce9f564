#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Pod and container stats and cAdvisor's metrics from the CRI
# (PodSandboxStats, ListPodSandboxStats, ContainerStats, StreamContainerStats,
# ListMetricDescriptors, ListPodSandboxMetrics, StreamPodSandboxMetrics;
# docs/observability.md) through crictl statsp, stats, metricdescs and
# metricsp and perf/berth-cri-list against a private berthd, real runc, CNI
# (bridge berthit28, 10.213.28.0/24) and the offline test registry: a pod
# with a kubelet-style cgroup_parent runs a container that burns CPU and
# sends traffic to the bridge; its stats show CPU (total and rate), memory
# and the eth0 counters from the pod's own network namespace, and the
# container's figures inside them; the label filter and a pod ID pick it.
# The container's own stats carry rss, faults, available bytes, swap, the
# CPU rate and, on cgroup v2 with PSI, pressure; its metrics carry cAdvisor's
# names and labels.

load helpers

BRIDGE=berthit28
SUBNET=10.213.28.0/24

setup_file() {
    berth_images_setup_file
}

setup() {
    UID_=stats-$$-$BATS_TEST_NUMBER
    POD_UID=$UID_
    CGPARENT=/kubepods/besteffort/pod$UID_
    POD_LINUX='{"cgroup_parent":"'$CGPARENT'"}'
    berth_pod_setup statstest statspod '"labels":{"tier":"statsp"}'
}

teardown() {
    berth_teardown
    ip link del "$BRIDGE" 2>/dev/null || true
    # the pod cgroup runc made as the containers' parent, in every hierarchy
    find /sys/fs/cgroup -depth -type d -path "*$CGPARENT*" -exec rmdir {} \; 2>/dev/null || true
}

# run_ctr NAME COMMAND-JSON: create and start; prints the ID
run_ctr() {
    local f=$BERTH_TMP/$1.json id
    cat >"$f" <<EOF
{"metadata":{"name":"$1"},"image":{"image":"$BUSYBOX"},"log_path":"$1.log","command":$2,
 "labels":{"io.kubernetes.pod.name":"statspod","io.kubernetes.pod.namespace":"it"},
 "linux":{"cgroup_parent":"$CGPARENT",
  "resources":{"memory_limit_in_bytes":268435456,"cpu_shares":512,"cpu_quota":400000,"cpu_period":100000},
  "security_context":{"capabilities":{"add_capabilities":["NET_RAW"]}}}}
EOF
    id=$(berth_crictl create "$POD" "$f" "$POD_JSON" 2>/dev/null) || return 1
    berth_crictl start "$id" >/dev/null || return 1
    echo "$id"
}

@test "statsp: a busy pod shows CPU, memory, eth0 traffic and its container" {
    gw=${SUBNET%0/24}1
    # CPU for a while, then pings to the bridge: traffic both ways on eth0
    id=$(run_ctr busy '["sh","-c","x=0; while [ $x -lt 300000 ]; do x=$((x+1)); done; ping -c 20 -i 0.2 -s 1000 '"$gw"'; sleep 600"]')
    # until the pings are done (busybox ping needs NET_RAW: added above)
    for ((i = 0; i < 300; i++)); do
        grep -q 'packet loss' "$BERTH_TMP/logs/busy.log" 2>/dev/null && break
        sleep 0.1
    done
    cat "$BERTH_TMP/logs/busy.log"
    grep -q ' 0% packet loss' "$BERTH_TMP/logs/busy.log"
    run berth_crictl statsp -o json "$POD"
    echo "$output"
    [ "$status" -eq 0 ]
    st=$(jq '.stats[0]' <<<"$output")
    [[ $(jq -r '.attributes.id' <<<"$st") == "$POD" ]]
    [[ $(jq -r '.attributes.metadata.name' <<<"$st") == statspod ]]
    [[ $(jq -r '.attributes.labels.tier' <<<"$st") == statsp ]]
    cpu=$(jq -r '.linux.cpu.usageCoreNanoSeconds.value' <<<"$st")
    mem=$(jq -r '.linux.memory.workingSetBytes.value' <<<"$st")
    rx=$(jq -r '.linux.network.defaultInterface.rxBytes.value' <<<"$st")
    tx=$(jq -r '.linux.network.defaultInterface.txBytes.value' <<<"$st")
    [[ $cpu -gt 1000000 ]]
    [[ $mem -gt 0 ]]
    [[ $(jq -r '.linux.network.defaultInterface.name' <<<"$st") == eth0 ]]
    [[ $rx -gt 20000 && $tx -gt 20000 ]]
    [[ $(jq -r '.linux.process.processCount.value' <<<"$st") -ge 1 ]]
    # the container's own figures, inside the pod's
    [[ $(jq -r '.linux.containers | length' <<<"$st") == 1 ]]
    [[ $(jq -r '.linux.containers[0].attributes.id' <<<"$st") == "$id" ]]
    # a later call, past a refresh: the rate is there and CPU did not go back
    sleep 6
    run berth_crictl statsp -o json "$POD"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $(jq -r '.stats[0].linux.cpu.usageNanoCores.value' <<<"$output") != null ]]
    [[ $(jq -r '.stats[0].linux.cpu.usageCoreNanoSeconds.value' <<<"$output") -ge $cpu ]]
    # the list with filters
    [[ $(berth_crictl statsp -o json --label tier=statsp | jq '.stats | length') == 1 ]]
    [[ $(berth_crictl statsp -o json --label tier=none | jq '.stats | length') == 0 ]]
    [[ $(berth_crictl statsp -o json | jq --arg p "$POD" '[.stats[] | select(.attributes.id == $p)] | length') == 1 ]]
}

@test "statsp: an unknown pod lists nothing; a stopped pod is listed without network figures" {
    # crictl statsp ID lists with an ID filter
    run berth_crictl statsp -o json 0123456789abcdef0123
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $(jq '.stats | length' <<<"$output") == 0 ]]
    berth_crictl stopp "$POD" >/dev/null
    run berth_crictl statsp -o json "$POD"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $(jq -r '.stats[0].attributes.id' <<<"$output") == "$POD" ]]
    [[ $(jq -r '.stats[0].linux.network' <<<"$output") == null ]]
}

# cgroup_v2_psi: the node is cgroup v2 with PSI (then the stats carry pressure)
cgroup_v2_psi() {
    [[ -e /sys/fs/cgroup/cgroup.controllers && -e /sys/fs/cgroup/cpu.pressure ]]
}

@test "stats: a busy container shows rss, faults, available bytes, swap and its CPU rate; StreamContainerStats lists it once" {
    id=$(run_ctr busy '["sh","-c","x=0; while [ $x -lt 300000 ]; do x=$((x+1)); done; sleep 600"]')
    sleep 2
    run berth_crictl stats -o json --id "$id"
    echo "$output"
    [ "$status" -eq 0 ]
    st=$(jq '.stats[0]' <<<"$output")
    [[ $(jq -r '.attributes.id' <<<"$st") == "$id" ]]
    [[ $(jq -r '.cpu.usageCoreNanoSeconds.value' <<<"$st") -gt 1000000 ]]
    [[ $(jq -r '.memory.rssBytes.value' <<<"$st") -gt 0 ]]
    [[ $(jq -r '.memory.pageFaults.value' <<<"$st") -gt 0 ]]
    # the limit (256 MiB) less the working set
    avail=$(jq -r '.memory.availableBytes.value' <<<"$st")
    ws=$(jq -r '.memory.workingSetBytes.value' <<<"$st")
    [[ $avail -gt 0 && $((avail + ws)) -eq 268435456 ]]
    # swap where the kernel accounts it (v1 memsw files, v2 memory.swap.current)
    if compgen -G "/sys/fs/cgroup/memory/kubepods/memory.memsw.usage_in_bytes" >/dev/null ||
        compgen -G "/sys/fs/cgroup/kubepods*/memory.swap.current" >/dev/null; then
        [[ $(jq -r '.swap.timestamp' <<<"$st") != null ]]
    fi
    if cgroup_v2_psi; then
        [[ $(jq -r '.cpu.psi.Some.Total // .cpu.psi.some.total' <<<"$st") != null ]]
        [[ $(jq -r '.io.psi' <<<"$st") != null ]]
    else
        [[ $(jq -r '.cpu.psi' <<<"$st") == null ]]
    fi
    # past a refresh: the rate from two background reads
    sleep 6
    run berth_crictl stats -o json --id "$id"
    echo "$output"
    [[ $(jq -r '.stats[0].cpu.usageNanoCores.value' <<<"$output") != null ]]
    # the stream form: every container in exactly one message, then OK
    [[ -x $BERTH_SRC/build/perf/berth-cri-list ]] || skip "build/perf/berth-cri-list not built"
    run "$BERTH_SRC/build/perf/berth-cri-list" --socket "$BERTH_SOCK" StreamContainerStats
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $(grep -c "item $id" <<<"$output") == 1 ]]
    grep -q '^status 0' <<<"$output"
}

@test "metrics: cAdvisor's descriptors, and a busy pod's metrics with its container's" {
    gw=${SUBNET%0/24}1
    id=$(run_ctr busy '["sh","-c","x=0; while [ $x -lt 300000 ]; do x=$((x+1)); done; ping -c 10 -i 0.2 -s 1000 '"$gw"'; sleep 600"]')
    for ((i = 0; i < 300; i++)); do
        grep -q 'packet loss' "$BERTH_TMP/logs/busy.log" 2>/dev/null && break
        sleep 0.1
    done
    run berth_crictl metricdescs -o json
    echo "$output" | head -c 2000
    [ "$status" -eq 0 ]
    descs=$output
    for m in container_cpu_usage_seconds_total container_cpu_user_seconds_total \
        container_cpu_system_seconds_total container_memory_usage_bytes \
        container_memory_working_set_bytes container_memory_rss container_memory_cache \
        container_memory_swap container_memory_failcnt container_memory_failures_total \
        container_oom_events_total container_processes container_network_receive_bytes_total \
        container_network_transmit_bytes_total container_network_receive_packets_total \
        container_network_transmit_packets_total container_network_receive_errors_total \
        container_network_transmit_errors_total container_network_receive_packets_dropped_total \
        container_network_transmit_packets_dropped_total container_fs_usage_bytes \
        container_last_seen container_start_time_seconds container_spec_memory_limit_bytes \
        container_spec_cpu_shares container_spec_cpu_quota container_spec_cpu_period \
        container_pressure_cpu_stalled_seconds_total container_pressure_io_waiting_seconds_total; do
        [[ $(jq --arg m "$m" '[.descriptors[] | select(.name == $m)] | length' <<<"$descs") == 1 ]] ||
            { echo "no descriptor $m"; return 1; }
    done
    [[ $(jq -c '.descriptors[] | select(.name == "container_network_receive_bytes_total") | .labelKeys' <<<"$descs") == '["container","id","image","name","namespace","pod","interface"]' ]]
    run berth_crictl metricsp -o json
    echo "$output" | head -c 4000
    [ "$status" -eq 0 ]
    pm=$(jq --arg p "$POD" '.podMetrics[] | select(.podSandboxId == $p)' <<<"$output")
    # metric NAME [EXTRA-LABEL]: the value of the pod's (or container's) metric
    pod_metric() {
        jq -r --arg n "$1" --arg x "${2:-}" '[.metrics[] | select(.name == $n and ($x == "" or (.labelValues | index($x))))][0].value.value' <<<"$pm"
    }
    ctr_metric() {
        jq -r --arg n "$1" --arg x "${2:-}" '[.containerMetrics[0].metrics[] | select(.name == $n and ($x == "" or (.labelValues | index($x))))][0].value.value' <<<"$pm"
    }
    [[ $(pod_metric container_network_receive_bytes_total eth0) -gt 10000 ]]
    [[ $(pod_metric container_network_transmit_packets_total eth0) -ge 10 ]]
    [[ $(pod_metric container_memory_working_set_bytes) -gt 0 ]]
    [[ $(jq -r '.containerMetrics[0].containerId' <<<"$pm") == "$id" ]]
    [[ $(ctr_metric container_memory_usage_bytes) -gt 0 ]]
    [[ $(ctr_metric container_processes) -ge 1 ]]
    [[ $(ctr_metric container_spec_memory_limit_bytes) == 268435456 ]]
    [[ $(ctr_metric container_spec_cpu_shares) == 512 ]]
    [[ $(ctr_metric container_spec_cpu_quota) == 400000 ]]
    [[ $(ctr_metric container_start_time_seconds) -gt 0 ]]
    [[ $(ctr_metric container_last_seen) -gt 0 ]]
    [[ $(ctr_metric container_memory_failures_total pgfault) -gt 0 ]]
    [[ $(ctr_metric container_fs_usage_bytes) != null ]]
    # the labels: container name, cgroup, image, ID, namespace and pod
    labels=$(jq -c '[.containerMetrics[0].metrics[] | select(.name == "container_memory_usage_bytes")][0].labelValues' <<<"$pm")
    echo "$labels"
    [[ $(jq -r '.[0]' <<<"$labels") == busy ]]
    [[ $(jq -r '.[1]' <<<"$labels") == "$CGPARENT/"* ]]
    [[ $(jq -r '.[2]' <<<"$labels") == "$BUSYBOX" ]]
    [[ $(jq -r '.[3]' <<<"$labels") == "$id" ]]
    [[ $(jq -r '.[4]' <<<"$labels") == it && $(jq -r '.[5]' <<<"$labels") == statspod ]]
    [[ $(jq -r '[.containerMetrics[0].metrics[] | select(.name == "container_cpu_usage_seconds_total")][0].metricType' <<<"$pm") == COUNTER ]]
    if cgroup_v2_psi; then
        [[ $(ctr_metric container_pressure_cpu_waiting_seconds_total) != null ]]
    fi
    # the stream form: the pod in exactly one message, with its container
    [[ -x $BERTH_SRC/build/perf/berth-cri-list ]] || skip "build/perf/berth-cri-list not built"
    run "$BERTH_SRC/build/perf/berth-cri-list" --socket "$BERTH_SOCK" StreamPodSandboxMetrics
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $(grep -c "item $POD .*containers 1" <<<"$output") == 1 ]]
}
