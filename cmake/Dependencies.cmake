# All dependencies are Debian bookworm packages (ngtcp2 from bookworm-backports);
# scripts/install-deps.sh installs them.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
# ngtcp2 >= 1.4: older releases abort the process on packets a peer can send (the upstream fixes
# are listed in doc/architecture.md). Checked here so an old ngtcp2 fails the configure step with
# the fix named, not the build with missing symbols.
set(RPCNET_NGTCP2_MINIMUM 1.4)
pkg_check_modules(NGTCP2 QUIET IMPORTED_TARGET
  libngtcp2>=${RPCNET_NGTCP2_MINIMUM} libngtcp2_crypto_gnutls>=${RPCNET_NGTCP2_MINIMUM})
if(NOT NGTCP2_FOUND)
  pkg_check_modules(RPCNET_OLD_NGTCP2 QUIET libngtcp2)
  if(RPCNET_OLD_NGTCP2_FOUND)
    set(found "found ${RPCNET_OLD_NGTCP2_VERSION}")
  else()
    set(found "found none")
  endif()
  message(FATAL_ERROR
    "rpcnet needs libngtcp2 and libngtcp2_crypto_gnutls >= ${RPCNET_NGTCP2_MINIMUM} (${found}). "
    "Run scripts/install-deps.sh (or `make deps`): on Debian 12 it installs libngtcp2-dev and "
    "libngtcp2-crypto-gnutls-dev from the official bookworm-backports suite.")
endif()
pkg_check_modules(GNUTLS REQUIRED IMPORTED_TARGET gnutls>=3.7.2)
# HTTP/2 framing for the gRPC-compatible TCP listener (src/h2): nghttp2's sans-I/O session API.
pkg_check_modules(NGHTTP2 REQUIRED IMPORTED_TARGET libnghttp2>=1.52)

# Standalone Asio (libasio-dev) is header-only. Clang does not detect coroutine support in
# Asio 1.22 by itself, hence the two explicit coroutine defines. ASIO_DISABLE_STD_ALIGNED_ALLOC:
# Asio picks aligned_alloc or operator new depending on whether a libstdc++ header came before
# its config, so translation units disagreed and memory was freed with the wrong function (an ODR
# violation ASan reports as alloc-dealloc-mismatch); one allocator everywhere avoids it.
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
add_library(rpcnet_asio INTERFACE)
add_library(rpcnet::asio ALIAS rpcnet_asio)
target_include_directories(rpcnet_asio SYSTEM INTERFACE ${ASIO_INCLUDE_DIR})
target_compile_definitions(rpcnet_asio INTERFACE
  ASIO_STANDALONE ASIO_NO_DEPRECATED ASIO_HAS_CO_AWAIT ASIO_HAS_STD_COROUTINE
  ASIO_DISABLE_STD_ALIGNED_ALLOC
  # Coroutine frames, handlers and timer ops are recycled per thread; the default two slots per
  # kind are far fewer than the ~15 nested frames of one call, so most frames went to malloc.
  ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE=32)
target_link_libraries(rpcnet_asio INTERFACE Threads::Threads)

# Command lines of the tools and benchmarks; JSON the benchmarks write (both header-only).
find_package(CLI11 REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
if(RPCNET_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

# protobuf: message code for rpcnet-gen's typed layer, and libprotoc embedded in rpcnet-gen.
find_package(Protobuf REQUIRED)
