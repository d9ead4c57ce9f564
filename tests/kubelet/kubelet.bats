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
bats_require_minimum_version 1.5.0 # run --separate-stderr

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
    # the kubelet's stats of the pod come from berth's container stats,
    # the container's rootfs from its writable layer (measured off the
    # request path: it appears within a stats call or two)
    local i used=""
    for ((i = 0; i < 30; i++)); do
        run kl_curl /stats/summary
        [[ $status == 0 ]]
        used=$(jq -r --arg n "one-$KL_NODE" '.pods[] | select(.podRef.name == $n) | .containers[] | select(.name == "main") | .rootfs.usedBytes // empty' <<<"$output")
        [[ -n $used ]] && break
        sleep 1
    done
    [[ $(jq -r --arg n "one-$KL_NODE" '.pods[] | select(.podRef.name == $n) | .containers[0].name' <<<"$output") == main ]] || {
        echo "stats/summary: $output"
        false
    }
    echo "container rootfs in /stats/summary: usedBytes=$used"
    [[ $used =~ ^[0-9]+$ ]] || {
        echo "no rootfs for the container in stats/summary: $output"
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

# kl_ctr_id POD CONTAINER: berth's ID of the running (or last) container
kl_ctr_id() {
    berth_crictl ps -a --pod "$(berth_crictl pods -q --name "$1-$KL_NODE" | head -n 1)" \
        --name "^$2\$" -q | head -n 1
}

# kl_ctr_state ID: berth's state of the container, "gone" once removed
kl_ctr_state() {
    local s
    s=$(berth_crictl inspect "$1" 2>/dev/null | jq -r .status.state) || s=gone
    echo "${s:-gone}"
}

@test "a real pod spec: init container, probes, OnFailure restarts, limits in cgroups, volumes, downward API, grace period" {
    local grace=6
    kl_start_kubelet
    echo 0 >"$KL_DIR/host/count"
    kl_manifest rich <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: rich
  namespace: kltest
  labels: {app: rich}
spec:
  restartPolicy: OnFailure
  terminationGracePeriodSeconds: $grace
  volumes:
  - name: scratch
    emptyDir: {}
  - name: host
    hostPath: {path: $KL_DIR/host, type: Directory}
  initContainers:
  - name: init
    image: $BUSYBOX
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo made-by-init >/scratch/init"]
    volumeMounts: [{name: scratch, mountPath: /scratch}]
  containers:
  - name: app
    image: $BUSYBOX
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "cat /scratch/init; env | grep ^MY_ | sort; touch /tmp/healthy; trap 'echo app got TERM; exit 0' TERM; while true; do sleep 1 & wait \$!; done"]
    env:
    - {name: MY_POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: MY_POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    - {name: MY_POD_UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
    - {name: MY_POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: MY_NODE_NAME, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: MY_CPU_LIMIT, valueFrom: {resourceFieldRef: {containerName: app, resource: limits.cpu, divisor: 1m}}}
    resources:
      limits: {cpu: 250m, memory: 64Mi}
      requests: {cpu: 100m, memory: 32Mi}
    livenessProbe:
      exec: {command: ["cat", "/tmp/healthy"]}
      initialDelaySeconds: 1
      periodSeconds: 2
    readinessProbe:
      exec: {command: ["test", "-f", "/scratch/init"]}
      periodSeconds: 2
    volumeMounts: [{name: scratch, mountPath: /scratch}]
  - name: flaky
    image: $BUSYBOX
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "n=\$((\$(cat /host/count) + 1)); echo \$n >/host/count; echo attempt \$n; [ \$n -ge 3 ]"]
    volumeMounts: [{name: host, mountPath: /host}]
  - name: stubborn
    image: $BUSYBOX
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"]
EOF
    local i flaky_done=0
    # flaky fails twice (restarted within the 2 s back-off cap), then exits 0
    for ((i = 0; i < 90; i++)); do
        # (a completed container is never ready: the pod's Ready stays False)
        if [[ $(kl_pod_field rich '.status.containerStatuses[] | select(.name == "flaky") | .state.terminated.exitCode // empty') == 0 &&
            $(kl_pod_field rich '.status.containerStatuses[] | select(.name == "app") | .ready') == true ]]; then
            flaky_done=1
            break
        fi
        sleep 1
    done
    kl_pods_json | jq '.items[].status' >"$KL_DIR/status.json"
    ((flaky_done)) || {
        echo "flaky never completed, or app never got ready:"
        cat "$KL_DIR/status.json"
        false
    }
    [[ $(kl_pod_field rich .status.phase) == Running ]]
    # the init container ran to completion, once
    [[ $(kl_pod_field rich '.status.initContainerStatuses[0].state.terminated.exitCode') == 0 ]]
    [[ $(kl_pod_field rich '.status.initContainerStatuses[0].restartCount') == 0 ]]
    # OnFailure: restarted after each of its two failures, not after success
    [[ $(kl_pod_field rich '.status.containerStatuses[] | select(.name == "flaky") | .restartCount') == 2 ]]
    [[ $(cat "$KL_DIR/host/count") == 3 ]]
    # probes: readiness passed (Ready above), liveness kept app alive
    [[ $(kl_pod_field rich '.status.containerStatuses[] | select(.name == "app") | .ready') == true ]]
    [[ $(kl_pod_field rich '.status.containerStatuses[] | select(.name == "app") | .restartCount') == 0 ]]
    [[ $(kl_pod_field rich '.status.containerStatuses[] | select(.name == "stubborn") | .restartCount') == 0 ]]
    (($(grep -c 'method=/runtime.v1.RuntimeService/ExecSync' "$BERTH_LOG") >= 4))

    # the emptyDir carried the init container's file; env from the downward API
    local ip uid log
    ip=$(kl_pod_field rich .status.podIP)
    uid=$(kl_pod_field rich .metadata.uid)
    [[ $ip == 10.213.30.* ]]
    log=$(kl_curl "/containerLogs/kltest/rich-$KL_NODE/app")
    echo "app log: $log"
    [[ $log == *made-by-init* ]]
    grep -qx "MY_POD_NAME=rich-$KL_NODE" <<<"$log"
    grep -qx "MY_POD_NAMESPACE=kltest" <<<"$log"
    grep -qx "MY_POD_UID=$uid" <<<"$log"
    grep -qx "MY_POD_IP=$ip" <<<"$log"
    grep -qx "MY_NODE_NAME=$KL_NODE" <<<"$log"
    grep -qx "MY_CPU_LIMIT=250" <<<"$log"

    # limits in the container's v1 cgroups, under the kubelet's pod cgroup
    local app pid mem cpu
    app=$(kl_ctr_id rich app)
    pid=$(berth_crictl inspect "$app" | jq -r .info.pid)
    [[ $pid =~ ^[0-9]+$ ]]
    mem=$(awk -F: '$2 == "memory" { print $3 }' "/proc/$pid/cgroup")
    cpu=$(awk -F: '$2 == "cpu" || $2 ~ /^cpu,/ { print $3 }' "/proc/$pid/cgroup")
    echo "app cgroups: memory $mem, cpu $cpu"
    [[ $mem == "$KL_CGROOT/kubepods/burstable/pod$uid/"* ]]
    [[ $(cat "/sys/fs/cgroup/memory$mem/memory.limit_in_bytes") == $((64 * 1024 * 1024)) ]]
    [[ $(cat "/sys/fs/cgroup/cpu$cpu/cpu.cfs_quota_us") == 25000 ]]
    [[ $(cat "/sys/fs/cgroup/cpu$cpu/cpu.cfs_period_us") == 100000 ]]
    # requests: 100m is 102 shares
    [[ $(cat "/sys/fs/cgroup/cpu$cpu/cpu.shares") == 102 ]]

    # removal: app's trap exits on the SIGTERM (code 0, its line in the
    # log), stubborn ignores it and is killed with SIGKILL (137) when the
    # grace period ends; the times are printed, not judged
    local stub t0 now t_app="" t_stub="" x_app="" x_stub=""
    stub=$(kl_ctr_id rich stubborn)
    t0=$(date +%s.%N)
    rm "$KL_MANIFESTS/rich.yaml"
    for ((i = 0; i < 300; i++)); do
        now=$(date +%s.%N)
        if [[ -z $t_app && $(kl_ctr_state "$app") != CONTAINER_RUNNING ]]; then
            t_app=$(awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.1f", b - a }')
            x_app=$(berth_crictl inspect "$app" 2>/dev/null | jq -r .status.exitCode)
            berth_crictl logs "$app" >"$KL_DIR/app.log" 2>&1 || true
        fi
        if [[ -z $t_stub && $(kl_ctr_state "$stub") != CONTAINER_RUNNING ]]; then
            t_stub=$(awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.1f", b - a }')
            x_stub=$(berth_crictl inspect "$stub" 2>/dev/null | jq -r .status.exitCode)
        fi
        [[ -n $t_app && -n $t_stub ]] && break
        sleep 0.1
    done
    echo "stopped after: app ${t_app}s (exit $x_app), stubborn ${t_stub}s (exit $x_stub), grace ${grace}s"
    [[ $x_app == 0 ]] && grep -q "app got TERM" "$KL_DIR/app.log"
    [[ $x_stub == 137 ]]
}

@test "an image volume (KEP-4639): the kubelet pulls the image, berth mounts it read-only, a subPath too" {
    local volimg=quay.io/libpod/busybox:latest id imgid
    kl_start_kubelet
    kl_manifest imgvol <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: imgvol
  namespace: kltest
spec:
  terminationGracePeriodSeconds: 2
  volumes:
  - name: tools
    image: {reference: $volimg, pullPolicy: IfNotPresent}
  containers:
  - name: main
    image: $BUSYBOX
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "ls /tools/bin/busybox; head -n 1 /etc-image/passwd; if touch /tools/x 2>/dev/null; then echo writable; else echo read-only; fi; exec sleep 3600"]
    volumeMounts:
    - {name: tools, mountPath: /tools}
    - {name: tools, mountPath: /etc-image, subPath: etc}
EOF
    kl_wait_running 1 120
    local i
    for ((i = 0; i < 20; i++)); do
        run kl_curl "/containerLogs/kltest/imgvol-$KL_NODE/main"
        [[ $output == *read-only* ]] && break
        sleep 0.5
    done
    [[ $output == */tools/bin/busybox* && $output == *root:* && $output == *read-only* ]] || {
        echo "containerLogs: $output"
        false
    }
    # one read-only mount for both volumeMounts, reported with its image
    [[ $(grep -c " $BERTH_RUNROOT/image-volumes/" /proc/self/mounts) == 1 ]]
    id=$(berth_crictl ps -q --name main)
    imgid=$(berth_crictl inspecti "$volimg" | jq -r .status.id)
    [[ $(berth_crictl inspect "$id" | jq -r '.status.mounts[] | select(.containerPath == "/tools") | .image.imageRef') == "$imgid" ]]
    # the image stays while the pod uses it
    run berth_crictl rmi "$imgid"
    [[ $status != 0 && $output == *"in use as an image volume"* ]]
    rm "$KL_MANIFESTS/imgvol.yaml"
    kl_wait_gone 90
    [[ $(grep -c " $BERTH_RUNROOT/image-volumes/" /proc/self/mounts || true) == 0 ]]
}

@test "feature gate PodAndContainerStatsFromCRI: pod and container stats from CRI" {
    # Beta in 1.37, off by default: /stats/summary comes from
    # ListPodSandboxStats (the pod's network from its namespace, its
    # containers' CPU, memory and rootfs inside), /metrics/cadvisor from
    # ListMetricDescriptors and ListPodSandboxMetrics. The last test lists
    # what berth answered UNIMPLEMENTED.
    printf 'featureGates:\n  PodAndContainerStatsFromCRI: true\n' >>"$KL_DIR/config.yaml"
    kl_start_kubelet
    # a busy pod: CPU, then pings to the bridge (busybox ping needs NET_RAW)
    kl_manifest gated <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: gated
  namespace: kltest
  labels: {suite: kubelet}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: $BUSYBOX
    imagePullPolicy: IfNotPresent
    securityContext: {capabilities: {add: [NET_RAW]}}
    command: ["sh", "-c", "head -c 300000000 /dev/zero | md5sum; ping -c 20 -i 0.2 -s 1000 ${KL_SUBNET%0/24}1; exec sleep 3600"]
EOF
    kl_wait_running 1 90
    # until the summary shows the pod's traffic and its container's figures
    local i pod=""
    for ((i = 0; i < 60; i++)); do
        kl_curl /stats/summary >"$KL_DIR/summary.json" || true
        pod=$(jq -c --arg n "gated-$KL_NODE" '.pods[]? | select(.podRef.name == $n)' \
            "$KL_DIR/summary.json" 2>/dev/null)
        [[ -n $pod ]] && jq -e '.network.rxBytes > 10000 and .network.txBytes > 10000 and
            (.containers[0].cpu.usageCoreNanoSeconds // 0) > 0' <<<"$pod" >/dev/null && break
        sleep 2
    done
    echo "$pod" | jq . >&2
    kl_curl /metrics/cadvisor >"$KL_DIR/cadvisor.txt" || true
    # the pod's network, from its own namespace: eth0 with the pings
    jq -e '.network.name == "eth0" and .network.rxBytes > 10000 and .network.txBytes > 10000' \
        <<<"$pod"
    # its container: CPU, memory, the writable layer
    jq -e '(.containers | length) == 1 and .containers[0].name == "main" and
        .containers[0].cpu.usageCoreNanoSeconds > 0 and
        .containers[0].memory.workingSetBytes > 0 and
        .containers[0].rootfs.usedBytes != null' <<<"$pod"
    # the pod's own CPU and memory, from its cgroup
    jq -e '.cpu.usageCoreNanoSeconds > 0 and .memory.workingSetBytes > 0' <<<"$pod"
    # /metrics/cadvisor from ListMetricDescriptors and ListPodSandboxMetrics:
    # cAdvisor's names and labels, the container's figures and the pod's
    # network (value: the last field of the sample line)
    grep -E '^container_(cpu_usage_seconds_total|network_receive_bytes_total|memory_working_set_bytes)' \
        "$KL_DIR/cadvisor.txt" | grep "gated-$KL_NODE" >&2 || true
    local m
    m=$(grep -E '^container_memory_working_set_bytes\{' "$KL_DIR/cadvisor.txt" |
        grep 'container="main"' | grep "pod=\"gated-$KL_NODE\"" | grep 'namespace="kltest"')
    [[ -n $m ]]
    awk '{ exit !($2 > 0) }' <<<"$m"
    m=$(grep -E '^container_cpu_usage_seconds_total\{' "$KL_DIR/cadvisor.txt" |
        grep 'container="main"' | grep 'cpu="total"' | grep "pod=\"gated-$KL_NODE\"")
    [[ -n $m ]]
    # the image as the pod spec names it, not the ID the kubelet sends
    grep -qF "image=\"$BUSYBOX\"" <<<"$m"
    m=$(grep -E '^container_network_receive_bytes_total\{' "$KL_DIR/cadvisor.txt" |
        grep 'interface="eth0"' | grep "pod=\"gated-$KL_NODE\"")
    [[ -n $m ]]
    awk '{ exit !($2 > 10000) }' <<<"$m"
    grep -q '^# TYPE container_cpu_usage_seconds_total counter' "$KL_DIR/cadvisor.txt"
    [[ $(kl_count_running) == 1 ]]
    [[ $(kl_restarts) == 0 ]]
    [[ $(berth_crictl ps -a -q | grep -c .) == 1 ]]
}

@test "feature gate EventedPLEG: events instead of fallback; pods start, stop and restart" {
    # Alpha, off by default. With it the kubelet takes a pod's container
    # statuses from PodSandboxStatus (containers_statuses, timestamp) and
    # keeps one GetContainerEvents stream open: a STOPPED event makes it
    # relist the pod at once. Before berth filled containers_statuses the
    # kubelet saw no container in the pod and created another at every sync
    # (about ten a second, ~1000 in 90 s); before berth served the stream the
    # kubelet retried it 5 times and gave up.
    printf 'featureGates:\n  EventedPLEG: true\n' >>"$KL_DIR/config.yaml"
    kl_start_kubelet
    kl_sleeper evented
    # a container that exits every 2 s: restarted (restartPolicy Always),
    # twice: the kubelet restarts from the first status of the name in
    # PodSandboxStatus' containers_statuses, which must be the newest (it
    # was the oldest, and the kubelet asked for attempt 1 again)
    kl_manifest crasher <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: crasher
  namespace: kltest
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: $BUSYBOX
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "sleep 2; exit 1"]
EOF
    local i r=0 n
    for ((i = 0; i < 90; i++)); do
        r=$(kl_pod_field crasher '.status.containerStatuses[0].restartCount // 0' 2>/dev/null) || r=0
        ((${r:-0} >= 2)) && break
        sleep 1
    done
    echo "crasher restarts: $r"
    ((${r:-0} >= 2))
    ! grep -E 'is exited, not created|StartContainer from runtime service failed' "$KL_LOG" || false
    [[ $(kl_pod_field evented '.status.containerStatuses[0].state | keys[0]') == running ]]
    [[ $(kl_pod_field evented '.status.containerStatuses[0].restartCount') == 0 ]]
    # one stream, kept: berth took exactly one subscription and the kubelet
    # never gave up on it
    n=$(grep -c 'events: subscriber added' "$BERTH_LOG" || true)
    echo "GetContainerEvents subscriptions: $n"
    [[ $n == 1 ]]
    ! grep -q 'Evented PLEG: disabling' "$KL_LOG" || false
    ! grep -q 'GetContainerEvents is not implemented' "$KL_LOG" || false
    # stop: the sleeper's manifest goes, its container stops
    rm -f "$KL_MANIFESTS/evented.yaml"
    for ((i = 0; i < 60; i++)); do
        n=$(berth_crictl ps -q --label io.kubernetes.pod.name="evented-$KL_NODE" | grep -c . || true)
        ((n == 0)) && break
        sleep 0.5
    done
    echo "evented containers running after its manifest went: $n"
    ((n == 0))
}

# kl_need_stream: skips without berth's streaming client
kl_need_stream() {
    [[ -x $BERTH_SRC/build/perf/berth-stream ]] || skip "build/perf/berth-stream not built"
}

# kl_wait_listen POD PORT: until a process in the pod's container listens
# on the TCP port (the kubelet calls the pod Running before that).
kl_wait_listen() {
    local i id
    id=$(kl_ctr_id "$1" main)
    for ((i = 0; i < 100; i++)); do
        berth_crictl exec "$id" sh -c "netstat -ltn | grep -q :$2" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on port $2 in $1" >&2
    return 1
}

@test "hostUsers: false: the pod runs in a user namespace of its own" {
    # UserNamespacesSupport is on by default in 1.37: the kubelet picks a
    # 65536-ID range per pod and sends it as userns_options (mode POD);
    # berth advertises user_namespaces for the default handler ("").
    kl_start_kubelet
    kl_manifest userns <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: userns
  namespace: kltest
  labels: {suite: kubelet}
spec:
  hostUsers: false
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: $BUSYBOX
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "touch /written && echo wrote; exec sleep 3600"]
EOF
    kl_wait_running 1 90
    [[ $(kl_pod_field userns .status.phase) == Running ]]
    id=$(berth_crictl ps -q --name main | head -1)
    [[ -n $id ]]
    map=$(berth_crictl exec -s "$id" cat /proc/self/uid_map)
    echo "uid_map: $map"
    read -r cid hid len <<<"$map"
    [[ $cid == 0 && $hid != 0 && $len == 65536 ]]
    pid=$(berth_crictl inspect "$id" | jq -r .info.pid)
    [[ $(awk '/^Uid:/ { print $2 }' "/proc/$pid/status") == "$hid" ]]
    [[ $(berth_crictl exec -s "$id" stat -c %u /bin/busybox) == 0 ]]
    [[ $(berth_crictl logs "$id") == *wrote* ]]
    rm "$KL_MANIFESTS/userns.yaml"
    for ((i = 0; i < 60; i++)); do
        [[ -z $(berth_crictl pods -q) ]] && break
        sleep 1
    done
    [[ -z $(berth_crictl pods -q) ]]
}

@test "exec through the kubelet's /exec: output, exit codes, stdin, over SPDY and WebSocket" {
    # The kubelet takes the request on its HTTPS port, calls CRI Exec with
    # the query's command and streams, and proxies the upgraded connection
    # to berth's URL: SPDY as it is, WebSocket v4 as it is, WebSocket v5
    # turned into SPDY towards berth (ExtendWebSocketsToKubelet, beta, on).
    kl_need_stream
    kl_start_kubelet
    kl_sleeper ex
    kl_wait_running 1 90
    local base="/exec/kltest/ex-$KL_NODE/main" t ws out
    # 'echo to-stderr >&2; exit 3'
    local fail='command=sh&command=-c&command=echo%20to-stderr%20%3E%262%3B%20exit%203'
    for t in spdy websocket websocket-v4; do
        ws=()
        [[ $t == websocket-v4 ]] && ws=(--ws-protocol v4.channel.k8s.io)
        run kl_stream --transport "${t%-v4}" "${ws[@]}" "$base?command=echo&command=hi&output=1&error=1"
        echo "$t echo: $status $output"
        [[ $status == 0 && $output == hi ]]
        # stdout and stderr apart, the exit code as the kubelet's status
        run --separate-stderr kl_stream --transport "${t%-v4}" "${ws[@]}" "$base?$fail&output=1&error=1"
        echo "$t exit 3: $status [$output] [$stderr]"
        [[ $status == 3 && -z $output && $stderr == to-stderr ]]
        # stdin to cat and back; its end ends cat (WebSocket v4 has no
        # half-close: cat never sees the end, so it is left out there)
        [[ $t == websocket-v4 ]] && continue
        out=$(printf 'one\ntwo\n' | kl_stream -i --transport "$t" "$base?command=cat&input=1&output=1&error=1")
        echo "$t cat: $out"
        [[ $out == $'one\ntwo' ]]
    done
    # a 1 MiB round trip through the kubelet's proxy (SPDY)
    head -c 1048576 /dev/urandom >"$KL_DIR/big"
    kl_stream -i "$base?command=cat&input=1&output=1&error=1" <"$KL_DIR/big" >"$KL_DIR/big.back"
    cmp "$KL_DIR/big" "$KL_DIR/big.back"
    # each session was one CRI Exec call on berth (8 above)
    (($(grep -c 'method=/runtime.v1.RuntimeService/Exec ' "$BERTH_LOG") >= 8))
    # the kubelet's self-signed certificate: refused without its CA, taken
    # with -k
    run timeout 30 "$BERTH_SRC/build/perf/berth-stream" open "https://127.0.0.1:$KL_PORT$base?command=true&output=1"
    echo "no CA: $status $output"
    [[ $status == 255 && $output == *certificate* ]]
    run timeout 30 "$BERTH_SRC/build/perf/berth-stream" open -k "https://127.0.0.1:$KL_PORT$base?command=echo&command=k&output=1"
    [[ $status == 0 && $output == k ]]
    run kl_log_errors "$KL_LOG"
    [[ -z $output ]]
}

@test "port-forward through the kubelet's /portForward to a pod's httpd, over SPDY, WebSocket and its SPDY tunnel" {
    kl_need_stream
    kl_start_kubelet
    kl_manifest web <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: kltest
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: $BUSYBOX
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "mkdir -p /www && echo hello through the kubelet >/www/index.html && exec httpd -f -p 8080 -h /www"]
EOF
    kl_wait_running 1 90
    kl_wait_listen web 8080
    # SPDY and WebSocket v4 are proxied to berth as they are; client-go's
    # WebSocket tunnel (SPDY in binary messages, what kubectl sends) the
    # kubelet unwraps into SPDY towards berth
    local t ws out url="/portForward/kltest/web-$KL_NODE"
    for t in spdy websocket websocket-tunnel; do
        ws=()
        [[ $t == websocket-tunnel ]] && ws=(--ws-protocol SPDY/3.1+portforward.k8s.io)
        # HTTP/1.0: httpd answers and closes, which ends the forward
        out=$(printf 'GET / HTTP/1.0\r\n\r\n' | kl_stream --transport "${t%-tunnel}" "${ws[@]}" --port 8080 "$url")
        echo "$t: $out"
        [[ $out == *"200 OK"* && $out == *"hello through the kubelet"* ]]
        # nothing listens on 8081: berth says so on the pair's error stream
        run kl_stream --transport "${t%-tunnel}" "${ws[@]}" --port 8081 "$url" </dev/null
        echo "$t closed port: $status $output"
        [[ $status == 255 && $output == *8081* && $output == *refused* ]]
    done
    run kl_log_errors "$KL_LOG"
    [[ -z $output ]]
}

