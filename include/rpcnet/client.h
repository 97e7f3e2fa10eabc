// rpcnet/client.h — RpcClient: calls a server over one QUIC connection.
//
// A client is a cheap, copyable handle: copies share one connection, and any number of
// coroutines may call through it at once; every call opens a fresh bidirectional stream on the
// shared connection. The connection lives on the event loop of the coroutine that called
// connect() (a single-threaded io_context, e.g. an rpcnet::Runtime loop); calls made from
// another loop or thread hop to it and back. When the last copy is dropped the connection closes.
//
// Deadlines: every call has one (30 s unless the config or CallOptions say otherwise). It travels
// to the server, which cancels the handler when it passes; locally the call fails with DEADLINE_EXCEEDED.
//
// Cancellation: cancel a call the Asio way (e.g. `co_await (client.call(...) || timer.async_wait(
// asio::use_awaitable))`, or a cancellation slot bound to co_spawn) from the connection's loop,
// or drop / cancel() a ResponseStream or ClientCall. The stream is reset and the server's handler
// observes the cancellation. Calls that hop loops can be cancelled only by their deadline.
//
// Example:
//   asio::awaitable<rpcnet::Result<std::string>> ping(rpcnet::SocketAddress server_addr,
//                                                     rpcnet::RpcConfig config) {
//     auto client = co_await rpcnet::RpcClient::connect(server_addr, std::move(config));
//     if (!client) co_return client.error();
//     auto reply = co_await client->call("ping", rpcnet::to_bytes("hello"));
//     if (!reply && reply.error().code() == rpcnet::StatusCode::kDeadlineExceeded) { /* server took too long */ }
//     if (!reply) co_return reply.error();
//     co_return rpcnet::to_string(*reply);
//   }
#pragma once

#include <asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "rpcnet/address.h"
#include "rpcnet/bytes.h"
#include "rpcnet/call_options.h"
#include "rpcnet/config.h"
#include "rpcnet/metadata.h"
#include "rpcnet/result.h"

namespace rpcnet {

namespace detail {
class ClientShared;
class ClientCallState;
}  // namespace detail

// Produces request messages for a streaming call, one per co_await; nullopt ends the requests.
//
// WARNING: the call keeps the source and co_awaits it on the client's event loop after
// call_streaming() / call_client_streaming() has returned, until it yields nullopt or the call
// ends. So a lambda passed as a RequestSource must own everything it reads: capture by value
// (or a std::shared_ptr to shared state), never `[&]` or a reference/pointer to the caller's
// locals, which are gone once the calling coroutine moves on. Its captures live in the stored
// lambda, so a by-value capture stays valid across co_awaits.
//   auto items = std::make_shared<std::vector<rpcnet::Bytes>>(load());
//   auto next = [items, i = std::size_t{0}]() mutable
//       -> asio::awaitable<std::optional<rpcnet::Bytes>> {
//     if (i == items->size()) co_return std::nullopt;
//     co_return (*items)[i++];
//   };
using RequestSource = std::function<asio::awaitable<std::optional<Bytes>>()>;

// Responses of a streaming call. Drop it (or cancel()) to abandon the call.
class ResponseStream {
 public:
  ResponseStream(ResponseStream&&) noexcept = default;
  // Assigning over a live stream abandons its call, as dropping it does.
  ResponseStream& operator=(ResponseStream&&) noexcept;
  ~ResponseStream();

  // The next response message; nullopt when the server finished with OK. A non-OK status, a
  // reset or a broken stream is an error, never a silent end.
  asio::awaitable<Result<std::optional<Bytes>>> next();
  // Resets the stream: the server's handler is cancelled, and the next next() fails with
  // kCancelled — responses already received but not yet read are discarded.
  void cancel();
  // Metadata the server attached to its OK status (after next() returned nullopt).
  const Metadata& trailer_metadata() const;

 private:
  friend class RpcClient;
  explicit ResponseStream(std::shared_ptr<detail::ClientCallState> state);
  std::shared_ptr<detail::ClientCallState> state_;
};

// A bidirectional call driven by hand: write requests and read responses in any interleaving.
class ClientCall {
 public:
  ClientCall(ClientCall&&) noexcept = default;
  // Assigning over a live call abandons it, as dropping it does.
  ClientCall& operator=(ClientCall&&) noexcept;
  ~ClientCall();

