# SPDX-License-Identifier: Apache-2.0
# Shared by tests/integration/*.bats: runs the real berthd ($BERTHD, default
# build/actors/berthd) in a private temporary tree (/tmp/berth-test.XXXXXX:
# config, drop-in dir, root, runroot, socket, CNI network dir), so a test
# never touches /etc/berth, /run/berth or a berthd in service. A daemon a test
# started is stopped by its PID in teardown; nothing else is ever signalled.

BERTH_SRC=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
FIXTURES=$BERTH_SRC/tests/fixtures
BERTHD=${BERTHD:-$BERTH_SRC/build/actors/berthd}
# The pinned crictl (scripts/setup.sh) must win over any other on PATH.
PATH=/usr/local/bin:$PATH

# berth_setup: creates the private tree and the base config. Call from setup().
berth_setup() {
    if [[ ! -x $BERTHD ]]; then
        echo "berthd not built: $BERTHD (set BERTHD or build with ninja -C build)" >&2
        return 1
    fi
    BERTH_TMP=$(mktemp -d /tmp/berth-test.XXXXXX)
    # Searchable, not listable, like berth's own root: the OCI runtime
    # reaches the root file systems of pods with a user namespace from
    # inside it (docs/security-contexts.md).
    chmod 0711 "$BERTH_TMP"
    BERTH_SOCK=$BERTH_TMP/berth.sock
    BERTH_ROOT=$BERTH_TMP/root
    BERTH_RUNROOT=$BERTH_TMP/run
    BERTH_CONF=$BERTH_TMP/berth.conf
    BERTH_CONF_DIR=$BERTH_TMP/berth.conf.d
    BERTH_NET_DIR=$BERTH_TMP/net.d
    BERTH_LOG=$BERTH_TMP/berthd.log
    BERTHD_PID=
    mkdir -p "$BERTH_CONF_DIR" "$BERTH_NET_DIR"
    cat >"$BERTH_CONF" <<EOF
# base config of one integration test
[crio]
root = "$BERTH_ROOT"
runroot = "$BERTH_RUNROOT"
log_dir = "$BERTH_TMP/podlogs"

[crio.api]
listen = "$BERTH_SOCK"

[crio.network]
network_dir = "$BERTH_NET_DIR"
plugin_dirs = ["/usr/lib/cni"]
EOF
    # Every path on the command line too, so the daemon is private even if
    # the config is not read the way the test expects.
    # runc unless a test asks otherwise: crun needs node preparation on
    # hybrid cgroup layouts (docs/runtimes.md; tests/integration/crun.bats).
    BERTHD_ARGS=(--config "$BERTH_CONF" --config-dir "$BERTH_CONF_DIR"
        --root "$BERTH_ROOT" --runroot "$BERTH_RUNROOT" --listen "$BERTH_SOCK"
        --set "crio.runtime.default_runtime=${BERTH_TEST_RUNTIME:-runc}"
        --set "crio.runtime.container_monitor=${BERTH_TEST_MONITOR:-berth}")
}

# stop_monitor: berth-monitor (its keeper and its worker) outlives berthd by
# design (the containers keep logging); a test's own is stopped by the PIDs
# in its pidfiles, once berthd is down: the keeper first, so that it does
# not start another worker.
stop_monitor() {
    local f pid
    for f in keeper.pid monitor.pid; do
        pid=$(cat "$BERTH_RUNROOT/monitor/$f" 2>/dev/null) || continue
        [[ $pid =~ ^[0-9]+$ ]] || continue
        # only if it is a berth-monitor of this test's tree
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "berth-monitor.*$BERTH_RUNROOT/" || continue
        kill -KILL "$pid" 2>/dev/null || true
    done
}

