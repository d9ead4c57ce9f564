#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Hostile images (issue 11's review findings), pushed by hand to the offline
# test registry with tests/fixtures/images/push-raw.py, each test failing
# without its fix:
#   D1  a layer that fails to unpack closed a descriptor berth never opened
#       (the second pull of a "../x" layer got "Unavailable ... EOF");
#   D2  rootfs.diff_ids were never checked: a config's lies were believed,
#       and image B reusing image A's config made A run B's files.

load helpers

PUSH=$BATS_TEST_DIRNAME/../fixtures/images/push-raw.py

setup_file() {
    berth_images_setup_file
}

setup() {
    [[ -s $REG_DIR/port ]] || skip "no test registry"
    command -v python3 >/dev/null || skip "python3 not installed"
    berth_setup
    REG=127.0.0.1:$(cat "$REG_DIR/port")
    # a repository of this test's own: names do not collide across runs
    REPO=hostile/t$$-$BATS_TEST_NUMBER
    cat >>"$BERTH_CONF" <<EOF

[crio.image]
registries_conf = "$REG_DIR/registries.conf"
EOF
    start_berthd
}

teardown() {
    if [[ -n ${PROXY_PID:-} ]]; then
        kill "$PROXY_PID" 2>/dev/null || true
    fi
    berth_teardown
}

@test "D1: a layer refused twice is InvalidArgument both times, and no other descriptor is closed" {
    "$PUSH" "$REG" "$REPO:up" --layer 'gzip:ok=1,../x=evil'
    for i in 1 2 3; do
        run berth_crictl pull "$REG/$REPO:up"
        echo "pull $i: $output"
        [ "$status" -ne 0 ]
        [[ $output == *InvalidArgument* && $output == *'../x'* ]]
        [[ $output != *Unavailable* ]]
    done
    # the daemon and its listening socket are intact
    berth_crictl version >/dev/null
    [[ -z $(ls "$BERTH_ROOT/storage/layers" | grep -v '^\.' || true) ]]
}

@test "D2: a config whose diff_ids do not match its layers is DATA_LOSS naming the layer" {
    out=$("$PUSH" "$REG" "$REPO:lie" --layer 'gzip:a=1' --layer 'b=2' --diff-ids lie)
    run berth_crictl pull "$REG/$REPO:lie"
    echo "$output"
    [ "$status" -ne 0 ]
    [[ $output == *DataLoss* && $output == *"layer 1/2"* && $output == *"rootfs.diff_ids"* ]]
    [[ -z $(berth_crictl images -q) ]]
    [[ -z $(ls "$BERTH_ROOT/storage/layers" | grep -v '^\.' || true) ]]
}

@test "D2: image B reusing image A's config cannot make A run B's files" {
    "$PUSH" "$REG" "$REPO:a" --layer 'marker=A' --save-config "$BERTH_TMP/a.json" >"$BERTH_TMP/a.out"
    "$PUSH" "$REG" "$REPO:b" --layer 'marker=B' --config-file "$BERTH_TMP/a.json" >"$BERTH_TMP/b.out"
    # same image ID, other layers
    [[ $(awk '$1 == "config" { print $2 }' "$BERTH_TMP/a.out") == $(awk '$1 == "config" { print $2 }' "$BERTH_TMP/b.out") ]]
    run berth_crictl pull "$REG/$REPO:b"
    echo "$output"
    [ "$status" -ne 0 ]
    [[ $output == *DataLoss* ]]
    run berth_crictl pull "$REG/$REPO:a"
    [ "$status" -eq 0 ]
    diff_id=$(jq -r '.rootfs.diff_ids[0]' "$BERTH_TMP/a.json")
    [[ $(cat "$BERTH_ROOT/storage/layers/${diff_id#sha256:}/diff/marker") == A ]]
    # and the record lists exactly that layer
    [[ $(berth_crictl inspecti "$REG/$REPO:a" | jq -r '.info.imageSpec.rootfs.diff_ids[0]') == "$diff_id" ]]
    # a config that lists fewer diff IDs than the manifest has layers
    "$PUSH" "$REG" "$REPO:short" --layer 'marker=A' --layer 'x=2' --config-file "$BERTH_TMP/a.json" >/dev/null
    run berth_crictl pull "$REG/$REPO:short"
    echo "$output"
    [ "$status" -ne 0 ]
    [[ $output == *DataLoss* && $output == *"1 rootfs.diff_ids for the manifest's 2 layers"* ]]
}

