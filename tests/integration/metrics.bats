#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The Prometheus endpoint ([crio.metrics]; docs/observability.md) of a
# private berthd (real runc, CNI bridge berthit41, 10.213.41.0/24, the
# offline test registry): off by default; on a TCP port of its own (port 0:
# the one bound is in the log) and on a unix socket; every line of a scrape
# parses as the text format 0.0.4; the counters move with real work (a pull,
# a pod, a container created and started, an error); HEAD, 404 and 405; a
# port already taken fails the start, naming it.

load helpers

BRIDGE=berthit41
SUBNET=10.213.41.0/24
BUSYBOX=registry.k8s.io/e2e-test-images/busybox:1.29-2

setup_file() {
    berth_images_setup_file
}

setup() {
    [[ -s $REG_DIR/images.txt ]] || skip "no test images"
    command -v curl >/dev/null || skip "curl not installed"
    berth_setup
    write_conflist mtest "$BRIDGE" "$SUBNET"
    berth_conf_images
    HOLDER_PID=
}

teardown() {
    [[ -n ${HOLDER_PID:-} ]] && kill "$HOLDER_PID" 2>/dev/null || true
    berth_teardown
    ip link del "$BRIDGE" 2>/dev/null || true
}

# metrics_port: the TCP port the log says the endpoint serves on
metrics_port() {
    sed -n 's/.*msg="metrics served".* port=\([0-9]*\).*/\1/p' "$BERTH_LOG" | tail -n 1
}

