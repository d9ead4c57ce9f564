#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The heavy-load path (DESIGN.md §3) against the real berthd: a CNI plugin
# that counts its ADD calls and sleeps before running the real bridge, and
# perf/kubelet-sim, the project's kubelet-like C client (short deadline,
# same request retried after a backoff). What must hold: the CNI ADD runs
# once, no error but DEADLINE_EXCEEDED reaches the client, and the retry that
# is stalled when the CNI finishes gets the sandbox ID at once.

load helpers

BRIDGE=berthit2
SUBNET=10.213.11.0/24
KUBESIM=${KUBESIM:-$BERTH_SRC/build/perf/kubelet-sim}

setup() {
    berth_setup
    sed -i "s|^plugin_dirs = .*|plugin_dirs = [\"/usr/lib/cni\", \"$FIXTURES/cni/plugins\"]|" \
        "$BERTH_CONF"
}

teardown() {
    berth_teardown
    ip link del "$BRIDGE" 2>/dev/null || true
}

slow_conflist() { # SECONDS
    sed -e "s|@NAME@|slow|" -e "s|@BRIDGE@|$BRIDGE|" -e "s|@SUBNET@|$SUBNET|" \
        -e "s|@DATADIR@|$BERTH_TMP/cni-ipam|" -e "s|@SECONDS@|$1|" \
        -e "s|@COUNTFILE@|$BERTH_TMP/adds|" \
        "$FIXTURES/cni/slow-bridge.conflist.in" >"$BERTH_NET_DIR/10-slow.conflist"
}

# run_kubelet DEADLINE BACKOFF [MAX]: one pod, kubelet-style; JSON in $BERTH_TMP/sim.json
run_kubelet() {
    [[ -x $KUBESIM ]] || skip "kubelet-sim not built: $KUBESIM"
    "$KUBESIM" --socket "$BERTH_SOCK" --name slowpod --uid "u-$$" --namespace it \
        --deadline "$1" --backoff "$2" --max "${3:-60}" --json "$BERTH_TMP/sim.json"
}

# The figures the issue asks for, printed for the record (TAP comments).
report() {
    local j=$BERTH_TMP/sim.json
    local ok_start ok_end ready_line
    ok_start=$(jq '.run_pod_sandbox.attempt_log[-1].start_s' "$j")
    ok_end=$(jq '.run_pod_sandbox.attempt_log[-1].end_s' "$j")
    echo "# errors seen: $(jq -c '.run_pod_sandbox.errors' "$j")" >&3
    echo "# attempts: $(jq '.run_pod_sandbox.attempts' "$j"), CNI ADD calls: $(wc -l <"$BERTH_TMP/adds")" >&3
    echo "# successful attempt: started ${ok_start}s, answered ${ok_end}s after the first request" >&3
    ready_line=$(grep 'pod sandbox ready' "$BERTH_LOG" | head -n 1)
    echo "# berthd: ${ready_line##*took_ms=} ms of creation" >&3
}

@test "slow CNI (4 s), deadline 2 s, backoff 1 s: one deadline error, one ADD, the stalled retry gets the ID" {
    slow_conflist 4
    cat >>"$BERTH_CONF" <<EOF
[crio.names]
stall_margin = "200ms"
EOF
    start_berthd
    run_kubelet 2 1
    report
    j=$BERTH_TMP/sim.json
    [[ $(jq -r .ok "$j") == true ]]
    [[ $(jq -c '.run_pod_sandbox.errors' "$j") == '{"DEADLINE_EXCEEDED":1}' ]]
    [[ $(wc -l <"$BERTH_TMP/adds") == 1 ]]
    # The success went to the retry that was waiting when the CNI finished:
    # it was stalled, and the result never had to be stashed for a later one.
    grep -q 'request stalled' "$BERTH_LOG"
    run grep -q 'result stashed' "$BERTH_LOG"
    [ "$status" -ne 0 ]
    [[ $(berth_crictl pods -q | wc -l) == 1 ]]
}