@test "attach through the kubelet's /attach: a container's stdin and output, over SPDY and WebSocket" {
    kl_need_stream
    kl_start_kubelet
    # one container per transport: stdinOnce, so the first attach's end
    # closes its stdin; each reads a line, answers on stdout and stderr and
    # exits (restartPolicy Never: no restart)
    kl_manifest att <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: att
  namespace: kltest
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 2
  containers:
  - name: spdy
    image: $BUSYBOX
    imagePullPolicy: IfNotPresent
    stdin: true
    stdinOnce: true
    command: ["sh", "-c", "read l; echo got \$l; echo err \$l >&2"]
  - name: websocket
    image: $BUSYBOX
    imagePullPolicy: IfNotPresent
    stdin: true
    stdinOnce: true
    command: ["sh", "-c", "read l; echo got \$l; echo err \$l >&2"]
EOF
    kl_wait_running 1 90
    local t
    for t in spdy websocket; do
        run --separate-stderr kl_stream -i --transport "$t" \
            "/attach/kltest/att-$KL_NODE/$t?input=1&output=1&error=1" <<<"hello-$t"
        echo "$t: $status [$output] [$stderr]"
        [[ $status == 0 && $output == "got hello-$t" && $stderr == "err hello-$t" ]]
    done
    [[ $(grep -c 'method=/runtime.v1.RuntimeService/Attach ' "$BERTH_LOG") == 2 ]]
    run kl_log_errors "$KL_LOG"
    [[ -z $output ]]
}

