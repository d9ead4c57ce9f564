# SPDX-License-Identifier: Apache-2.0
# Shared by tests/kubelet/*.bats: a real kubelet (scripts/build-kubelet.sh,
# $KUBELET) in standalone mode (static pods from a manifest directory, no API
# server, no kubeconfig) against the private berthd of
# tests/integration/helpers.bash. Everything the kubelet gets is private:
# root dir, cert dir, volume plugin dir, pod logs dir, manifest dir, a
# cgroupRoot of its own in every cgroup v1 hierarchy, a CNI bridge and subnet
# of this suite (berthkl0, 10.213.30.0/24), an HTTPS port on 127.0.0.1 only.
#
# What the kubelet changes on the node whatever its flags say, and how it is
# put back (docs/kubelet.md):
#   - six kernel settings (vm.overcommit_memory, vm.panic_on_oom,
#     kernel.panic, kernel.panic_on_oops, kernel.keys.root_maxkeys,
#     kernel.keys.root_maxbytes): saved by kl_setup_file, restored by
#     kl_teardown_file; a saved copy in $KL_SYSCTL_SAVED also lets the next
#     run restore them when a run was killed before its teardown;
#   - /var/lib/kubelet/device-plugins/kubelet.sock and /var/log/containers
#     (symlinks to the pods' logs): removed afterwards if they were not
#     there before.
# Only processes the suite started are signalled, by PID.

load ../integration/helpers

KUBELET_VERSION=${KUBELET_VERSION:-v1.37.2}
KUBELET=${KUBELET:-${BERTH_KUBELET_CACHE:-/var/cache/berth-kubelet}/$KUBELET_VERSION/kubelet}
KL_BRIDGE=berthkl0
KL_SUBNET=10.213.30.0/24
KL_NODE=berthkl
KL_SYSCTL_SAVED=/var/tmp/berth-kubelet-test.sysctl
KL_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
    kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
# Node paths the kubelet creates even when told to use private ones.
KL_HOST_PATHS=(/var/lib/kubelet /var/lib/kubelet/device-plugins
    /var/lib/kubelet/device-plugins/kubelet.sock /var/log/containers)
BUSYBOX=registry.k8s.io/e2e-test-images/busybox:1.29-2

# ---- node state: kernel settings, host paths, cgroup root (per file)

kl_sysctl_restore() { # FILE
    local key val
    while read -r key val; do
        [[ -n $key ]] || continue
        sysctl -q -w "$key=$val" >/dev/null 2>&1 || echo "cannot restore $key=$val" >&2
    done <"$1"
}

# kl_v1_hierarchies: the mount points of the cgroup v1 hierarchies.
kl_v1_hierarchies() {
    awk '$9 == "cgroup" { print $5 }' /proc/self/mountinfo
}

# kl_hierarchies: every cgroup hierarchy, v1 and v2: on this hybrid node the
# kubelet also makes its cgroup root, kubepods and the QoS cgroups in the
# cgroup2 hierarchy (which holds hugetlb).
kl_hierarchies() {
    awk '$9 == "cgroup" || $9 == "cgroup2" { print $5 }' /proc/self/mountinfo
}

