#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# ImageService end to end: crictl against a private berthd and the offline
# test registries (tests/fixtures/registry, images built by
# tests/fixtures/images/build.sh): pulls by tag, by digest, by short name
# through an alias (in registries.conf or in a registries.conf.d drop-in),
# through a mirror, with htpasswd auth; listing, inspect,
# removal, imagefsinfo, and the errors a user must be able to read.

load helpers

setup_file() {
    berth_images_setup_file
}

setup() {
    [[ -s $REG_DIR/images.txt ]] || skip "no test images"
    berth_setup
    REG=127.0.0.1:$(cat "$REG_DIR/port")
    AUTH_REG=127.0.0.1:$(cat "$REG_DIR/auth-port")
    cat >>"$BERTH_CONF" <<EOF

[crio.image]
registries_conf = "$REG_DIR/registries.conf"
EOF
    start_berthd
}

teardown() {
    berth_teardown
}

# digest_of NAME: the manifest digest build.sh recorded for a test name.
digest_of() {
    awk -v n="$1" '$1 == n { print $3 }' "$REG_DIR/images.txt"
}

@test "pull by tag: listed, inspectable, image_ref is the image id" {
    run berth_crictl pull "$REG/berth/layers:oci"
    [ "$status" -eq 0 ]
    [[ $output == *"sha256:"* ]]
    id=$(sed -n 's/.*\(sha256:[0-9a-f]\{64\}\).*/\1/p' <<<"$output")
    run berth_crictl images -o json
    [ "$status" -eq 0 ]
    [[ $output == *"\"$id\""* ]]
    [[ $output == *"$REG/berth/layers:oci"* ]]
    run berth_crictl inspecti "$REG/berth/layers:oci"
    [ "$status" -eq 0 ]
    [[ $output == *'"imageSpec"'* ]]
    [[ $output == *'"diff_ids"'* ]]
}

@test "pull by digest records the repo digest" {
    d=$(digest_of berth/layers:v2s2)
    [ -n "$d" ]
    run berth_crictl pull "$REG/berth/layers@$d"
    [ "$status" -eq 0 ]
    run berth_crictl images --digests
    [ "$status" -eq 0 ]
    [[ $output == *"${d:7:13}"* ]]
    run berth_crictl inspecti "$REG/berth/layers@$d"
    [ "$status" -eq 0 ]
}

@test "short name through an alias and a mirror" {
    run berth_crictl pull busybox
    [ "$status" -eq 0 ]
    run berth_crictl images
    [[ $output == *"docker.io/library/busybox"* ]]
    run berth_crictl inspecti busybox
    [ "$status" -eq 0 ]
    run berth_crictl pull registry.k8s.io/pause:3.9
    [ "$status" -eq 0 ]
    run berth_crictl images
    [[ $output == *"registry.k8s.io/pause"*"3.9"* ]]
}

@test "htpasswd registry: refused without credentials, pulled with them" {
    run berth_crictl pull "$AUTH_REG/berth/private:latest"
    [ "$status" -ne 0 ]
    desc=$(grpc_desc "$output")
    [[ $output == *"Unauthenticated"* || $output == *"PermissionDenied"* ]]
    [[ $desc == *"$AUTH_REG"* ]]
    run berth_crictl images
    [[ $output != *"berth/private"* ]]
    run berth_crictl pull --creds "$(cat "$REG_DIR/auth-credentials")" "$AUTH_REG/berth/private:latest"
    [ "$status" -eq 0 ]
    run berth_crictl images
    [[ $output == *"$AUTH_REG/berth/private"* ]]
}

@test "rmi by tag, then the image is gone; imagefsinfo reports usage" {
    run berth_crictl pull "$REG/berth/layers:oci"
    [ "$status" -eq 0 ]
    run berth_crictl imagefsinfo
    [ "$status" -eq 0 ]
    [[ $output == *'"usedBytes"'* ]]
    [[ $output == *'"inodesUsed"'* ]]
    [[ $output == *"$BERTH_ROOT/storage"* ]]
    run berth_crictl rmi "$REG/berth/layers:oci"
    [ "$status" -eq 0 ]
    run berth_crictl images
    [[ $output != *"berth/layers"* ]]
}

@test "a missing image is NotFound and leaves nothing listed" {
    run berth_crictl pull "$REG/berth/no-such-image:latest"
    [ "$status" -ne 0 ]
    [[ $output == *"NotFound"* ]]
    [[ $(grpc_desc "$output") == *"no-such-image"* ]]
    run berth_crictl images -q
    [ -z "$output" ]
}