@test "slow CNI (6 s), deadline 2 s, backoff 1 s: still one ADD; only deadline errors; the stalled retry gets the ID" {
    slow_conflist 6
    start_berthd
    run_kubelet 2 1
    report
    j=$BERTH_TMP/sim.json
    [[ $(jq -r .ok "$j") == true ]]
    [[ $(wc -l <"$BERTH_TMP/adds") == 1 ]]
    # every failed attempt is a DEADLINE_EXCEEDED naming the stage (no
    # "name is reserved", no other code)
    [[ $(jq '[.run_pod_sandbox.attempt_log[] | select(.code != "OK" and .code != "DEADLINE_EXCEEDED")] | length' "$j") == 0 ]]
    [[ $(jq '[.run_pod_sandbox.attempt_log[] | select(.code == "DEADLINE_EXCEEDED") | select(.message | test("CNI ADD"))] | length' "$j") == $(jq '.run_pod_sandbox.errors.DEADLINE_EXCEEDED' "$j") ]]
    # every attempt but the last one is a deadline error (each retry's 2 s
    # window that ends before the ADD does), and the last one is the retry
    # that was waiting when the ADD ended: no stash, no extra round
    [[ $(jq '.run_pod_sandbox.errors.DEADLINE_EXCEEDED' "$j") == $(($(jq '.run_pod_sandbox.attempts' "$j") - 1)) ]]
    grep -q 'request stalled' "$BERTH_LOG"
    run grep -q 'result stashed' "$BERTH_LOG"
    [ "$status" -ne 0 ]
}

@test "a pod whose creation fails while a retry waits: the retry gets the plugin's message" {
    sed -e "s|@NAME@|failing|" -e "s|@BRIDGE@|$BRIDGE|" -e "s|@SUBNET@|$SUBNET|" \
        -e "s|@DATADIR@|$BERTH_TMP/cni-ipam|" -e "s|@MESSAGE@|no room on the bridge|" \
        "$FIXTURES/cni/fail-bridge.conflist.in" >"$BERTH_NET_DIR/10-fail.conflist"
    # fail-bridge runs after a slow bridge so that the retry is waiting
    jq '.plugins[0].type = "slow-bridge" | .plugins[0].slowAddSeconds = 3 |
        .plugins[0].countFile = "'"$BERTH_TMP/adds"'"' \
        "$BERTH_NET_DIR/10-fail.conflist" >"$BERTH_TMP/f" && mv "$BERTH_TMP/f" "$BERTH_NET_DIR/10-fail.conflist"
    cat >>"$BERTH_CONF" <<EOF
[crio.names]
stall_margin = "200ms"
EOF
    start_berthd
    # gives up after the second attempt (the one that gets the failure)
    run_kubelet 2 1 4 || true
    j=$BERTH_TMP/sim.json
    sleep 1
    jq -c '.run_pod_sandbox.attempt_log' "$j"
    [[ $(jq -r '.run_pod_sandbox.attempt_log[1].code' "$j") != DEADLINE_EXCEEDED ]]
    [[ $(jq -r '.run_pod_sandbox.attempt_log[1].message' "$j") == *"plugin fail-bridge (ADD) failed: no room on the bridge"* ]]
    [[ $(jq '.run_pod_sandbox.attempts' "$j") == 2 ]]
    [[ $(jq -r '.run_pod_sandbox.attempt_log[0].code' "$j") == DEADLINE_EXCEEDED ]]
    # nothing left: no record, no pins, no addresses, no veth
    [[ $(ls "$BERTH_ROOT/pods" | wc -l) == 0 ]]
    [[ $(find "$BERTH_RUNROOT/ns" -type f 2>/dev/null | wc -l) == 0 ]]
    [[ $(ls "$BERTH_TMP"/cni-ipam/*/ 2>/dev/null | grep -c '^10\.') == 0 ]]
    # (a veth goes when its namespace does; the kernel frees a namespace
    # asynchronously once its last pin is gone)
    for i in $(seq 1 50); do
        [[ $(ip -o link show master "$BRIDGE" 2>/dev/null | wc -l) == 0 ]] && break
        sleep 0.1
    done
    grep -i 'rollback\|DEL' "$BERTH_LOG" || true
    [[ $(ip -o link show master "$BRIDGE" 2>/dev/null | wc -l) == 0 ]]
}