# berth_teardown: stops the test's berthd by PID, shows its log when the test
# failed, removes the private tree. Call from teardown().
berth_teardown() {
    if [[ -n ${BERTHD_PID:-} ]]; then
        # Pods outlive a berthd by design: remove any a test left, through
        # CRI, while the daemon still runs.
        if pid_alive "$BERTHD_PID"; then
            berth_crictl rmp --all --force >/dev/null 2>&1 || true
        fi
        stop_berthd || true
    fi
    [[ -n ${BERTH_RUNROOT:-} ]] && stop_monitor
    if [[ -z ${BATS_TEST_COMPLETED:-} && -n ${BERTH_TMP:-} && -s ${BERTH_LOG:-} ]]; then
        echo "--- berthd log ($BERTH_LOG) ---"
        tail -n "${BERTH_LOG_LINES:-40}" "$BERTH_LOG"
    fi
    if [[ -n ${BERTH_TMP:-} && $BERTH_TMP == /tmp/berth-test.* ]]; then
        unmount_under "$BERTH_TMP"
        rm -rf "$BERTH_TMP"
    fi
}

# unmount_under DIR: detaches every mount below DIR, deepest first. berthd
# keeps its namespace pins (run/ns, shm) mounted across restarts on purpose;
# in a test's private tree they must go with the tree.
unmount_under() {
    local m
    awk -v d="$1/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r |
        while read -r m; do
            umount -l "$m" 2>/dev/null || true
        done
}

# berth_crictl ARGS...: crictl against the test's socket only.
berth_crictl() {
    crictl --config /dev/null --runtime-endpoint "unix://$BERTH_SOCK" \
        --image-endpoint "unix://$BERTH_SOCK" --timeout 10s "$@"
}

# start_berthd [EXTRA_ARGS...]: starts berthd in the background (log in
# $BERTH_LOG, PID in $BERTHD_PID) and waits until it answers CRI Version.
start_berthd() {
    # fd 3 is bats' own: a daemon holding it would make bats wait forever.
    "$BERTHD" "${BERTHD_ARGS[@]}" "$@" </dev/null >>"$BERTH_LOG" 2>&1 3>&- &
    BERTHD_PID=$!
    wait_for_berthd
}

wait_for_berthd() {
    local i
    for ((i = 0; i < 200; i++)); do
        if berth_crictl version >/dev/null 2>&1; then
            return 0
        fi
        if ! pid_alive "$BERTHD_PID"; then
            echo "berthd exited before serving $BERTH_SOCK" >&2
            cat "$BERTH_LOG" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "berthd (pid $BERTHD_PID) does not answer on $BERTH_SOCK after 20 s" >&2
    return 1
}

