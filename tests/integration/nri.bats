#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# NRI ([crio.nri]; docs/nri.md) on a private berthd with berth's test plugin
# (tests/nri/plugin, built on NRI's own pkg/stub by tests/nri/build.sh):
# off by default (no socket); a plugin registers and sees Configure and
# Synchronize; plugins are kept in index order; a bad index and a plugin
# that never registers are dropped while berthd keeps serving.

load helpers

setup_file() {
    NRI_PLUGIN=$("$BATS_TEST_DIRNAME/../nri/build.sh" 2>/dev/null) || NRI_PLUGIN=
    export NRI_PLUGIN
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