@test "D3: failed pulls leave none of their layers or blobs on disk" {
    "$PUSH" "$REG" "$REPO:one" --pad-mib 8 --layer 'gzip:a=1' --layer '../x=evil' >/dev/null
    "$PUSH" "$REG" "$REPO:two" --pad-mib 8 --layer 'gzip:b=2' --layer '../y=evil' >/dev/null
    berth_crictl pull "$REG/$REPO:one" >"$BERTH_TMP/one.out" 2>&1 &
    p1=$!
    berth_crictl pull "$REG/$REPO:two" >"$BERTH_TMP/two.out" 2>&1 &
    p2=$!
    ! wait "$p1"
    ! wait "$p2"
    grep -q InvalidArgument "$BERTH_TMP/one.out"
    grep -q InvalidArgument "$BERTH_TMP/two.out"
    [[ -z $(berth_crictl images -q) ]]
    # the collection runs once no pull is left: give it a moment
    local i left
    for ((i = 0; i < 50; i++)); do
        left=$(find "$BERTH_ROOT/storage/layers" "$BERTH_ROOT/storage/blobs" -mindepth 1 \
            -not -type d 2>/dev/null | head -n 3)
        [[ -z $left ]] && break
        sleep 0.1
    done
    echo "left: $left"
    [[ -z $left ]]
    du -sk "$BERTH_ROOT/storage"
    (($(du -sk "$BERTH_ROOT/storage" | cut -f1) < 1024))
}

@test "D5: a config larger than a config may be is refused before it is downloaded" {
    "$PUSH" "$REG" "$REPO:bigcfg" --layer 'a=1' --config-pad-mib 17 >/dev/null
    run berth_crictl pull "$REG/$REPO:bigcfg"
    echo "$output"
    [ "$status" -ne 0 ]
    [[ $output == *ResourceExhausted* && $output == *"image config sha256:"* && $output == *"more than the 16777216 a config may be ([crio.image] max_config_bytes)"* ]]
    [[ $output != *"$BERTH_ROOT"* ]]
    [[ -z $(find "$BERTH_ROOT/storage/blobs" -type f) ]]
}

@test "D5: absurd names, labels and annotations are INVALID_ARGUMENT naming the field" {
    long=$(head -c 300 /dev/zero | tr '\0' a)
    cat >"$BERTH_TMP/p1.json" <<EOF
{"metadata":{"name":"$long","namespace":"ns","uid":"u1","attempt":0}}
EOF
    run berth_crictl runp "$BERTH_TMP/p1.json"
    [ "$status" -ne 0 ]
    [[ $output == *InvalidArgument* && $output == *"config.metadata.name is 300 characters long, more than the 253 allowed"* ]]
    cat >"$BERTH_TMP/p2.json" <<EOF
{"metadata":{"name":"p","namespace":"${long:0:64}","uid":"u1","attempt":0}}
EOF
    run berth_crictl runp "$BERTH_TMP/p2.json"
    [ "$status" -ne 0 ]
    [[ $output == *"config.metadata.namespace is 64 characters long, more than the 63 allowed"* ]]
    # 2000 annotations of 200 bytes (the review had 10,000): over both caps
    python3 - "$BERTH_TMP/p3.json" <<'PY'
import json, sys
ann = {"k%d" % i: "v" * 200 for i in range(2000)}
json.dump({"metadata": {"name": "p", "namespace": "ns", "uid": "u3", "attempt": 0},
           "annotations": ann}, open(sys.argv[1], "w"))
PY
    run berth_crictl runp "$BERTH_TMP/p3.json"
    [ "$status" -ne 0 ]
    [[ $output == *InvalidArgument* && $output == *"config.annotations: 2000 entries, more than the 1024 allowed"* ]]
    python3 - "$BERTH_TMP/p4.json" <<'PY'
import json, sys
json.dump({"metadata": {"name": "p", "namespace": "ns", "uid": "u4", "attempt": 0},
           "labels": {"big": "x" * (300 << 10)}}, open(sys.argv[1], "w"))
PY
    run berth_crictl runp "$BERTH_TMP/p4.json"
    [ "$status" -ne 0 ]
    [[ $output == *"config.labels: "*" bytes of keys and values, more than the 262144 allowed"* ]]
    [[ -z $(berth_crictl pods -q) ]]
    berth_crictl version >/dev/null
}

