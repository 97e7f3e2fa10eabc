# rpcnet — the front door. `make demo` and `make test` install what is missing, configure, build
# and run; nothing else is needed on a fresh Debian 12 machine.
JOBS ?= $(shell nproc)

.PHONY: all deps build demo test test-release test-sanitize fuzz-smoke clean

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

clean:
	rm -rf build
