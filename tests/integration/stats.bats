#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Pod stats (PodSandboxStats, ListPodSandboxStats; docs/observability.md)
# through crictl statsp against a private berthd, real runc, CNI (bridge
# berthit28, 10.213.28.0/24) and the offline test registry: a pod with a
# kubelet-style cgroup_parent runs a container that burns CPU and sends
# traffic to the bridge; its stats show CPU (total and rate), memory and the
# eth0 counters from the pod's own network namespace, and the container's
# figures inside them; the label filter and a pod ID pick it.

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
 "linux":{"cgroup_parent":"$CGPARENT",
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