# kl_setup_file: for setup_file(). Skips the file without a kubelet or the
# test images; saves the node state the kubelet changes; makes the cgroup
# root. Exports what the tests need.
kl_setup_file() {
    [[ -x $KUBELET ]] || skip "no kubelet at $KUBELET (scripts/build-kubelet.sh builds it)"
    "$KUBELET" --version 2>/dev/null | grep -qx "Kubernetes $KUBELET_VERSION" ||
        skip "$KUBELET is not kubelet $KUBELET_VERSION"
    berth_images_setup_file
    export KUBELET KL_LOGS=$BATS_FILE_TMPDIR/logs
    mkdir -p "$KL_LOGS"
    # A run killed before its teardown left its saved values: put them back
    # before saving, or the kubelet's values would be saved as the node's.
    if [[ -s $KL_SYSCTL_SAVED ]]; then
        kl_sysctl_restore "$KL_SYSCTL_SAVED"
    fi
    local k h
    for k in "${KL_SYSCTLS[@]}"; do
        echo "$k $(sysctl -n "$k")"
    done >"$KL_SYSCTL_SAVED.new"
    mv -f "$KL_SYSCTL_SAVED.new" "$KL_SYSCTL_SAVED"
    for h in "${KL_HOST_PATHS[@]}"; do
        [[ -e $h || -L $h ]] && echo "$h"
    done >"$BATS_FILE_TMPDIR/host-paths-before"
    # The kubelet's cgroupRoot must exist in every v1 hierarchy beforehand;
    # a new cpuset cgroup starts with no CPUs and no memory nodes.
    export KL_CGROOT=/berth-kubelet-test.$$
    for h in $(kl_v1_hierarchies); do
        mkdir -p "$h$KL_CGROOT"
        if [[ -f $h/cpuset.cpus ]]; then
            cat "$h/cpuset.cpus" >"$h$KL_CGROOT/cpuset.cpus"
            cat "$h/cpuset.mems" >"$h$KL_CGROOT/cpuset.mems"
        fi
    done
}