  // Sends one request; waits while the server is not reading (backpressure). Errors: the call
  // has ended (the server finished: read() gives its status), kStatus RESOURCE_EXHAUSTED over
  // max_message_size, CANCELLED, DEADLINE_EXCEEDED, UNAVAILABLE (connection lost).
  asio::awaitable<Result<void>> write(Bytes message);
  // Ends the requests (QUIC FIN). Further writes fail.
  asio::awaitable<Result<void>> finish();
  // The next response, or nullopt when the server finished with OK.
  asio::awaitable<Result<std::optional<Bytes>>> read();
  // Resets the stream as ResponseStream::cancel() does: the next read() fails with CANCELLED,
  // responses not yet read are discarded.
  void cancel();
  const Metadata& trailer_metadata() const;

 private:
  friend class RpcClient;
  explicit ClientCall(std::shared_ptr<detail::ClientCallState> state);
  std::shared_ptr<detail::ClientCallState> state_;
};

// The cipher suite (IANA name) and key-exchange group (as KeyExchange's to_string names it:
// X25519, P-256, P-384) of a connection's TLS handshake.
struct TlsParameters {
  std::string cipher_suite;
  std::string key_exchange;
};

class RpcClient {
 public:
  // Connects from the calling coroutine's loop. `config`'s cert_path (or ca_path) is the
  // certificate to trust; see rpcnet/config.h. Errors: kConfig (unreadable certificate, bad
  // bind address), kConnection (refused, or no answer within connect_timeout), kTls (untrusted
  // certificate, wrong server name, ALPN refused, client certificate refused), kIo.
  static asio::awaitable<Result<RpcClient>> connect(SocketAddress server, RpcConfig config);

  // Unary call. Errors: kStatus with the handler's status (NOT_FOUND for an unknown method,
  // INTERNAL if it threw, ...), DEADLINE_EXCEEDED, CANCELLED, UNAVAILABLE (connection lost or
  // refused), a stream reset's code, and RESOURCE_EXHAUSTED locally when `request` exceeds
  // max_message_size.
  asio::awaitable<Result<Bytes>> call(std::string_view method, Bytes request,
                                      CallOptions options = {}) const;

  // Bidirectional streaming: `requests` are sent while responses arrive.
  asio::awaitable<Result<ResponseStream>> call_streaming(std::string_view method,
                                                         std::vector<Bytes> requests,
                                                         CallOptions options = {}) const;
  asio::awaitable<Result<ResponseStream>> call_streaming(std::string_view method,
                                                         RequestSource requests,
                                                         CallOptions options = {}) const;
  // Server streaming: one request, a stream of responses.
  asio::awaitable<Result<ResponseStream>> call_server_streaming(std::string_view method,
                                                                Bytes request,
                                                                CallOptions options = {}) const;
  // Client streaming: many requests, one response.
  asio::awaitable<Result<Bytes>> call_client_streaming(std::string_view method,
                                                       std::vector<Bytes> requests,
                                                       CallOptions options = {}) const;
  asio::awaitable<Result<Bytes>> call_client_streaming(std::string_view method,
                                                       RequestSource requests,
                                                       CallOptions options = {}) const;
  // A bidirectional call driven by hand (ClientCall::write / finish / read).
  asio::awaitable<Result<ClientCall>> open_call(std::string_view method,
                                                CallOptions options = {}) const;

  // The id the next call will carry (an atomic counter; useful when reading traffic dumps).
  std::uint64_t next_request_id() const noexcept;
  // False once the connection closed (idle timeout, server shutdown, close()).
  bool is_connected() const noexcept;
  // The transport connect() chose (RpcConfig::with_transport): kQuic, or kHttp2 when it fell
  // back to gRPC over TCP.
  Transport transport() const noexcept;
  // True when the connection's TLS handshake resumed an earlier session.
  bool resumed_session() const noexcept;
  // What the connection's TLS 1.3 handshake agreed on, e.g. {"TLS_AES_128_GCM_SHA256", "X25519"}
  // (RpcConfig::with_key_exchange chooses the groups offered).
  const TlsParameters& tls_parameters() const noexcept;
  // The largest UDP payload the connection sends now (RpcConfig::with_max_udp_payload): on a
  // route other than loopback it starts at 1200 and grows as path-MTU discovery confirms more.
  std::size_t max_udp_payload() const noexcept;
  const SocketAddress& remote_address() const noexcept;
  // Closes the shared connection for every copy; calls in flight fail with kConnection.
  void close();

 private:
  explicit RpcClient(std::shared_ptr<detail::ClientShared> shared);
  std::shared_ptr<detail::ClientShared> shared_;
};

}  // namespace rpcnet
