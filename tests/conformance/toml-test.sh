#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Runs the official toml-test suite (TOML 1.0 only) against berth's decoder.
# Usage: toml-test.sh DECODER. Installs toml-test with `go install` when it is
# missing; when the binary cannot be built (its module pins a dependency the
# proxy may not serve) but the toml-test module's test files are in the Go
# module cache, a small built-in runner walks the same files with the same
# comparison rules. Exits 77 (skip) when neither is available, non-zero on any
# failure, and always prints an `N passed, N failed` line.
set -u
decoder=${1:?usage: toml-test.sh DECODER}
decoder=$(realpath "$decoder")
export PATH=$PATH:/usr/local/go/bin:${GOPATH:-$HOME/go}/bin
version=v1.6.0

# scripts/setup.sh builds the toml-test binary (see install_toml_test there
# for why `go install` alone is not enough).

if command -v toml-test >/dev/null 2>&1; then
    # toml-test >= 1.5 takes the decoder as arguments; -toml 1.0.0 keeps 1.1 cases out.
    out=$(toml-test -toml 1.0.0 -color never -- "$decoder" 2>&1)
    rc=$?
    printf '%s\n' "$out" | tail -n 40
    # It prints one line for valid and one for invalid tests: add them up.
    printf '%s\n' "$out" | grep -Eo '[0-9]+ passed, *[0-9]+ failed' |
        awk '{p += $1; f += $3} END {printf "toml-test: %d passed, %d failed\n", p, f}'
    exit $rc
fi

# Fallback: the module source (with tests/) is downloaded even when building
# the command fails.
moddir=""
if command -v go >/dev/null 2>&1; then
    modcache=$(go env GOMODCACHE 2>/dev/null)
    [ -d "$modcache/github.com/toml-lang/toml-test@$version/tests" ] ||
        (cd /tmp && timeout 300 go mod download "github.com/toml-lang/toml-test@$version" >/dev/null 2>&1)
    [ -d "$modcache/github.com/toml-lang/toml-test@$version/tests" ] &&
        moddir="$modcache/github.com/toml-lang/toml-test@$version/tests"
fi
if [ -z "$moddir" ] || ! command -v python3 >/dev/null 2>&1; then
    echo "toml-test is not available: skipping"
    echo "0 passed, 0 failed"
    exit 77
fi
echo "toml-test binary unavailable; running the $version test files with the built-in runner"
exec python3 "$(dirname "$(realpath "$0")")/toml-test-runner.py" "$decoder" "$moddir"
