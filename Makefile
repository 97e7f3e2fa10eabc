# rpcnet — the front door. `make demo` and `make test` install what is missing, configure, build
# and run; nothing else is needed on a fresh Debian 12 machine.
JOBS ?= $(shell nproc)

.PHONY: all deps build demo test test-release test-sanitize test-tsan fuzz-smoke bench clean

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS)

# The complete cluster example: a director and three workers as separate processes, a load
# client, one worker killed with SIGKILL and a new one joining (doc/cluster.md). The guided tour
# of a single server and client is `./build/release/tools/rpcnet/rpcnet demo`.
demo: build
	./build/release/tools/rpcnet/rpcnet cluster-demo

# The whole suite: release build, then again under AddressSanitizer + UndefinedBehaviorSanitizer
# (all but the system tests, which run once, in release), the threaded suites under
# ThreadSanitizer, then every fuzz target briefly on its corpus.
test: test-release test-sanitize test-tsan fuzz-smoke

test-release: build
	ctest --preset release -j $(JOBS)

test-sanitize: deps
	cmake --preset sanitize
	cmake --build --preset sanitize -j $(JOBS)
	ctest --preset sanitize -j $(JOBS)

# ThreadSanitizer (gcc) on the suites where threads meet: ctest labels `integration` and
# `cluster` (the tsan test preset selects them); only their binaries are built.
TSAN_TARGETS = unary_test streaming_test lifecycle_test security_test bad_input_test \
               backpressure_test cluster_client_test cluster_test cluster_routing_test \
               serve_test shutdown_drain_test membership_test interceptor_test log_test \
               server_metrics_test cluster_metrics_test health_service_test cluster_drain_test \
               transport_fallback_test
test-tsan: deps
	cmake --preset tsan
	cmake --build --preset tsan -j $(JOBS) --target $(TSAN_TARGETS)
	ctest --preset tsan -j $(JOBS)

# Builds the libFuzzer targets (clang) and runs each briefly on its corpus.
fuzz-smoke: deps
	./scripts/fuzz-smoke.sh 10

# rpcnet against gRPC C++, same machine, same run (bench/suite), on loopback and on a veth link
# between two network namespaces (MTU 1500, and with 1 % loss each way; needs root), plus the
# Google Benchmark microbenchmarks (bench/micro): its own build (preset `bench`, release flags,
# gRPC on), then every scenario 10 times alternating; writes bench/results/latest.json and
# latest.md and prints the table. Without root: make bench BENCH_LINKS=loopback,loopback-unpinned
BENCH_LINKS ?= loopback,veth,veth-loss1,loopback-unpinned
bench: deps
	cmake --preset bench
	cmake --build --preset bench -j $(JOBS)
	./build/bench/bench/rpcnet_bench run --link $(BENCH_LINKS) --micro ./build/bench/bench/rpcnet_micro \
	    --json bench/results/latest.json --md bench/results/latest.md

clean:
	rm -rf build

# Membership benchmark (issue 4): SWIM/Lifeguard cores in the deterministic simulator, LAN
# preset, N = 3, 32, 256, 1000; writes bench/results/membership.json and prints the table.
# MEMBENCH_FLAGS=--quick runs the small CI plan.
.PHONY: membench
membench: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS) --target rpcnet_membench
	./build/release/bench/membership/rpcnet_membench --jobs $(JOBS) \
	    --json bench/results/membership.json $(MEMBENCH_FLAGS)
