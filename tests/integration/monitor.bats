#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# berth-monitor (docs/monitor.md) against a private berthd, real runc, CNI
# (bridge berthit17, 10.213.17.0/24) and the offline test registry: the
# monitor's worker killed (the containers keep running and logging, the
# keeper starts the next worker and reaps what exits meanwhile), also after
# a berthd restart; the keeper and then the worker killed (berthd starts a
# new monitor and reaps); berthd killed (the monitor keeps logging and
# reaping, the restarted berthd reaches it); containers that end in their
# first millisecond, output in a burst, a terminal.
# Skipped when the suite runs under conmon.

load helpers

BRIDGE=berthit17
SUBNET=10.213.17.0/24

setup_file() {
    berth_images_setup_file
}

setup() {
    [[ ${BERTH_TEST_MONITOR:-berth} == berth ]] || skip "containers run under ${BERTH_TEST_MONITOR}"
    berth_pod_setup montest monpod
}

teardown() {
    berth_teardown
    ip link del "$BRIDGE" 2>/dev/null || true
}

# run_ctr NAME COMMAND-JSON: create and start; prints the ID
run_ctr() {
    local f=$BERTH_TMP/$1.json id
    cat >"$f" <<EOF
{"metadata":{"name":"$1"},"image":{"image":"$BUSYBOX"},"log_path":"$1.log","command":$2}
EOF
    id=$(berth_crictl create "$POD" "$f" "$POD_JSON" 2>/dev/null) || return 1
    berth_crictl start "$id" >/dev/null || return 1
    echo "$id"
}

# wait_state ID STATE SECONDS
wait_state() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        [[ $(berth_crictl inspect "$1" | jq -r .status.state) == "$2" ]] && return 0
        sleep 0.1
    done
    echo "container $1 is $(berth_crictl inspect "$1" | jq -r .status.state), not $2" >&2
    return 1
}

monitor_pid() {
    cat "$BERTH_RUNROOT/monitor/monitor.pid" 2>/dev/null
}

# log_lines NAME: complete stdout lines in the container's CRI log
log_lines() {
    grep -c ' stdout F line ' "$BERTH_TMP/logs/$1.log" 2>/dev/null || true
}

# wait_more_lines NAME N SECONDS: until the log has more than N lines
wait_more_lines() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        (($(log_lines "$1") > $2)) && return 0
        sleep 0.1
    done
    echo "log of $1 stuck at $(log_lines "$1") lines" >&2
    return 1
}

TICKER='["sh","-c","i=0; while :; do echo line $i; i=$((i+1)); sleep 0.1; done"]'

keeper_pid() {
    cat "$BERTH_RUNROOT/monitor/keeper.pid" 2>/dev/null
}

# wait_new_monitor OLD: until a worker other than OLD serves; prints it
wait_new_monitor() {
    local new i
    for ((i = 0; i < 50; i++)); do
        new=$(monitor_pid)
        if [[ -n $new && $new != "$1" ]] && pid_alive "$new"; then
            echo "$new"
            return 0
        fi
        sleep 0.1
    done
    echo "no new monitor worker after $1" >&2
    return 1
}

@test "the monitor is killed: containers keep running and logging; the next one takes them over; no exit code is lost" {
    local old new ticker late n keeper
    old=$(monitor_pid)
    keeper=$(keeper_pid)
    [[ $old =~ ^[0-9]+$ && $keeper =~ ^[0-9]+$ ]]
    # berthd started the keeper, the keeper the worker
    [[ $(awk '{ print $4 }' "/proc/$keeper/stat") == "$BERTHD_PID" ]]
    [[ $(awk '{ print $4 }' "/proc/$old/stat") == "$keeper" ]]
    ticker=$(run_ctr ticker "$TICKER")
    late=$(run_ctr late '["sh","-c","sleep 3; echo bye; exit 3"]')
    wait_more_lines ticker 5 10
    kill -KILL "$old"
    # the keeper starts the next worker on the same socket; berthd reconnects
    new=$(wait_new_monitor "$old")
    [[ $(awk '{ print $4 }' "/proc/$new/stat") == "$keeper" ]]
    for ((i = 0; i < 50; i++)); do
        grep -q 'container monitor worker restarted by its keeper: reconnected' "$BERTH_LOG" && break
        sleep 0.1
    done
    grep -q 'container monitor worker restarted by its keeper: reconnected' "$BERTH_LOG"
    # the ticker never stopped, and its log goes on under the new worker
    [[ $(berth_crictl inspect "$ticker" | jq -r .status.state) == CONTAINER_RUNNING ]]
    n=$(log_lines ticker)
    wait_more_lines ticker "$((n + 5))" 10
    # "late" exited while orphaned: the keeper (its subreaper) reaped it
    wait_state "$late" CONTAINER_EXITED 15
    [[ $(berth_crictl inspect "$late" | jq -r .status.exitCode) == 3 ]]
    grep -q 'stdout F bye' "$BERTH_TMP/logs/late.log"
    # the ticker is stopped under the new worker: SIGTERM is discarded by a
    # sh as PID 1, so the kill after the timeout ends it (137)
    berth_crictl stop --timeout 1 "$ticker" >/dev/null
    wait_state "$ticker" CONTAINER_EXITED 15
    [[ $(berth_crictl inspect "$ticker" | jq -r .status.exitCode) == 137 ]]
    # a new container runs under the new worker
    local fresh
    fresh=$(run_ctr fresh '["sh","-c","echo fresh; exit 4"]')
    wait_state "$fresh" CONTAINER_EXITED 10
    [[ $(berth_crictl inspect "$fresh" | jq -r .status.exitCode) == 4 ]]
    grep -q 'stdout F fresh' "$BERTH_TMP/logs/fresh.log"
}