@test "limits: layers per image and bytes an image may unpack, each named in the error" {
    berth_teardown
    berth_setup
    cat >>"$BERTH_CONF" <<EOF

[crio.image]
registries_conf = "$REG_DIR/registries.conf"
max_image_layers = 3
max_image_bytes = 3145728
EOF
    start_berthd
    "$PUSH" "$REG" "$REPO:four" --layer 'a=1' --layer 'b=2' --layer 'c=3' --layer 'd=4' >/dev/null
    run berth_crictl pull "$REG/$REPO:four"
    echo "$output"
    [ "$status" -ne 0 ]
    [[ $output == *ResourceExhausted* && $output == *"the image has 4 layers, more than the 3 allowed ([crio.image] max_image_layers)"* ]]
    # 2 MiB of zeros per layer: the second passes the 3 MiB budget
    "$PUSH" "$REG" "$REPO:both" --pad-all-mib 2 --layer 'gzip:a=1' --layer 'gzip:b=2' >/dev/null
    run berth_crictl pull "$REG/$REPO:both"
    echo "$output"
    [ "$status" -ne 0 ]
    [[ $output == *ResourceExhausted* && $output == *"an image may unpack at most 3145728 bytes ([crio.image] max_image_bytes)"* && $output == *"layer 2/2"* ]]
}

@test "limits: connections past grpc_max_connections are closed with a log line; the daemon serves again when they go" {
    berth_teardown
    berth_setup
    printf '[crio.api]\ngrpc_max_connections = 2\n' >"$BERTH_CONF_DIR/10-conns.conf"
    start_berthd
    # two idle clients hold the two places
    python3 - "$BERTH_SOCK" "$BERTH_TMP/hold" <<'PY' &
import os, socket, sys, time
socks = []
for _ in range(2):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    socks.append(s)
open(sys.argv[2], "w").close()
time.sleep(3)
PY
    holder=$!
    for _ in $(seq 1 50); do [[ -e $BERTH_TMP/hold ]] && break; sleep 0.05; done
    sleep 0.3
    run crictl --config /dev/null --runtime-endpoint "unix://$BERTH_SOCK" --timeout 2s version
    echo "$output"
    [ "$status" -ne 0 ]
    grep -q 'connection refused: too many open connections.*max=2' "$BERTH_LOG"
    wait "$holder"
    for _ in $(seq 1 30); do berth_crictl version >/dev/null 2>&1 && break; sleep 0.1; done
    berth_crictl version >/dev/null
}

@test "limits: paths longer than PATH_MAX are INVALID_ARGUMENT naming the field" {
    long=/$(head -c 5000 /dev/zero | tr '\0' a)
    cat >"$BERTH_TMP/lp.json" <<EOF
{"metadata":{"name":"lp","namespace":"ns","uid":"lp1","attempt":0},"log_directory":"$long"}
EOF
    run berth_crictl runp "$BERTH_TMP/lp.json"
    [ "$status" -ne 0 ]
    [[ $output == *InvalidArgument* && $output == *"config.log_directory is 5001 characters long, more than the 4096 allowed"* ]]
}