@test "concurrent pulls of one image are joined" {
    local pids=()
    for i in 1 2 3 4; do
        berth_crictl pull "$REG/berth/multiarch:oci" >"$BERTH_TMP/pull.$i" 2>&1 &
        pids+=($!)
    done
    # Only the pulls: a bare `wait` would also wait for berthd.
    wait "${pids[@]}"
    for i in 1 2 3 4; do
        grep -q sha256: "$BERTH_TMP/pull.$i"
    done
    [ "$(grep -c 'pull: start' "$BERTH_LOG")" -le 4 ]
    run berth_crictl images
    [ "$(grep -c 'berth/multiarch' <<<"$output")" -eq 1 ]
}

@test "an ambiguous short name fails listing the candidates" {
    stop_berthd
    cat >"$BERTH_TMP/ambiguous.conf" <<EOF
unqualified-search-registries = ["$REG", "docker.io"]
short-name-mode = "enforcing"
EOF
    sed -i "s|^registries_conf = .*|registries_conf = \"$BERTH_TMP/ambiguous.conf\"|" "$BERTH_CONF"
    start_berthd
    run berth_crictl pull berth/layers:oci
    [ "$status" -ne 0 ]
    [[ $output == *"InvalidArgument"* ]]
    desc=$(grpc_desc "$output")
    [[ $desc == *"ambiguous"* ]]
    [[ $desc == *"$REG/berth/layers:oci"* ]]
    [[ $desc == *"docker.io/berth/layers:oci"* ]]
}

@test "an alias defined only in a registries.conf.d drop-in resolves" {
    stop_berthd
    mkdir -p "$BERTH_TMP/registries.conf.d"
    cat >"$BERTH_TMP/registries.conf" <<EOF
unqualified-search-registries = ["docker.io"]
short-name-mode = "enforcing"

[[registry]]
location = "$REG"
insecure = true
EOF
    cat >"$BERTH_TMP/registries.conf.d/50-berth-test.conf" <<EOF
[aliases]
"berthdropin/layers" = "$REG/berth/layers"
EOF
    # Not a *.conf name: ignored, even though it does not parse.
    echo 'not toml [' >"$BERTH_TMP/registries.conf.d/README"
    sed -i "s|^registries_conf = .*|registries_conf = \"$BERTH_TMP/registries.conf\"\nregistries_conf_dir = \"$BERTH_TMP/registries.conf.d\"|" "$BERTH_CONF"
    start_berthd
    run berth_crictl pull berthdropin/layers:oci
    [ "$status" -eq 0 ]
    [[ $output == *"sha256:"* ]]
    run berth_crictl images
    [[ $output == *"$REG/berth/layers"*"oci"* ]]
    run berth_crictl inspecti berthdropin/layers:oci
    [ "$status" -eq 0 ]
}

@test "images survive a restart" {
    run berth_crictl pull "$REG/berth/layers:oci"
    [ "$status" -eq 0 ]
    stop_berthd
    start_berthd
    run berth_crictl images
    [[ $output == *"$REG/berth/layers"* ]]
}

@test "the test registries keep no descriptor of the shell that started them (bats hung on its fd 3 in CI)" {
    local dir=$BERTH_TMP/reg-fds
    # fd 3 is bats' own TAP pipe here; fd 7 an extra pipe of ours
    exec 7> >(cat >/dev/null)
    run "$BERTH_SRC/tests/fixtures/registry/start.sh" "$dir"
    exec 7>&-
    echo "$output"
    [ "$status" -eq 0 ]
    local pid leaked=""
    for pid in $(cat "$dir/pid" "$dir/auth-pid"); do
        [[ $(cat "/proc/$pid/comm") == docker-registry ]]
        # every descriptor the registry holds is its own: /dev/null, its log,
        # sockets, epoll and the Go runtime's pipe pair (both ends, made after
        # exec); none is inherited above 2
        local fd target
        for fd in /proc/"$pid"/fd/*; do
            target=$(readlink "$fd")
            case $target in
            /dev/null | "$dir"/*.log | socket:* | anon_inode:*) ;;
            pipe:*)
                # a pipe both of whose ends the registry holds is its own
                [[ $(ls -l /proc/"$pid"/fd | grep -cF "$target") -ge 2 ]] || leaked+=" $fd->$target"
                ;;
            *) leaked+=" $fd->$target" ;;
            esac
        done
    done
    "$BERTH_SRC/tests/fixtures/registry/stop.sh" "$dir"
    [[ -z $leaked ]] || { echo "inherited:$leaked"; false; }
}
