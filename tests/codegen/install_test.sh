#!/usr/bin/env bash
# Installs the build into a temporary prefix, then configures, builds and runs the consumer
# project (tests/codegen/consumer) against it: find_package(rpcnet), rpcnet_generate() with the
# installed rpcnet-gen, rpcnet::rpcnet. Removes everything it made.
#
#   install_test.sh <cmake> <generator> <build-dir> <source-dir> <c++ compiler> <build type> [sanitizers]
set -uo pipefail

cmake=$1
generator=$2
build=$3
source=$4
cxx=$5
build_type=$6
sanitize=${7:-}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rpcnet-install-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

die() {
  echo "FAIL: $*" >&2
  exit 1
}

# Runs a step quietly; shows its output only when it fails.
step() {
  local name=$1
  shift
  if ! "$@" >"$tmp/$name.log" 2>&1; then
    cat "$tmp/$name.log" >&2
    die "$name failed: $*"
  fi
}

step install "$cmake" --install "$build" --prefix "$prefix"

for file in bin/rpcnet-gen lib/cmake/rpcnet/rpcnetConfig.cmake lib/cmake/rpcnet/rpcnetConfigVersion.cmake \
  lib/cmake/rpcnet/rpcnetTargets.cmake lib/cmake/rpcnet/RpcnetGenerate.cmake \
  include/rpcnet/rpcnet.h include/rpcnet/generated_support.h lib/librpcnet_rpc.a; do
  [[ -f $prefix/$file ]] || die "$file was not installed"
done
[[ -L $prefix/bin/protoc-gen-rpcnet && $(readlink "$prefix/bin/protoc-gen-rpcnet") == rpcnet-gen ]] ||
  die "bin/protoc-gen-rpcnet is not a symlink to rpcnet-gen"
"$prefix/bin/rpcnet-gen" --version | grep -q '^rpcnet-gen ' || die "the installed rpcnet-gen does not run"
"$prefix/bin/rpcnet" --version >/dev/null || die "the installed rpcnet command does not run"
# The package must not point back into the source or build tree.
if grep -rlF -e "$source" -e "$build" "$prefix/lib/cmake/rpcnet"; then
  die "the installed CMake package refers to the source or build tree (files above)"
fi

flags=()
if [[ -n $sanitize ]]; then
  # The installed static libraries were compiled with sanitizers: the consumer must link them.
  flags+=("-DCMAKE_CXX_FLAGS=-fsanitize=$sanitize -fno-omit-frame-pointer -fno-sanitize-recover=all"
          "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=$sanitize")
fi
cp -r "$source/tests/codegen/consumer" "$tmp/src"  # a copy: the test edits its .proto below
step configure "$cmake" -S "$tmp/src" -B "$tmp/build" -G "$generator" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE="$build_type" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF "${flags[@]}"
found=$(grep '^rpcnet_DIR:' "$tmp/build/CMakeCache.txt" | cut -d= -f2-)
[[ $found == "$prefix/lib/cmake/rpcnet" ]] || die "find_package(rpcnet) found $found, not the install"
step build "$cmake" --build "$tmp/build" -j 2

output=$("$tmp/build/consumer" 2>&1)
status=$?
[[ $status -eq 0 ]] || die "consumer exited with $status: $output"
[[ $output == "consumer: Hello, installed rpcnet!" ]] || die "consumer printed: $output"

# rpcnet_generate() with the installed generator regenerates when the .proto changes.
printf '\nmessage AddedLater {\n  string note = 1;\n}\n' >>"$tmp/src/hello.proto"
step rebuild "$cmake" --build "$tmp/build" -j 2
grep -q "rpcnet-gen: generating code for consumer" "$tmp/rebuild.log" ||
  die "editing hello.proto did not rerun rpcnet-gen: $(cat "$tmp/rebuild.log")"
grep -rq "class AddedLater" "$tmp/build/rpcnet_generated/consumer" ||
  die "the regenerated code lacks the message added to hello.proto"

echo "install: ok ($output)"
