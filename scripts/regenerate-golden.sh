#!/usr/bin/env bash
# Rebuilds rpcnet-gen and rewrites tests/golden/expected from tests/golden/protos, exactly the way
# the codegen_golden test runs it. Review the diff (git diff tests/golden/expected) before
# committing: every change in it is a change in what users' generated code looks like.
#
#   scripts/regenerate-golden.sh [build-dir]     (default: build/release, configured if missing)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build/release}

if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRPCNET_WERROR=ON
fi
cmake --build "$build" --target rpcnet-gen -j "$(nproc)"

protos=$root/tests/golden/protos
expected=$root/tests/golden/expected
staging=$(mktemp -d "${TMPDIR:-/tmp}/rpcnet-golden-XXXXXX")
trap 'rm -rf "$staging"' EXIT

# The same invocation as tests/codegen/cli_test.sh golden.
"$build/tools/rpcnet-gen/rpcnet-gen" --input "$protos" -I "$protos" --output "$staging/out"

rm -rf "$expected"
mv "$staging/out" "$expected"
echo "rewrote $expected:"
(cd "$expected" && find . -type f | LC_ALL=C sort | sed 's|^\./|  |')
