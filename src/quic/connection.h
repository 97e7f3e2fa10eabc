// A QUIC connection (client or server side) driven by ngtcp2 on one event loop.
//
// The RPC layer sees only: open_stream(), the stream acceptor, close(), and why it closed.
// The rest ("driver" section) is used by the endpoint and the client connector in this folder.
// ngtcp2 and GnuTLS types stay opaque here so they never leak into upper layers.
//
// Threading: every method must be called on executor()'s thread. ngtcp2 callbacks never resume
// coroutines inline; wake-ups are posted (research/quic-ngtcp2.md §5 pitfall 5).
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "quic/stream.h"
#include "quic/tls.h"
#include "quic/transport_settings.h"
#include "rpcnet/address.h"
#include "rpcnet/result.h"
#include "runtime/notifier.h"
#include "runtime/udp_socket.h"

struct ngtcp2_conn;
struct gnutls_session_int;

namespace rpcnet::quic {

class Connection;

// Connection IDs are routed by the server endpoint that owns the connection.
class ConnectionIdRouter {
 public:
  virtual ~ConnectionIdRouter() = default;
  // Fills `len` bytes with a fresh connection ID routed to this endpoint.
  virtual void generate_cid(std::uint8_t* out, std::size_t len) = 0;
  virtual void add_cid(const std::uint8_t* cid, std::size_t len, Connection* connection) = 0;
  virtual void remove_cid(const std::uint8_t* cid, std::size_t len) = 0;
  // The connection has finished (closed and drained); the router may release it.
  virtual void on_finished(Connection* connection) = 0;
};

struct ConnectionStats {
  std::uint64_t smoothed_rtt_ns = 0;
  std::uint64_t cwnd = 0;
  std::uint64_t packets_sent = 0;
  std::uint64_t packets_received = 0;
  std::uint64_t send_drops = 0;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class Role : std::uint8_t { kClient, kServer };
  enum class State : std::uint8_t { kHandshaking, kOpen, kClosing, kDraining, kFinished };

  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const asio::any_io_executor& executor() const noexcept { return executor_; }
  Role role() const noexcept { return role_; }
  State state() const noexcept { return state_; }
  bool is_open() const noexcept { return state_ == State::kOpen; }
  // Why the connection closed (or failed to open); set once state() leaves kOpen.
  const std::optional<RpcError>& close_error() const noexcept { return close_error_; }
  const SocketAddress& remote_address() const noexcept { return remote_; }
  // Distinguished name of the peer's verified certificate, or "" without one (no mTLS).
  std::string peer_certificate_subject() const;
  ConnectionStats stats() const;
  // True when the TLS handshake resumed an earlier session (a ticket from SessionCache).
  bool resumed() const;

  // Opens a bidirectional stream, waiting while the peer's stream limit is reached.
  // Errors: kConnection when the connection is not open; kCancelled when cancelled.
  asio::awaitable<Result<std::shared_ptr<Stream>>> open_stream(asio::cancellation_slot cancel = {});

  // Server: receives every stream the peer opens (called from a posted handler).
  void set_stream_acceptor(std::function<void(std::shared_ptr<Stream>)> acceptor) {
    acceptor_ = std::move(acceptor);
  }
  // Called once when the connection stops being usable (posted), with close_error().
  void set_close_handler(std::function<void(const RpcError&)> handler) {
    close_handler_ = std::move(handler);
  }

  // Sends CONNECTION_CLOSE with an application error code and fails all streams.
  void close(std::uint64_t app_code, std::string_view reason);

  // Client: completes when the handshake succeeds (and, if the server asked for a client
  // certificate, when the server confirmed it), or fails with kTls / kConnection.
  asio::awaitable<Result<void>> wait_established();

  // Client: connects to `remote` from the calling coroutine's executor, which becomes the
  // connection's loop, and completes once the connection is established (wait_established()).
  // Errors: kConnection (refused, timed out), kTls (certificate, name, ALPN, client cert),
  // kIo (socket).
  // `local`, when given, is bound before connecting.
  static asio::awaitable<Result<std::shared_ptr<Connection>>> connect(
      const SocketAddress& remote, std::shared_ptr<const TlsCredentials> tls,
      const TransportSettings& settings, std::optional<SocketAddress> local = std::nullopt);

  // ---- driver interface (quic/ only) ----

  static Result<std::shared_ptr<Connection>> make_client(
      asio::any_io_executor executor, std::unique_ptr<runtime::UdpSocket> socket,
      const SocketAddress& remote, std::shared_ptr<const TlsCredentials> tls,
      const TransportSettings& settings);

