#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The streaming server (issue 14, docs/streaming.md) through crictl against a
# private berthd, real runc, the real monitor and real CNI plugins (bridge
# berthit21, 10.213.21.0/24): exec with and without a terminal, stdin piped
# through, exit codes, attach, port-forward into the pod's namespace, and the
# URL rules (single use, expiry, unknown). Each test runs over SPDY and the
# WebSocket transport where crictl offers both.

load helpers

BRIDGE=berthit21
SUBNET=10.213.21.0/24

setup_file() {
    berth_images_setup_file
}

setup() {
    berth_pod_setup streamtest streampod
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

sleeper() {
    run_ctr "$1" '"command":["sleep","3600"]'
}

@test "exec: output, stderr and the exit code, over SPDY and WebSocket" {
    local id t
    id=$(sleeper sh1)
    for t in spdy websocket; do
        run berth_crictl exec --transport "$t" "$id" sh -c 'echo out; echo err >&2'
        [[ $status == 0 ]] || { echo "$t: $output"; false; }
        [[ $output == *out* && $output == *err* ]]
        run berth_crictl exec --transport "$t" "$id" sh -c 'exit 7'
        echo "$t: status=$status output=$output"
        # crictl reports the code in its message (and exits 1)
        [[ $status != 0 && $output == *"exit code 7"* ]]
        run berth_crictl exec --transport "$t" "$id" /no/such/program
        echo "$t: status=$status output=$output"
        [[ $status != 0 && $output == *"/no/such/program"* ]]
    done
}

@test "exec -i: 1 MiB of stdin through cat comes back unchanged" {
    local id t want got
    id=$(sleeper cat1)
    head -c 1048576 /dev/urandom >"$BERTH_TMP/in.bin"
    want=$(sha256sum <"$BERTH_TMP/in.bin" | cut -d' ' -f1)
    for t in spdy websocket; do
        got=$(berth_crictl exec --transport "$t" -i "$id" cat <"$BERTH_TMP/in.bin" | sha256sum | cut -d' ' -f1)
        echo "$t: want $want got $got"
        [[ $got == "$want" ]]
    done
}

@test "exec -it: a terminal with the client's size from the start, and resized while it runs" {
    local id t out crictl
    command -v script >/dev/null || skip "script(1) not installed"
    id=$(sleeper tty1)
    crictl="crictl --config /dev/null --runtime-endpoint unix://$BERTH_SOCK --timeout 10s"
    for t in spdy websocket; do
        # script(1) gives crictl a terminal of 40x120. Once the command has
        # printed its first size (it marks that with a file), the terminal
        # becomes 50x100: crictl sends the new size and the command waits,
        # up to 20 s, for its own terminal to follow. No fixed sleeps, so a
        # slow exec start on a loaded machine cannot reorder the two sizes.
        local mark=/tmp/sized-$t
        local resize="for i in \$(seq 200); do $crictl exec $id test -f $mark && break; sleep 0.1; done; stty rows 50 cols 100 </dev/tty"
        # The command goes in single quotes: script(1)'s shell must pass it
        # to the container untouched.
        local cmd='stty size; test -t 0 && echo tty-yes; touch '$mark'; i=0; while [ "$(stty size)" = "40 120" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; stty size'
        out=$(timeout 60 script -qec "stty rows 40 cols 120; ($resize) & $crictl exec --transport $t -it $id sh -c '$cmd'" /dev/null </dev/null | tr -d '\r')
        echo "$t: $out"
        [[ $out == *"40 120"*tty-yes*"50 100"* ]]
    done
}

@test "attach: output and stderr, input to stdin, and a detach that leaves the container running" {
    local id t out
    id=$(run_ctr att1 '"stdin":true,"command":["sh","-c","while read l; do echo got:$l; echo err:$l >&2; done"]')
    for t in spdy websocket; do
        out=$( (
            echo "hello-$t"
            sleep 1.5
        ) | timeout -k 2 5 crictl --config /dev/null --runtime-endpoint "unix://$BERTH_SOCK" \
            --timeout 10s attach --transport "$t" -i "$id" 2>&1 || true)
        echo "$t: $out"
        [[ $out == *"got:hello-$t"* && $out == *"err:hello-$t"* ]]
        # crictl was killed by timeout: the container goes on
        [[ $(berth_crictl inspect -o go-template --template '{{.status.state}}' "$id") == CONTAINER_RUNNING ]]
    done
}

@test "port-forward: HTTP both ways, and 100 MiB each way with the checksum equal" {
    local id port pid sum_in sum_out
    id=$(run_ctr web1 '"command":["sh","-c","mkdir -p /www && echo hello-pf > /www/index.html && head -c 104857600 /dev/urandom > /www/big.tmp && mv /www/big.tmp /www/big && exec httpd -f -p 8080 -h /www"]')
    # nc's stdin never ends (busybox nc half-closes the socket at its
    # stdin's EOF, and kubectl's port-forward ends a connection whose pod
    # side half-closed)
    run_ctr sink1 '"command":["sh","-c","sleep 100000 | nc -l -p 9000 | { sha256sum > /tmp/sum.tmp; mv /tmp/sum.tmp /tmp/sum; }"]' >"$BERTH_TMP/sink.id"
    for _ in $(seq 100); do
        berth_crictl exec "$id" test -f /www/big 2>/dev/null && break
        sleep 0.2
    done
    port=$((20000 + RANDOM % 20000))
    crictl --config /dev/null --runtime-endpoint "unix://$BERTH_SOCK" --timeout 10s \
        port-forward "$POD" "$port:8080" "$((port + 1)):9000" >"$BERTH_TMP/pf.log" 2>&1 3>&- &
    pid=$!
    for _ in $(seq 50); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && break
        sleep 0.1
    done
    run curl -s --max-time 10 "http://127.0.0.1:$port/"
    [[ $output == hello-pf ]] || { cat "$BERTH_TMP/pf.log"; false; }
    # download
    sum_out=$(curl -s --max-time 120 "http://127.0.0.1:$port/big" | sha256sum | cut -d' ' -f1)
    [[ $sum_out == $(berth_crictl exec "$id" sha256sum /www/big | cut -d' ' -f1) ]]
    # upload
    head -c 104857600 /dev/urandom >"$BERTH_TMP/up.bin"
    sum_in=$(sha256sum <"$BERTH_TMP/up.bin" | cut -d' ' -f1)
    # bash's /dev/tcp: the whole file, then close
    timeout 120 bash -c "cat '$BERTH_TMP/up.bin' >/dev/tcp/127.0.0.1/$((port + 1))" || {
        cat "$BERTH_TMP/pf.log"
        false
    }
    local got=""
    for _ in $(seq 100); do
        got=$(berth_crictl exec "$(cat "$BERTH_TMP/sink.id")" cat /tmp/sum 2>/dev/null | cut -d' ' -f1) && [[ -n $got ]] && break
        sleep 0.2
    done
    kill "$pid"
    echo "upload: want $sum_in got $got"
    [[ $got == "$sum_in" ]]
}

@test "a client that goes away mid-exec leaves no process behind" {
    local id pid
    id=$(sleeper gone1)
    crictl --config /dev/null --runtime-endpoint "unix://$BERTH_SOCK" --timeout 10s \
        exec "$id" sleep 4242 >/dev/null 2>&1 3>&- &
    pid=$!
    for _ in $(seq 50); do
        pgrep -f "^sleep 4242" >/dev/null && break
        sleep 0.1
    done
    pgrep -f "^sleep 4242" >/dev/null
    kill -9 "$pid"
    for _ in $(seq 50); do
        pgrep -f "^sleep 4242" >/dev/null || break
        sleep 0.1
    done
    ! pgrep -f "^sleep 4242"
}

# bstream ARGS...: berth's own streaming client (perf/berth-stream)
bstream() {
    "$BERTH_SRC/build/perf/berth-stream" "$@"
}

@test "URLs are single-use, expire, and an unknown one runs nothing" {
    [[ -x $BERTH_SRC/build/perf/berth-stream ]] || skip "build/perf/berth-stream not built"
    local id url
    stop_berthd
    BERTHD_ARGS+=(--set crio.api.stream_token_ttl=2s)
    start_berthd
    id=$(sleeper tok1)
    url=$(bstream url exec --socket "$BERTH_SOCK" "$id" sh -c 'echo ran >>/tmp/ran')
    [[ $url == http://127.0.0.1:*/exec/* ]]
    run bstream open "$url"
    [[ $status == 0 ]] || { echo "$output"; false; }
    # reused: 404, and nothing ran a second time
    run bstream open "$url"
    echo "reuse: $status $output"
    [[ $status == 255 && $output == *404* ]]
    [[ $(berth_crictl exec "$id" cat /tmp/ran) == ran ]]
    # expired: 404 naming the expiry
    url=$(bstream url exec --socket "$BERTH_SOCK" "$id" sh -c 'echo late >>/tmp/ran')
    sleep 3
    run bstream open "$url"
    echo "expired: $status $output"
    [[ $status == 255 && $output == *404* && $output == *xpired* ]]
    [[ $(berth_crictl exec "$id" cat /tmp/ran) == ran ]]
    # unknown, and a wrong kind for a real token
    run bstream open "${url%/*}/AAAAAAAAAAAAAAAAAAAAAAAA"
    [[ $status == 255 && $output == *404* ]]
    url=$(bstream url exec --socket "$BERTH_SOCK" "$id" true)
    run bstream open "${url/\/exec\//\/attach\/}"
    [[ $status == 255 && $output == *404* ]]
    # a stopped container gets no URL at all
    berth_crictl stop -t 0 "$id" >/dev/null
    run bstream url exec --socket "$BERTH_SOCK" "$id" true
    [[ $status != 0 && $output == *"not running"* ]]
}

@test "port-forward over WebSocket, and a port nobody listens on is reported on the error stream" {
    [[ -x $BERTH_SRC/build/perf/berth-stream ]] || skip "build/perf/berth-stream not built"
    local id out
    id=$(run_ctr echo1 '"command":["sh","-c","mkdir -p /www && echo hello-ws > /www/index.html && exec httpd -f -p 8080 -h /www"]')
    for _ in $(seq 50); do
        berth_crictl exec "$id" sh -c 'netstat -ltn | grep -q :8080' 2>/dev/null && break
        sleep 0.1
    done
    for t in spdy websocket; do
        out=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 20 "$BERTH_SRC/build/perf/berth-stream" portforward --socket "$BERTH_SOCK" --transport "$t" "$POD" 8080)
        echo "$t: $out"
        [[ $out == *hello-ws* ]]
        run timeout 20 "$BERTH_SRC/build/perf/berth-stream" portforward --socket "$BERTH_SOCK" --transport "$t" "$POD" 8089 </dev/null
        echo "$t closed port: $status $output"
        [[ $output == *"8089"* && $output == *refused* ]]
    done
}

# tls_cert NAME CN: a self-signed certificate for localhost and 127.0.0.1
# (crictl checks the name "localhost" by default) in $TLS/NAME.{crt,key}
tls_cert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -subj "/CN=$2" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$TLS/$1.key" -out "$TLS/$1.crt" 2>/dev/null
}

# served_cn PORT: the subject CN of the certificate a new connection is shown
served_cn() {
    openssl s_client -connect "127.0.0.1:$1" </dev/null 2>/dev/null |
        openssl x509 -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p'
}

@test "TLS: exec, 1 MiB of stdin and port-forward over https (crictl and berth-stream), a bad certificate at start, a replaced one used by new connections, client certificates" {
    [[ -x $BERTH_SRC/build/perf/berth-stream ]] || skip "build/perf/berth-stream not built"
    local id url port t want got
    TLS=$BERTH_TMP/tls
    mkdir -p "$TLS"
    tls_cert one berth-one
    tls_cert two berth-two
    # crictl presents a client certificate whenever it speaks TLS, as the kubelet can
    tls_cert client kubelet-client
    stop_berthd
    # a key that is not the certificate's: berthd does not start, and says which file
    run timeout 20 "$BERTHD" "${BERTHD_ARGS[@]}" --set crio.api.stream_enable_tls=true \
        --set "crio.api.stream_tls_cert=$TLS/one.crt" --set "crio.api.stream_tls_key=$TLS/two.key" 3>&-
    echo "mismatch: $status $output"
    [[ $status != 0 && $status != 124 && $output == *stream_tls_key* && $output == *two.key* ]]
    run timeout 20 "$BERTHD" "${BERTHD_ARGS[@]}" --set crio.api.stream_enable_tls=true \
        --set "crio.api.stream_tls_cert=$TLS/none.crt" --set "crio.api.stream_tls_key=$TLS/one.key" 3>&-
    echo "missing: $status $output"
    [[ $status != 0 && $status != 124 && $output == *none.crt* ]]

    cp "$TLS/one.crt" "$TLS/serve.crt"
    cp "$TLS/one.key" "$TLS/serve.key"
    BERTHD_ARGS+=(--set crio.api.stream_enable_tls=true
        --set "crio.api.stream_tls_cert=$TLS/serve.crt" --set "crio.api.stream_tls_key=$TLS/serve.key")
    start_berthd
    id=$(sleeper tls1)
    url=$(bstream url exec --socket "$BERTH_SOCK" "$id" true)
    echo "url: $url"
    [[ $url == https://127.0.0.1:*/exec/* ]]
    port=${url#https://127.0.0.1:}
    port=${port%%/*}
    run bstream exec --socket "$BERTH_SOCK" --cacert "$TLS/one.crt" "$id" sh -c 'echo over-tls; exit 3'
    echo "berth-stream: $status $output"
    [[ $status == 3 && $output == *over-tls* ]]
    for t in spdy websocket; do
        run berth_crictl exec --transport "$t" --tls-ca "$TLS/one.crt" \
            --tls-cert "$TLS/client.crt" --tls-key "$TLS/client.key" "$id" sh -c 'echo crictl-tls; echo e >&2'
        echo "crictl $t: $status $output"
        [[ $status == 0 && $output == *crictl-tls* ]]
    done
    # 1 MiB each way through TLS (records, flow control)
    head -c 1048576 /dev/urandom >"$TLS/in.bin"
    want=$(sha256sum <"$TLS/in.bin" | cut -d' ' -f1)
    got=$(bstream exec --socket "$BERTH_SOCK" --cacert "$TLS/one.crt" -i "$id" cat <"$TLS/in.bin" | sha256sum | cut -d' ' -f1)
    echo "berth-stream -i: want $want got $got"
    [[ $got == "$want" ]]
    for t in spdy websocket; do
        got=$(berth_crictl exec --transport "$t" --tls-ca "$TLS/one.crt" --tls-cert "$TLS/client.crt" \
            --tls-key "$TLS/client.key" -i "$id" cat <"$TLS/in.bin" | sha256sum | cut -d' ' -f1)
        echo "crictl $t -i: want $want got $got"
        [[ $got == "$want" ]]
    done
    # a client that trusts another CA is refused
    run bstream exec --socket "$BERTH_SOCK" --cacert "$TLS/two.crt" "$id" echo no
    echo "wrong CA: $status $output"
    [[ $status == 255 ]]
    [[ $(served_cn "$port") == berth-one ]]

    # replaced (each file renamed into place, as a certificate manager does)
    cp "$TLS/two.crt" "$TLS/serve.crt.tmp" && mv "$TLS/serve.crt.tmp" "$TLS/serve.crt"
    cp "$TLS/two.key" "$TLS/serve.key.tmp" && mv "$TLS/serve.key.tmp" "$TLS/serve.key"
    # the first connection after the check interval (2 s) sends a look at
    # the files to the pool; the connections after its answer get the new one
    sleep 2.5
    local cn i
    for i in 1 2 3 4 5 6 7 8 9 10; do
        cn=$(served_cn "$port")
        [[ $cn == berth-two ]] && break
        sleep 0.2
    done
    echo "served after the replace: $cn (try $i)"
    [[ $cn == berth-two ]]
    grep -q "TLS certificate reloaded" "$BERTH_LOG"
    run bstream exec --socket "$BERTH_SOCK" --cacert "$TLS/two.crt" "$id" echo after-reload
    echo "after reload: $status $output"
    [[ $status == 0 && $output == *after-reload* ]]
    run berth_crictl exec --tls-ca "$TLS/two.crt" --tls-cert "$TLS/client.crt" \
        --tls-key "$TLS/client.key" "$id" echo crictl-after
    [[ $status == 0 && $output == *crictl-after* ]]
    # port-forward over TLS, both transports
    local web out
    web=$(run_ctr tlsweb '"command":["sh","-c","mkdir -p /www && echo hello-tls > /www/index.html && exec httpd -f -p 8080 -h /www"]')
    for _ in $(seq 50); do
        berth_crictl exec --tls-ca "$TLS/two.crt" --tls-cert "$TLS/client.crt" --tls-key "$TLS/client.key" \
            "$web" sh -c 'netstat -ltn | grep -q :8080' 2>/dev/null && break
        sleep 0.1
    done
    for t in spdy websocket; do
        out=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 20 "$BERTH_SRC/build/perf/berth-stream" portforward \
            --socket "$BERTH_SOCK" --cacert "$TLS/two.crt" --transport "$t" "$POD" 8080)
        echo "port-forward $t: $out"
        [[ $out == *hello-tls* ]]
    done

    # stream_tls_ca: a client certificate it signed is required
    stop_berthd
    BERTHD_ARGS+=(--set "crio.api.stream_tls_ca=$TLS/client.crt")
    start_berthd
    run berth_crictl exec --tls-ca "$TLS/two.crt" --tls-cert "$TLS/client.crt" \
        --tls-key "$TLS/client.key" "$id" echo with-client-cert
    echo "client cert: $status $output"
    [[ $status == 0 && $output == *with-client-cert* ]]
    run berth_crictl exec --tls-ca "$TLS/two.crt" --tls-cert "$TLS/one.crt" \
        --tls-key "$TLS/one.key" "$id" echo other-client-cert
    echo "another client cert: $status $output"
    [[ $status != 0 && $output == *"unknown certificate authority"* ]]
    run bstream exec --socket "$BERTH_SOCK" --cacert "$TLS/two.crt" "$id" echo no-client-cert
    echo "no client cert: $status $output"
    [[ $status == 255 ]]
}