# pid_alive PID: running and not a zombie (a child that exited stays visible
# to kill -0 until it is waited for).
pid_alive() {
    local state
    state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

# wait_berthd_exit SECONDS: waits for the test's berthd to exit and sets
# BERTHD_STATUS to its exit status; SIGKILLs it and returns 1 on timeout.
wait_berthd_exit() {
    local secs=$1 i
    for ((i = 0; i < secs * 10; i++)); do
        pid_alive "$BERTHD_PID" || break
        sleep 0.1
    done
    if pid_alive "$BERTHD_PID"; then
        kill -KILL "$BERTHD_PID" 2>/dev/null || true
        wait "$BERTHD_PID" 2>/dev/null || true
        BERTHD_PID=
        return 1
    fi
    BERTHD_STATUS=0
    wait "$BERTHD_PID" || BERTHD_STATUS=$?
    BERTHD_PID=
}

# stop_berthd: SIGTERM to the test's berthd, SIGKILL after 10 s.
stop_berthd() {
    [[ -n ${BERTHD_PID:-} ]] || return 0
    kill -TERM "$BERTHD_PID" 2>/dev/null || true
    wait_berthd_exit 10
}

# write_conflist NAME BRIDGE SUBNET: a CNI conflist in the test's network dir.
write_conflist() {
    sed -e "s|@NAME@|$1|" -e "s|@BRIDGE@|$2|" -e "s|@SUBNET@|$3|" \
        -e "s|@DATADIR@|$BERTH_TMP/cni-ipam|" \
        "$FIXTURES/cni/10-berth-test.conflist.in" >"$BERTH_NET_DIR/10-$1.conflist"
}

# grpc_desc TEXT: the status message part of a gRPC error printed by crictl
# ("... desc = MESSAGE"), so a check cannot match crictl's own wording.
grpc_desc() {
    sed -n 's/.*desc = \(.*\)$/\1/p' <<<"$1" | head -n 1
}

# berth_images_setup_file: for setup_file(). Builds the offline test images
# (tests/fixtures/images/build.sh: seconds when built, and it starts the
# test registry) and exports REG_DIR; skips the whole file when the registry
# or the images cannot be had.
berth_images_setup_file() {
    export REG_DIR=${BERTH_REGISTRY_DIR:-/tmp/berth-registry}
    command -v docker-registry >/dev/null || skip "docker-registry not installed"
    "$BERTH_SRC/tests/fixtures/images/build.sh" "$REG_DIR" >"$BATS_FILE_TMPDIR/build.log" 2>&1 ||
        skip "cannot build the test images (see $BATS_FILE_TMPDIR/build.log)"
}

# berth_pod_setup NET NAME [FIELDS]: the common setup() of a test that wants
# a running berthd, the busybox image and one pod sandbox of its own: a
# network NET, a pod NAME (hostname NAME less "pod", plus "host"). Sets
# BUSYBOX, POD_JSON and POD. The pod's uid is $POD_UID when set, else one per
# test; FIELDS are more pod config fields (e.g. "labels":{"a":"b"}), and
# $POD_LINUX replaces the empty "linux" object.
berth_pod_setup() {
    local net=$1 name=$2 fields=${3:-} linux=${POD_LINUX:-'{}'}
    [[ -s $REG_DIR/images.txt ]] || skip "no test images"
    berth_setup
    write_conflist "$net" "$BRIDGE" "$SUBNET"
    berth_conf_images
    start_berthd
    BUSYBOX=registry.k8s.io/e2e-test-images/busybox:1.29-2
    berth_crictl pull "$BUSYBOX" >/dev/null
    POD_JSON=$BERTH_TMP/pod.json
    cat >"$POD_JSON" <<EOF
{"metadata":{"name":"$name","namespace":"it","uid":"${POD_UID:-u-$$-$BATS_TEST_NUMBER}","attempt":0},
 "hostname":"${name%pod}host","log_directory":"$BERTH_TMP/logs",${fields:+$fields,}"linux":$linux}
EOF
    POD=$(berth_crictl runp "$POD_JSON" 2>/dev/null)
    [[ $POD =~ ^[0-9a-f]{64}$ ]]
}

# berth_pod_json NAME NS [LINUX] [HOSTNAME]: a pod config file for pod NAME in
# namespace NS (uid unique per test), logging under its own directory, with
# LINUX as its "linux" object (default {}); prints its path.
berth_pod_json() {
    local f=$BERTH_TMP/pod-$1.json host=${4:+\"hostname\":\"$4\",}
    cat >"$f" <<EOF
{"metadata":{"name":"$1","namespace":"$2","uid":"u-$$-$BATS_TEST_NUMBER-$1","attempt":0},
 $host"log_directory":"$BERTH_TMP/logs-$1","linux":${3:-{\}}}
EOF
    echo "$f"
}

# berth_ctr_json NAME FIELDS: a busybox container config file named NAME
# with FIELDS (JSON members) added; prints its path.
berth_ctr_json() {
    local f=$BERTH_TMP/ctr-$1.json
    cat >"$f" <<EOF
{"metadata":{"name":"$1"},"image":{"image":"$BUSYBOX"},"log_path":"$1.log",$2}
EOF
    echo "$f"
}

# berth_conf_images [RUNTIME]: the test's berthd pulls through the offline
# registry's mirrors and runs containers with RUNTIME (default
# $BERTH_TEST_RUNTIME, else runc). Call after berth_setup.
berth_conf_images() {
    cat >>"$BERTH_CONF" <<EOF

[crio.runtime]
default_runtime = "${1:-${BERTH_TEST_RUNTIME:-runc}}"

[crio.image]
registries_conf = "$REG_DIR/registries.conf"
EOF
}
