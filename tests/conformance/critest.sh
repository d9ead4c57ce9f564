#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The CRI conformance suite: runs critest (cri-tools v1.37.0, installed by
# scripts/setup.sh) to completion against a private berthd (own config, root,
# runroot, socket, CNI network dir, bridge and subnet under
# /tmp/berth-test.XXXXXX) and reports as one test:
#   pass  when critest ran to completion (reports written, every spec
#         accounted for, nothing interrupted) and every spec listed in
#         critest-required.txt passed;
#   fail  otherwise.
# The counts of the whole run are printed for information only: most specs
# fail until pods, images and containers exist. It never signals a process
# it did not start and never touches /run/berth or /etc/berth.
#
# Environment: BERTHD (default build/actors/berthd), CRITEST_PARALLEL (2),
# CRITEST_FOCUS (a ginkgo focus regexp, for a quick partial run; then only the
# focused specs are checked), CRITEST_REPORT_DIR (keep junit.xml, report.json,
# critest.log and berthd.log there), CRITEST_TIMEOUT (seconds, default 1500),
# CRITEST_WEBSOCKET (1, the default: the Streaming specs run a second time
# with critest's -websocket-exec/-attach/-portforward and must all pass).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
PATH=/usr/local/bin:$PATH

BERTHD=${BERTHD:-$src/build/actors/berthd}
parallel=${CRITEST_PARALLEL:-2}
timeout_s=${CRITEST_TIMEOUT:-1200}
required_file=${CRITEST_REQUIRED:-$here/critest-required.txt}
# A focused run beside another (a helper's, or a second checkout's) needs its
# own bridge and subnet: CNI's host-local would hand both the same addresses.
bridge=${CRITEST_BRIDGE:-berthct0}
subnet=${CRITEST_SUBNET:-10.213.79.0/24}

say() {
    printf 'critest.sh: %s\n' "$*"
}

fail() {
    say "FAIL: $*"
    exit 1
}

for tool in critest crictl jq timeout; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool not found (run scripts/setup.sh)"
done
if ((parallel > 1)) && ! command -v ginkgo >/dev/null 2>&1; then
    fail "ginkgo not found, needed by critest -parallel (run scripts/setup.sh)"
fi
[[ -x $BERTHD ]] || fail "berthd not built: $BERTHD"
[[ -r $required_file ]] || fail "cannot read $required_file"

tmp=$(mktemp -d /tmp/berth-test.XXXXXX)
# Searchable (not listable) like berth's own root: the OCI runtime reaches
# the root file systems of pods with a user namespace from inside it.
chmod 0711 "$tmp"
sock=$tmp/berth.sock
report_dir=${CRITEST_REPORT_DIR:-$tmp/report}
mkdir -p "$report_dir" "$tmp/net.d"
junit=$report_dir/junit.xml
json=$report_dir/report.json
log=$report_dir/critest.log
daemon_log=$report_dir/berthd.log
rm -f "$junit" "$json"
berthd_pid=

