#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# OCI hooks (hooks_dir, the oci-hooks(5) 1.0.0 format), CDI devices
# (cdi_spec_dirs) and plain devices against a private berthd, the real
# runtime (runc unless BERTH_TEST_RUNTIME says otherwise) and the offline
# test registry. Pods use the node's network, so no bridge is made.

load helpers

setup_file() {
    berth_images_setup_file
}

setup() {
    [[ -s $REG_DIR/images.txt ]] || skip "no test images"
    berth_setup
    berth_conf_images
    BUSYBOX=registry.k8s.io/e2e-test-images/busybox:1.29-2
    HOOKS=$BERTH_TMP/hooks.d
    CDI=$BERTH_TMP/cdi
    OUT=$BERTH_TMP/hookout
    mkdir -p "$HOOKS" "$CDI" "$OUT"
    chmod 755 "$BERTH_TMP" "$OUT"
    cat >"$BERTH_CONF_DIR/50-security.conf" <<EOF
[crio.runtime]
hooks_dir = ["$BERTH_TMP/nonexistent", "$HOOKS"]
cdi_spec_dirs = ["$CDI"]
EOF
    # the hook: what it got on stdin, into the file its argument names
    printf '#!/bin/sh\ncat >"$1.tmp" && mv "$1.tmp" "$1"\n' >"$OUT/hook.sh"
    chmod 755 "$OUT/hook.sh"
}

teardown() {
    berth_teardown
}

# start: the daemon, with the test image pulled
start() {
    start_berthd
    berth_crictl pull "$BUSYBOX" >/dev/null
}

pod_json() { berth_pod_json "$1" sec '{"security_context":{"namespace_options":{"network":2}}}'; }

# ctr_json NAME JSON-FRAGMENT
ctr_json() { berth_ctr_json "$@"; }

