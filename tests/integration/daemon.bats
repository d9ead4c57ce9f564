#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# berthd as a process: socket mode, one daemon per socket, graceful SIGTERM,
# log levels. Each test runs its own berthd in a private temporary tree.

load helpers

setup() {
    berth_setup
}

teardown() {
    berth_teardown
}

@test "the CRI socket has mode 0660" {
    start_berthd
    [ -S "$BERTH_SOCK" ]
    run stat -c %a "$BERTH_SOCK"
    echo "mode: $output"
    [ "$output" = 660 ]
}

@test "a second berthd on the same socket refuses to start and names the socket" {
    start_berthd
    # A second daemon that wrongly starts is stopped by timeout (status 124).
    run timeout 10 "$BERTHD" "${BERTHD_ARGS[@]}"
    echo "status $status: $output"
    [ "$status" -ne 0 ]
    [ "$status" -ne 124 ]
    [[ $output == *"$BERTH_SOCK"* ]]
    # The first one is unharmed.
    pid_alive "$BERTHD_PID"
    run berth_crictl version
    [ "$status" -eq 0 ]
}

@test "SIGTERM: berthd exits 0 and removes its socket" {
    start_berthd
    [ -S "$BERTH_SOCK" ]
    kill -TERM "$BERTHD_PID"
    wait_berthd_exit 15
    echo "exit status: $BERTHD_STATUS"
    [ "$BERTHD_STATUS" -eq 0 ]
    [ ! -e "$BERTH_SOCK" ]
}

@test "SIGINT: berthd exits 0 and removes its socket" {
    start_berthd
    kill -INT "$BERTHD_PID"
    wait_berthd_exit 15
    echo "exit status: $BERTHD_STATUS"
    [ "$BERTHD_STATUS" -eq 0 ]
    [ ! -e "$BERTH_SOCK" ]
}

@test "--log-level debug writes debug lines (logfmt on stderr)" {
    start_berthd --log-level debug
    berth_crictl version
    berth_crictl info >/dev/null
    cat "$BERTH_LOG"
    grep -q 'level=debug' "$BERTH_LOG"
}

@test "the scripts tell a berthd by its name, also when it runs from a renamed copy" {
    start_berthd
    # shellcheck source=scripts/lib.sh
    . "$BERTH_SRC/scripts/lib.sh"
    berth_pid_is_berthd "$BERTHD_PID"
    cp "$(command -v sleep)" "$BERTH_TMP/berthd-before-the-change"
    "$BERTH_TMP/berthd-before-the-change" 30 &
    local copy=$!
    run berth_pid_is_berthd "$copy"
    [ "$status" -ne 0 ] # not named berthd
    berth_pid_is_berthd "$copy" "$BERTH_TMP/berthd-before-the-change"
    run berth_pid_is_berthd "$BERTHD_PID" "$BERTH_TMP/berthd-before-the-change"
    [ "$status" -ne 0 ]
    run berth_pid_is_berthd "$$x"
    [ "$status" -ne 0 ]
    kill "$copy"
    wait "$copy" 2>/dev/null || true
}

@test "berthd version prints a version and exits 0" {
    run timeout 10 "$BERTHD" version
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output =~ [0-9]+\.[0-9]+\.[0-9]+ ]]
}

@test "a log reader that stops reading costs log lines, never the daemon" {
    bench=$BERTH_SRC/build/perf/grpc_bench
    [[ -x $bench ]] || skip "grpc_bench not built ($bench)"
    # stderr is a FIFO the test holds open but does not read until the end:
    # with debug lines (one per request) it is full after a few hundred
    # calls. A daemon that waits on it stops answering; berthd drops lines,
    # counts them, and says so once a line gets through again.
    local fifo=$BERTH_TMP/log.fifo r
    mkfifo "$fifo"
    exec {r}<>"$fifo"
    "$BERTHD" "${BERTHD_ARGS[@]}" --log-level debug </dev/null >"$fifo" 2>&1 3>&- &
    BERTHD_PID=$!
    for i in $(seq 1 100); do
        berth_crictl version >/dev/null 2>&1 && break
        sleep 0.1
    done
    run timeout 60 "$bench" --socket "$BERTH_SOCK" --seconds 2 --clients 1
    echo "$output"
    [ "$status" -eq 0 ]
    # every call answered (the errors column), none timed out on a stuck daemon
    [[ $(awk '$1 == 1 { print $6 }' <<<"$output") == 0 ]]
    # drain what the FIFO holds; the next line that gets through carries the count
    timeout 2 cat <&"$r" >/dev/null || true
    run timeout 10 crictl --config /dev/null --runtime-endpoint "unix://$BERTH_SOCK" --timeout 5s version
    [ "$status" -eq 0 ]
    timeout 2 cat <&"$r" >"$BERTH_TMP/after.log" || true
    exec {r}>&-
    grep 'log lines dropped' "$BERTH_TMP/after.log"
    grep -qE 'msg="log lines dropped: the log reader is not keeping up" count=[1-9]' "$BERTH_TMP/after.log"
}
