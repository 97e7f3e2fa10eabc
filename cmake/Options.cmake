# Every RPCNET_* option lives here, with its default.
option(RPCNET_WERROR "Treat compiler warnings as errors (on in every preset, so CI fails on warnings)" OFF)
set(RPCNET_SANITIZE "" CACHE STRING "Comma-separated -fsanitize= list for the whole build, e.g. address,undefined")
option(RPCNET_FUZZ "Build the libFuzzer targets in fuzz/ (needs clang)" OFF)
option(RPCNET_BUILD_TESTS "Build the test suite" ON)
# System tests: whole processes across network namespaces (tests/netns), the installed package
# built by a separate project (codegen_install) and a real Prometheus scraping a server. They
# spend their time waiting on links, installs and another program, not in code the in-process
# suites leave unchecked, so the sanitizer presets, which run those suites, leave them out and
# `make test` runs them once, in the release preset.
option(RPCNET_SYSTEM_TESTS "Build and register the system tests (namespaces, install, Prometheus)" ON)
option(RPCNET_BUILD_EXAMPLES "Build the programs in examples/" ON)
option(RPCNET_BUILD_BENCH "Build the benchmarks in bench/ that need no gRPC (quick_bench, typed_vs_raw, membench)" ON)
# Compile-only checks (every public header self-contained, header examples, doc code blocks):
# they build nothing that runs, so the sanitizer presets, whose point is running, leave them out.
option(RPCNET_COMPILE_CHECKS "Compile the public headers alone, their examples and the code blocks in the docs" ON)
option(RPCNET_BENCH_GRPC "Build the rpcnet-vs-gRPC benchmark suite and microbenchmarks in bench/ (needs gRPC C++, Google Benchmark)" OFF)
# lld links a test binary in about a third of GNU ld's time (1.2 s against 3.5 for a sanitize
# build's integration test), and `make test` links some 150 of them per preset. Used only when
# the compiler accepts it (scripts/install-deps.sh installs it); OFF keeps the toolchain's linker.
option(RPCNET_USE_LLD "Link with lld when the compiler supports -fuse-ld=lld" ON)
# Unity builds (CMake's UNITY_BUILD) in batches of 8 sources, for the sanitizer presets (sanitize,
# tsan, fuzz). There most of a translation unit's time goes to instrumenting and emitting the
# inline functions it shares with its neighbours (Asio, gtest, libstdc++), and a batch emits them
# once: five multi-source unit test binaries compiled in 40 % of their separate CPU time under
# ASan+UBSan. The release preset compiles one source at a time, as users do, and runs the same
# tests: a batch can silently change what a call means (two files' helpers, addr(int) and
# addr(std::size_t), became overloads of each other), and release is the reference that shows
# it. Compile checks never batch (their point is one header or one block per translation unit).
option(RPCNET_UNITY_BUILD "Compile sources in batches of 8 per target (CMake UNITY_BUILD)" OFF)
if(RPCNET_UNITY_BUILD)
  set(CMAKE_UNITY_BUILD ON)
  set(CMAKE_UNITY_BUILD_BATCH_SIZE 8)
endif()
