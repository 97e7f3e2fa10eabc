#include "rpc/grpc_listener.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rpc/server_call.h"
#include "rpc/server_metrics.h"
#include "rpc/transport_config.h"
#include "rpc/wire/codes.h"

namespace rpcnet::detail {

namespace {

constexpr int kListenBacklog = 1024;

std::optional<wire::CallKind> kind_of(ServerLoop& loop, const rpc::HandlerRegistry& registry,
                                      std::string_view method) {
  auto handler = loop.handlers.find(registry, std::string(method));
  if (!handler) return std::nullopt;
  // gRPC does not say which kind a call is: a streaming handler takes any, a unary one exactly
  // one request and one response.
  return handler->kind == rpc::MethodHandler::Kind::kStreaming ? wire::CallKind::kBidiStreaming
                                                                : wire::CallKind::kUnary;
}

}  // namespace

// ---- ReservedTcpPort --------------------------------------------------------------------------

Result<ReservedTcpPort> ReservedTcpPort::listen(const SocketAddress& address) {
  const asio::ip::tcp::endpoint endpoint(address.address(), address.port());
  const bool v6 = address.address().is_v6();
  const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const auto failed = [&](const char* what) -> Result<ReservedTcpPort> {
    const std::string reason = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return RpcError::config(std::string("gRPC listener on TCP ") + to_string(address) + ": " + what +
                            ": " + reason);
  };
  if (fd < 0) return failed("socket");
  const int on = 1;
  // SO_REUSEADDR: a restarted server binds again while old connections sit in TIME_WAIT.
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) return failed("SO_REUSEADDR");
  if (::bind(fd, endpoint.data(), static_cast<socklen_t>(endpoint.size())) != 0) return failed("bind");
  if (::listen(fd, kListenBacklog) != 0) return failed("listen");
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) != 0) return failed("getsockname");
  const std::uint16_t port = ntohs(v6 ? reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port
                                      : reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
  return ReservedTcpPort(fd, port, v6);
}

ReservedTcpPort::ReservedTcpPort(ReservedTcpPort&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), port_(other.port_), v6_(other.v6_) {}

ReservedTcpPort& ReservedTcpPort::operator=(ReservedTcpPort&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    port_ = other.port_;
    v6_ = other.v6_;
  }
  return *this;
}

ReservedTcpPort::~ReservedTcpPort() {
  if (fd_ >= 0) ::close(fd_);
}

int ReservedTcpPort::release() noexcept { return std::exchange(fd_, -1); }

// ---- GrpcListener -----------------------------------------------------------------------------

GrpcListener::GrpcListener(ServerState& server, ReservedTcpPort port,
                           std::shared_ptr<const quic::TlsCredentials> tls)
    : server_(server),
      tls_(std::move(tls)),
      limits_(rpc::grpc_limits(server.config)),
      acceptor_(server.loops.front()->executor) {
  const bool v6 = port.v6();
  acceptor_.assign(v6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), port.release());
}

GrpcListener::~GrpcListener() = default;

SocketAddress GrpcListener::local_address() const {
  std::error_code error;
  const auto endpoint = acceptor_.local_endpoint(error);
  return SocketAddress(endpoint.address(), endpoint.port());
}

void GrpcListener::start() {
  asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached);
}

void GrpcListener::stop() {
  std::error_code ignored;
  acceptor_.close(ignored);
}

asio::awaitable<void> GrpcListener::accept_loop() {
  for (;;) {
    auto [error, socket] =
        co_await acceptor_.async_accept(asio::experimental::as_tuple(asio::use_awaitable));
    if (error == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (error) continue;  // e.g. a connection reset before we took it, or out of descriptors
    if (open_.load(std::memory_order_relaxed) >= server_.config.max_connections()) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      std::error_code ignored;
      socket.close(ignored);
      continue;
    }
    accepted_.fetch_add(1, std::memory_order_relaxed);
    open_.fetch_add(1, std::memory_order_relaxed);
    ServerLoop& loop = *server_.loops[next_loop_++ % server_.loops.size()];
    // Re-homed on the chosen loop: its descriptor moves, the acceptor's loop keeps no part of it.
    const bool v6 = socket.local_endpoint(error).address().is_v6();
    const int fd = socket.release(error);
    if (error) {
      open_.fetch_sub(1, std::memory_order_relaxed);
      continue;
    }
    asio::post(loop.executor, [this, &loop, fd, v6] {
      asio::ip::tcp::socket moved(loop.executor);
      std::error_code assign_error;
      moved.assign(v6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), fd, assign_error);
      if (assign_error) {
        ::close(fd);
        open_.fetch_sub(1, std::memory_order_relaxed);
        return;
      }
      serve_on(loop, std::move(moved));
    });
  }
}

void GrpcListener::serve_on(ServerLoop& loop, asio::ip::tcp::socket socket) {
  ServerState& server = server_;
  auto resolve_kind = [&loop, &server](std::string_view method) {
    return kind_of(loop, server.registry, method);
  };
  auto accept_call = [&loop, &server](const std::shared_ptr<grpc_compat::GrpcConnection>& connection,
                                      std::shared_ptr<grpc_compat::GrpcServerStream> stream) {
    if (loop.refusing) {
      // Not started: the client may retry elsewhere (UNAVAILABLE).
      stream->reset(static_cast<std::uint64_t>(wire::StreamErrorCode::kRefused));
      return;
    }
    ServerCall::spawn(server, loop, connection, std::move(stream));
  };
  auto connection = std::make_shared<std::weak_ptr<grpc_compat::GrpcConnection>>();
  auto closed = [this, &loop, connection] {
    if (auto alive = connection->lock()) loop.grpc_connections.erase(alive.get());
    open_.fetch_sub(1, std::memory_order_relaxed);
  };
  auto started = grpc_compat::GrpcConnection::serve(std::move(socket), tls_, limits_,
                                                    std::move(resolve_kind), std::move(accept_call),
                                                    std::move(closed));
  *connection = started;
  if (started->is_open()) loop.grpc_connections.emplace(started.get(), started);
}

}  // namespace rpcnet::detail