# kl_teardown_file: for teardown_file(). Puts the node back.
kl_teardown_file() {
    local h p i
    if [[ -s $KL_SYSCTL_SAVED ]]; then
        kl_sysctl_restore "$KL_SYSCTL_SAVED"
        rm -f "$KL_SYSCTL_SAVED"
    fi
    # Deepest first, so a directory the kubelet made goes after its content.
    for ((i = ${#KL_HOST_PATHS[@]} - 1; i >= 0; i--)); do
        p=${KL_HOST_PATHS[i]}
        grep -qxF "$p" "$BATS_FILE_TMPDIR/host-paths-before" 2>/dev/null && continue
        if [[ -S $p || -L $p || -f $p ]]; then
            rm -f "$p"
        elif [[ -d $p ]]; then
            # Only the log links and sockets the kubelet made can be there.
            find "$p" -mindepth 1 \( -type l -o -type s \) -delete 2>/dev/null || true
            rmdir "$p" 2>/dev/null || echo "kept $p: not empty" >&2
        fi
    done
    if [[ -d /var/log/containers && -n ${BATS_FILE_TMPDIR:-} ]]; then
        # Links into this suite's pod log dirs, when the directory was there.
        find /var/log/containers -maxdepth 1 -type l -lname '/tmp/berth-test.*' -delete 2>/dev/null || true
    fi
    if [[ -n ${KL_CGROOT:-} && $KL_CGROOT == /berth-kubelet-test.* ]]; then
        for h in $(kl_hierarchies); do
            [[ -d $h$KL_CGROOT ]] || continue
            find "$h$KL_CGROOT" -depth -type d -exec rmdir {} \; 2>/dev/null ||
                echo "cannot remove cgroup $h$KL_CGROOT" >&2
        done
    fi
    ip link del "$KL_BRIDGE" 2>/dev/null || true
}

# ---- per test: berthd and the kubelet

# kl_setup: for setup(). A private berthd on this suite's CNI network with
# the offline registry's mirrors, the busybox image pulled, and a kubelet
# config (not started: kl_start_kubelet).
kl_setup() {
    [[ -s $REG_DIR/images.txt ]] || skip "no test images"
    berth_setup
    write_conflist kltest "$KL_BRIDGE" "$KL_SUBNET"
    berth_conf_images
    # debug: one "request method=..." line per CRI call (test 6 lists them)
    start_berthd --log-level debug
    berth_crictl pull "$BUSYBOX" >/dev/null
    KL_DIR=$BERTH_TMP/kubelet
    KL_MANIFESTS=$KL_DIR/manifests
    KL_LOG=$KL_DIR/kubelet.log
    KL_PID=
    mkdir -p "$KL_MANIFESTS" "$KL_DIR/staging" "$KL_DIR/root" "$KL_DIR/pki" \
        "$KL_DIR/volume-plugins" "$KL_DIR/pod-logs" "$KL_DIR/host"
    KL_PORT=$(kl_free_port)
    kl_write_config
}

# kl_teardown: for teardown(). Keeps the kubelet's and berthd's logs for the
# log tests (5, 6), shows the kubelet log's tail when the test failed, stops
# the kubelet by PID and then berthd (berth_teardown removes what is left
# through CRI).
kl_teardown() {
    kl_stop_kubelet || true
    if [[ -n ${KL_LOG:-} && -f $KL_LOG ]]; then
        cp "$KL_LOG" "$KL_LOGS/$BATS_TEST_NUMBER.kubelet.log"
        if [[ -z ${BATS_TEST_COMPLETED:-} ]]; then
            echo "--- kubelet log ($KL_LOG), errors ---"
            grep -E '^E[0-9]{4} ' "$KL_LOG" | tail -n 30
        fi
    fi
    if [[ -n ${BERTH_LOG:-} && -f $BERTH_LOG ]]; then
        cp "$BERTH_LOG" "$KL_LOGS/$BATS_TEST_NUMBER.berthd.log"
    fi
    # BERTH_KUBELET_LOGS=DIR keeps both logs of every test (scripts/test-all).
    if [[ -n ${BERTH_KUBELET_LOGS:-} ]]; then
        mkdir -p "$BERTH_KUBELET_LOGS"
        cp "$KL_LOGS/$BATS_TEST_NUMBER".* "$BERTH_KUBELET_LOGS/" 2>/dev/null || true
    fi
    # The pods the kubelet left: removed through CRI with time enough for
    # many (berth_teardown's own pass has crictl's 10 s).
    if [[ -n ${BERTHD_PID:-} ]] && pid_alive "$BERTHD_PID"; then
        crictl --config /dev/null --runtime-endpoint "unix://$BERTH_SOCK" --timeout 120s \
            rmp --all --force >/dev/null 2>&1 || true
    fi
    berth_teardown
    # The kubelet's links in /var/log/containers to this test's pod logs: a
    # kubelet that finds them dangling later asks berth about containers of
    # another berthd.
    if [[ -d /var/log/containers && -n ${BERTH_TMP:-} ]]; then
        find /var/log/containers -maxdepth 1 -type l -lname "$BERTH_TMP/*" -delete 2>/dev/null || true
    fi
    # Pod cgroups the stopped kubelet did not get to remove (the pods are
    # gone): the next test counts what is left under the cgroup root.
    local h
    for h in $(kl_hierarchies); do
        find "$h$KL_CGROOT" -mindepth 1 -depth -type d -path '*/pod*' -exec rmdir {} \; 2>/dev/null || true
    done
    # Last in a failed test's output (a CI excerpt shows the tail): the
    # kubelet's error lines that are not on the allow-list, with berthd's
    # log lines about the containers they name.
    if [[ -z ${BATS_TEST_COMPLETED:-} && -f $KL_LOGS/$BATS_TEST_NUMBER.kubelet.log ]]; then
        local flagged ids id
        flagged=$(kl_log_errors "$KL_LOGS/$BATS_TEST_NUMBER.kubelet.log" | tail -n 12)
        if [[ -n $flagged ]]; then
            echo "--- kubelet errors not on the allow-list (last 12) ---"
            echo "$flagged"
            ids=$(grep -o '[0-9a-f]\{64\}' <<<"$flagged" | sort -u | head -n 3)
            for id in $ids; do
                echo "--- berthd on ${id:0:12} ---"
                grep -F "${id:0:12}" "$KL_LOGS/$BATS_TEST_NUMBER.berthd.log" 2>/dev/null | grep -v 'msg="request"' | tail -n 8
            done
        fi
    fi
}

# kl_free_port: a TCP port nothing listens on, for the kubelet's HTTPS server.
kl_free_port() {
    local p
    for ((p = 20250 + RANDOM % 500; p < 21000; p++)); do
        if [[ -z $(ss -Hltn "sport = :$p") ]]; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

kl_write_config() {
    cat >"$KL_DIR/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# static pods only: no API server, no kubeconfig
staticPodPath: $KL_MANIFESTS
fileCheckFrequency: 1s
syncFrequency: 10s
podLogsDir: $KL_DIR/pod-logs
# loopback only; anonymous + AlwaysAllow is for this test only
address: 127.0.0.1
port: $KL_PORT
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
# this node: cgroup v1 hybrid, no systemd, no CAP_SYS_RESOURCE
cgroupDriver: cgroupfs
cgroupRoot: $KL_CGROOT
cgroupsPerQOS: true
enforceNodeAllocatable: []
failCgroupV1: false
failSwapOn: false
maxOpenFiles: 20000
makeIPTablesUtilChains: false
volumePluginDir: $KL_DIR/volume-plugins
resolvConf: /etc/resolv.conf
containerRuntimeEndpoint: unix://$BERTH_SOCK
imageServiceEndpoint: unix://$BERTH_SOCK
runtimeRequestTimeout: 2m
# a shared test VM: no eviction or image GC because of its disk or memory
evictionHard:
  memory.available: 1Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
# restarts after a failure within 2 s instead of 10 s, 20 s, ... (beta
# KubeletCrashLoopBackOffMax, on by default)
crashLoopBackOff:
  maxContainerRestartPeriod: 2s
EOF
}

# kl_start_kubelet: starts the kubelet (log $KL_LOG, PID $KL_PID) and waits
# until its HTTPS server answers /healthz.
kl_start_kubelet() {
    "$KUBELET" --config "$KL_DIR/config.yaml" --root-dir "$KL_DIR/root" \
        --cert-dir "$KL_DIR/pki" --hostname-override "$KL_NODE" --v=2 \
        </dev/null >>"$KL_LOG" 2>&1 3>&- &
    KL_PID=$!
    local i
    for ((i = 0; i < 600; i++)); do
        if [[ $(kl_curl /healthz 2>/dev/null) == ok ]]; then
            return 0
        fi
        if ! pid_alive "$KL_PID"; then
            echo "kubelet exited; its log:" >&2
            tail -n 40 "$KL_LOG" >&2
            KL_PID=
            return 1
        fi
        sleep 0.1
    done
    echo "kubelet (pid $KL_PID) does not answer on 127.0.0.1:$KL_PORT after 60 s" >&2
    return 1
}

# kl_stop_kubelet: SIGTERM to the kubelet this test started, SIGKILL after
# 10 s. Its pods keep running (a kubelet's exit never stops them).
kl_stop_kubelet() {
    [[ -n ${KL_PID:-} ]] || return 0
    kill -TERM "$KL_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
        pid_alive "$KL_PID" || break
        sleep 0.1
    done
    if pid_alive "$KL_PID"; then
        kill -KILL "$KL_PID" 2>/dev/null || true
    fi
    wait "$KL_PID" 2>/dev/null || true
    KL_PID=
}

# kl_curl PATH: GET on the kubelet's HTTPS server (self-signed: -k).
kl_curl() {
    curl -sSk --max-time 10 "https://127.0.0.1:$KL_PORT$1"
}

# kl_stream ARGS... URL: berth's streaming client (perf/berth-stream open)
# on a kubelet endpoint (PATH: /exec/..., /portForward/...), which checks
# the kubelet's certificate: the file the kubelet wrote holds its
# self-signed CA, and the certificate names the node.
kl_stream() {
    local url=${*: -1}
    timeout 60 "$BERTH_SRC/build/perf/berth-stream" open --cacert "$KL_DIR/pki/kubelet.crt" \
        --tls-server-name "$KL_NODE" "${@:1:$#-1}" "https://127.0.0.1:$KL_PORT$url"
}

# kl_mark TEXT: a line in the kubelet's log (tests 3 and 5: the window of a
# berthd restart, when connection errors are the test's doing).
kl_mark() {
    echo "berth-test-mark: $*" >>"$KL_LOG"
}

# ---- static pods

# kl_manifest NAME: the pod manifest on stdin becomes NAME.yaml in the
# manifest dir, written beside it and renamed in, so the kubelet never reads
# half a file.
kl_manifest() {
    kl_manifest_staged "$1"
    mv -f "$KL_DIR/staging/$1.yaml" "$KL_MANIFESTS/$1.yaml"
}

# kl_manifest_staged NAME: the same, left in the staging dir (a test moves
# many in at once).
kl_manifest_staged() {
    cat >"$KL_DIR/staging/$1.yaml"
}

# kl_sleeper NAME [GRACE]: a busybox pod whose one container sleeps.
kl_sleeper() {
    kl_manifest "$1" <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $1
  namespace: kltest
  labels: {suite: kubelet}
spec:
  terminationGracePeriodSeconds: ${2:-2}
  containers:
  - name: main
    image: $BUSYBOX
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo hello from $1; exec sleep 3600"]
EOF
}

# kl_pods_json: the kubelet's /pods (static pods carry their status there).
kl_pods_json() {
    kl_curl /pods
}

# kl_count_running: pods in phase Running whose containers all run.
kl_count_running() {
    kl_pods_json | jq '[.items[] | select(.status.phase == "Running" and
        (.status.containerStatuses // [] | length > 0) and
        all(.status.containerStatuses[]; .state.running != null))] | length' 2>/dev/null || echo 0
}

# kl_wait_running N SECONDS: until N pods run (per /pods).
kl_wait_running() {
    local n=$1 secs=$2 start=$SECONDS c=0
    while ((SECONDS - start < secs)); do
        c=$(kl_count_running)
        ((c == n)) && return 0
        sleep 0.5
    done
    echo "after ${secs}s: $c of $n pods running per the kubelet's /pods" >&2
    kl_pods_json | jq -r '.items[] | "\(.metadata.name) \(.status.phase) \(.status.containerStatuses // [] | map(.state | keys[0]) | join(","))"' >&2 || true
    return 1
}

# kl_pod_field NAME JQ: JQ on the /pods entry of the static pod NAME (the
# kubelet names it NAME-<node>).
kl_pod_field() {
    kl_pods_json | jq -r --arg n "$1-$KL_NODE" ".items[] | select(.metadata.name == \$n) | $2"
}

# kl_restarts: the sum of restartCount over every container in /pods.
kl_restarts() {
    kl_pods_json | jq '[.items[].status.containerStatuses // [] | .[].restartCount] | add // 0'
}

# kl_wait_gone SECONDS: until berth lists no pod and no container (the
# kubelet's container GC, every minute, removes the sandboxes of pods that
# are gone).
kl_wait_gone() {
    local secs=$1 start=$SECONDS p c
    while ((SECONDS - start < secs)); do
        p=$(berth_crictl pods -q | grep -c . || true)
        c=$(berth_crictl ps -a -q | grep -c . || true)
        ((p == 0 && c == 0)) && return 0
        sleep 1
    done
    echo "after ${secs}s: $p pods and $c containers still listed by berth" >&2
    return 1
}

# ---- what must be left after every pod went

# kl_leaks: prints one line per thing left of any pod (berth's records and
# runtime dirs, mounts, veths, IPAM addresses, pod cgroups), nothing when
# clean.
kl_leaks() {
    local n h
    n=$(berth_crictl pods -q | grep -c . || true)
    ((n == 0)) || echo "pods listed: $n"
    n=$(berth_crictl ps -a -q | grep -c . || true)
    ((n == 0)) || echo "containers listed: $n"
    for d in "$BERTH_ROOT/pods" "$BERTH_ROOT/containers" "$BERTH_ROOT/overlay-containers" \
        "$BERTH_ROOT/cni-cache" "$BERTH_RUNROOT/pods" "$BERTH_RUNROOT/containers" \
        "$BERTH_RUNROOT/exits"; do
        n=$(find "$d" -mindepth 1 -maxdepth 1 2>/dev/null | grep -c . || true)
        ((n == 0)) || echo "entries in $d: $n"
    done
    n=$(find "$BERTH_RUNROOT/ns" -type f 2>/dev/null | grep -c . || true)
    ((n == 0)) || echo "namespace pins in $BERTH_RUNROOT/ns: $n"
    # (berthd keeps <runroot>/ns itself mounted, private, for the pins)
    awk -v r="$BERTH_ROOT/overlay-containers/" -v p="$BERTH_RUNROOT/" -v ns="$BERTH_RUNROOT/ns" \
        '(index($2, r) == 1 || index($2, p) == 1) && $2 != ns { print "mount left: " $1 " on " $2 " (" $3 ")" }' \
        /proc/self/mounts
    n=$(ip -o link show master "$KL_BRIDGE" 2>/dev/null | grep -c . || true)
    ((n == 0)) || echo "veths on $KL_BRIDGE: $n"
    n=$(find "$BERTH_TMP/cni-ipam" -type f -name '10.*' 2>/dev/null | grep -c . || true)
    ((n == 0)) || echo "host-local addresses in $BERTH_TMP/cni-ipam: $n"
    for h in $(kl_hierarchies); do
        n=$(find "$h$KL_CGROOT" -mindepth 1 -type d -name 'pod*' 2>/dev/null | grep -c . || true)
        ((n == 0)) || echo "pod cgroups under $h$KL_CGROOT: $n"
    done
}

# ---- the kubelet's log

# kl_log_errors FILE...: the kubelet's error lines (klog E lines, and any
# line with "rpc error") that are not on the allow-list below, each as
# FILE:LINE: TEXT. A berthd restart that a test makes (between two kl_mark
# lines) may give connection errors; nothing else is expected.
kl_log_errors() {
    local documented
    # the UNIMPLEMENTED answers docs/kubelet.md lists (table rows "| `X` |")
    documented=$(sed -n 's/^| `\([A-Za-z]*\)` |.*/\1/p' "$BERTH_SRC/docs/kubelet.md" 2>/dev/null |
        paste -sd ' ' -)
    awk -v documented=" $documented " '
        FNR == 1 { restart = 0; delete removed; delete killed }
        # each kubelet start (a test may restart it) has its own allowance
        /"Kubelet version" kubeletVersion=/ { status_waits[FILENAME] = 0 }
        /berth-test-mark: berthd restart begins/ { restart = 1; next }
        /berth-test-mark: berthd restart ends/ { restart = 0; next }
        /"RemoveContainer" containerID="/ {
            if (match($0, /containerID="[0-9a-f]+"/))
                removed[substr($0, RSTART + 13, RLENGTH - 14)] = 1
        }
        /"Killing container with a grace period"/ {
            if (match($0, /containerID="[a-z]+:\/\/[0-9a-f]+"/)) {
                id = substr($0, RSTART + 13, RLENGTH - 14)
                sub(/^[a-z]+:\/\//, "", id)
                killed[id] = 1
            }
        }
        !/^E[0-9][0-9][0-9][0-9] / && !/rpc error/ { next }
        # ---- allow-list: this VM, the standalone set-up, the kubelet itself
        # A WebSocket v5 exec or attach through the /exec or /attach of the
        # kubelet ends with the kubelet writing the status and closing its
        # own WebSocket connection (k8s.io/apiserver proxy/streamtranslator.go
        # defers conn.Close) while its reader goroutine still waits for the
        # next message (k8s.io/streaming wsstream/conn.go handle): that read
        # fails on the closed socket and is logged, whatever the runtime
        # (berth only sees the SPDY side). A peer that reset or broke the
        # connection reads differently and stays an error here.
        /"Error on socket receive"/ && /read tcp [0-9.:]+->[0-9.:]+: use of closed network connection/ { next }
        # No CAP_SYS_RESOURCE on this VM: the kubelet cannot write its own
        # oom_score_adj (ENVIRONMENT.md).
        /oom_score_adj|oom-score|oomScoreAdj/ && /permission denied|operation not permitted/ { next }
        # This VM hides /proc/1/ns/pid (readlink fails even for root), so the
        # kubelet cannot tell whether it runs in the host pid namespace
        # before moving itself into a cgroup with an OOM score.
        /Failed to ensure process in container with oom score/ && /failed to find pid namespace of init process/ { next }
        # cAdvisor lists /sys/class/net and then reads each device address
        # and mtu (machine info, at the start of the kubelet and every few
        # minutes): a device removed in between fails the whole read. Pod
        # veths are skipped by name; what goes are bridges, such as those of
        # other test suites on this shared machine (berthit*, seen). No CRI
        # call is involved.
        /Failed to get network devices/ && /open \/sys\/class\/net\/[^\/ ]+\/(address|mtu): no such file or directory/ { next }
        # cAdvisor knows the crio and containerd sockets only, so it has no
        # image filesystem label for berth; the eviction manager then
        # assumes one shared filesystem and says so.
        /no imagefs label for configured runtime/ { next }
        # A fresh --root-dir: the CPU/memory/device managers start without
        # their checkpoint file.
        /Failed to read data from checkpoint/ && /checkpoint is not found/ { next }
        # The first sync loop runs before the first relist (one line per
        # start, with every runtime).
        /Skipping pod synchronization/ && /pleg has yet to be successful/ { next }
        # The same before the first runtime status check: the kubelet sets
        # it only after its runtime-dependent modules (cAdvisor among them)
        # have started, which on a loaded 2-CPU machine can outlast the
        # first few tries of the sync loop. A handful per start at the most
        # (counted from each "Kubelet version" line: test 3 restarts the
        # kubelet); more would mean a Status answer that does not come.
        /Skipping pod synchronization/ && /container runtime status check may not have completed yet/ &&
            ++status_waits[FILENAME] <= 5 { next }
        # The manifest source of the kubelet re-reads its directory every 20 s
        # (pkg/kubelet/config/file.go): when that read meets a test removing
        # manifests, it stats a file already gone, drops those pods from its
        # cache, and then the delete events of the same files find nothing.
        # Both concern the manifest files only, never the runtime.
        /Could not get metadata/ && /no such file or directory/ && /manifests\/[^"]*\.yaml/ { next }
        /Unable to process watch event/ && /the pod with key [^ ]* doesn.t exist in cache/ { next }
        # Standalone: the node object is built locally without a
        # resourceVersion, and the node cache wants to compare one.
        /failed to check if node is newer/ && /strconv.ParseInt: parsing / { next }
        # The kubelet removes a dead container twice (its PLEG event and the
        # pod deletor): the second look-up of a container it already removed
        # gets NotFound, which is the CRI answer for a removed container.
        /code = NotFound/ && match($0, /containerID="[0-9a-f]+"/) &&
            (substr($0, RSTART + 13, RLENGTH - 14) in removed) { next }
        /DeleteContainer returned error/ && /code = NotFound/ && match($0, /"ID":"[0-9a-f]+"/) &&
            (substr($0, RSTART + 6, RLENGTH - 7) in removed) { next }
        # The kubelet cancels the context of a pod sync when the pod is
        # removed; a call made with it fails in the gRPC client of the
        # kubelet ("context canceled" is the text of Go; CANCELLED answers
        # of berth say what was cancelled). Seen: a Version call that never
        # reached berthd.
        /code = Canceled desc = context canceled"/ { next }
        # A probe that was running when the kubelet killed its container:
        # ExecSync on a container that has exited is FAILED_PRECONDITION
        # (the kubelet logs it, and its prober says "Probe errored").
        /ExecSync|Probe errored/ && match($0, /container [0-9a-f]+ is not running/) &&
            (substr($0, RSTART + 10, RLENGTH - 25) in killed) { next }
        # With PodAndContainerStatsFromCRI the kubelet probes at start
        # whether the runtime serves PodSandboxStats by asking for pod ""
        # (cmd/kubelet/app/server.go): only UNIMPLEMENTED changes its course;
        # the NOT_FOUND of berth says it serves the call, and the kubelet logs it.
        /PodSandboxStats/ && /podSandboxID=""/ && /code = NotFound/ { next }
        # The "crasher" of the EventedPLEG test exits every 2 s on purpose.
        /with CrashLoopBackOff/ && /pod=crasher-/ { next }
        # The "flaky" container of the pod-spec test fails twice on purpose.
        /with CrashLoopBackOff/ && /container=flaky / { next }
        # UNIMPLEMENTED answers docs/kubelet.md lists (with the feature
        # gates that call them); the last test checks that list.
        /code = Unimplemented/ && match($0, /desc = [A-Za-z]+ is not implemented by berth yet/) &&
            index(documented, " " substr($0, RSTART + 7, RLENGTH - 39) " ") { next }
        # The test stops berthd on purpose: the calls in that window fail.
        restart && /connect: connection refused|code = Unavailable|error reading from server|transport is closing|EOF/ { next }
        { print FILENAME ":" FNR ": " $0 }
    ' "$@"
}