  struct ServerAccept {
    const std::uint8_t* packet;
    std::size_t packet_len;
    const sockaddr* from;
    socklen_t from_len;
  };
  // Creates the server side from a client's first Initial (already checked by ngtcp2_accept).
  static Result<std::shared_ptr<Connection>> make_server(
      asio::any_io_executor executor, runtime::UdpSocket* socket, ConnectionIdRouter* router,
      const ServerAccept& first, std::shared_ptr<const TlsCredentials> tls,
      const TransportSettings& settings);

  // Feeds one datagram. Call flush_after_read() after a batch.
  void on_datagram(const runtime::ReceivedDatagram& datagram, std::uint64_t now_ns);
  // Sends what is ready, delivers accepted streams, re-arms the timer.
  void flush_after_read();
  // Client: reads its own socket until the connection finishes.
  static asio::awaitable<void> run_client_receive_loop(std::shared_ptr<Connection> self);

 private:
  friend class Stream;
  struct Callbacks;
  struct ConnRef;

  Connection(asio::any_io_executor executor, Role role, runtime::UdpSocket* socket,
             std::shared_ptr<const TlsCredentials> tls, const TransportSettings& settings);

  void setup_settings(void* settings, void* params, std::uint64_t now_ns) const;
  Result<void> attach_tls();

  // Write loop.
  void schedule_flush();
  void flush();
  bool write_packets(std::uint64_t now_ns);
  void send_train();
  void update_timer();
  void on_timer();

  // Streams.
  Stream* stream_for(std::int64_t id, void* stream_user_data);
  Stream* accept_remote_stream(std::int64_t id);
  void enqueue_send(Stream* stream);
  void extend_credit(std::int64_t id, std::uint64_t len);
  void shutdown_stream(std::int64_t id, std::uint64_t code, bool read, bool write);
  void on_stream_closed(std::int64_t id, Stream* stream, std::optional<std::uint64_t> app_error_code);
  void return_connection_credit(std::uint64_t len);

  // Closing.
  void fail_handshake_or_close(int liberr);
  void enter_closed(State state, RpcError error);
  void finish();
  RpcError error_from_peer_close() const;
  // Writes the CONNECTION_CLOSE for `close_error` (an ngtcp2_connection_close_error) when given,
  // then (re-)sends the saved close packet.
  void send_close_packet(const void* close_error = nullptr);

  asio::any_io_executor executor_;
  Role role_;
  State state_ = State::kHandshaking;
  runtime::UdpSocket* socket_;                        // the endpoint's, or owned_socket_
  std::unique_ptr<runtime::UdpSocket> owned_socket_;  // client only
  ConnectionIdRouter* router_ = nullptr;              // server only
  std::shared_ptr<const TlsCredentials> tls_;         // co-owned by every connection of the endpoint
  TransportSettings settings_;
  std::unique_ptr<ConnRef> conn_ref_;
  ngtcp2_conn* conn_ = nullptr;
  gnutls_session_int* session_ = nullptr;

  SocketAddress remote_;
  sockaddr_storage remote_storage_{};
  socklen_t remote_len_ = 0;

  // Co-owned with the call using each stream; ours is dropped when QUIC closes the stream.
  std::unordered_map<std::int64_t, std::shared_ptr<Stream>> streams_;
  std::vector<Stream*> send_queue_;  // round robin over streams with data to send
  std::size_t send_cursor_ = 0;
  std::vector<std::shared_ptr<Stream>> accepted_;  // remote streams not yet handed out
  std::function<void(std::shared_ptr<Stream>)> acceptor_;
  std::function<void(const RpcError&)> close_handler_;
  runtime::WaitQueue stream_credit_waiters_;
  runtime::Notifier established_waiter_;
  bool handshake_completed_ = false;
  // Client: ICMP port-unreachable reports since the last datagram from the peer. One report can
  // be stale or forged; several in a row with nothing heard in between mean the peer is gone.
  int unanswered_refusals_ = 0;
  bool handshake_confirmed_ = false;
  std::optional<RpcError> close_error_;
  std::vector<std::uint8_t> close_packet_;
  std::uint64_t close_deadline_ = UINT64_MAX;

  asio::steady_timer timer_;
  std::uint64_t armed_expiry_ = UINT64_MAX;
  bool flush_scheduled_ = false;
  bool in_flush_ = false;

  // Packet train being assembled for one GSO send.
  std::uint8_t* send_buffer_ = nullptr;  // this thread's train buffer, during write_packets only
  std::size_t train_len_ = 0;
  std::size_t train_segment_ = 0;
  bool train_closed_ = false;
  std::uint64_t packets_sent_ = 0;
  std::uint64_t packets_received_ = 0;
};

}  // namespace rpcnet::quic