@test "the kubelet's log has no error caused by berth" {
    local logs=("$KL_LOGS"/*.kubelet.log)
    if [[ ! -f ${logs[0]} ]]; then
        # run alone: make a log of one pod's life
        kl_start_kubelet
        kl_sleeper alone
        kl_wait_running 1 90
        rm "$KL_MANIFESTS/alone.yaml"
        kl_wait_gone 90
        kl_stop_kubelet
        logs=("$KL_LOG")
    fi
    run kl_log_errors "${logs[@]}"
    echo "kubelet logs read: ${logs[*]}"
    [[ -z $output ]] || {
        echo "errors not on the allow-list (tests/kubelet/helpers.bash kl_log_errors):"
        echo "$output"
        false
    }
}

@test "CRI calls the kubelet made that berth answered UNIMPLEMENTED are the ones docs/kubelet.md lists" {
    local logs=("$KL_LOGS"/*.log) m called unimpl undocumented=""
    [[ -f ${logs[0]} ]] || skip "no kubelet or berthd log of an earlier test in this run"
    # every method the kubelet called (berthd's debug "request" lines)
    called=$(grep -ho 'method=/runtime\.v1\.[A-Za-z]*/[A-Za-z]*' "$KL_LOGS"/*.berthd.log |
        sed 's|.*/||' | sort -u | paste -sd ' ' -)
    # berth names the method in every UNIMPLEMENTED answer: "X is not
    # implemented by berth yet (runtime.v1.Service/X)"; the kubelet logs the
    # ones it does not swallow.
    unimpl=$(cat "${logs[@]}" | grep -iE 'unimplemented' |
        grep -oE '[A-Za-z]+ is not implemented by berth yet|unknown method [^ :]+' |
        sed -e 's/ is not implemented by berth yet//' -e 's|unknown method .*/||' |
        sort -u | paste -sd ' ' -)
    echo "kubelet: CRI methods called: $called" >&3
    echo "kubelet: answered UNIMPLEMENTED: ${unimpl:-none}" >&3
    for m in $unimpl; do
        grep -q "^| \`$m\` |" "$BERTH_SRC/docs/kubelet.md" || undocumented+=" $m"
    done
    [[ -z $undocumented ]] || {
        echo "UNIMPLEMENTED calls missing from docs/kubelet.md:$undocumented"
        false
    }
}