# scrape FILE [CURL_ARGS...]: GET /metrics into FILE (TCP unless the args say)
scrape() {
    local out=$1
    shift
    if [[ $# -gt 0 ]]; then
        curl -sf --max-time 10 "$@" -o "$out"
    else
        curl -sf --max-time 10 "http://127.0.0.1:$PORT/metrics" -o "$out"
    fi
}

# value FILE SERIES: the value of one series (`name{labels}` exactly as
# written), 0 when absent
value() {
    awk -v s="$2" '$1 == s { v = $2 } END { print (v == "" ? 0 : v) }' "$1"
}

# parses FILE: every line is a HELP or TYPE comment or `name{labels} value`
parses() {
    local bad
    bad=$(grep -Ev '^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* ' "$1" |
        grep -Ev '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.e+Inf-]+$' || true)
    if [[ -n $bad ]]; then
        echo "# lines that do not parse:"
        head -n 5 <<<"$bad"
        return 1
    fi
    grep -q '^# TYPE ' "$1"
}

# grew A B SERIES: SERIES is larger in scrape B than in scrape A
grew() {
    local a b
    a=$(value "$1" "$3")
    b=$(value "$2" "$3")
    if ! awk -v a="$a" -v b="$b" 'BEGIN { exit !(b > a) }'; then
        echo "# $3: $a -> $b (did not grow)"
        return 1
    fi
}

@test "metrics: off by default, nothing is served" {
    start_berthd
    ! grep -q 'metrics served' "$BERTH_LOG"
}

@test "metrics: TCP endpoint; the counters move with a pull, a pod, a container and an error" {
    start_berthd --set crio.metrics.enable_metrics=true --set crio.metrics.metrics_port=0
    PORT=$(metrics_port)
    [[ $PORT =~ ^[0-9]+$ ]]
    local a=$BERTH_TMP/a.txt b=$BERTH_TMP/b.txt
    scrape "$a"
    parses "$a"
    # the families are there before anything happened
    grep -q '^# TYPE container_runtime_crio_operations_total counter$' "$a"
    grep -q '^# TYPE berth_operations_latency_seconds histogram$' "$a"
    grep -q '^# TYPE container_runtime_crio_image_pulls_success_total counter$' "$a"

    berth_crictl pull "$BUSYBOX" >/dev/null
    cat >"$BERTH_TMP/pod.json" <<EOF
{"metadata":{"name":"mpod","namespace":"it","uid":"u-m-$$","attempt":0},
 "hostname":"mhost","log_directory":"$BERTH_TMP/logs","linux":{}}
EOF
    cat >"$BERTH_TMP/ctr.json" <<EOF
{"metadata":{"name":"m"},"image":{"image":"$BUSYBOX"},"log_path":"m.log",
 "command":["sleep","300"]}
EOF
    POD=$(berth_crictl runp "$BERTH_TMP/pod.json")
    CTR=$(berth_crictl create "$POD" "$BERTH_TMP/ctr.json" "$BERTH_TMP/pod.json")
    berth_crictl start "$CTR" >/dev/null
    run berth_crictl inspect 0123456789abcdef0123456789abcdef
    [ "$status" -ne 0 ]

    scrape "$b"
    parses "$b"
    local op
    for op in PullImage RunPodSandbox CreateContainer StartContainer; do
        grew "$a" "$b" "container_runtime_crio_operations_total{operation=\"$op\"}"
        grew "$a" "$b" "berth_operations_latency_seconds_count{operation=\"$op\"}"
    done
    grew "$a" "$b" 'container_runtime_crio_operations_errors_total{operation="ContainerStatus"}'
    grew "$a" "$b" 'berth_operations_errors_total{operation="ContainerStatus",code="NOT_FOUND"}'
    grew "$a" "$b" 'container_runtime_crio_image_pulls_success_total'
    grew "$a" "$b" 'berth_engine_turns_total'
    grew "$a" "$b" 'berth_worker_busy_seconds_total{worker="0"}'
    grew "$a" "$b" 'berth_uring_sqes_submitted_total{worker="0"}'
    grew "$a" "$b" 'berth_blocking_queue_wait_seconds_count'
    # a pull moves bytes, or reuses what the pause image's pull brought
    local bytes reuse
    bytes=$(awk '$1 ~ /^container_runtime_crio_image_pulls_bytes_total/ { s += $2 } END { print s + 0 }' "$b")
    reuse=$(value "$b" container_runtime_crio_image_layer_reuse_total)
    awk -v x="$bytes" -v y="$reuse" 'BEGIN { exit !(x > 0 || y > 0) }'
    # the live pod and container are actors with mailboxes
    [[ $(value "$b" berth_actors_total) -gt 0 ]]
    grep -q '^berth_actor_mailbox_depth{class="' "$b"
    # the latency gauge of the last call is in seconds
    awk '$1 == "container_runtime_crio_operations_latency_seconds{operation=\"StartContainer\"}" { exit !($2 > 0 && $2 < 60) } ' "$b"

    # HEAD: the headers only; another path: 404; POST: 405
    run curl -s -I --max-time 5 "http://127.0.0.1:$PORT/metrics"
    [[ $output == *"HTTP/1.1 200"* && $output == *"text/plain; version=0.0.4"* ]]
    run curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/nope"
    [ "$output" = 404 ]
    run curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST "http://127.0.0.1:$PORT/metrics"
    [ "$output" = 405 ]
}

@test "metrics: processes_defunct counts a zombie; default_runtime; a container whose monitor is gone counts" {
    # a zombie on the node: sh forks `sleep 0`, then becomes `sleep 60`,
    # which never waits for it
    sh -c 'sleep 0 & exec sleep 60' 3>&- &
    HOLDER_PID=$!
    for ((i = 0; i < 50; i++)); do
        grep -q ') Z ' /proc/[0-9]*/stat 2>/dev/null && break
        sleep 0.1
    done
    start_berthd --set crio.metrics.enable_metrics=true --set crio.metrics.metrics_port=0
    PORT=$(metrics_port)
    local a=$BERTH_TMP/a.txt b=$BERTH_TMP/b.txt n=0
    # the first scrape starts the walk of /proc on the pool, a later one shows it
    scrape "$a"
    grep -q '^# TYPE container_runtime_crio_processes_defunct gauge$' "$a"
    grep -q '^# TYPE container_runtime_crio_containers_stopped_monitor_count counter$' "$a"
    for ((i = 0; i < 50; i++)); do
        scrape "$b"
        n=$(value "$b" container_runtime_crio_processes_defunct)
        ((n >= 1)) && break
        sleep 0.1
    done
    echo "processes_defunct: $n"
    ((n >= 1))
    [[ $(value "$b" "container_runtime_crio_default_runtime{runtime=\"${BERTH_TEST_RUNTIME:-runc}\"}") == 1 ]]

    [[ ${BERTH_TEST_MONITOR:-berth} == berth ]] || skip "containers run under ${BERTH_TEST_MONITOR}"
    berth_crictl pull "$BUSYBOX" >/dev/null
    cat >"$BERTH_TMP/pod.json" <<EOF
{"metadata":{"name":"mpod","namespace":"it","uid":"u-md-$$","attempt":0},
 "hostname":"mhost","log_directory":"$BERTH_TMP/logs","linux":{}}
EOF
    cat >"$BERTH_TMP/ctr.json" <<EOF
{"metadata":{"name":"m"},"image":{"image":"$BUSYBOX"},"log_path":"m.log",
 "command":["sleep","300"]}
EOF
    POD=$(berth_crictl runp "$BERTH_TMP/pod.json")
    CTR=$(berth_crictl create "$POD" "$BERTH_TMP/ctr.json" "$BERTH_TMP/pod.json")
    berth_crictl start "$CTR" >/dev/null
    # the keeper, then the worker: nobody holds the monitor's socket, so
    # berthd adopts the running container (as in monitor.bats)
    kill -KILL "$(cat "$BERTH_RUNROOT/monitor/keeper.pid")"
    for ((i = 0; i < 50; i++)); do
        grep -q 'container monitor keeper gone' "$BERTH_LOG" && break
        sleep 0.1
    done
    kill -KILL "$(cat "$BERTH_RUNROOT/monitor/monitor.pid")"
    local series="container_runtime_crio_containers_stopped_monitor_count{name=\"$CTR\"}"
    for ((i = 0; i < 50; i++)); do
        scrape "$b"
        [[ $(value "$b" "$series") == 1 ]] && break
        sleep 0.1
    done
    grep stopped_monitor "$b"
    [[ $(value "$b" "$series") == 1 ]]
    [[ $(berth_crictl inspect "$CTR" | jq -r .status.state) == CONTAINER_RUNNING ]]
    berth_crictl stop --timeout 1 "$CTR" >/dev/null
}

@test "metrics: unix socket endpoint, removed at the stop" {
    local sock=$BERTH_TMP/metrics.sock
    start_berthd --set crio.metrics.enable_metrics=true --set "crio.metrics.metrics_socket=$sock"
    [[ -S $sock ]]
    local a=$BERTH_TMP/a.txt b=$BERTH_TMP/b.txt
    scrape "$a" --unix-socket "$sock" http://localhost/metrics
    parses "$a"
    berth_crictl version >/dev/null
    scrape "$b" --unix-socket "$sock" http://localhost/metrics
    parses "$b"
    grew "$a" "$b" 'container_runtime_crio_operations_total{operation="Version"}'
    # no TCP listener when a socket is set
    ! grep -q 'msg="metrics served".*port=' "$BERTH_LOG"
    stop_berthd
    [[ ! -e $sock ]]
}

@test "metrics: a taken port fails the start, naming it" {
    command -v python3 >/dev/null || skip "python3 not installed"
    local portfile=$BERTH_TMP/port
    python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[1], "w").write(str(s.getsockname()[1])); time.sleep(120)' "$portfile" 3>&- &
    HOLDER_PID=$!
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -s $portfile ]] && break
        sleep 0.1
    done
    local port
    port=$(cat "$portfile")
    run "$BERTHD" "${BERTHD_ARGS[@]}" --set crio.metrics.enable_metrics=true \
        --set "crio.metrics.metrics_port=$port"
    [ "$status" -ne 0 ]
    [[ $output == *"[crio.metrics] endpoint"* && $output == *"port $port"* ]]
    ! berth_crictl version >/dev/null 2>&1
}

