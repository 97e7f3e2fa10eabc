#!/usr/bin/env bash
# rpcnet-gen's command line, checked from the outside.
#
#   cli_test.sh golden      <rpcnet-gen> <tests/golden>  the generated tree equals golden/expected
#   cli_test.sh determinism <rpcnet-gen> <tests/golden>  re-runs: identical output, untouched files
#   cli_test.sh errors      <rpcnet-gen> <tests/golden>  bad input: exit 1, golden message, no output
#   cli_test.sh flags       <rpcnet-gen> <tests/golden>  --server-only/--client-only/--types-only,
#                                                         --help, --version, unknown flags
#   cli_test.sh plugin      <rpcnet-gen> <tests/golden> <protoc>   protoc-gen-rpcnet under protoc
#   cli_test.sh imports     <rpcnet-gen> <tests/codegen/imports>   import roots, well-known types,
#                                                         imported files that are no input
#
# The flags mode reads the expected version from RPCNET_VERSION. Every mode works in its own
# temporary directory and removes it; a failure prints what differs and exits 1.
set -uo pipefail

mode=$1
gen=$2
golden=$3
protos=$golden/protos
expected=$golden/expected

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rpcnet-codegen-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# Every entry under a directory, regular files with their size, inode and modification time:
# equal snapshots mean nothing was created, removed, rewritten or replaced. (Directory times are
# left out: rpcnet-gen probes a directory's writability with a file it removes again.)
snapshot() {
  if [[ -e $1 ]]; then
    find "$1" \( -type f -printf '%P %y %s %i %T@\n' \) -o \( ! -type f -printf '%P %y\n' \) |
      LC_ALL=C sort
  else
    echo "(absent)"
  fi
}

# Relative paths of the files under a directory, sorted.
tree() { (cd "$1" && find . -type f | sed 's|^\./||' | LC_ALL=C sort); }