# hook_file NAME STAGE WHEN [TIMEOUT] [PATH ARG]
hook_file() {
    local to=${4:+,\"timeout\":$4}
    local path=${5:-$OUT/hook.sh} arg=${6:-$OUT/$2.json}
    cat >"$HOOKS/$1.json" <<EOF
{"version":"1.0.0","hook":{"path":"$path","args":["hook.sh","$arg"]$to},
 "when":$3,"stages":["$2"]}
EOF
}

# bundle_config ID: the container's config.json
bundle_config() {
    find "$BERTH_RUNROOT" "$BERTH_ROOT" -path "*$1*" -name config.json 2>/dev/null | head -1
}

@test "hooks: each stage runs with the container's state on stdin" {
    for s in prestart createRuntime createContainer poststart poststop; do
        hook_file "10-$s" "$s" '{"annotations":{"^hooktest$":"^yes$"}}'
    done
    # startContainer runs in the container: the script and its output
    # through a mount (which also makes hasBindMounts true)
    hook_file 20-start startContainer '{"hasBindMounts":true,"commands":["sleep$"]}' "" \
        /hookout/hook.sh /hookout/startContainer.json
    # never matches: another annotation value
    hook_file 30-never prestart '{"annotations":{"^hooktest$":"^no$"}}' "" "$OUT/hook.sh" \
        "$OUT/never.json"
    echo '{"version":"1.0.0"}' >"$HOOKS/40-broken.json"
    start
    grep -q 'hook file invalid: skipped.*40-broken.json' "$BERTH_LOG"
    pj=$(pod_json hooks)
    pod=$(berth_crictl runp "$pj")
    cj=$(ctr_json hooked '"command":["sleep","600"],"annotations":{"hooktest":"yes"},
        "mounts":[{"container_path":"/hookout","host_path":"'"$OUT"'"}]')
    id=$(berth_crictl create "$pod" "$cj" "$pj")
    # config.json carries the hooks, each with a timeout
    cfg=$(bundle_config "$id")
    jq -e '.hooks.prestart[0].timeout == 30' "$cfg"
    [[ $(jq '.hooks.prestart | length' "$cfg") == 1 ]]
    for s in prestart createRuntime createContainer; do
        [[ -s $OUT/$s.json ]]
        # crun 1.8.1 hands the createContainer hooks a state with "pid": 0
        # (seen with crun alone, without berth)
        minpid=1
        [[ ${BERTH_TEST_RUNTIME:-runc} == crun && $s == createContainer ]] && minpid=0
        jq -e --arg id "$id" --argjson m "$minpid" \
            '.id == $id and (.pid >= $m) and (.bundle | length > 0)' "$OUT/$s.json"
        jq -e '.status == "creating" or .status == "created"' "$OUT/$s.json"
    done
    berth_crictl start "$id"
    for i in $(seq 50); do [[ -s $OUT/poststart.json ]] && break; sleep 0.1; done
    jq -e --arg id "$id" '.id == $id' "$OUT/startContainer.json"
    jq -e --arg id "$id" '.id == $id' "$OUT/poststart.json"
    [[ ! -e $OUT/never.json ]]
    berth_crictl stop -t 2 "$id"
    berth_crictl rm "$id"
    for i in $(seq 50); do [[ -s $OUT/poststop.json ]] && break; sleep 0.1; done
    jq -e --arg id "$id" '.id == $id' "$OUT/poststop.json"
}

@test "hooks: a hook that hangs is killed at its timeout and creation fails clearly" {
    printf '#!/bin/sh\necho "$$" >"$1"\nexec sleep 600\n' >"$OUT/hang.sh"
    chmod 755 "$OUT/hang.sh"
    hook_file 10-hang createRuntime '{"commands":["^sleep$"]}' 2 "$OUT/hang.sh" "$OUT/hang.pid"
    start
    pj=$(pod_json hang)
    pod=$(berth_crictl runp "$pj")
    cj=$(ctr_json hang '"command":["sleep","600"]')
    start=$SECONDS
    run berth_crictl create "$pod" "$cj" "$pj"
    echo "$output"
    [ "$status" -ne 0 ]
    echo "# CreateContainer answered after $((SECONDS - start)) s: $(grpc_desc "$output")" >&3
    (( SECONDS - start < 10 ))
    [[ $output == *hook* ]]
    # the hook process is gone
    pid=$(cat "$OUT/hang.pid")
    ! kill -0 "$pid" 2>/dev/null
    # nothing was left behind
    [[ -z $(berth_crictl ps -aq) ]]
}

@test "CDI: a device's env, device node and mount are applied; an unknown one is refused" {
    mkdir -p "$BERTH_TMP/cdimnt"
    echo cdi-content >"$BERTH_TMP/cdimnt/file"
    cat >"$CDI/vendor.json" <<EOF
{"cdiVersion":"0.6.0","kind":"example.com/test",
 "containerEdits":{"env":["CDI_SPEC_WIDE=1"]},
 "devices":[{"name":"dev0","containerEdits":{
   "env":["CDI_DEV=dev0"],
   "deviceNodes":[{"path":"/dev/cdi-null","hostPath":"/dev/null"}],
   "mounts":[{"hostPath":"$BERTH_TMP/cdimnt","containerPath":"/cdimnt","options":["ro","bind"]}]}}]}
EOF
    # an invalid spec (YAML, no cdiVersion nor devices) is skipped with a warning
    echo "kind: example.com/other" >"$CDI/invalid.yaml"
    start
    pj=$(pod_json cdi)
    pod=$(berth_crictl runp "$pj")
    cj=$(ctr_json cdi '"command":["sleep","600"],"CDI_devices":[{"name":"example.com/test=dev0"}]')
    id=$(berth_crictl create "$pod" "$cj" "$pj")
    berth_crictl start "$id"
    out=$(berth_crictl exec -s "$id" sh -c 'echo $CDI_DEV $CDI_SPEC_WIDE; ls -l /dev/cdi-null; cat /cdimnt/file; echo x >/dev/cdi-null && echo wrote; touch /cdimnt/y 2>&1 || echo ro')
    echo "$out"
    [[ $out == *"dev0 1"* ]]
    [[ $out == *"1,"*"3"*"/dev/cdi-null"* ]]
    [[ $out == *cdi-content* ]]
    [[ $out == *wrote* ]]
    [[ $out == *"Read-only"* ]]
    # the same through the annotation
    cj=$(ctr_json cdiann '"command":["sleep","600"],"annotations":{"cdi.k8s.io/test":"example.com/test=dev0"}')
    id2=$(berth_crictl create "$pod" "$cj" "$pj")
    berth_crictl start "$id2"
    [[ $(berth_crictl exec -s "$id2" sh -c 'echo $CDI_DEV') == dev0 ]]
    # unknown device: NOT_FOUND naming it
    cj=$(ctr_json cdibad '"command":["sleep","600"],"CDI_devices":[{"name":"example.com/test=nope"}]')
    run berth_crictl create "$pod" "$cj" "$pj"
    echo "$output"
    [ "$status" -ne 0 ]
    [[ $output == *NotFound* && $output == *"example.com/test=nope"* ]]
    cj=$(ctr_json cdibad2 '"command":["sleep","600"],"CDI_devices":[{"name":"not-qualified"}]')
    run berth_crictl create "$pod" "$cj" "$pj"
    echo "$output"
    [[ $output == *InvalidArgument* && $output == *not-qualified* ]]
}

@test "CDI: a YAML spec (as nvidia-ctk writes them) adds its device node and env; a conflict is refused" {
    cat >"$CDI/vendor.yaml" <<EOF
---
cdiVersion: 0.6.0
kind: example.com/yaml
containerEdits:
  env:
  - CDI_YAML_WIDE=yes
devices:
- name: "0"
  containerEdits:
    env:
    - CDI_YAML_DEV=zero
    deviceNodes:
    - path: /dev/cdi-zero
      hostPath: /dev/zero
      type: c
      major: 1
      minor: 5
      fileMode: 0640
      permissions: rw
- name: "1"
  containerEdits:
    env: [CDI_YAML_DEV=one]
EOF
    # a *.yml spec of another kind with a syntax error: skipped, naming file:line:column
    printf 'cdiVersion: 0.6.0\nkind: [example.com/broken\n' >"$CDI/broken.yml"
    start
    pj=$(pod_json cdiyaml)
    pod=$(berth_crictl runp "$pj")
    cj=$(ctr_json cdiyaml '"command":["sleep","600"],"CDI_devices":[{"name":"example.com/yaml=0"}]')
    id=$(berth_crictl create "$pod" "$cj" "$pj")
    berth_crictl start "$id"
    out=$(berth_crictl exec -s "$id" sh -c 'echo $CDI_YAML_DEV $CDI_YAML_WIDE; ls -l /dev/cdi-zero; head -c 4 /dev/cdi-zero | od -An -tx1')
    echo "$out"
    [[ $out == *"zero yes"* ]]
    # fileMode 0640 is octal, as YAML 1.1 and the CDI reference read it
    [[ $out == *"crw-r-----"*"1,"*"5"*"/dev/cdi-zero"* ]]
    [[ $out == *"00 00 00 00"* ]]
    grep -q 'broken.yml:3:1' "$BERTH_LOG"
    # the same device in a JSON spec of the same directory: a conflict naming both files
    echo '{"cdiVersion":"0.6.0","kind":"example.com/yaml","devices":[{"name":"0","containerEdits":{"env":["X=1"]}}]}' >"$CDI/dup.json"
    cj=$(ctr_json cdiconflict '"command":["sleep","600"],"CDI_devices":[{"name":"example.com/yaml=0"}]')
    run berth_crictl create "$pod" "$cj" "$pj"
    echo "$output"
    [ "$status" -ne 0 ]
    [[ $output == *FailedPrecondition* && $output == *dup.json* && $output == *vendor.yaml* ]]
    # another device of that spec is in no conflict
    cj=$(ctr_json cdione '"command":["sleep","600"],"CDI_devices":[{"name":"example.com/yaml=1"}]')
    id2=$(berth_crictl create "$pod" "$cj" "$pj")
    berth_crictl start "$id2"
    [[ $(berth_crictl exec -s "$id2" sh -c 'echo $CDI_YAML_DEV') == one ]]
}

@test "devices: a host device appears under its container path with the cgroup access given" {
    start
    pj=$(pod_json dev)
    pod=$(berth_crictl runp "$pj")
    # /dev/loop-control is in no runtime's default set: only our rule opens it
    cj=$(ctr_json dev '"command":["sleep","600"],"devices":[{"container_path":"/dev/myctl","host_path":"/dev/loop-control","permissions":"r"}]')
    id=$(berth_crictl create "$pod" "$cj" "$pj")
    berth_crictl start "$id"
    out=$(berth_crictl exec -s "$id" sh -c 'ls -l /dev/myctl; (exec 3</dev/myctl) && echo readok; (exec 3>/dev/myctl) 2>&1 || echo denied')
    echo "$out"
    [[ $out == *"10,"*"237"*"/dev/myctl"* ]]
    [[ $out == *readok* ]]
    [[ $out == *"not permitted"*denied* ]]
    cfg=$(bundle_config "$id")
    jq -e '.linux.resources.devices[] | select(.major == 10 and .minor == 237 and .access == "r" and .allow)' "$cfg"
    cj=$(ctr_json devbad '"command":["sleep","600"],"devices":[{"container_path":"/dev/x","host_path":"/etc/hostname","permissions":"rw"}]')
    run berth_crictl create "$pod" "$cj" "$pj"
    echo "$output"
    [[ $output == *InvalidArgument* && $output == *"not a device node"* ]]
}

@test "devices: a directory host_path gives every device node under it, with cgroup rules" {
    # a private device directory: loop-control and a second node one level down
    dd=$BERTH_TMP/devdir
    mkdir -p "$dd/sub"
    mknod "$dd/ctl" c 10 237
    mknod "$dd/sub/mynull" c 1 3
    touch "$dd/plainfile"
    start
    pj=$(pod_json devdir)
    pod=$(berth_crictl runp "$pj")
    cj=$(ctr_json devdir '"command":["sleep","600"],"devices":[{"container_path":"/dev/mine","host_path":"'"$dd"'","permissions":"rw"}]')
    id=$(berth_crictl create "$pod" "$cj" "$pj")
    berth_crictl start "$id"
    out=$(berth_crictl exec -s "$id" sh -c 'ls -lR /dev/mine; (exec 3</dev/mine/ctl) && echo readok; echo x >/dev/mine/sub/mynull && echo wrote; ls /dev/mine/plainfile 2>&1 || echo nofile')
    echo "$out"
    [[ $out == *"10,"*"237"*"ctl"* ]]
    [[ $out == *"1,"*"3"*"mynull"* ]]
    [[ $out == *readok* && $out == *wrote* && $out == *nofile* ]]
    cfg=$(bundle_config "$id")
    jq -e '.linux.resources.devices[] | select(.major == 10 and .minor == 237 and .access == "rw" and .allow)' "$cfg"
    jq -e '.linux.devices[] | select(.path == "/dev/mine/sub/mynull")' "$cfg"
    # a directory without a device node is refused
    mkdir -p "$BERTH_TMP/nodevs"
    cj=$(ctr_json devempty '"command":["sleep","600"],"devices":[{"container_path":"/dev/x","host_path":"'"$BERTH_TMP/nodevs"'","permissions":"rw"}]')
    run berth_crictl create "$pod" "$cj" "$pj"
    echo "$output"
    [[ $output == *InvalidArgument* && $output == *"holds no device node"* ]]
}