@test "berthd killed and restarted, then the monitor killed: the keeper still reaps; nothing is lost" {
    local ticker late old new n
    ticker=$(run_ctr ticker "$TICKER")
    late=$(run_ctr late '["sh","-c","sleep 4; echo bye; exit 8"]')
    wait_more_lines ticker 3 10
    kill -KILL "$BERTHD_PID"
    wait "$BERTHD_PID" 2>/dev/null || true
    BERTHD_PID=
    start_berthd
    old=$(monitor_pid)
    kill -KILL "$old"
    new=$(wait_new_monitor "$old")
    n=$(log_lines ticker)
    wait_more_lines ticker "$((n + 5))" 10
    wait_state "$late" CONTAINER_EXITED 15
    [[ $(berth_crictl inspect "$late" | jq -r .status.exitCode) == 8 ]]
    grep -q 'stdout F bye' "$BERTH_TMP/logs/late.log"
    berth_crictl stop --timeout 1 "$ticker" >/dev/null
    wait_state "$ticker" CONTAINER_EXITED 15
    [[ $(berth_crictl inspect "$ticker" | jq -r .status.exitCode) == 137 ]]
}

@test "the keeper killed, then the monitor: berthd starts a new monitor, hands it the pipes and reaps the orphans" {
    local ticker late old n
    ticker=$(run_ctr ticker "$TICKER")
    late=$(run_ctr late '["sh","-c","sleep 3; echo bye; exit 7"]')
    wait_more_lines ticker 3 10
    kill -KILL "$(keeper_pid)"
    for ((i = 0; i < 50; i++)); do
        grep -q 'container monitor keeper gone' "$BERTH_LOG" && break
        sleep 0.1
    done
    grep -q 'container monitor keeper gone' "$BERTH_LOG"
    # the worker goes on alone, now berthd's child (berthd is a subreaper)
    old=$(monitor_pid)
    pid_alive "$old"
    [[ $(awk '{ print $4 }' "/proc/$old/stat") == "$BERTHD_PID" ]]
    n=$(log_lines ticker)
    wait_more_lines ticker "$((n + 3))" 10
    kill -KILL "$old"
    wait_new_monitor "$old" >/dev/null
    grep -q 'msg="container monitor gone"' "$BERTH_LOG"
    n=$(log_lines ticker)
    wait_more_lines ticker "$((n + 5))" 10
    [[ $(berth_crictl inspect "$ticker" | jq -r .status.state) == CONTAINER_RUNNING ]]
    wait_state "$late" CONTAINER_EXITED 15
    [[ $(berth_crictl inspect "$late" | jq -r .status.exitCode) == 7 ]]
    berth_crictl stop --timeout 1 "$ticker" >/dev/null
    wait_state "$ticker" CONTAINER_EXITED 15
    [[ $(berth_crictl inspect "$ticker" | jq -r .status.exitCode) == 137 ]]
}

