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
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "quic/endpoint_counters.h"
#include "quic/stream.h"
#include "quic/tls.h"
#include "quic/transport_settings.h"
#include "quic/udp_payload.h"
#include "rpcnet/address.h"
#include "rpcnet/log.h"
#include "rpcnet/result.h"
#include "runtime/notifier.h"
#include "runtime/timer.h"
#include "runtime/memory_network.h"
#include "runtime/udp_socket.h"
#include "transport/call_stream.h"

struct ngtcp2_conn;
struct ngtcp2_path;
struct gnutls_session_int;

namespace rpcnet::quic {

using transport::MemoryBudget;

class Connection;

// The server endpoint that owns a server-side connection: routes its connection IDs, keys its
// stateless reset tokens and learns when its handshake ends and when it is gone.
class ConnectionOwner {
 public:
  virtual ~ConnectionOwner() = default;
  // Fills `len` bytes with a fresh connection ID routed to this endpoint.
  virtual void generate_cid(std::uint8_t* out, std::size_t len) = 0;
  virtual void add_cid(const std::uint8_t* cid, std::size_t len, Connection* connection) = 0;
  virtual void remove_cid(const std::uint8_t* cid, std::size_t len) = 0;
  // Writes the stateless reset token of `cid` (NGTCP2_STATELESS_RESET_TOKENLEN bytes).
  virtual void stateless_reset_token(const std::uint8_t* cid, std::size_t len,
                                     std::uint8_t* token) = 0;
  // The handshake completed, or the connection ended before it did. Called once.
  virtual void on_handshake_ended(Connection* connection) = 0;
  // The connection has finished (closed and drained); the owner may release it.
  virtual void on_finished(Connection* connection) = 0;
  virtual EndpointCounters& counters() = 0;
};

struct ConnectionStats {
  std::uint64_t smoothed_rtt_ns = 0;
  std::uint64_t min_rtt_ns = 0;
  std::uint64_t cwnd = 0;
  std::uint64_t bytes_in_flight = 0;
  std::uint64_t packets_sent = 0;
  std::uint64_t packets_received = 0;
  std::uint64_t send_drops = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t close_packets_sent = 0;  // CONNECTION_CLOSE (re)transmissions while closing
  std::size_t memory_used = 0;           // charged to the connection's MemoryBudget
  // Client: ICMP port-unreachable reports that quoted one of our packets, and those that did
  // not (forged, or about another socket's traffic) and were ignored.
  std::uint64_t icmp_reports_counted = 0;
  std::uint64_t icmp_reports_ignored = 0;
};

class Connection final : public transport::CallConnection,
                         public transport::ClientConnection,
                         public std::enable_shared_from_this<Connection> {
 public:
  enum class Role : std::uint8_t { kClient, kServer };
  enum class State : std::uint8_t { kHandshaking, kOpen, kClosing, kDraining, kFinished };

  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const asio::any_io_executor& executor() const noexcept { return executor_; }
  // The clock this connection's timestamps and timers use (TransportSettings::clock).
  const runtime::Clock& clock() const noexcept override { return settings_.clock; }
  Role role() const noexcept { return role_; }
  State state() const noexcept { return state_; }
  bool is_open() const noexcept override { return state_ == State::kOpen; }
  // Why the connection closed (or failed to open); set once state() leaves kOpen.
  const std::optional<RpcError>& close_error() const noexcept override { return close_error_; }
  const SocketAddress& remote_address() const noexcept override { return remote_; }
  // The address this side sends from (a client's socket, the server's port).
  SocketAddress local_address() const;
  // Distinguished name of the peer's verified certificate, or "" without one (no mTLS).
  std::string peer_certificate_subject() const override;
  ConnectionStats stats() const;
  // Server: from the first Initial to the completed handshake; 0 until it completed.
  std::uint64_t handshake_duration_ns() const noexcept { return handshake_duration_ns_; }
  // True when the TLS handshake resumed an earlier session (a ticket from SessionCache).
  bool resumed() const override;
  // The cipher suite and key-exchange group the handshake agreed on (empty before it completes).
  NegotiatedTls negotiated_tls() const override;
  // The largest UDP payload this connection sends now: grows as path-MTU discovery confirms
  // larger datagrams (udp_payload.h). Readable from any thread.
  std::size_t max_udp_payload() const noexcept override {
    return path_max_udp_payload_.load(std::memory_order_relaxed);
  }

  // Opens a bidirectional stream, waiting while the peer's stream limit is reached.
  // Errors: kConnection when the connection is not open; kCancelled when cancelled.
  asio::awaitable<Result<std::shared_ptr<Stream>>> open_stream(asio::cancellation_slot cancel = {});
  // open_stream() for a caller that sees streams through the transport seam.
  asio::awaitable<Result<std::shared_ptr<transport::CallStream>>> open_call_stream(
      asio::cancellation_slot cancel) override;

  // Server: receives every stream the peer opens (called from a posted handler).
  void set_stream_acceptor(std::function<void(std::shared_ptr<Stream>)> acceptor) {
    acceptor_ = std::move(acceptor);
  }
  // Called once when the connection stops being usable (posted), with close_error().
  void set_close_handler(std::function<void(const RpcError&)> handler) override {
    close_handler_ = std::move(handler);
  }

  // Sends CONNECTION_CLOSE with an application error code and fails all streams.
  void close(std::uint64_t app_code, std::string_view reason) override;

  // What this connection's peer makes us hold (see transport/memory_budget.h). Loop-local.
  MemoryBudget& budget() noexcept override { return budget_; }
  // A stream of this connection was reset for exceeding the budget. After
  // TransportSettings::budget_resets_before_close of them the peer is abusing the limit rather
  // than tripping over it, and the connection is closed with budget_close_code.
  void note_budget_reset() override;

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
  // Client: connects through `port` (owned) on an in-memory network, as connect() does
  // through a socket: the port's datagrams are fed to the connection.
  static asio::awaitable<Result<std::shared_ptr<Connection>>> connect(
      std::unique_ptr<runtime::MemoryPort> port, const SocketAddress& remote,
      std::shared_ptr<const TlsCredentials> tls, const TransportSettings& settings);

  // ---- driver interface (quic/ only) ----

  // A client sending through `socket` (owned) — or, for in-process drivers, through `sender`
  // (not owned; it must outlive the connection), whose datagrams the driver delivers itself.
  static Result<std::shared_ptr<Connection>> make_client(
      asio::any_io_executor executor, std::unique_ptr<runtime::UdpSocket> socket,
      const SocketAddress& remote, std::shared_ptr<const TlsCredentials> tls,
      const TransportSettings& settings);
  static Result<std::shared_ptr<Connection>> make_client(
      asio::any_io_executor executor, runtime::DatagramSender* sender, const SocketAddress& remote,
      std::shared_ptr<const TlsCredentials> tls, const TransportSettings& settings);

  struct ServerAccept {
    const std::uint8_t* packet;
    std::size_t packet_len;
    const sockaddr* from;
    socklen_t from_len;
    std::uint64_t now_ns;  // when it arrived: the connection's first timestamp
    // Set when the Initial carried a valid Retry token: the address is validated, and the
    // connection must echo these in its transport parameters (RFC 9000 §7.3).
    bool address_validated = false;
    std::uint8_t original_dcid[20] = {};
    std::size_t original_dcid_len = 0;
  };
  // Creates the server side from a client's first Initial (already checked by ngtcp2_accept).
  // `sender` is the endpoint's socket; it and `owner` outlive the connection.
  static Result<std::shared_ptr<Connection>> make_server(
      asio::any_io_executor executor, runtime::DatagramSender* sender, ConnectionOwner* owner,
      const ServerAccept& first, std::shared_ptr<const TlsCredentials> tls,
      const TransportSettings& settings);

  // Feeds one datagram. Call flush_after_read() after a batch.
  void on_datagram(const runtime::ReceivedDatagram& datagram, std::uint64_t now_ns);
  // Sends what is ready, delivers accepted streams, re-arms the timer.
  void flush_after_read();
  // Client: reads its own socket until the connection finishes.
  static asio::awaitable<void> run_client_receive_loop(std::shared_ptr<Connection> self);
  // True when `quoted` (the start of a datagram an ICMP error quotes) is one of our packets to
  // the current destination connection ID.
  bool quotes_own_packet(std::span<const std::uint8_t> quoted) const;
  // The fields naming this connection in log records: conn (the client's first destination
  // connection ID, hex: the same on both sides), peer; then `more`.
  std::vector<LogField> log_fields(std::initializer_list<LogField> more = {}) const;

 private:
  friend class Stream;
  struct Callbacks;
  struct ConnRef;

  Connection(asio::any_io_executor executor, Role role, runtime::DatagramSender* sender,
             std::shared_ptr<const TlsCredentials> tls, const TransportSettings& settings);
  static Result<std::shared_ptr<Connection>> start_client(std::shared_ptr<Connection> c,
                                                          const SocketAddress& remote);

  void setup_settings(void* settings, void* params, std::uint64_t now_ns);
  // `now`, or the last timestamp given to ngtcp2 if that was later: ngtcp2 asserts that its
  // timestamps never go backwards, and a batch's arrival time can predate a flush of the same
  // connection.
  std::uint64_t timestamp(std::uint64_t now) noexcept {
    if (now > last_ts_) last_ts_ = now;
    return last_ts_;
  }
  Result<void> attach_tls();

  // Write loop. schedule_flush: something waits to be written; the flush runs from a posted
  // handler, so that writes made meanwhile share its packets (one handler is enough while one is
  // queued). post_flush: posts such a handler, which does nothing unless something was
  // scheduled before it runs.
  void schedule_flush();
  void post_flush();
  // A stream with data to send and the flow-control credit to send some of it.
  static bool sendable(const Stream* stream) { return stream->has_pending_send() && !stream->blocked_; }
  bool has_stream_data_to_send() const;
  // Writes what is ready at `at_ns` (the clock's now when absent).
  void flush(std::optional<std::uint64_t> at_ns = std::nullopt);
  bool write_packets(std::uint64_t now_ns);
  // Its steps: stream scheduling, ngtcp2's answers, GSO batching. Inline (defined in
  // connection.cc, used only there) so that splitting the hot loop costs no calls per packet.
  struct StreamWrite;
  inline void begin_trains(std::size_t max_packet);
  inline Stream* next_sendable_stream(std::size_t stalls);
  inline void offer_stream_data(StreamWrite& write, std::size_t stalls);
  inline void record_sent(const StreamWrite& write, std::ptrdiff_t datalen);
  inline bool absorb_write_error(std::ptrdiff_t error, const StreamWrite& write,
                                 std::ptrdiff_t datalen, std::size_t& stalls);
  inline void append_to_train(const ngtcp2_path& path, std::size_t size, std::size_t max_udp,
                              std::size_t& segments);
  void restart_train_with(std::size_t size, std::size_t& segments);
  void send_train();
  // Sends one datagram (or GSO train) to the connection's peer at `to` (null: the current path).
  void send_to_peer(const sockaddr* to, socklen_t to_len, const std::uint8_t* data,
                    std::size_t len, std::size_t segment);
  void update_timer();
  void on_timer();
  bool closed_by_icmp_reports(runtime::UdpSocket& socket);
  std::uint64_t quiet_deadline(std::uint64_t expiry) const;

  // Streams.
  Stream* stream_for(std::int64_t id, void* stream_user_data);
  Stream* accept_remote_stream(std::int64_t id);
  void enqueue_send(Stream* stream);
  // The reader of `stream` took `len` bytes: their credit goes back, plus any growth of the
  // stream's window (receive_window.h).
  void extend_credit(Stream& stream, std::uint64_t len);
  // A new stream's receive window, as the transport parameters granted it.
  StreamReceiveWindow new_stream_window() const noexcept {
    return StreamReceiveWindow(stream_window_initial_, stream_window_ceiling_);
  }
  void shutdown_stream(std::int64_t id, std::uint64_t code, bool read, bool write);
  void on_stream_closed(std::int64_t id, Stream* stream, std::optional<std::uint64_t> app_error_code);
  void note_remote_stream(std::int64_t id);
  void return_stream_credit_when_low();
  void end_handshake();
  void return_connection_credit(std::uint64_t len);
  // Charges received data to the budget. Spare buffers readers handed back (Stream::recycle)
  // are a cache: when the budget is short they are freed before the charge is refused.
  bool charge_received(std::size_t bytes);

  // Closing.
  void fail_handshake_or_close(int liberr);
  void enter_closed(State state, RpcError error);
  // One record per connection end, at a level by how it ended (see doc/operations.md).
  void log_closed() const;
  void finish();
  RpcError error_from_peer_close() const;
  // Writes the CONNECTION_CLOSE for `close_error` (an ngtcp2_ccerr) and sends it once.
  void write_close_packet(const void* close_error);
  // A packet arrived while closing: re-send the saved close packet, at a decaying rate (RFC 9000
  // §10.2.1) and never past 3x the bytes received from an unvalidated address.
  void answer_while_closing();
  void send_close_packet();

  asio::any_io_executor executor_;
  Role role_;
  State state_ = State::kHandshaking;
  runtime::DatagramSender* socket_;                   // the endpoint's, owned_socket_ or a test pipe
  std::unique_ptr<runtime::UdpSocket> owned_socket_;  // client only
  std::unique_ptr<runtime::MemoryPort> owned_port_;    // client on an in-memory network
  ConnectionOwner* owner_ = nullptr;                  // server only
  std::shared_ptr<const TlsCredentials> tls_;         // co-owned by every connection of the endpoint
  TransportSettings settings_;
  std::unique_ptr<ConnRef> conn_ref_;
  ngtcp2_conn* conn_ = nullptr;
  gnutls_session_int* session_ = nullptr;

  SocketAddress remote_;               // the peer's address at connect / accept (for messages)
  sockaddr_storage remote_storage_{};  // the current path's remote address (server: where to send)
  socklen_t remote_len_ = 0;
  MemoryBudget budget_;
  std::uint32_t budget_resets_ = 0;

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
  std::uint64_t created_ns_ = 0;             // server: when the first Initial arrived
  std::uint64_t handshake_duration_ns_ = 0;  // server: first Initial to handshake completion
  UdpPayloadPlan udp_payload_;  // its probes must outlive conn_ (ngtcp2 reads them in place)
  std::atomic<std::size_t> path_max_udp_payload_{kMinUdpPayload};
  bool handshake_ended_ = false;     // the owner has been told (server)
  bool address_validated_ = false;   // server: by a Retry token or the completed handshake
  bool stateless_reset_received_ = false;  // client: the server no longer knows us
  // Client: ICMP port-unreachable reports since the last datagram from the peer. One report can
  // be stale or forged; several in a row with nothing heard in between mean the peer is gone.
  int unanswered_refusals_ = 0;
  std::uint64_t icmp_reports_counted_ = 0;
  std::uint64_t icmp_reports_ignored_ = 0;
  bool handshake_confirmed_ = false;
  unsigned tls_alert_ = 0;  // the TLS alert that ended the handshake (sent or received), 0: none
  std::optional<RpcError> close_error_;
  std::vector<std::uint8_t> close_packet_;
  std::uint64_t close_deadline_ = UINT64_MAX;
  std::uint64_t packets_while_closing_ = 0;
  std::uint64_t close_packets_sent_ = 0;
  std::uint64_t bytes_sent_ = 0;
  std::uint64_t last_ts_ = 0;
  std::uint64_t bytes_received_ = 0;

  // Calls the peer may open (server): granted so far, opened (by stream ID), closed and not yet
  // granted back.
  std::uint64_t stream_credit_granted_ = 0;
  // Every stream's receive window starts at the first and may grow to the second (setup_settings).
  std::uint64_t stream_window_initial_ = 0;
  std::uint64_t stream_window_ceiling_ = 0;
  std::uint64_t remote_streams_opened_ = 0;
  std::uint64_t stream_credit_owed_ = 0;

  // Monotonic ns of our last flush that sent packets, and of the first datagram received since.
  std::uint64_t last_send_ns_ = 0;
  std::uint64_t first_receive_since_send_ns_ = UINT64_MAX;

  runtime::Timer timer_;
  std::uint64_t armed_expiry_ = UINT64_MAX;
  int flush_posts_queued_ = 0;  // post_flush() handlers not yet run
  bool flush_wanted_ = false;  // schedule_flush() was called since the last flush
  bool readers_woken_ = false;  // the read being handled delivered stream data, streams or ends
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