# Last in the file: its checkpoint call is an error in the kubelet's log
# where CRIU cannot work, which the log test above must not read.
@test "a pod's security and extension features under the kubelet: Localhost seccomp, the notifier, Strict groups, an OCI hook, an NRI plugin, userns-mode, metrics, the debug endpoint, checkpoint" {
    local plugin
    plugin=$("$BERTH_SRC/tests/nri/build.sh" 2>/dev/null) || skip "NRI test plugin not built (tests/nri/build.sh needs Go)"
    # berthd again, with what this test turns on
    stop_berthd
    mkdir -p "$BERTH_TMP/hooks.d" "$BERTH_TMP/plugins" "$BERTH_TMP/plugin-conf"
    cp "$plugin" "$BERTH_TMP/plugins/10-kltest"
    echo "log=$BERTH_TMP/nri.log" >"$BERTH_TMP/plugin-conf/kltest.conf"
    cat >"$BERTH_TMP/hooks.d/record.json" <<EOF
{"version": "1.0.0",
 "hook": {"path": "/bin/sh", "args": ["sh", "-c", "cat >>$BERTH_TMP/hook.log; echo >>$BERTH_TMP/hook.log"]},
 "when": {"always": true}, "stages": ["createRuntime"]}
EOF
    echo "containers:400000:131072" >"$BERTH_TMP/subid"
    cat >"$BERTH_CONF_DIR/60-kubelet-ext.conf" <<EOF
[crio.api]
debug_socket = "$BERTH_TMP/debug.sock"

[crio.runtime]
hooks_dir = ["$BERTH_TMP/hooks.d"]
subuid_file = "$BERTH_TMP/subid"
subgid_file = "$BERTH_TMP/subid"

[crio.runtime.runtimes.runc]
runtime_path = "/usr/sbin/runc"
runtime_root = "/run/runc"
allowed_annotations = ["io.kubernetes.cri-o.seccompNotifierAction", "io.kubernetes.cri-o.userns-mode"]

[crio.metrics]
enable_metrics = true
metrics_socket = "$BERTH_TMP/metrics.sock"

[crio.nri]
enable_nri = true
nri_listen = "$BERTH_TMP/nri.sock"
nri_plugin_dir = "$BERTH_TMP/plugins"
nri_plugin_config_dir = "$BERTH_TMP/plugin-conf"
EOF
    start_berthd --log-level debug
    # the kubelet's Localhost profiles live under <root-dir>/seccomp
    mkdir -p "$KL_DIR/root/seccomp/profiles"
    cat >"$KL_DIR/root/seccomp/profiles/nomkdir.json" <<'EOF'
{"defaultAction": "SCMP_ACT_ALLOW",
 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
EOF
    kl_start_kubelet
    kl_manifest secext <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: secext
  namespace: kltest
  labels: {suite: kubelet}
  annotations:
    io.kubernetes.cri-o.seccompNotifierAction: ""
spec:
  terminationGracePeriodSeconds: 2
  securityContext:
    runAsUser: 1000
    runAsGroup: 1000
    supplementalGroups: [1234]
    supplementalGroupsPolicy: Strict
  containers:
  - name: sec
    image: $BUSYBOX
    imagePullPolicy: IfNotPresent
    securityContext:
      seccompProfile: {type: Localhost, localhostProfile: profiles/nomkdir.json}
    command: ["sh", "-c", "mkdir /tmp/denied; echo env=\$BERTH_NRI_TEST; id; exec sleep 3600"]
EOF
    kl_manifest usermode <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: usermode
  namespace: kltest
  labels: {suite: kubelet}
  annotations:
    io.kubernetes.cri-o.userns-mode: "auto:size=65536"
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: um
    image: $BUSYBOX
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "cat /proc/self/uid_map; exec sleep 3600"]
EOF
    kl_wait_running 2 90
    id=$(berth_crictl ps -q --name '^sec$' | head -1)
    [[ -n $id ]]
    for ((i = 0; i < 50; i++)); do
        [[ $(berth_crictl logs "$id" 2>&1) == *groups=* ]] && break
        sleep 0.2
    done
    log=$(berth_crictl logs "$id" 2>&1)
    echo "$log"
    # the Localhost profile under the kubelet's root refused mkdir ...
    [[ $log == *"Operation not permitted"* ]]
    # ... and the pod's notifier annotation recorded it
    berth_crictl inspect "$id" | jq -r '.info.seccompNotifier' | grep -q mkdir
    # Strict: the primary group and the pod's own only, not the image's
    [[ $log == *"uid=1000 gid=1000 groups=1000,1234"* ]]
    # the pre-installed NRI plugin saw the kubelet's pod and set the env
    [[ $log == *"env=injected"* ]]
    grep -q "secext" "$BERTH_TMP/nri.log"
    # the hook ran at createRuntime with the container's state on stdin
    grep -q "\"id\": *\"$id\"" "$BERTH_TMP/hook.log"
    # userns-mode: a 65536-ID map from the subid file's containers range
    uid=$(berth_crictl ps -q --name '^um$' | head -1)
    read -r cid hid len <<<"$(berth_crictl exec -s "$uid" cat /proc/self/uid_map)"
    [[ $cid == 0 && $len == 65536 ]]
    ((hid >= 400000 && hid + len <= 400000 + 131072))
    # the kubelet's calls as berth's metrics count them, and the refusal
    m=$(curl -sS --unix-socket "$BERTH_TMP/metrics.sock" http://localhost/metrics)
    grep -q '^container_runtime_crio_operations_total{operation="RunPodSandbox"} [1-9]' <<<"$m"
    grep -q '^container_runtime_crio_containers_seccomp_notifier_count_total{.*syscall="mkdir".*} [1-9]' <<<"$m"
    # the debug endpoint lists the kubelet's pods
    curl -sS --unix-socket "$BERTH_TMP/debug.sock" http://localhost/containers |
        jq -e '[.pods[].name] | index("secext-'"$KL_NODE"'") != null'
    # checkpoint through the kubelet's API (ContainerCheckpoint, beta, on):
    # an archive where CRIU works here, else berth's reason in the answer
    out=$(curl -sSk --max-time 60 -X POST -w '\n%{http_code}' \
        "https://127.0.0.1:$KL_PORT/checkpoint/kltest/secext-$KL_NODE/sec")
    code=${out##*$'\n'}
    echo "checkpoint: $out"
    if [[ $code == 200 ]]; then
        jq -e '.items[0] | endswith(".tar")' <<<"${out%$'\n'*}"
    else
        [[ $out == *"criu"* || $out == *"CRIU"* ]]
    fi
    rm "$KL_MANIFESTS/secext.yaml" "$KL_MANIFESTS/usermode.yaml"
    for ((i = 0; i < 60; i++)); do
        [[ -z $(berth_crictl pods -q) ]] && break
        sleep 1
    done
    [[ -z $(berth_crictl pods -q) ]]
}
