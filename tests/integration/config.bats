#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Configuration: `berthd config` prints the effective TOML; type errors name
# file:line:key and stop the daemon; unknown keys are warned about with
# file:line; drop-ins apply in lexical order after the main file.

load helpers

setup() {
    berth_setup
}

teardown() {
    berth_teardown
}

# listen_line TOML: the effective `listen = "..."` line of `berthd config`.
listen_line() {
    grep -E '^[[:space:]]*listen[[:space:]]*=' <<<"$1"
}

@test "berthd config prints TOML with the effective listen path" {
    run timeout 10 "$BERTHD" config "${BERTHD_ARGS[@]}"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $(listen_line "$output") == *"\"$BERTH_SOCK\""* ]]
    # The socket was not created: config only prints.
    [ ! -e "$BERTH_SOCK" ]
}

@test "berthd config: --listen overrides the config file" {
    other=$BERTH_TMP/other.sock
    run timeout 10 "$BERTHD" config --config "$BERTH_CONF" --config-dir "$BERTH_CONF_DIR" \
        --listen "$other"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $(listen_line "$output") == *"\"$other\""* ]]
}

@test "a value of the wrong type fails with file:line and the key" {
    bad=$BERTH_CONF_DIR/50-wrong-type.conf
    cp "$FIXTURES/config/wrong-type.conf" "$bad"
    run timeout 10 "$BERTHD" "${BERTHD_ARGS[@]}"
    echo "status $status: $output"
    [ "$status" -ne 0 ]
    [ "$status" -ne 124 ]
    [[ $output == *"$bad:3"* ]]
    [[ $output == *listen* ]]
    [ ! -e "$BERTH_SOCK" ]
    run timeout 10 "$BERTHD" config "${BERTHD_ARGS[@]}"
    echo "config: status $status: $output"
    [ "$status" -ne 0 ]
    [[ $output == *"$bad:3"* ]]
}

@test "an unknown key is warned about with file:line and the daemon still starts" {
    odd=$BERTH_CONF_DIR/50-unknown-key.conf
    cp "$FIXTURES/config/unknown-key.conf" "$odd"
    start_berthd
    cat "$BERTH_LOG"
    # file:line, either as "FILE:3" or as logfmt fields file="FILE" line=3.
    run grep -F -e "$odd:3" -e "file=\"$odd\" line=3" "$BERTH_LOG"
    [ "$status" -eq 0 ]
    [[ $output == *no_such_option_in_berth* ]]
    shopt -s nocasematch
    [[ $output == *warn* ]]
    shopt -u nocasematch
    run berth_crictl version
    [ "$status" -eq 0 ]
}

@test "drop-ins apply in lexical order after the main file, only *.conf" {
    for f in 10-a:a 100-b:b 20-c:c; do
        printf '[crio.api]\nlisten = "%s"\n' "$BERTH_TMP/${f#*:}.sock" \
            >"$BERTH_CONF_DIR/${f%%:*}.conf"
    done
    # Not a *.conf file: ignored although it sorts last.
    printf '[crio.api]\nlisten = "%s"\n' "$BERTH_TMP/ignored.sock" \
        >"$BERTH_CONF_DIR/99-z.conf.disabled"
    # A key set only by an earlier drop-in survives the later ones.
    printf '[crio.runtime]\nlog_level = "debug"\n' >>"$BERTH_CONF_DIR/10-a.conf"
    run timeout 10 "$BERTHD" config --config "$BERTH_CONF" --config-dir "$BERTH_CONF_DIR" \
        --root "$BERTH_ROOT" --runroot "$BERTH_RUNROOT"
    echo "$output"
    [ "$status" -eq 0 ]
    # 10-a < 100-b < 20-c lexically (numerically 20 would come before 100).
    [[ $(listen_line "$output") == *"\"$BERTH_TMP/c.sock\""* ]]
    [[ $output =~ log_level[[:space:]]*=[[:space:]]*\"debug\" ]]
}