@test "berthd is killed: the monitor keeps logging and reaping; the restarted berthd reaches the same monitor" {
    local mon ticker late n
    mon=$(monitor_pid)
    ticker=$(run_ctr ticker "$TICKER")
    late=$(run_ctr late '["sh","-c","sleep 2; echo bye; exit 5"]')
    wait_more_lines ticker 3 10
    kill -KILL "$BERTHD_PID"
    wait "$BERTHD_PID" 2>/dev/null || true
    BERTHD_PID=
    n=$(log_lines ticker)
    # no berthd: the monitor still writes the log, and reaps "late"
    wait_more_lines ticker "$((n + 10))" 10
    for ((i = 0; i < 50; i++)); do
        [[ -s $BERTH_RUNROOT/exits/$late ]] && break
        sleep 0.1
    done
    [[ $(cat "$BERTH_RUNROOT/exits/$late") == 5 ]]
    pid_alive "$mon"
    start_berthd
    grep -q "msg=\"container monitor reached\" pid=$mon containers=" "$BERTH_LOG"
    [[ $(monitor_pid) == "$mon" ]]
    [[ $(berth_crictl inspect "$late" | jq -r .status.exitCode) == 5 ]]
    [[ $(berth_crictl inspect "$ticker" | jq -r .status.state) == CONTAINER_RUNNING ]]
    berth_crictl stop --timeout 1 "$ticker" >/dev/null
    wait_state "$ticker" CONTAINER_EXITED 15
    berth_crictl rm "$ticker" "$late" >/dev/null
}

@test "containers that end in their first millisecond, and a burst of output, lose nothing" {
    local quick fail burst
    quick=$(run_ctr quick '["true"]')
    fail=$(run_ctr fail '["sh","-c","exit 9"]')
    # 20000 numbered lines as fast as the shell writes them, then exit
    burst=$(run_ctr burst '["sh","-c","seq 1 20000 | sed s/^/line\\ /; exit 2"]')
    wait_state "$quick" CONTAINER_EXITED 10
    wait_state "$fail" CONTAINER_EXITED 10
    wait_state "$burst" CONTAINER_EXITED 20
    [[ $(berth_crictl inspect "$quick" | jq -r .status.exitCode) == 0 ]]
    [[ $(berth_crictl inspect "$fail" | jq -r .status.exitCode) == 9 ]]
    [[ $(berth_crictl inspect "$burst" | jq -r .status.exitCode) == 2 ]]
    # every line once the exit is visible: 20000 records close a line (a
    # line cut by a pipe read is a P record and its F rest)
    [[ $(grep -c ' stdout F ' "$BERTH_TMP/logs/burst.log") == 20000 ]]
    # and joined by the reader, in order
    run berth_crictl logs "$burst"
    [[ $(grep -c '^line [0-9]*$' <<<"$output") == 20000 ]]
    [[ $(tail -n 1 <<<"$output") == "line 20000" ]]
    [[ $(awk '$2 != NR { print; exit }' <<<"$output") == "" ]]
}

@test "a terminal container: its output reaches the log through the terminal, and its exit code" {
    local f=$BERTH_TMP/tty.json id
    cat >"$f" <<EOF2
{"metadata":{"name":"tty"},"image":{"image":"$BUSYBOX"},"log_path":"tty.log","tty":true,
 "command":["sh","-c","tty; stty size; echo from-a-terminal; exit 6"]}
EOF2
    id=$(berth_crictl create "$POD" "$f" "$POD_JSON")
    berth_crictl start "$id" >/dev/null
    wait_state "$id" CONTAINER_EXITED 10
    [[ $(berth_crictl inspect "$id" | jq -r .status.exitCode) == 6 ]]
    cat "$BERTH_TMP/logs/tty.log"
    grep -q 'stdout F /dev/pts/0' "$BERTH_TMP/logs/tty.log"
    grep -q 'stdout F from-a-terminal' "$BERTH_TMP/logs/tty.log"
}

@test "the monitor raises its own descriptor limit for its five a container" {
    # a berthd started with a soft limit below the hard one. (The runtime
    # gets the limit back; runc built with Go >= 1.19 raises its own again,
    # so the container's is the runtime's business.)
    stop_berthd
    stop_monitor
    (
        ulimit -Sn 4096
        start_berthd
    )
    BERTHD_PID=$(pgrep -f -n "^$BERTHD .*$BERTH_SOCK") || true
    [[ -n $BERTHD_PID ]]
    [[ $(awk '/Max open files/ { print $4 }' "/proc/$BERTHD_PID/limits") == 4096 ]]
    local id mon
    id=$(run_ctr limits '["sh","-c","sleep 600"]')
    mon=$(monitor_pid)
    [[ $(awk '/Max open files/ { print $4 }' "/proc/$mon/limits") == "$(ulimit -Hn)" ]]
    berth_crictl stop --timeout 0 "$id" >/dev/null
}
