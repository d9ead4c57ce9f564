#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Seccomp against a private berthd and the real runtime (runc unless
# BERTH_TEST_RUNTIME says otherwise): Localhost profiles only from under
# seccomp_localhost_root, the seccomp_profile and
# seccomp_use_default_when_empty keys, and the notifier behind
# io.kubernetes.cri-o.seccompNotifierAction (record, and stop). Pods use the
# node's network, so no bridge is made.

load helpers

NOTIFIER=io.kubernetes.cri-o.seccompNotifierAction

setup_file() {
    berth_images_setup_file
}

setup() {
    [[ -s $REG_DIR/images.txt ]] || skip "no test images"
    berth_setup
    berth_conf_images
    BUSYBOX=registry.k8s.io/e2e-test-images/busybox:1.29-2
    PROFILES=$BERTH_TMP/seccomp
    mkdir -p "$PROFILES" "$BERTH_TMP/elsewhere"
    # a profile that allows everything but mkdir (the notifier's test call)
    echo '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}' \
        >"$PROFILES/nomkdir.json"
    cp "$PROFILES/nomkdir.json" "$BERTH_TMP/elsewhere/nomkdir.json"
    rt=${BERTH_TEST_RUNTIME:-runc}
    cat >"$BERTH_CONF_DIR/50-seccomp.conf" <<EOF
[crio.runtime]
seccomp_localhost_root = "$PROFILES"
seccomp_notifier_wait = "1s"

[crio.runtime.runtimes.$rt]
runtime_path = "/usr/bin/$rt"
runtime_root = "/run/$rt"
allowed_annotations = ["$NOTIFIER"]
EOF
}

teardown() {
    berth_teardown
}

start() {
    start_berthd "$@"
    berth_crictl pull "$BUSYBOX" >/dev/null
}

pod_json() {
    local f=$BERTH_TMP/pod-$1.json
    cat >"$f" <<EOF
{"metadata":{"name":"$1","namespace":"sec","uid":"u-$$-$BATS_TEST_NUMBER-$1","attempt":0},
 "log_directory":"$BERTH_TMP/logs-$1",
 "linux":{"security_context":{"namespace_options":{"network":2}}}}
EOF
    echo "$f"
}

