#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Runs every libFuzzer target of a clang build for a bounded time each.
#   tests/fuzz/run.sh BUILD_DIR [SECONDS_PER_TARGET] [ARTIFACT_DIR]
# Each target starts from its checked-in corpus (tests/fuzz/corpus/NAME),
# copied into a scratch directory so new inputs never touch the repository;
# a crash, leak or timeout leaves its input in ARTIFACT_DIR (default
# _fuzz-artifacts/) and fails the run. Prints one line per target:
#   fuzz NAME: N runs in S s, ok | FAILED (artifact PATH)
# and exits non-zero when any target failed. Add a crash's input to the
# target's corpus once it is fixed: the replay tests then keep it fixed.
set -uo pipefail

build=${1:?usage: run.sh BUILD_DIR [SECONDS] [ARTIFACT_DIR]}
secs=${2:-20}
src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
artifacts=${3:-$PWD/_fuzz-artifacts}
mkdir -p "$artifacts"
artifacts=$(cd "$artifacts" && pwd)
scratch=$(mktemp -d /tmp/berth-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

failed=0
found=0
for bin in "$build"/tests/fuzz/*_fuzz; do
    [[ -x $bin ]] || continue
    found=$((found + 1))
    name=$(basename "$bin" _fuzz)
    mkdir -p "$scratch/$name"
    cp -r "$src/corpus/$name/." "$scratch/$name/" 2>/dev/null || true
    log=$scratch/$name.log
    # detect_leaks: berth's targets free what they make; a leak is a finding.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/$name-" "$scratch/$name" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    if ((rc == 0)); then
        printf 'fuzz %s: %s runs in %s s, ok\n' "$name" "${runs:-?}" "$secs"
    else
        art=$(ls -t "$artifacts/$name-"* 2>/dev/null | head -n 1)
        printf 'fuzz %s: %s runs, FAILED (exit %d%s)\n' "$name" "${runs:-?}" "$rc" "${art:+, artifact $art}"
        grep -E 'ERROR|SUMMARY|==[0-9]+==' "$log" | head -n 5 | sed 's/^/    /'
        failed=$((failed + 1))
    fi
done
if ((found == 0)); then
    echo "fuzz: no libFuzzer targets in $build/tests/fuzz (a clang build makes them)"
    exit 2
fi
exit $((failed > 0))
