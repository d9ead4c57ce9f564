#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Image volumes (CRI Mount.image, KEP-4639) through crictl against a private
# berthd, real runc and the offline test registry: an image's files seen
# read-only in a container (one-layer busybox as a bind, the 3-layer
# berth/layers as an overlay with its whiteouts applied), image_sub_path,
# two containers sharing one mount, RemoveImage refused while a container
# uses the image and allowed after, the image and its ID in ContainerStatus,
# bad requests refused, nothing left mounted after removal, and a berthd
# restart keeping the claims and sweeping an orphaned volume.

load helpers

BRIDGE=berthit31
SUBNET=10.213.31.0/24

setup_file() {
    berth_images_setup_file
}

setup() {
    [[ -s $REG_DIR/images.txt ]] || skip "no test images"
    berth_setup
    write_conflist ivtest "$BRIDGE" "$SUBNET"
    berth_conf_images
    start_berthd
    BUSYBOX=registry.k8s.io/e2e-test-images/busybox:1.29-2
    # the volume's image: the same busybox content under another name
    VOLIMG=quay.io/libpod/busybox:latest
    LAYERS=$(awk '$1 == "berth/layers:oci" { print $2 }' "$REG_DIR/images.txt")
    berth_crictl pull "$BUSYBOX" >/dev/null
    berth_crictl pull "$VOLIMG" >/dev/null
    POD_JSON=$BERTH_TMP/pod.json
    cat >"$POD_JSON" <<EOF
{"metadata":{"name":"ivpod","namespace":"it","uid":"u-$$-$BATS_TEST_NUMBER","attempt":0},
 "hostname":"ivhost","log_directory":"$BERTH_TMP/logs","linux":{}}
EOF
    POD=$(berth_crictl runp "$POD_JSON" 2>/dev/null)
    [[ $POD =~ ^[0-9a-f]{64}$ ]]
}

teardown() {
    berth_teardown
    ip link del "$BRIDGE" 2>/dev/null || true
}

# ctr NAME MOUNTS-JSON: a sleeping busybox container config; prints its path
ctr() {
    local f=$BERTH_TMP/$1.json
    cat >"$f" <<EOF
{"metadata":{"name":"$1"},"image":{"image":"$BUSYBOX"},"log_path":"$1.log",
 "command":["sleep","600"],"mounts":$2}
EOF
    echo "$f"
}

# run_ctr NAME MOUNTS-JSON: create and start; prints the ID
run_ctr() {
    local f id
    f=$(ctr "$1" "$2")
    id=$(berth_crictl create "$POD" "$f" "$POD_JSON" 2>/dev/null) || return 1
    berth_crictl start "$id" >/dev/null || return 1
    echo "$id"
}

