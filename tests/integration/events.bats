#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# GetContainerEvents through `crictl events` against a private berthd (real
# conmon and runc, CNI bridge berthit27, 10.213.27.0/24, the offline test
# registry): a container's created, started, stopped and deleted events in
# that order, each with its status and its pod's metadata, to two
# subscribers at once; a subscriber that goes away is forgotten; a
# sandbox's created, started, stopped and deleted, its ID as container_id.

load helpers

BRIDGE=berthit27
SUBNET=10.213.27.0/24

setup_file() {
    berth_images_setup_file
}

setup() {
    POD_UID=u-ev-$$-$BATS_TEST_NUMBER
    berth_pod_setup evtest evpod
    CTR_JSON=$BERTH_TMP/ctr.json
    cat >"$CTR_JSON" <<EOF
{"metadata":{"name":"ev"},"image":{"image":"$BUSYBOX"},"log_path":"ev.log",
 "command":["sleep","300"]}
EOF
    EV_PIDS=()
}

teardown() {
    local p
    for p in "${EV_PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    berth_teardown
    ip link del "$BRIDGE" 2>/dev/null || true
}

# watch FILE: a `crictl events` in the background writing to FILE (60 s at
# most); returns once berthd has the subscription
watch() {
    local before i
    before=$(grep -c 'events: subscriber added' "$BERTH_LOG" || true)
    timeout 60 crictl --config /dev/null --runtime-endpoint "unix://$BERTH_SOCK" \
        events -o json >"$1" 2>"$1.err" 3>&- &
    EV_PIDS+=($!)
    for ((i = 0; i < 100; i++)); do
        [[ $(grep -c 'events: subscriber added' "$BERTH_LOG" || true) -gt $before ]] && return 0
        sleep 0.1
    done
    return 1
}

# events_of FILE ID: the event types FILE holds for container ID, one a line
events_of() {
    jq -r --arg id "$2" 'select(.containerId == $id) | .containerEventType' "$1"
}

# wait_events FILE ID N: until FILE holds N events of ID (20 s)
wait_events() {
    local i
    for ((i = 0; i < 200; i++)); do
        [[ $(events_of "$1" "$2" 2>/dev/null | wc -l) -ge $3 ]] && return 0
        sleep 0.1
    done
    echo "# $1 has:" && cat "$1" "$1.err"
    return 1
}

@test "events: a container's life in order, with statuses, to two subscribers" {
    watch "$BERTH_TMP/ev1.json"
    watch "$BERTH_TMP/ev2.json"
    id=$(berth_crictl create "$POD" "$CTR_JSON" "$POD_JSON")
    berth_crictl start "$id"
    berth_crictl stop -t 2 "$id"
    berth_crictl rm "$id"
    for f in ev1 ev2; do
        wait_events "$BERTH_TMP/$f.json" "$id" 4
        run events_of "$BERTH_TMP/$f.json" "$id"
        [[ $output == "CONTAINER_CREATED_EVENT
CONTAINER_STARTED_EVENT
CONTAINER_STOPPED_EVENT
CONTAINER_DELETED_EVENT" ]]
    done
    # the status attached: the pod's UID, the container's state as it was
    run jq -r --arg id "$id" 'select(.containerId == $id) |
        [.podSandboxStatus.metadata.uid, .containersStatuses[0].state] | join(" ")' \
        "$BERTH_TMP/ev1.json"
    [[ ${lines[0]} == "$POD_UID CONTAINER_CREATED" ]]
    [[ ${lines[1]} == "$POD_UID CONTAINER_RUNNING" ]]
    [[ ${lines[2]} == "$POD_UID CONTAINER_EXITED" ]]
}

@test "events: a subscriber that goes away is forgotten, the others go on" {
    watch "$BERTH_TMP/ev1.json"
    gone=${EV_PIDS[0]}
    watch "$BERTH_TMP/ev2.json"
    kill "$gone"
    wait "$gone" 2>/dev/null || true
    id=$(berth_crictl create "$POD" "$CTR_JSON" "$POD_JSON")
    berth_crictl start "$id"
    wait_events "$BERTH_TMP/ev2.json" "$id" 2
    run events_of "$BERTH_TMP/ev1.json" "$id"
    [[ -z $output ]]
    berth_crictl stop -t 2 "$id"
    berth_crictl rm "$id"
    wait_events "$BERTH_TMP/ev2.json" "$id" 4
}

@test "events: a sandbox's life in order, its ID as the container ID" {
    watch "$BERTH_TMP/ev1.json"
    sed -e 's/"evpod"/"evpod2"/' -e "s/$POD_UID/$POD_UID-2/" "$POD_JSON" >"$BERTH_TMP/pod2.json"
    pod2=$(berth_crictl runp "$BERTH_TMP/pod2.json")
    berth_crictl stopp "$pod2"
    berth_crictl rmp "$pod2"
    wait_events "$BERTH_TMP/ev1.json" "$pod2" 4
    run events_of "$BERTH_TMP/ev1.json" "$pod2"
    [[ $output == "CONTAINER_CREATED_EVENT
CONTAINER_STARTED_EVENT
CONTAINER_STOPPED_EVENT
CONTAINER_DELETED_EVENT" ]]
    run jq -r --arg id "$pod2" 'select(.containerId == $id) |
        [.podSandboxStatus.metadata.uid, .podSandboxStatus.state] | join(" ")' \
        "$BERTH_TMP/ev1.json"
    [[ ${lines[0]} == "$POD_UID-2 SANDBOX_READY" ]]
    [[ ${lines[2]} == "$POD_UID-2 SANDBOX_NOTREADY" ]]
}