cleanup() {
    if [[ -n $berthd_pid ]] && kill -0 "$berthd_pid" 2>/dev/null; then
        # Pods outlive a berthd by design: remove what failed specs left
        # behind, through CRI, while the daemon still runs.
        timeout 120 crictl --config /dev/null --runtime-endpoint "unix://$sock" \
            --image-endpoint "unix://$sock" --timeout 30s rmp --all --force >/dev/null 2>&1
        kill -TERM "$berthd_pid" 2>/dev/null
        for ((i = 0; i < 100; i++)); do
            kill -0 "$berthd_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$berthd_pid" 2>/dev/null
        wait "$berthd_pid" 2>/dev/null
    fi
    # berth-monitor (keeper, then worker) outlives berthd by design; this
    # run's is stopped by the PIDs in its pidfiles.
    local mpid f
    for f in keeper.pid monitor.pid; do
        mpid=$(cat "$tmp/run/monitor/$f" 2>/dev/null)
        if [[ $mpid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$mpid/cmdline" 2>/dev/null | grep -q "berth-monitor.*$tmp/"; then
            kill -KILL "$mpid" 2>/dev/null
        fi
    done
    # The bridge name is this suite's own; a later berth may create it when
    # critest runs pods.
    if ip link show "$bridge" >/dev/null 2>&1; then
        ip link del "$bridge" 2>/dev/null
    fi
    # berthd keeps its namespace pins (run/ns, shm) mounted across restarts
    # on purpose; in this private tree they go with the tree.
    awk -v d="$tmp/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r |
        while read -r m; do
            umount -l "$m" 2>/dev/null
        done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The offline image set critest pulls (tests/fixtures/images, docs/fixtures.md):
# seconds when it is already built.
reg_dir=${BERTH_REGISTRY_DIR:-/tmp/berth-registry}
"$src/tests/fixtures/images/build.sh" "$reg_dir" >"$report_dir/fixtures.log" 2>&1 ||
    fail "cannot build the offline critest images (see $report_dir/fixtures.log)"

cat >"$tmp/berth.conf" <<EOF
# critest.sh: a private berthd for the conformance run
[crio]
root = "$tmp/root"
runroot = "$tmp/run"
log_dir = "$tmp/podlogs"

[crio.api]
listen = "$sock"

[crio.runtime]
# crun needs node preparation on this machine's hybrid cgroup layout
# (docs/runtimes.md); runc works as is.
default_runtime = "${CRITEST_RUNTIME:-runc}"

[crio.image]
# critest pulls fixed upstream names: the offline registry mirrors them.
registries_conf = "$reg_dir/registries.conf"

[crio.network]
network_dir = "$tmp/net.d"
plugin_dirs = ["/usr/lib/cni"]

[crio.nri]
# critest's NRI specs connect their own plugins here (-nri-socket below)
enable_nri = true
nri_listen = "$tmp/nri.sock"
# critest's late-plugin spec blocks in Synchronize for over 2 s (the default)
nri_plugin_request_timeout = "10s"
EOF
# critest's "runtime conditions" spec requires NetworkReady: give berthd a
# conflist of its own (bridge and subnet no service berthd uses).
sed -e "s|@NAME@|berth-critest|" -e "s|@BRIDGE@|$bridge|" -e "s|@SUBNET@|$subnet|" \
    -e "s|@DATADIR@|$tmp/cni-ipam|" \
    "$src/tests/fixtures/cni/10-berth-test.conflist.in" >"$tmp/net.d/10-berth-critest.conflist"

"$BERTHD" --config "$tmp/berth.conf" --config-dir "$tmp/berth.conf.d" \
    --root "$tmp/root" --runroot "$tmp/run" --listen "$sock" \
    </dev/null >"$daemon_log" 2>&1 &
berthd_pid=$!
up=0
for ((i = 0; i < 200; i++)); do
    if crictl --config /dev/null --runtime-endpoint "unix://$sock" --timeout 2s \
        version >/dev/null 2>&1; then
        up=1
        break
    fi
    kill -0 "$berthd_pid" 2>/dev/null || break
    sleep 0.1
done
if ((up == 0)); then
    tail -n 20 "$daemon_log"
    fail "berthd did not come up on $sock"
fi
say "berthd pid $berthd_pid on $sock; critest with -parallel $parallel, reports in $report_dir"

args=(
    --config /dev/null
    --runtime-endpoint "unix://$sock" --image-endpoint "unix://$sock"
    # Per-call deadlines: an unanswered call fails its spec quickly instead
    # of after the default 300 s.
    --runtime-service-timeout 30s --image-service-timeout 30s
    --ginkgo.junit-report "$junit" --ginkgo.json-report "$json"
    --ginkgo.no-color
    # Suite bound below the outer timeout, so ginkgo still writes reports.
    --ginkgo.timeout "$((timeout_s - 120))s"
    --ginkgo.poll-progress-after 120s
    -nri-socket "$tmp/nri.sock"
)
((parallel > 1)) && args+=(-parallel "$parallel")
[[ -n ${CRITEST_FOCUS:-} ]] && args+=(--ginkgo.focus "$CRITEST_FOCUS")

start=$(date +%s)
# critest sends -parallel runs through the ginkgo CLI in its own temp dir.
(cd "$tmp" && timeout -k 30 "$timeout_s" critest "${args[@]}") >"$log" 2>&1
rc=$?
secs=$(($(date +%s) - start))
say "critest exited $rc after ${secs}s (log: $log)"

# (a) ran to completion: both reports, every spec reported, none interrupted.
[[ -s $junit ]] || { tail -n 30 "$log"; fail "no junit report ($junit): critest did not complete"; }
[[ -s $json ]] || { tail -n 30 "$log"; fail "no JSON report ($json): critest did not complete"; }
grep -q '<testsuites' "$junit" || fail "junit report $junit is not a junit report"
jq -e 'length == 1' "$json" >/dev/null || fail "expected one suite in $json"

# One JSON record per It: full name, state.
specs=$(jq -r '.[0].SpecReports[] | select(.LeafNodeType == "It")
    | [((.ContainerHierarchyTexts // []) + [.LeafNodeText] | join(" ")), .State] | @tsv' "$json")
total=$(jq '.[0].PreRunStats.TotalSpecs' "$json")
reported=$(jq '[.[0].SpecReports[] | select(.LeafNodeType == "It")] | length' "$json")
passed=$(awk -F'\t' '$2 == "passed"' <<<"$specs" | grep -c . || true)
skipped=$(awk -F'\t' '$2 == "skipped" || $2 == "pending"' <<<"$specs" | grep -c . || true)
failed=$((reported - passed - skipped))
interrupted=$(jq -r '[.[0].SpecReports[] | select(.State == "interrupted" or .State == "aborted")] | length' "$json")
suite_reasons=$(jq -r '(.[0].SpecialSuiteFailureReasons // []) | join("; ")' "$json")
# Junit must agree with the JSON report (same run, both complete).
junit_tests=$(grep -o '<testsuites[^>]*' "$junit" | sed -n 's/.* tests="\([0-9]*\)".*/\1/p')

say "summary: $passed passed, $failed failed, $skipped skipped of $total specs in ${secs}s"
echo "critest summary: passed=$passed failed=$failed skipped=$skipped total=$total seconds=$secs"

ok=1
if [[ $reported != "$total" ]]; then
    say "incomplete: $reported of $total specs reported"
    ok=0
fi
if [[ $interrupted != 0 || $suite_reasons == *nterrupt* || $suite_reasons == *imeout* ]]; then
    say "incomplete: $interrupted specs interrupted/aborted; suite: $suite_reasons"
    ok=0
fi
if [[ -n $junit_tests && $junit_tests -lt $total ]]; then
    say "incomplete: junit lists $junit_tests tests, JSON $total specs"
    ok=0
fi

# (b) every required spec ran and passed.
nreq=0
nreq_ok=0
req_failed=()
while IFS= read -r want || [[ -n $want ]]; do
    want=${want%%$'\r'}
    [[ -z ${want// /} || $want == \#* ]] && continue
    nreq=$((nreq + 1))
    state=$(awk -F'\t' -v n="$want" '$1 == n { print $2; exit }' <<<"$specs")
    if [[ $state == passed ]]; then
        nreq_ok=$((nreq_ok + 1))
    elif [[ -n ${CRITEST_FOCUS:-} && $state == skipped ]]; then
        # Filtered out by the focus of a partial run: not judged.
        nreq_ok=$((nreq_ok + 1))
    else
        say "required spec ${state:-missing from the report}: $want"
        req_failed+=("${state:-missing}: $want")
        ok=0
    fi
done <"$required_file"
((nreq > 0)) || { say "no required specs in $required_file"; ok=0; }
say "required specs: $nreq_ok of $nreq passed"

if ((ok == 0)); then
    echo "--- failed specs (first 40) ---"
    awk -F'\t' '$2 != "passed" && $2 != "skipped" && $2 != "pending" { print $2 ": " $1 }' <<<"$specs" |
        head -n 40
    echo "--- most common failure causes ---"
    jq -r '.[0].SpecReports[] | select(.LeafNodeType == "It" and .State != "passed"
        and .State != "skipped" and .State != "pending")
        | (.Failure.Message // .State) | split("\n") | map(gsub("^\\s+"; ""))
        | (map(select(test("rpc error"))) + map(select(test("^[A-Za-z]") and
            (test("^Unexpected error:?$") | not)))) | .[0] // "" | .[0:200]' \
        "$json" | sort | uniq -c | sort -rn | head -n 5
    echo "--- critest log (last 30 lines) ---"
    tail -n 30 "$log"
    # Last, so that a CI excerpt of the output's tail still names them.
    for r in "${req_failed[@]}"; do
        say "required spec $r"
    done
    fail "critest conformance ($((nreq - nreq_ok)) of $nreq required specs did not pass)"
fi
# (c) the Streaming specs again over WebSocket (critest -websocket-*), as
# issue 14 asks: every one of them must pass. Skipped for a focused run that
# does not include them.
if [[ ${CRITEST_WEBSOCKET:-1} == 1 && (-z ${CRITEST_FOCUS:-} || ${CRITEST_FOCUS} == *Streaming*) ]]; then
    ws_dir=$report_dir/websocket
    mkdir -p "$ws_dir"
    ws_args=(
        --config /dev/null
        --runtime-endpoint "unix://$sock" --image-endpoint "unix://$sock"
        --runtime-service-timeout 30s --image-service-timeout 30s
        --ginkgo.json-report "$ws_dir/report.json" --ginkgo.no-color
        --ginkgo.focus 'Streaming' --ginkgo.timeout 480s
        -websocket-exec -websocket-attach -websocket-portforward
    )
    (cd "$tmp" && timeout -k 30 600 critest "${ws_args[@]}") >"$ws_dir/critest.log" 2>&1
    ws_specs=$(jq -r '.[0].SpecReports[] | select(.LeafNodeType == "It" and .State != "skipped")
        | [((.ContainerHierarchyTexts // []) + [.LeafNodeText] | join(" ")), .State] | @tsv' \
        "$ws_dir/report.json" 2>/dev/null)
    ws_n=$(grep -c . <<<"$ws_specs" || true)
    ws_ok=$(awk -F'\t' '$2 == "passed"' <<<"$ws_specs" | grep -c . || true)
    say "Streaming specs over WebSocket: $ws_ok of $ws_n passed (reports in $ws_dir)"
    echo "critest websocket: passed=$ws_ok total=$ws_n"
    if ((ws_n < 5 || ws_ok != ws_n)); then
        awk -F'\t' '$2 != "passed" { print $2 ": " $1 }' <<<"$ws_specs"
        tail -n 30 "$ws_dir/critest.log"
        fail "critest Streaming specs over WebSocket: $ws_ok of $ws_n passed"
    fi
fi
say "PASS"
exit 0
