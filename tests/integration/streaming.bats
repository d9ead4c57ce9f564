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
    [[ -s $REG_DIR/images.txt ]] || skip "no test images"
    berth_setup
    write_conflist streamtest "$BRIDGE" "$SUBNET"
    berth_conf_images
    start_berthd
    BUSYBOX=registry.k8s.io/e2e-test-images/busybox:1.29-2
    berth_crictl pull "$BUSYBOX" >/dev/null
    POD_JSON=$BERTH_TMP/pod.json
    cat >"$POD_JSON" <<EOF
{"metadata":{"name":"streampod","namespace":"it","uid":"u-$$-$BATS_TEST_NUMBER","attempt":0},
 "hostname":"streamhost","log_directory":"$BERTH_TMP/logs","linux":{}}
EOF
    POD=$(berth_crictl runp "$POD_JSON" 2>/dev/null)
    [[ $POD =~ ^[0-9a-f]{64}$ ]]
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
        # script(1) gives crictl a terminal of 40x120; 1.5 s in, it becomes
        # 50x100 (crictl sends the new size; the command's terminal follows)
        out=$(timeout 60 script -qec "stty rows 40 cols 120; (sleep 1.5; stty rows 50 cols 100 </dev/tty) & $crictl exec --transport $t -it $id sh -c 'stty size; test -t 0 && echo tty-yes; sleep 3; stty size'" /dev/null </dev/null | tr -d '\r')
        echo "$t: $out"
        [[ $out == *"40 120"*tty-yes*"50 100"* ]]
    done
}
