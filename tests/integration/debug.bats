#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The debug endpoint ([crio.api] debug_socket; docs/observability.md) and
# `berthd status` against a private berthd with real runc, CNI (bridge
# berthit47, 10.213.47.0/24) and the offline test registry: after a pod and
# a container run, status config, info, containers and actors show them; a
# 2 s CPU profile taken while crictl keeps berthd busy is read by
# `go tool pprof -top` with berthd's own function names; one taken during an
# image pull shows the blocking pool's unpack and digest frames; the endpoint is off
# without the key, a bad profile duration is a 400 and a second profile at
# once a 503.

load helpers

BRIDGE=berthit47
SUBNET=10.213.47.0/24
GO=${GO:-/usr/local/go/bin/go}

setup_file() {
    berth_images_setup_file
}

setup() {
    [[ -s $REG_DIR/images.txt ]] || skip "no test images"
    berth_setup
    write_conflist debugtest "$BRIDGE" "$SUBNET"
    berth_conf_images
    DEBUG_SOCK=$BERTH_TMP/debug.sock
    cat >"$BERTH_CONF_DIR/50-debug.conf" <<EOF
[crio.api]
debug_socket = "$DEBUG_SOCK"
EOF
    POD_JSON=$BERTH_TMP/pod.json
    cat >"$POD_JSON" <<EOF
{"metadata":{"name":"dbgpod","namespace":"it","uid":"dbg-$$-$BATS_TEST_NUMBER","attempt":0},
 "hostname":"dbghost","log_directory":"$BERTH_TMP/logs","linux":{}}
EOF
    BUSYBOX=registry.k8s.io/e2e-test-images/busybox:1.29-2
}

teardown() {
    berth_teardown
    ip link del "$BRIDGE" 2>/dev/null || true
}

# status VIEW [ARGS...]: berthd status with the test's configuration (whose
# drop-in names the debug socket)
status() {
    "$BERTHD" status --config "$BERTH_CONF" --config-dir "$BERTH_CONF_DIR" "$@"
}

run_pod_and_ctr() {
    berth_crictl pull "$BUSYBOX" >/dev/null
    POD=$(berth_crictl runp "$POD_JSON")
    [[ $POD =~ ^[0-9a-f]{64}$ ]]
    cat >"$BERTH_TMP/ctr.json" <<EOF
{"metadata":{"name":"sleeper"},"image":{"image":"$BUSYBOX"},"log_path":"sleeper.log",
 "command":["sleep","600"]}
EOF
    CTR=$(berth_crictl create "$POD" "$BERTH_TMP/ctr.json" "$POD_JSON")
    berth_crictl start "$CTR" >/dev/null
}

@test "status: config, info, containers, actors and heap of a berthd running a pod" {
    start_berthd
    [[ -S $DEBUG_SOCK ]]
    [[ $(stat -c %a "$DEBUG_SOCK") == 600 ]]
    run_pod_and_ctr

    run status config
    echo "$output"
    [ "$status" -eq 0 ]
    grep -q "^listen = \"$BERTH_SOCK\"" <<<"$output"
    grep -q "^debug_socket = \"$DEBUG_SOCK\"" <<<"$output"

    run status info
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $(jq -r '.conditions[] | select(.type == "RuntimeReady") | .status' <<<"$output") == true ]]
    jq -e '.runtime_handlers | index("runc")' <<<"$output" >/dev/null

    run status containers
    echo "$output"
    [ "$status" -eq 0 ]
    grep -Eq "^${POD:0:13} +SANDBOX_READY +it +dbgpod$" <<<"$output"
    grep -Eq "^${CTR:0:13} +${POD:0:13} +CONTAINER_RUNNING +0 +sleeper +.*busybox" <<<"$output"

    run status actors
    echo "$output"
    [ "$status" -eq 0 ]
    grep -Eq "^pod +[0-9]+\.[0-9]+ +(idle|queued|running) .* $POD\$" <<<"$output"
    grep -Eq "^container +[0-9]+\.[0-9]+ +(idle|queued|running) .* $CTR\$" <<<"$output"
    grep -q '^cri ' <<<"$output"
    run status actors --json
    [ "$status" -eq 0 ]
    [[ $(jq -r --arg id "$CTR" '.actors[] | select(.label == $id) | .kind' <<<"$output") == container ]]
    (($(jq '.live' <<<"$output") >= 5))

    run status heap
    echo "$output"
    [ "$status" -eq 0 ]
    grep -q '^allocator: ' <<<"$output"

    # the JSON views straight over the socket too
    run curl -sS --unix-socket "$DEBUG_SOCK" http://localhost/containers
    [ "$status" -eq 0 ]
    [[ $(jq -r --arg id "$CTR" '.containers[] | select(.id == $id) | .state' <<<"$output") == CONTAINER_RUNNING ]]
}

