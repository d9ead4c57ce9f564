#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# berth under a real kubelet (v1.37.2, scripts/build-kubelet.sh) in
# standalone mode: static pods from a manifest directory, no API server.
# Each test starts a private berthd (runc, the offline test registry's
# mirrors, CNI bridge berthkl0 on 10.213.30.0/24) and a kubelet on private
# paths (helpers.bash), and drives it only through manifests; it reads the
# kubelet's view through its HTTPS endpoints on 127.0.0.1 (/pods,
# /containerLogs) and berth's through crictl and the node (cgroups, mounts,
# links, IPAM files). docs/kubelet.md says what is covered and why.

load helpers

setup_file() {
    kl_setup_file
}

teardown_file() {
    kl_teardown_file
}

setup() {
    kl_setup
}

teardown() {
    kl_teardown
}

@test "one static pod: Running per the kubelet, its log through /containerLogs, gone with its manifest" {
    kl_start_kubelet
    kl_sleeper one
    kl_wait_running 1 90
    [[ $(kl_pod_field one .status.phase) == Running ]]
    [[ $(kl_pod_field one '.status.containerStatuses[0].restartCount') == 0 ]]
    # berth runs exactly that pod and its one container
    [[ $(berth_crictl pods -q --state ready | grep -c .) == 1 ]]
    [[ $(berth_crictl ps -q --state running | grep -c .) == 1 ]]
    [[ $(berth_crictl pods --name "one-$KL_NODE" -q | grep -c .) == 1 ]]
    run kl_curl "/containerLogs/kltest/one-$KL_NODE/main"
    [[ $status == 0 && $output == *"hello from one"* ]] || {
        echo "containerLogs: $output"
        false
    }
    rm "$KL_MANIFESTS/one.yaml"
    # the kubelet stops it at once and removes it at its next container GC
    # (every minute)
    kl_wait_gone 90
    [[ -z $(kl_pod_field one .metadata.name) ]]
}

@test "50 static pods at once: all Running, no restarts, 50 containers, nothing left after removal" {
    kl_start_kubelet
    local i t0 t1 secs restarts ctrs errs leaks
    for i in $(seq -w 1 50); do
        kl_manifest_staged "many-$i" <<EOF2
apiVersion: v1
kind: Pod
metadata:
  name: many-$i
  namespace: kltest
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: $BUSYBOX
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
EOF2
    done
    t0=$(date +%s.%N)
    mv "$KL_DIR"/staging/many-*.yaml "$KL_MANIFESTS/"
    kl_wait_running 50 300
    t1=$(date +%s.%N)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    # a few relists more: a wrong status would show as a restart or a
    # second container by now
    sleep 5
    [[ $(kl_count_running) == 50 ]]
    restarts=$(kl_restarts)
    ctrs=$(berth_crictl ps -a -q | grep -c . || true)
    [[ $(berth_crictl pods -q | grep -c .) == 50 ]]
    rm -f "$KL_MANIFESTS"/many-*.yaml
    kl_wait_gone 150
    # the kubelet removes the pod cgroups after the runtime removed the pods
    leaks=""
    for i in $(seq 1 30); do
        leaks=$(kl_leaks)
        [[ -z $leaks ]] && break
        sleep 1
    done
    errs=$(kl_log_errors "$KL_LOG" | grep -c . || true)
    echo "kubelet: 50 pods Running in $secs s, $restarts restarts, $errs berth errors in the kubelet log, $(grep -c . <<<"$leaks" || true) leaks" >&3
    [[ -z $leaks ]] || {
        echo "left after removal:"
        echo "$leaks"
    }
    ((errs == 0)) || kl_log_errors "$KL_LOG"
    [[ $restarts == 0 && $ctrs == 50 && $errs == 0 && -z $leaks ]]
}

@test "20 pods across a kubelet restart and a berthd restart: same sandboxes, same containers, no restarts" {
    kl_start_kubelet
    local i pods ctrs
    for i in $(seq -w 1 20); do
        kl_sleeper "keep-$i"
    done
    kl_wait_running 20 180
    sleep 3
    pods=$(berth_crictl pods -q | sort)
    ctrs=$(berth_crictl ps -a -q | sort)
    [[ $(grep -c . <<<"$pods") == 20 && $(grep -c . <<<"$ctrs") == 20 ]]

    # the kubelet goes and comes back: it must adopt what berth lists
    kl_stop_kubelet
    kl_start_kubelet
    kl_wait_running 20 120
    sleep 10
    [[ $(berth_crictl pods -q | sort) == "$pods" ]] || {
        echo "sandboxes changed across the kubelet restart"
        false
    }
    [[ $(berth_crictl ps -a -q | sort) == "$ctrs" ]] || {
        echo "containers changed across the kubelet restart"
        false
    }
    [[ $(kl_restarts) == 0 ]]

    # berthd goes and comes back under the running kubelet
    kl_mark "berthd restart begins"
    stop_berthd
    [[ $BERTHD_STATUS == 0 ]]
    start_berthd --log-level debug
    # the kubelet's next relists see the runtime again
    sleep 8
    kl_mark "berthd restart ends"
    kl_wait_running 20 120
    sleep 10
    [[ $(berth_crictl pods -q --state ready | sort) == "$pods" ]] || {
        echo "sandboxes changed across the berthd restart"
        false
    }
    [[ $(berth_crictl ps -q --state running | sort) == "$ctrs" ]] || {
        echo "containers changed across the berthd restart"
        false
    }
    [[ $(berth_crictl ps -a -q | sort) == "$ctrs" ]]
    [[ $(kl_restarts) == 0 ]]
}