# push_artifact REPO:TAG: an OCI artifact (empty config, two plain-file
# layers with titles: model.bin and data.csv) pushed to the fixture registry
# with curl (blob uploads and a manifest PUT); prints the manifest digest.
push_artifact() {
    local host=${LAYERS%%/*} repo=${1%%:*} tag=${1##*:} d f dg loc
    local dg_config dg_model_bin dg_data_csv
    d=$BERTH_TMP/artifact
    mkdir -p "$d"
    printf '{}' >"$d/config"
    printf 'weights-%s\n' "$$" >"$d/model.bin"
    printf 'a,b\n1,2\n' >"$d/data.csv"
    for f in config model.bin data.csv; do
        dg=sha256:$(sha256sum "$d/$f" | cut -d' ' -f1)
        printf -v "dg_${f//./_}" '%s' "$dg"
        loc=$(curl -sf -D - -o /dev/null -X POST "http://$host/v2/$repo/blobs/uploads/" |
            awk 'tolower($1) == "location:" { print $2 }' | tr -d '\r')
        [[ $loc == http* ]] || loc=http://$host$loc
        curl -sf -X PUT -H 'Content-Type: application/octet-stream' \
            --data-binary @"$d/$f" "$loc&digest=$dg" >/dev/null || return 1
    done
    cat >"$d/manifest" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
 "artifactType":"application/vnd.berth.test.model.v1",
 "config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"$dg_config","size":2},
 "layers":[
  {"mediaType":"application/vnd.berth.test.weights","digest":"$dg_model_bin","size":$(stat -c %s "$d/model.bin"),
   "annotations":{"org.opencontainers.image.title":"model.bin"}},
  {"mediaType":"text/csv","digest":"$dg_data_csv","size":$(stat -c %s "$d/data.csv"),
   "annotations":{"org.opencontainers.image.title":"data.csv"}}]}
EOF
    curl -sf -D - -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
        --data-binary @"$d/manifest" "http://$host/v2/$repo/manifests/$tag" |
        awk 'tolower($1) == "docker-content-digest:" { print $2 }' | tr -d '\r'
}

# volume mounts under the test's run directory
vol_mounts() {
    grep -c " $BERTH_RUNROOT/image-volumes/" /proc/self/mounts || true
}

image_id() {
    berth_crictl inspecti "$1" | jq -r .status.id
}

@test "an image volume shows the image read-only, executable, and reports its image" {
    id=$(run_ctr vol '[{"container_path":"/mnt/vol","readonly":true,"image":{"image":"'"$VOLIMG"'"}}]')
    [[ $id =~ ^[0-9a-f]{64}$ ]]
    run berth_crictl exec -s "$id" ls /mnt/vol/bin/busybox /mnt/vol/etc/passwd
    [ "$status" -eq 0 ]
    run berth_crictl exec -s "$id" touch /mnt/vol/x
    [ "$status" -ne 0 ]
    [[ $output == *"Read-only file system"* ]]
    # not noexec
    run berth_crictl exec -s "$id" /mnt/vol/bin/busybox echo from-the-volume
    [ "$status" -eq 0 ]
    [[ $output == *from-the-volume* ]]
    # ContainerStatus: the mount with its image and the image's ID
    want=$(image_id "$VOLIMG")
    [[ $want == sha256:* ]]
    m=$(berth_crictl inspect "$id" | jq -c '.status.mounts[0]')
    echo "mount: $m"
    [[ $(jq -r .containerPath <<<"$m") == /mnt/vol ]]
    [[ $(jq -r .image.image <<<"$m") == "$VOLIMG" ]]
    [[ $(jq -r .image.imageRef <<<"$m") == "$want" ]]
    [[ $(vol_mounts) == 1 ]]
}

@test "image_sub_path mounts a directory or a file of the image; a missing or escaping one is refused" {
    id=$(run_ctr sub '[{"container_path":"/mnt/etc","readonly":true,"image":{"image":"'"$VOLIMG"'"},"image_sub_path":"etc"},
        {"container_path":"/mnt/passwd","readonly":true,"image":{"image":"'"$VOLIMG"'"},"image_sub_path":"etc/passwd"}]')
    run berth_crictl exec -s "$id" cat /mnt/etc/passwd
    [ "$status" -eq 0 ]
    [[ $output == *root:* ]]
    run berth_crictl exec -s "$id" ls /mnt/etc/etc
    [ "$status" -ne 0 ]
    run berth_crictl exec -s "$id" cat /mnt/passwd
    [[ $output == *root:* ]]
    # one mount serves both claims
    [[ $(vol_mounts) == 1 ]]

    f=$(ctr missing '[{"container_path":"/mnt/x","readonly":true,"image":{"image":"'"$VOLIMG"'"},"image_sub_path":"no/such/dir"}]')
    run berth_crictl create "$POD" "$f" "$POD_JSON"
    [ "$status" -ne 0 ]
    [[ $output == *NotFound* && $output == *"no/such/dir"*"does not exist in the image"* ]]
    f=$(ctr escape '[{"container_path":"/mnt/x","readonly":true,"image":{"image":"'"$VOLIMG"'"},"image_sub_path":"../../etc"}]')
    run berth_crictl create "$POD" "$f" "$POD_JSON"
    [ "$status" -ne 0 ]
    [[ $output == *InvalidArgument* && $output == *"must not contain"*"it would leave the image"* ]]
    # the failed creations left their claims behind them
    [[ $(vol_mounts) == 1 ]]
}

@test "a multi-layer image volume is the merged image (whiteouts and opaque dirs applied)" {
    [[ -n $LAYERS ]] || skip "no berth/layers fixture"
    berth_crictl pull "$LAYERS" >/dev/null
    id=$(run_ctr layers '[{"container_path":"/data","readonly":true,"image":{"image":"'"$LAYERS"'"},"image_sub_path":"data"}]')
    run berth_crictl exec -s "$id" cat /data/replaced
    [[ $output == v2 ]]
    run berth_crictl exec -s "$id" ls /data/dir-a /data/dir-b
    [[ $output == *new* && $output == *y* && $output != *old1* && $output != *x* ]]
    run berth_crictl exec -s "$id" ls /data/gone
    [ "$status" -ne 0 ]
}

@test "two containers share one mount; RemoveImage is refused while they use it and allowed after" {
    mounts='[{"container_path":"/mnt/vol","readonly":true,"image":{"image":"'"$VOLIMG"'"}}]'
    a=$(run_ctr a "$mounts")
    b=$(run_ctr b "$mounts")
    [[ $(vol_mounts) == 1 ]]
    imgid=$(image_id "$VOLIMG")
    run berth_crictl rmi "$imgid"
    [ "$status" -ne 0 ]
    [[ $output == *FailedPrecondition* && $output == *"in use as an image volume"* ]]
    [[ $output == *"$a"* && $output == *"$b"* ]]
    run berth_crictl rm -f "$a"
    [ "$status" -eq 0 ]
    [[ $(vol_mounts) == 1 ]]
    run berth_crictl rmi "$imgid"
    [ "$status" -ne 0 ]
    [[ $output != *"$a"* && $output == *"$b"* ]]
    run berth_crictl rm -f "$b"
    [ "$status" -eq 0 ]
    for i in $(seq 1 50); do
        [[ $(vol_mounts) == 0 ]] && break
        sleep 0.1
    done
    [[ $(vol_mounts) == 0 ]]
    [[ -z $(ls "$BERTH_RUNROOT/image-volumes") ]]
    run berth_crictl rmi "$imgid"
    [ "$status" -eq 0 ]
    run berth_crictl inspecti "$VOLIMG"
    [ "$status" -ne 0 ]
}

@test "bad image mounts are refused with the reason" {
    f=$(ctr rw '[{"container_path":"/mnt/vol","readonly":false,"image":{"image":"'"$VOLIMG"'"}}]')
    run berth_crictl create "$POD" "$f" "$POD_JSON"
    [ "$status" -ne 0 ]
    [[ $output == *InvalidArgument* && $output == *"must be read-only"* ]]
    f=$(ctr both '[{"container_path":"/mnt/vol","host_path":"/tmp","readonly":true,"image":{"image":"'"$VOLIMG"'"}}]')
    run berth_crictl create "$POD" "$f" "$POD_JSON"
    [ "$status" -ne 0 ]
    [[ $output == *InvalidArgument* && $output == *"both set"* ]]
    f=$(ctr nope '[{"container_path":"/mnt/vol","readonly":true,"image":{"image":"example.com/not/pulled:1"}}]')
    run berth_crictl create "$POD" "$f" "$POD_JSON"
    [ "$status" -ne 0 ]
    [[ $output == *NotFound* && $output == *"example.com/not/pulled:1"* ]]
    [[ $(vol_mounts) == 0 ]]
    run berth_crictl ps -a -q
    [[ -z $output ]]
}

@test "a restart keeps the claims and removes an orphaned volume" {
    id=$(run_ctr keep '[{"container_path":"/mnt/vol","readonly":true,"image":{"image":"'"$VOLIMG"'"}}]')
    # an orphan: a volume dir nobody claims, mounted (a crash before a record)
    orphan=$BERTH_RUNROOT/image-volumes/$(printf 'e%.0s' $(seq 1 64))
    mkdir -p "$orphan/rootfs"
    mount -t tmpfs -o size=1m tmpfs "$orphan/rootfs"
    stop_berthd
    start_berthd
    for i in $(seq 1 50); do
        grep -q "image volumes restored" "$BERTH_LOG" && break
        sleep 0.1
    done
    [[ ! -e $orphan ]]
    run grep -q " $orphan/" /proc/self/mounts
    [ "$status" -ne 0 ]
    [[ $(vol_mounts) == 1 ]]
    run berth_crictl exec -s "$id" ls /mnt/vol/bin/busybox
    [ "$status" -eq 0 ]
    run berth_crictl rmi "$(image_id "$VOLIMG")"
    [ "$status" -ne 0 ]
    [[ $output == *"in use as an image volume"* ]]
    run berth_crictl rm -f "$id"
    [ "$status" -eq 0 ]
    for i in $(seq 1 50); do
        [[ $(vol_mounts) == 0 ]] && break
        sleep 0.1
    done
    [[ $(vol_mounts) == 0 ]]
}

@test "an OCI artifact of plain files mounts as a directory of those files" {
    [[ -n $LAYERS ]] || skip "no fixture registry address"
    digest=$(push_artifact "berth/artifact-files-$$:v1")
    [[ $digest == sha256:* ]]
    art=${LAYERS%%/*}/berth/artifact-files-$$:v1
    run berth_crictl pull "$art"
    [ "$status" -eq 0 ]
    # the ID is the manifest's digest: every empty config is alike
    [[ $(image_id "$art") == "$digest" ]]
    id=$(run_ctr art '[{"container_path":"/models","readonly":true,"image":{"image":"'"$art"'"}},
        {"container_path":"/weights","readonly":true,"image":{"image":"'"$art"'"},"image_sub_path":"model.bin"}]')
    run berth_crictl exec -s "$id" ls /models
    [[ $output == *model.bin* && $output == *data.csv* ]]
    run berth_crictl exec -s "$id" cat /models/data.csv
    [[ $output == *"1,2"* ]]
    run berth_crictl exec -s "$id" cat /weights
    [[ $output == "weights-$$" ]]
    run berth_crictl exec -s "$id" touch /models/new
    [ "$status" -ne 0 ]
    run berth_crictl rmi "$art"
    [ "$status" -ne 0 ]
    [[ $output == *"in use as an image volume"* ]]
    berth_crictl rm -f "$id" >/dev/null
    run berth_crictl rmi "$art"
    [ "$status" -eq 0 ]
    # a container cannot run an artifact itself: it has no command
    berth_crictl pull "$art" >/dev/null
    f=$BERTH_TMP/artctr.json
    echo '{"metadata":{"name":"artctr"},"image":{"image":"'"$art"'"},"log_path":"artctr.log"}' >"$f"
    run berth_crictl create "$POD" "$f" "$POD_JSON"
    [ "$status" -ne 0 ]
    [[ $output == *"no command"* ]]
}