# ctr_json NAME SECCOMP-JSON [ANNOTATIONS-JSON] [COMMAND]
ctr_json() {
    local f=$BERTH_TMP/ctr-$1.json
    cat >"$f" <<EOF
{"metadata":{"name":"$1"},"image":{"image":"$BUSYBOX"},"log_path":"$1.log",
 "command":["sh","-c","${4:-sleep 600}"],"annotations":${3:-{\}},
 "linux":{"security_context":{${2:+\"seccomp\":$2}}}}
EOF
    echo "$f"
}

localhost() {
    echo '{"profile_type":2,"localhost_ref":"'"$1"'"}'
}

mkdir_result() {
    berth_crictl exec -s "$1" sh -c 'mkdir /tmp/d 2>&1 && echo made || echo refused'
}

@test "seccomp: a Localhost profile outside seccomp_localhost_root is refused; inside applies" {
    start
    pj=$(pod_json lh)
    pod=$(berth_crictl runp "$pj")
    cj=$(ctr_json out "$(localhost "$BERTH_TMP/elsewhere/nomkdir.json")")
    run berth_crictl create "$pod" "$cj" "$pj"
    echo "$output"
    [ "$status" -ne 0 ]
    [[ $output == *InvalidArgument* && $output == *"outside the Localhost profile root"* ]]
    # a path that climbs out through .. is outside too
    cj=$(ctr_json dotdot "$(localhost "$PROFILES/../elsewhere/nomkdir.json")")
    run berth_crictl create "$pod" "$cj" "$pj"
    [[ $output == *InvalidArgument* && $output == *outside* ]]
    cj=$(ctr_json in "$(localhost "$PROFILES/nomkdir.json")")
    id=$(berth_crictl create "$pod" "$cj" "$pj")
    berth_crictl start "$id"
    out=$(mkdir_result "$id")
    echo "$out"
    [[ $out == *"not permitted"*refused* ]]
}

@test "seccomp: seccomp_profile replaces the built-in default; use_default_when_empty confines" {
    cat >>"$BERTH_CONF_DIR/50-seccomp.conf" <<EOF
EOF
    cat >"$BERTH_CONF_DIR/60-default.conf" <<EOF
[crio.runtime]
seccomp_profile = "$PROFILES/nomkdir.json"
seccomp_use_default_when_empty = true
EOF
    start
    pj=$(pod_json def)
    pod=$(berth_crictl runp "$pj")
    cj=$(ctr_json rd '{"profile_type":0}')
    id=$(berth_crictl create "$pod" "$cj" "$pj")
    berth_crictl start "$id"
    [[ $(mkdir_result "$id") == *refused* ]]
    # no seccomp field at all: the default too (the key)
    cj=$(ctr_json empty "")
    id2=$(berth_crictl create "$pod" "$cj" "$pj")
    berth_crictl start "$id2"
    [[ $(mkdir_result "$id2") == *refused* ]]
    [[ $(berth_crictl exec -s "$id2" grep Seccomp: /proc/self/status) == *2* ]]
    # Unconfined stays unconfined
    cj=$(ctr_json unconf '{"profile_type":1}')
    id3=$(berth_crictl create "$pod" "$cj" "$pj")
    berth_crictl start "$id3"
    [[ $(mkdir_result "$id3") == *made* ]]
}

@test "seccomp notifier: a refused syscall is recorded and answered EPERM" {
    local msock=$BERTH_TMP/metrics.sock
    start --set crio.metrics.enable_metrics=true --set "crio.metrics.metrics_socket=$msock"
    pj=$(pod_json rec)
    pod=$(berth_crictl runp "$pj")
    cj=$(ctr_json rec "$(localhost "$PROFILES/nomkdir.json")" '{"'$NOTIFIER'":""}')
    id=$(berth_crictl create "$pod" "$cj" "$pj")
    cfg=$(find "$BERTH_RUNROOT" "$BERTH_ROOT" -path "*$id*" -name config.json | head -1)
    jq -e '.linux.seccomp.listenerPath | length > 0' "$cfg"
    jq -e '.linux.seccomp.syscalls[0].action == "SCMP_ACT_NOTIFY"' "$cfg"
    berth_crictl start "$id"
    out=$(mkdir_result "$id")
    echo "$out"
    [[ $out == *"not permitted"*refused* ]]
    info=$(berth_crictl inspect "$id")
    jq -e '.info.seccompNotifier.refused >= 1' <<<"$info"
    jq -e '.info.seccompNotifier.syscalls | test("mkdir")' <<<"$info"
    grep -q 'seccomp notifier: syscall refused.*syscall=mkdir' "$BERTH_LOG"
    # CRI-O's counter, by the container's name and the syscall
    curl -sf --max-time 10 --unix-socket "$msock" http://localhost/metrics |
        grep -E '^container_runtime_crio_containers_seccomp_notifier_count_total\{name="[^"]*rec[^"]*",syscall="mkdir"\} [1-9]'
    # record only: still running
    sleep 1.5
    [[ $(berth_crictl inspect "$id" | jq -r .status.state) == CONTAINER_RUNNING ]]
}

@test "seccomp notifier: stop stops the container after the wait, with the reason" {
    start
    pj=$(pod_json stop)
    pod=$(berth_crictl runp "$pj")
    cj=$(ctr_json stop "$(localhost "$PROFILES/nomkdir.json")" '{"'$NOTIFIER'":"stop"}' \
        'mkdir /tmp/d; sleep 600')
    id=$(berth_crictl create "$pod" "$cj" "$pj")
    berth_crictl start "$id"
    for i in $(seq 100); do
        st=$(berth_crictl inspect "$id")
        [[ $(jq -r .status.state <<<"$st") == CONTAINER_EXITED ]] && break
        sleep 0.1
    done
    echo "$st" | jq .status
    [[ $(jq -r .status.state <<<"$st") == CONTAINER_EXITED ]]
    [[ $(jq -r .status.reason <<<"$st") == "seccomp killed" ]]
    [[ $(jq -r .status.message <<<"$st") == "Used forbidden syscalls: mkdir"* ]]
}

@test "seccomp notifier: the annotation is ignored unless the handler allows it" {
    rt=${BERTH_TEST_RUNTIME:-runc}
    sed -i "s/^allowed_annotations.*/allowed_annotations = []/" "$BERTH_CONF_DIR/50-seccomp.conf"
    start
    pj=$(pod_json ign)
    pod=$(berth_crictl runp "$pj")
    cj=$(ctr_json ign "$(localhost "$PROFILES/nomkdir.json")" '{"'$NOTIFIER'":"stop"}')
    id=$(berth_crictl create "$pod" "$cj" "$pj")
    cfg=$(find "$BERTH_RUNROOT" "$BERTH_ROOT" -path "*$id*" -name config.json | head -1)
    jq -e '.linux.seccomp.listenerPath == null' "$cfg"
    # an invalid action is an error where it is allowed
    sed -i "s/^allowed_annotations.*/allowed_annotations = [\"$NOTIFIER\"]/" "$BERTH_CONF_DIR/50-seccomp.conf"
}

@test "allowed_annotations: the pod's ShmSize annotation applies only where the handler allows it (a prefix allows)" {
    start
    pj=$BERTH_TMP/pod-shm.json
    cat >"$pj" <<EOF2
{"metadata":{"name":"shm","namespace":"sec","uid":"u-$$-shm","attempt":0},
 "log_directory":"$BERTH_TMP/logs-shm","annotations":{"io.kubernetes.cri-o.ShmSize":"16Mi"},
 "linux":{"security_context":{"namespace_options":{"network":2}}}}
EOF2
    pod=$(berth_crictl runp "$pj")
    cj=$(ctr_json shm "")
    id=$(berth_crictl create "$pod" "$cj" "$pj")
    berth_crictl start "$id"
    out=$(berth_crictl exec -s "$id" df -k /dev/shm)
    echo "$out"
    [[ $out != *16384* ]]
    berth_crictl rmp -f "$pod"
    # allowed through a prefix of the key
    sed -i 's/^allowed_annotations.*/allowed_annotations = ["io.kubernetes.cri-o."]/' \
        "$BERTH_CONF_DIR/50-seccomp.conf"
    stop_berthd
    start_berthd
    sed -i "s/u-$$-shm/u-$$-shm2/" "$pj"
    pod=$(berth_crictl runp "$pj")
    id=$(berth_crictl create "$pod" "$cj" "$pj")
    berth_crictl start "$id"
    out=$(berth_crictl exec -s "$id" df -k /dev/shm)
    echo "$out"
    [[ $out == *16384* ]]
}

@test "seccomp notifier: with RuntimeDefault the container runs, and what the profile refuses is recorded" {
    start
    pj=$(pod_json rdn)
    pod=$(berth_crictl runp "$pj")
    cj=$(ctr_json rdn '{"profile_type":0}' '{"'$NOTIFIER'":""}')
    id=$(berth_crictl create "$pod" "$cj" "$pj")
    cfg=$(find "$BERTH_RUNROOT" "$BERTH_ROOT" -path "*$id*" -name config.json | head -1)
    # runc refuses NOTIFY as the default action: the unnamed syscalls get a rule
    jq -e '.linux.seccomp.defaultAction == "SCMP_ACT_ERRNO"' "$cfg"
    jq -e '.linux.seccomp.syscalls[-1].action == "SCMP_ACT_NOTIFY" and (.linux.seccomp.syscalls[-1].names | index("reboot"))' "$cfg"
    # the ENOSYS rule (clone3) is kept: glibc falls back to clone on it
    jq -e '[.linux.seccomp.syscalls[] | select(.action == "SCMP_ACT_ERRNO" and .errnoRet == 38)] | length == 1' "$cfg"
    berth_crictl start "$id"
    [[ $(berth_crictl inspect "$id" | jq -r .status.state) == CONTAINER_RUNNING ]]
    # the default profile refuses syslog (no rule names it)
    out=$(berth_crictl exec -s "$id" sh -c 'dmesg 2>&1; echo rc=$?')
    echo "$out"
    [[ $out == *"not permitted"* && $out != *rc=0* ]]
    info=$(berth_crictl inspect "$id")
    jq -e '.info.seccompNotifier.syscalls | test("syslog")' <<<"$info"
    # ordinary work is unaffected
    [[ $(berth_crictl exec -s "$id" sh -c 'echo ok; ls / >/dev/null') == ok ]]
}
