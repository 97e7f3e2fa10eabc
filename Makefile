# rpcnet — the front door. `make demo` and `make test` install what is missing, configure, build
# and run; nothing else is needed on a fresh Debian 12 machine.
JOBS ?= $(shell nproc)

.PHONY: all deps build demo test test-release test-sanitize fuzz-smoke bench clean

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS)

# Walks through a unary call and each streaming pattern on loopback, printing what happens.
demo: build
	./build/release/tools/rpcnet/rpcnet demo

# The whole suite: release build, then again under AddressSanitizer + UndefinedBehaviorSanitizer,
# then every fuzz target briefly on its corpus.
test: test-release test-sanitize fuzz-smoke

test-release: build
	ctest --preset release -j $(JOBS)

test-sanitize: deps
	cmake --preset sanitize
	cmake --build --preset sanitize -j $(JOBS)
	ctest --preset sanitize -j $(JOBS)

# Builds the libFuzzer targets (clang) and runs each briefly on its corpus.
fuzz-smoke: deps
	./scripts/fuzz-smoke.sh 10

# rpcnet against gRPC C++ on loopback, same machine, same run (bench/suite), plus the Google
# Benchmark microbenchmarks (bench/micro): its own build (preset `bench`, release flags, gRPC on),
# then every scenario 3 times alternating; writes bench/results/latest.json and latest.md and
# prints the table.
bench: deps
	cmake --preset bench
	cmake --build --preset bench -j $(JOBS)
	./build/bench/bench/rpcnet_bench run --micro ./build/bench/bench/rpcnet_micro \
	    --json bench/results/latest.json --md bench/results/latest.md

clean:
	rm -rf build
