// The gRPC-compatible TCP listener of an RpcServer (RpcConfig::with_grpc_over_tcp): accepts on
// the server's first loop and hands each connection to a loop in turn, where its request streams
// are served by ServerCall like QUIC streams (grpc/grpc_connection.h).
#pragma once

#include <asio/ip/tcp.hpp>
#include <atomic>
#include <cstdint>
#include <memory>

#include "quic/tls.h"
#include "rpc/grpc/grpc_connection.h"
#include "rpcnet/address.h"
#include "rpcnet/result.h"

namespace rpcnet::detail {

class ServerState;
struct ServerLoop;

// A listening TCP socket bound before the server's loops exist (bind() reserves the port first,
// so that the UDP endpoint can take the same number).
class ReservedTcpPort {
 public:
  // Errors: kConfig naming the address and the system's reason (in use, not permitted).
  static Result<ReservedTcpPort> listen(const SocketAddress& address);
  ReservedTcpPort(ReservedTcpPort&&) noexcept;
  ReservedTcpPort& operator=(ReservedTcpPort&&) noexcept;
  ~ReservedTcpPort();

  std::uint16_t port() const noexcept { return port_; }
  bool v6() const noexcept { return v6_; }
  // Hands the socket over (-1 afterwards).
  int release() noexcept;

 private:
  ReservedTcpPort(int fd, std::uint16_t port, bool v6) : fd_(fd), port_(port), v6_(v6) {}
  int fd_ = -1;
  std::uint16_t port_ = 0;
  bool v6_ = false;
};

class GrpcListener {
 public:
  GrpcListener(ServerState& server, ReservedTcpPort port,
               std::shared_ptr<const quic::TlsCredentials> tls);
  ~GrpcListener();

  SocketAddress local_address() const;
  // Starts accepting (on the server's first loop).
  void start();
  // Closes the listening socket; connections already accepted go on. Run on the first loop.
  void stop();

  std::uint64_t accepted() const noexcept { return accepted_.load(std::memory_order_relaxed); }
  std::uint64_t open() const noexcept { return open_.load(std::memory_order_relaxed); }
  std::uint64_t refused() const noexcept { return refused_.load(std::memory_order_relaxed); }

 private:
  asio::awaitable<void> accept_loop();
  void serve_on(ServerLoop& loop, asio::ip::tcp::socket socket);

  ServerState& server_;
  std::shared_ptr<const quic::TlsCredentials> tls_;
  grpc_compat::ConnectionLimits limits_;
  asio::ip::tcp::acceptor acceptor_;
  std::size_t next_loop_ = 0;
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> open_{0};
  std::atomic<std::uint64_t> refused_{0};
};

}  // namespace rpcnet::detail
