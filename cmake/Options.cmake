# Every RPCNET_* option lives here, with its default.
option(RPCNET_WERROR "Treat compiler warnings as errors (on in every preset, so CI fails on warnings)" OFF)
set(RPCNET_SANITIZE "" CACHE STRING "Comma-separated -fsanitize= list for the whole build, e.g. address,undefined")
option(RPCNET_FUZZ "Build the libFuzzer targets in fuzz/ (needs clang)" OFF)
option(RPCNET_BUILD_TESTS "Build the test suite" ON)
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