@test "profile: 2 s of a busy berthd, read by go tool pprof" {
    start_berthd
    run_pod_and_ctr
    # keep berthd busy while it is sampled: two clients in a loop
    busy() {
        local end=$((SECONDS + 4))
        while ((SECONDS < end)); do
            berth_crictl ps -a >/dev/null 2>&1
            berth_crictl inspect "$CTR" >/dev/null 2>&1
            berth_crictl inspectp "$POD" >/dev/null 2>&1
            berth_crictl stats >/dev/null 2>&1
        done
    }
    busy 3>&- &
    b1=$!
    # and the endpoint's own actor dump, 20000 times on one keep-alive
    # connection (curl's URL ranges): work for the workers, cheap for curl
    curl -sS -o /dev/null --unix-socket "$DEBUG_SOCK" 'http://localhost/debug/actors?[1-20000]' \
        3>&- &
    b2=$!
    t0=$(awk '{ print $14 + $15 }' "/proc/$BERTHD_PID/stat")
    run curl -sS -o "$BERTH_TMP/cpu.pb.gz" -w '%{http_code}' --unix-socket "$DEBUG_SOCK" \
        'http://localhost/debug/pprof/profile?seconds=2&hz=500'
    t1=$(awk '{ print $14 + $15 }' "/proc/$BERTHD_PID/stat")
    kill "$b2" 2>/dev/null || true
    wait "$b1" "$b2" || true
    echo "berthd used $((t1 - t0)) clock ticks of CPU during the profile"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output == 200 ]]
    gzip -t "$BERTH_TMP/cpu.pb.gz"
    if [[ ! -x $GO ]]; then
        skip "go is not installed at $GO: the profile is valid gzip, but no pprof to read it"
    fi
    run env HOME="${HOME:-/root}" "$GO" tool pprof -top "$BERTH_TMP/cpu.pb.gz"
    echo "$output"
    [ "$status" -eq 0 ]
    grep -q '^Type: cpu' <<<"$output"
    ! grep -q 'Total samples = 0$' <<<"$output"
    run env HOME="${HOME:-/root}" "$GO" tool pprof -comments "$BERTH_TMP/cpu.pb.gz"
    echo "$output"
    grep -Eq '^berth: [0-9]+ threads sampled at 500 Hz' <<<"$output"
    grep -Eq '^berth: [0-9]+ blocking-pool threads sampled while running jobs' <<<"$output"
    run env HOME="${HOME:-/root}" "$GO" tool pprof -top "$BERTH_TMP/cpu.pb.gz"
    # berthd's own (static) functions are named in the profile itself
    grep -Eq 'worker_main|run_turn|berth_[a-z_]+' <<<"$output"
}

@test "profile: an image pull shows the blocking pool's unpack and digest frames" {
    start_berthd
    [[ -x $GO ]] || skip "go is not installed at $GO: no pprof to read the profile"
    # two images of a few MB each: about 100 ms of unpacking, inflating and
    # hashing, all of it in pool jobs
    NGINX=registry.k8s.io/e2e-test-images/nginx:1.14-2
    HTTPD=registry.k8s.io/e2e-test-images/httpd:2.4.39-4
    curl -sS -o "$BERTH_TMP/pull.pb.gz" --unix-socket "$DEBUG_SOCK" \
        'http://localhost/debug/pprof/profile?seconds=6&hz=1000' 3>&- &
    prof=$!
    sleep 0.5
    berth_crictl pull "$NGINX" >/dev/null
    berth_crictl pull "$HTTPD" >/dev/null
    wait "$prof"
    gzip -t "$BERTH_TMP/pull.pb.gz"
    run env HOME="${HOME:-/root}" "$GO" tool pprof -comments "$BERTH_TMP/pull.pb.gz"
    echo "$output"
    # the pull's jobs ran on pool threads, which joined the session
    grep -Eq '^berth: [1-9][0-9]* blocking-pool threads sampled while running jobs' <<<"$output"
    run env HOME="${HOME:-/root}" "$GO" tool pprof -top -cum -nodecount=400 "$BERTH_TMP/pull.pb.gz"
    echo "$output"
    [ "$status" -eq 0 ]
    grep -q 'pool_main' <<<"$output"
    grep -q 'berth_unpack_layer' <<<"$output"
    # hashing is a few ms of the pull: whether a sample lands in it is luck
    grep -q 'berth_sha256' <<<"$output" || echo "# no sample in berth_sha256 this time" >&3
}

@test "debug endpoint: off without the key; a bad duration is a 400; a second profile a 503" {
    rm "$BERTH_CONF_DIR/50-debug.conf"
    start_berthd
    [[ ! -e $DEBUG_SOCK ]]
    run status actors
    echo "$output"
    [ "$status" -eq 2 ]
    grep -q 'debug endpoint is off' <<<"$output"
    stop_berthd

    start_berthd --set "crio.api.debug_socket=$DEBUG_SOCK"
    run curl -sS -w '\n%{http_code}' --unix-socket "$DEBUG_SOCK" \
        'http://localhost/debug/pprof/profile?seconds=0'
    echo "$output"
    [[ ${lines[-1]} == 400 ]]
    grep -q 'seconds=0' <<<"$output"
    # one profile at a time
    curl -sS -o /dev/null --unix-socket "$DEBUG_SOCK" \
        'http://localhost/debug/pprof/profile?seconds=3' 3>&- &
    first=$!
    sleep 1
    run curl -sS -w '\n%{http_code}' --unix-socket "$DEBUG_SOCK" \
        'http://localhost/debug/pprof/profile?seconds=1'
    wait "$first"
    echo "$output"
    [[ ${lines[-1]} == 503 ]]
    grep -q 'being taken already' <<<"$output"
    run "$BERTHD" status --socket "$DEBUG_SOCK" actors
    [ "$status" -eq 0 ]
}
