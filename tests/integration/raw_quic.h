// A raw QUIC client (no RPC layer) of a TransportServer, over the server's transport, for tests
// that speak the wire themselves (malformed frames, another ALPN) over loopback and in memory.
#pragma once

#include <asio/awaitable.hpp>
#include <memory>
#include <utility>

#include "quic/connection.h"
#include "quic/tls.h"
#include "runtime/memory_network.h"
#include "transport_harness.h"

namespace rpcnet::testing {

// Connects from the calling coroutine's loop (inside server.run()), with default transport
// settings on the server's clock.
inline asio::awaitable<Result<std::shared_ptr<quic::Connection>>> raw_quic_connect(
    TransportServer& server, std::shared_ptr<const quic::TlsCredentials> tls,
    quic::TransportSettings settings = {}) {
  const auto network = server.network();
  if (!network) co_return co_await quic::Connection::connect(server.address(), std::move(tls), settings);
  settings.clock = network->implementation().clock();
  auto port = network->implementation().open(SocketAddress(server.address().address(), 0));
  if (!port) co_return std::move(port).error();
  co_return co_await quic::Connection::connect(std::move(*port), server.address(), std::move(tls), settings);
}

}  // namespace rpcnet::testing