case $mode in
  golden)
    "$gen" --input "$protos" -I "$protos" --output "$tmp/out" || fail "rpcnet-gen exited with $?"
    if ! diff -r -u "$expected" "$tmp/out"; then
      fail "generated code differs from tests/golden/expected (see the diff above;" \
           "scripts/regenerate-golden.sh rewrites it after an intended change)"
    fi
    ;;

  determinism)
    "$gen" --input "$protos" -I "$protos" --output "$tmp/first" --build-sources "$tmp/first-build" ||
      fail "first run exited with $?"
    "$gen" --input "$protos" -I "$protos" --output "$tmp/second" --build-sources "$tmp/second-build" ||
      fail "second run exited with $?"
    diff -r -u "$tmp/first" "$tmp/second" || fail "two runs produced different files"
    diff -r "$tmp/first-build" "$tmp/second-build" || fail "two runs produced different build sources"
    [[ $(tree "$tmp/first" | wc -l) -gt 0 ]] || fail "nothing was generated"
    # The order inputs are named in does not matter either.
    "$gen" --input "$protos/shared/common.proto" --input "$protos/no_package.proto" \
      --input "$protos/nested/path/inventory.proto" --input "$protos/showcase.proto" -I "$protos" \
      --output "$tmp/reordered" || fail "reordered run exited with $?"
    diff -r -u "$tmp/first" "$tmp/reordered" || fail "naming the inputs in another order changed the output"

    # Again into the same directory: unchanged files are neither rewritten nor replaced (same
    # inode, same mtime), and nothing is left behind (no temporaries, no probe files).
    before=$(snapshot "$tmp/first")
    "$gen" --input "$protos" -I "$protos" --output "$tmp/first" || fail "re-run exited with $?"
    after=$(snapshot "$tmp/first")
    if [[ $before != "$after" ]]; then
      fail "a re-run touched unchanged output files"
      diff <(echo "$before") <(echo "$after") >&2
    fi

    # A changed file is rewritten, and only that file.
    victim=showcase_service/client.hpp
    echo "// stale" >>"$tmp/first/$victim"
    before=$(snapshot "$tmp/first" | grep -v "^$victim ")
    "$gen" --input "$protos" -I "$protos" --output "$tmp/first" || fail "repair run exited with $?"
    cmp "$tmp/first/$victim" "$expected/$victim" || fail "$victim was not restored"
    after=$(snapshot "$tmp/first" | grep -v "^$victim ")
    [[ $before == "$after" ]] || fail "restoring $victim touched other files"
    ;;

  errors)
    cases=$golden/errors
    bad=$cases/protos
    echo "regular file" >"$tmp/file"
    # name | arguments (@TMP@: the temporary directory, @OUT@: the output directory)
    run_case() {
      local name=$1 out=$2
      shift 2
      local args=()
      for arg in "$@"; do
        arg=${arg//@TMP@/$tmp}
        args+=("${arg//@OUT@/$out}")
      done
      local before status message
      before=$(snapshot "$out")
      file_before=$(snapshot "$tmp/file")
      message=$("$gen" "${args[@]}" 2>&1)
      status=$?
      [[ $status -eq 1 ]] || fail "$name: exit status $status, expected 1"
      message=${message//"$tmp"/@TMP@}
      message=${message//"$cases"/@ERRORS@}
      local want
      want=$(cat "$cases/$name.txt")
      if [[ $message != "$want" ]]; then
        fail "$name: unexpected message"
        diff -u --label "expected ($name.txt)" --label actual <(echo "$want") <(echo "$message") >&2
      fi
      [[ $(snapshot "$out") == "$before" ]] || fail "$name: the output directory $out changed"
      [[ $(snapshot "$tmp/file") == "$file_before" ]] || fail "$name: $tmp/file changed"
    }
    # Each case twice: into a missing output directory (must stay missing) and into an existing
    # one holding a file (must stay as it was).
    mkdir -p "$tmp/existing"
    echo "keep me" >"$tmp/existing/keep.txt"
    for out in "$tmp/missing-out" "$tmp/existing"; do
      run_case missing_input "$out" --input @TMP@/nowhere/missing.proto --output @OUT@
      run_case syntax_error "$out" --input "$bad/valid.proto" --input "$bad/syntax_error.proto" \
        -I "$bad" --output @OUT@
      run_case unknown_type "$out" --input "$bad/valid.proto" --input "$bad/unknown_type.proto" \
        -I "$bad" --output @OUT@
      run_case missing_import "$out" --input "$bad/valid.proto" --input "$bad/missing_import.proto" \
        -I "$bad" --output @OUT@
      run_case service_name_clash "$out" --input "$bad/clash_a.proto" --input "$bad/clash_b.proto" \
        -I "$bad" --output @OUT@
    done
    # An output directory below a regular file cannot be created.
    run_case unwritable_output "$tmp/file/out" --input "$bad/valid.proto" -I "$bad" \
      --output @TMP@/file/out
    [[ $(cat "$tmp/existing/keep.txt") == "keep me" ]] || fail "keep.txt was modified"
    [[ ! -e $tmp/missing-out ]] || fail "a failed run created the output directory"
    ;;

  flags)
    # Each restriction is the golden tree minus the files it drops; what remains is identical to
    # the golden files except the umbrella header, which includes only what exists.
    check_restricted() {
      local flag=$1 dropped=$2 out=$tmp/${1#--}
      "$gen" --input "$protos" -I "$protos" --output "$out" "$flag" || fail "$flag: exit status $?"
      local want got
      want=$(tree "$expected" | grep -Ev "$dropped")
      got=$(tree "$out")
      if [[ $want != "$got" ]]; then
        fail "$flag: unexpected files"
        diff -u --label expected --label actual <(echo "$want") <(echo "$got") >&2
      fi
      while read -r file; do
        dir=${file%%/*}
        [[ $file == "$dir/$dir.hpp" ]] && continue  # umbrella header
        cmp -s "$expected/$file" "$out/$file" || fail "$flag: $file differs from the golden file"
      done <<<"$got"
    }
    check_restricted --server-only '/client\.hpp$'
    check_restricted --client-only '/server\.hpp$'
    check_restricted --types-only '\.hpp$'
    grep -q '"client.hpp"' "$tmp/server-only/showcase_service/showcase_service.hpp" &&
      fail "--server-only: the umbrella header includes client.hpp"
    grep -q '"server.hpp"' "$tmp/server-only/showcase_service/showcase_service.hpp" ||
      fail "--server-only: the umbrella header lacks server.hpp"
    grep -q '"server.hpp"' "$tmp/client-only/showcase_service/showcase_service.hpp" &&
      fail "--client-only: the umbrella header includes server.hpp"
    grep -q '"client.hpp"' "$tmp/client-only/showcase_service/showcase_service.hpp" ||
      fail "--client-only: the umbrella header lacks client.hpp"

    help=$("$gen" --help 2>&1)
    status=$?
    [[ $status -eq 0 ]] || fail "--help: exit status $status"
    [[ $help == rpcnet-gen:* ]] || fail "--help does not start with the tool's name: $help"
    for option in --input --output --proto-path --server-only --client-only --types-only; do
      [[ $help == *"$option"* ]] || fail "--help does not mention $option"
    done

    version=$("$gen" --version 2>&1)
    status=$?
    [[ $status -eq 0 ]] || fail "--version: exit status $status"
    [[ $version == "rpcnet-gen ${RPCNET_VERSION:?} (libprotoc "*")" ]] ||
      fail "--version printed '$version', expected 'rpcnet-gen $RPCNET_VERSION (libprotoc ...)'"

    message=$("$gen" --input "$protos" --output "$tmp/unknown-flag" --frobnicate 2>&1)
    status=$?
    [[ $status -ne 0 ]] || fail "an unknown flag exited 0"
    [[ $message == *--frobnicate* ]] || fail "an unknown flag is not named: $message"
    [[ ! -e $tmp/unknown-flag ]] || fail "an unknown flag still generated code"

    message=$("$gen" --input "$protos" --output "$tmp/conflict" --server-only --client-only 2>&1)
    status=$?
    [[ $status -ne 0 ]] || fail "--server-only --client-only exited 0"
    [[ ! -e $tmp/conflict ]] || fail "conflicting flags still generated code"

    message=$("$gen" --output "$tmp/no-input" 2>&1)
    status=$?
    [[ $status -ne 0 ]] || fail "a run without --input exited 0"
    [[ $message == *--input* ]] || fail "a run without --input does not say so: $message"
    ;;

  plugin)
    protoc=$4
    plugin=$(dirname "$gen")/protoc-gen-rpcnet
    [[ -L $plugin ]] || fail "$plugin is not a symlink"
    mkdir -p "$tmp/plugin"
    "$protoc" "--plugin=protoc-gen-rpcnet=$plugin" --rpcnet_out="$tmp/plugin" --cpp_out="$tmp/plugin" \
      -I "$protos" showcase.proto shared/common.proto nested/path/inventory.proto no_package.proto ||
      fail "protoc exited with $?"
    # Service headers: identical to rpcnet-gen's.
    for file in showcase_service/client.hpp showcase_service/server.hpp \
      showcase_service/showcase_service.hpp inventory/client.hpp inventory/server.hpp \
      inventory/inventory.hpp alpha/client.hpp alpha/server.hpp alpha/alpha.hpp; do
      cmp "$expected/$file" "$tmp/plugin/$file" || {
        fail "plugin: $file differs from rpcnet-gen's"
        diff -u "$expected/$file" "$tmp/plugin/$file" >&2
      }
    done
    # The second service of a top-level file: rpcnet-gen put the message code into the first
    # service's directory, protoc keeps it at the root, so only the include differs.
    for file in http_beta/client.hpp http_beta/server.hpp http_beta/http_beta.hpp; do
      sed 's|#include "alpha/no_package.pb.h"|#include "no_package.pb.h"|' "$expected/$file" |
        cmp - "$tmp/plugin/$file" || fail "plugin: $file differs from rpcnet-gen's beyond the include"
    done
    # Message code: protoc's layout, the same bytes as rpcnet-gen's embedded libprotoc.
    for pair in showcase_service/showcase.pb.h:showcase.pb.h showcase_service/showcase.pb.cc:showcase.pb.cc \
      shared/common.pb.h:shared/common.pb.h nested/path/inventory.pb.cc:nested/path/inventory.pb.cc; do
      cmp "$expected/${pair%%:*}" "$tmp/plugin/${pair##*:}" || fail "plugin: ${pair##*:} differs"
    done
    want=$(tree "$expected" | sed -e 's|^showcase_service/showcase\.pb|showcase.pb|' \
      -e 's|^alpha/no_package\.pb|no_package.pb|' | LC_ALL=C sort)
    got=$(tree "$tmp/plugin")
    if [[ $want != "$got" ]]; then
      fail "plugin: unexpected files"
      diff -u --label expected --label actual <(echo "$want") <(echo "$got") >&2
    fi

    # Parameters: server_only drops the client; an unknown one is an error naming it.
    mkdir -p "$tmp/server-only"
    "$protoc" "--plugin=protoc-gen-rpcnet=$plugin" --rpcnet_out=server_only:"$tmp/server-only" \
      -I "$protos" showcase.proto || fail "protoc with server_only exited with $?"
    [[ $(tree "$tmp/server-only") == $'showcase_service/server.hpp\nshowcase_service/showcase_service.hpp' ]] ||
      fail "plugin server_only wrote: $(tree "$tmp/server-only" | tr '\n' ' ')"
    mkdir -p "$tmp/bad-parameter"
    message=$("$protoc" "--plugin=protoc-gen-rpcnet=$plugin" --rpcnet_out=sideways:"$tmp/bad-parameter" \
      -I "$protos" showcase.proto 2>&1)
    status=$?
    [[ $status -ne 0 ]] || fail "plugin: an unknown parameter exited 0"
    [[ $message == *'unknown rpcnet-gen option "sideways"'* ]] ||
      fail "plugin: an unknown parameter is not named: $message"
    [[ -z $(tree "$tmp/bad-parameter") ]] || fail "plugin: an unknown parameter still wrote files"
    ;;

  imports)
    # $golden is tests/codegen/imports here: importing.proto and well_known.proto both import
    # common.proto, which imports units/unit.proto; neither of those two is ever an input.
    dir=$golden
    "$gen" --input "$dir/importing.proto" --input "$dir/well_known.proto" --output "$tmp/both" \
      --build-sources "$tmp/both-build" --depfile "$tmp/both.d" || fail "two inputs: exit status $?"
    want='clock/client.hpp clock/clock.hpp clock/server.hpp clock/well_known.pb.cc clock/well_known.pb.h
common.pb.cc common.pb.h labeler/client.hpp labeler/importing.pb.cc labeler/importing.pb.h
labeler/labeler.hpp labeler/server.hpp units/unit.pb.cc units/unit.pb.h'
    got=$(tree "$tmp/both" | tr '\n' ' ')
    [[ $got == "$(echo $want) " ]] || fail "two inputs wrote: $got (expected: $(echo $want))"
    # Each imported file compiles exactly once: in the first importer's (sorted) build source.
    for source in common.pb.cc units/unit.pb.cc; do
      [[ $(grep -l "#include \"$source\"" "$tmp/both-build"/*.cc | xargs -n1 basename) == build_0.cc ]] ||
        fail "$source is not included by build_0.cc alone: $(grep -c "$source" "$tmp/both-build"/*.cc)"
    done
    grep -q 'google/protobuf' "$tmp/both-build"/*.cc && fail "a build source compiles a well-known type"
    grep -q '#include "google/protobuf/timestamp.pb.h"\|#include <google/protobuf/timestamp.pb.h>' \
      "$tmp/both/clock/well_known.pb.h" || fail "well_known.pb.h does not include protobuf's timestamp.pb.h"
    # The depfile names every file read, the imports and the well-known types included.
    for file in "$dir/common.proto" "$dir/units/unit.proto" "$dir/importing.proto" \
      /google/protobuf/timestamp.proto; do
      grep -q -- "$file" "$tmp/both.d" || fail "the depfile lacks $file: $(cat "$tmp/both.d")"
    done
    [[ $(head -1 "$tmp/both.d") == "$tmp/both-build/build_0.cc: \\" ]] ||
      fail "the depfile's rule is not for build_0.cc: $(head -1 "$tmp/both.d")"

    # The importing file alone: the same files for it and its imports, not a file more.
    "$gen" --input "$dir/importing.proto" --output "$tmp/alone" || fail "one input: exit status $?"
    [[ $(tree "$tmp/alone" | tr '\n' ' ') == "common.pb.cc common.pb.h labeler/client.hpp labeler/importing.pb.cc labeler/importing.pb.h labeler/labeler.hpp labeler/server.hpp units/unit.pb.cc units/unit.pb.h " ]] ||
      fail "one input wrote: $(tree "$tmp/alone" | tr '\n' ' ')"
    for file in $(tree "$tmp/alone"); do
      cmp -s "$tmp/alone/$file" "$tmp/both/$file" || fail "$file differs between the two runs"
    done

    # -I naming directories that hold no input (protobuf's own, an unrelated one) keeps the
    # input's directory as a root: the same output as with no -I at all.
    # (The line may be the depfile's last, without the continuation: paths sort by checkout.)
    protobuf_root=$(sed -n 's|^  \(.*\)/google/protobuf/timestamp.proto\( \\\)\{0,1\}$|\1|p' "$tmp/both.d")
    [[ -n $protobuf_root ]] || fail "no protobuf root in the depfile"
    mkdir -p "$tmp/unrelated"
    for root in "$protobuf_root" "$tmp/unrelated"; do
      rm -rf "$tmp/rooted"
      "$gen" --input "$dir/importing.proto" -I "$root" --output "$tmp/rooted" ||
        fail "-I $root: exit status $?"
      diff -r "$tmp/alone" "$tmp/rooted" >/dev/null || fail "-I $root changed the output"
    done
    # An empty -I (an unset variable in a script) is named, not a crash.
    "$gen" --input "$dir/importing.proto" -I "" --output "$tmp/empty-root" 2>"$tmp/empty-root.err"
    status=$?
    [[ $status == 1 ]] || fail "-I '' exited $status: $(cat "$tmp/empty-root.err")"
    grep -q -- "-I needs a directory, not an empty string" "$tmp/empty-root.err" ||
      fail "-I '' said: $(cat "$tmp/empty-root.err")"
    # An explicit root that does hold the input wins: names are relative to it.
    "$gen" --input "$dir/units/unit.proto" -I "$dir" --output "$tmp/nested" || fail "-I parent: $?"
    [[ $(tree "$tmp/nested" | tr '\n' ' ') == "units/unit.pb.cc units/unit.pb.h " ]] ||
      fail "-I parent wrote: $(tree "$tmp/nested" | tr '\n' ' ')"
    ;;

  *)
    echo "usage: $0 golden|determinism|errors|flags|plugin|imports <rpcnet-gen> <tests/golden> [protoc]" >&2
    exit 2
    ;;
esac

if [[ $failures -gt 0 ]]; then
  echo "$mode: $failures failure(s)" >&2
  exit 1
fi
echo "$mode: ok"
