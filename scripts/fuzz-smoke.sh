#!/usr/bin/env bash
# Builds the libFuzzer targets (the "fuzz" CMake preset: clang + ASan/UBSan) and runs each one
# for a bounded time, starting from its seed corpus in fuzz/corpus/<target>/.
# Exits non-zero if the build fails or any target crashes, leaks, times out or trips a sanitizer.
#
# Usage: scripts/fuzz-smoke.sh [seconds-per-target] [target...]
#   FUZZ_SECONDS   seconds per target (default 20; the first argument overrides it)
#   FUZZ_RUNS      maximum executions per target (default 2000000)
#   FUZZ_JOBS      parallel build jobs, and fuzzers run at once (default 2)
#   FUZZ_NO_BUILD  set to 1 to skip configure + build (use the existing build/fuzz)
#   FUZZ_KEEP      set to 1 to keep the scratch directory with new corpus entries and crashes
#
# New inputs a run discovers go to a scratch directory, never into the committed seed corpus.
# A crashing input is saved there as crash-<sha1>; it is printed with a reproduce command.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-${FUZZ_SECONDS:-20}}"
shift $(( $# > 0 ? 1 : 0 ))
runs="${FUZZ_RUNS:-2000000}"
jobs="${FUZZ_JOBS:-2}"
build_dir="$root/build/fuzz"

all_targets=(fuzz_frame_decoder fuzz_call_header fuzz_trailer fuzz_server_call_core
             fuzz_client_call_core fuzz_gossip_decoder fuzz_server_endpoint fuzz_traceparent
             fuzz_http_request fuzz_exposition_parser fuzz_reflection_request fuzz_h2_session
             fuzz_grpc_adapter)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi

if [ "${FUZZ_NO_BUILD:-0}" != "1" ]; then
  (cd "$root" && cmake --preset fuzz >/dev/null)
  cmake --build "$build_dir" -j"$jobs" --target "${targets[@]}"
fi

scratch="$(mktemp -d "${TMPDIR:-/tmp}/rpcnet-fuzz.XXXXXX")"
if [ "${FUZZ_KEEP:-0}" != "1" ]; then trap 'rm -rf "$scratch"' EXIT; fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# Runs one target on its corpus; its report goes to $scratch/<target>/report, and the exit
# status says whether it passed.
run_target() {
  local target="$1"
  local binary="$build_dir/fuzz/$target"
  local seeds="$root/fuzz/corpus/$target"
  local work="$scratch/$target"
  mkdir -p "$work/corpus" "$work/artifacts"
  exec >"$work/report" 2>&1
  if [ ! -x "$binary" ]; then
    echo "fuzz-smoke: $binary is missing"
    return 1
  fi
  if [ ! -d "$seeds" ]; then
    echo "fuzz-smoke: no seed corpus at $seeds"
    return 1
  fi
  echo "fuzz-smoke: $target for ${seconds}s (at most $runs runs)"
  # First directory: where new inputs are written (scratch); second: the committed seeds.
  if "$binary" "$work/corpus" "$seeds" \
      -max_total_time="$seconds" -runs="$runs" -timeout=10 -rss_limit_mb=2048 \
      -max_len=4096 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
      >"$work/log" 2>&1; then
    local stats cov
    stats="$(grep -E '^stat::number_of_executed_units' "$work/log" | awk '{print $2}' || true)"
    cov="$(grep -E '^#[0-9]+' "$work/log" | tail -1 | grep -oE 'cov: [0-9]+' || true)"
    echo "fuzz-smoke: $target ok: ${stats:-?} execs, ${cov:-cov: ?}"
    return 0
  fi
  echo "fuzz-smoke: $target FAILED; last lines of its log:"
  tail -n 40 "$work/log"
  for artifact in "$work"/artifacts/*; do
    [ -e "$artifact" ] || continue
    echo "fuzz-smoke: reproduce with: $binary $artifact"
    echo "fuzz-smoke: input (hex): $(od -An -tx1 -v "$artifact" | tr -d '\n' | head -c 600)"
  done
  return 1
}

# Each fuzzer is one process on one core: `jobs` of them run at once, each for its own full
# time, and their reports are printed in the targets' order.
running=0
for target in "${targets[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  ( status=0; run_target "$target" || status=$?; echo "$status" >"$scratch/$target.status" ) &
  running=$((running + 1))
done
wait
failed=()
for target in "${targets[@]}"; do
  if [ "$(cat "$scratch/$target.status" 2>/dev/null)" = "0" ]; then
    cat "$scratch/$target/report"
  else
    cat "$scratch/$target/report" >&2 || true
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  trap - EXIT
  echo "fuzz-smoke: FAILED: ${failed[*]} (scratch kept in $scratch)" >&2
  exit 1
fi
echo "fuzz-smoke: all ${#targets[@]} targets passed"