@test "metrics: TLS with metrics_cert and metrics_key; a key that is not the certificate's fails the start" {
    command -v openssl >/dev/null || skip "openssl not installed"
    local tls=$BERTH_TMP/tls n
    mkdir -p "$tls"
    for n in one two; do
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
            -subj "/CN=berth-$n" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            -keyout "$tls/$n.key" -out "$tls/$n.crt" 2>/dev/null
    done
    run timeout 20 "$BERTHD" "${BERTHD_ARGS[@]}" --set crio.metrics.enable_metrics=true \
        --set crio.metrics.metrics_port=0 \
        --set "crio.metrics.metrics_cert=$tls/one.crt" --set "crio.metrics.metrics_key=$tls/two.key" 3>&-
    echo "mismatch: $status $output"
    [[ $status != 0 && $status != 124 && $output == *"[crio.metrics] metrics_key"* && $output == *two.key* ]]

    start_berthd --set crio.metrics.enable_metrics=true --set crio.metrics.metrics_port=0 \
        --set "crio.metrics.metrics_cert=$tls/one.crt" --set "crio.metrics.metrics_key=$tls/one.key"
    PORT=$(metrics_port)
    grep -q 'msg="metrics served".*scheme=https' "$BERTH_LOG"
    local a=$BERTH_TMP/a.txt
    scrape "$a" --cacert "$tls/one.crt" "https://127.0.0.1:$PORT/metrics"
    parses "$a"
    grep -q '^container_runtime_crio_operations_total{operation="Version"} ' "$a"
    # keep-alive over TLS: two scrapes on one connection
    run curl -sf --max-time 10 --cacert "$tls/one.crt" -o /dev/null -o /dev/null -w '%{num_connects}\n' \
        "https://127.0.0.1:$PORT/metrics" "https://127.0.0.1:$PORT/metrics"
    [ "$status" -eq 0 ]
    [[ $(tail -n 1 <<<"$output") == 0 ]]
    # plain HTTP on the TLS port gets no answer
    run curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics"
    [[ $output != *container_runtime_crio* ]]
}