@test "berthd check finds a broken store, --repair mends it (refused while a berthd serves), the image pulls again" {
    "$PUSH" "$REG" "$REPO:c1" --layer 'gzip:one=1' >/dev/null
    "$PUSH" "$REG" "$REPO:c2" --layer 'gzip:two=2' --layer 'three=3' >/dev/null
    berth_crictl pull "$REG/$REPO:c1" >/dev/null
    berth_crictl pull "$REG/$REPO:c2" >/dev/null
    check() { "$BERTHD" check "${BERTHD_ARGS[@]}" "$@"; }
    run check
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output == *"2 images, 3 layers, 2 blobs sound; 0 problems"* ]]
    run check --repair
    [ "$status" -eq 2 ]
    [[ $output == *"stop it before --repair"* ]]
    stop_berthd
    # what a crash and a bad disk can leave: a half-made layer, a temp
    # leftover, a config blob that is not what its name says
    st=$BERTH_ROOT/storage
    c2=$(python3 -c "
import json,sys,os
d='$st/images'
for f in sorted(os.listdir(d)):
    r=json.load(open(os.path.join(d,f)))
    if len(r['layers'])==2: print(r['id'][7:], r['layers'][1][7:])")
    read -r c2id c2layer <<<"$c2"
    rm -rf "$st/layers/$c2layer/diff"
    mkdir "$st/layers/.tmp-4242-1"
    c1id=$(ls "$st/images" | sed 's/\.json$//' | grep -v "$c2id")
    echo garbage >"$st/blobs/sha256/$c1id"
    run check
    echo "$output"
    [ "$status" -eq 1 ]
    [[ $output == *"leftover of an interrupted write"* ]]
    [[ $output == *"layer 2 (sha256:$c2layer) is missing"* ]]
    [[ $output == *"its config blob's content is"* ]]
    [[ $output == *"layer $st/layers/$c2layer has no diff directory"* ]]
    [[ $output == *"blob $st/blobs/sha256/$c1id does not hold what its name says"* ]]
    run check --repair
    echo "$output"
    [ "$status" -eq 0 ]
    run check
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output == *"0 images"*"0 problems"* ]]
    [[ -z $(ls -A "$st/layers") && -z $(ls -A "$st/blobs/sha256") ]]
    start_berthd
    berth_crictl pull "$REG/$REPO:c2" >/dev/null
    [[ $(berth_crictl images -q | wc -l) == 1 ]]
}

@test "limits: a pull past max_concurrent_pulls is RESOURCE_EXHAUSTED naming it; the same image joins" {
    # a proxy that holds blobs 3 s keeps the first pull in flight
    # fd 3 is bats' own: a server holding it would keep bats waiting
    python3 "$BATS_TEST_DIRNAME/../fixtures/registry/slow-proxy.py" "${REG#*:}" 3 \
        "$BERTH_TMP/proxy-port" </dev/null >/dev/null 2>&1 3>&- &
    PROXY_PID=$!
    for _ in $(seq 1 50); do [[ -s $BERTH_TMP/proxy-port ]] && break; sleep 0.1; done
    slow=127.0.0.1:$(cat "$BERTH_TMP/proxy-port")
    stop_berthd
    cat >>"$BERTH_CONF" <<EOF
max_concurrent_pulls = 1
insecure_registries = ["$slow"]
EOF
    start_berthd
    "$PUSH" "$REG" "$REPO:slow" --layer 'gzip:s=1' >/dev/null
    "$PUSH" "$REG" "$REPO:other" --layer 'gzip:o=2' >/dev/null
    berth_crictl pull "$slow/$REPO:slow" >"$BERTH_TMP/slow.out" 2>&1 &
    p1=$!
    sleep 1
    # the same image joins the pull in flight; another is refused
    berth_crictl pull "$slow/$REPO:slow" >"$BERTH_TMP/join.out" 2>&1 &
    p2=$!
    run berth_crictl pull "$REG/$REPO:other"
    echo "$output"
    [ "$status" -ne 0 ]
    [[ $output == *ResourceExhausted* && $output == *"([crio.image] max_concurrent_pulls)"* ]]
    wait "$p1"
    wait "$p2"
    kill "$PROXY_PID" 2>/dev/null || true
    wait "$PROXY_PID" 2>/dev/null || true
    PROXY_PID=
    # with the first pull done, the other goes through
    berth_crictl pull "$REG/$REPO:other" >/dev/null
}
