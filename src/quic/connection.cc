#include "quic/connection.h"
#include "quic/udp_payload.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include <algorithm>
#include <asio/experimental/as_tuple.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/this_coro.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <cstring>

#include "base/logging.h"
#include "quic/connection_ids.h"
#include "quic/connection_log.h"
#include "runtime/clock.h"
#include "runtime/fair_share.h"

namespace rpcnet::quic {

struct Connection::ConnRef : ngtcp2_crypto_conn_ref {};

namespace {

constexpr std::size_t kMaxVectors = 16;
constexpr std::size_t kMaxTrainSegments = 64;
constexpr std::size_t kMaxTrainBytes = 65000;
constexpr std::size_t kMaxBurstPackets = 64;

std::uint64_t to_ns(std::chrono::nanoseconds d) { return static_cast<std::uint64_t>(d.count()); }

ngtcp2_addr make_addr(const sockaddr* address, socklen_t len) {
  return ngtcp2_addr{const_cast<sockaddr*>(address), len};
}

std::string printable(const std::uint8_t* data, std::size_t len) {
  std::string out;
  for (std::size_t i = 0; i < len && i < 128; ++i) {
    const char c = static_cast<char>(data[i]);
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return out;
}

}  // namespace

// ---- ngtcp2 callbacks ---------------------------------------------------------------------------
// None of these may call back into ngtcp2 (except the extend_* / set_stream_user_data family) or
// resume a coroutine inline: they record state and post wake-ups.

struct Connection::Callbacks {
  static Connection* self(void* user_data) { return static_cast<Connection*>(user_data); }

  static ngtcp2_conn* get_conn(ngtcp2_crypto_conn_ref* ref) {
    return static_cast<Connection*>(ref->user_data)->conn_;
  }

  static void rand(std::uint8_t* dest, std::size_t len, const ngtcp2_rand_ctx*) {
    random_nonce_bytes(dest, len);
  }

  static int get_new_connection_id(ngtcp2_conn*, ngtcp2_cid* cid, std::uint8_t* token,
                                   std::size_t cidlen, void* user_data) {
    Connection* c = self(user_data);
    std::uint8_t data[NGTCP2_MAX_CIDLEN];
    if (c->owner_ != nullptr) {
      c->owner_->generate_cid(data, cidlen);
      // Keyed by the server's stable secret: a restarted server can still reset this ID.
      c->owner_->stateless_reset_token(data, cidlen, token);
    } else {
      random_nonce_bytes(data, cidlen);
      random_nonce_bytes(token, NGTCP2_STATELESS_RESET_TOKENLEN);  // clients never send resets
    }
    ngtcp2_cid_init(cid, data, cidlen);
    if (c->owner_ != nullptr) c->owner_->add_cid(data, cidlen, c);
    return 0;
  }

  static int remove_connection_id(ngtcp2_conn*, const ngtcp2_cid* cid, void* user_data) {
    Connection* c = self(user_data);
    if (c->owner_ != nullptr) c->owner_->remove_cid(cid->data, cid->datalen);
    return 0;
  }

  static int handshake_completed(ngtcp2_conn*, void* user_data) {
    Connection* c = self(user_data);
    c->handshake_completed_ = true;
    if (c->role_ == Role::kServer) {
      c->handshake_duration_ns_ = std::max<std::uint64_t>(1, c->clock().now_ns() - c->created_ns_);
      c->state_ = State::kOpen;
      c->address_validated_ = true;  // the client's Handshake packets proved its address
      c->end_handshake();
      TlsCredentials::send_session_ticket(c->session_);  // lets the client resume next time
      return 0;
    }
    // A server that asked for our certificate may still refuse it after our Finished: then wait
    // for its confirmation so the refusal surfaces from connect(), not from the first call.
    if (gnutls_certificate_client_get_request_status(c->session_) == 0) {
      c->state_ = State::kOpen;
      c->established_waiter_.notify();
    }
    return 0;
  }

  static int handshake_confirmed(ngtcp2_conn*, void* user_data) {
    Connection* c = self(user_data);
    c->handshake_confirmed_ = true;
    if (c->state_ == State::kHandshaking) {
      c->state_ = State::kOpen;
      c->established_waiter_.notify();
    }
    return 0;
  }

  static int recv_stream_data(ngtcp2_conn* conn, std::uint32_t flags, std::int64_t id,
                              std::uint64_t, const std::uint8_t* data, std::size_t len,
                              void* user_data, void* stream_user_data) {
    Connection* c = self(user_data);
    Stream* stream = c->stream_for(id, stream_user_data);
    if (stream == nullptr) {
      // Not ours to read (e.g. already abandoned): give the credit straight back.
      ngtcp2_conn_extend_max_stream_offset(conn, id, len);
      ngtcp2_conn_extend_max_offset(conn, len);
      return 0;
    }
    stream->on_data(data, len, (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0);
    c->readers_woken_ = true;
    return 0;
  }

  static int stream_open(ngtcp2_conn*, std::int64_t id, void* user_data) {
    Connection* c = self(user_data);
    if (c->role_ == Role::kServer && ngtcp2_is_bidi_stream(id)) c->stream_for(id, nullptr);
    return 0;
  }

  static int acked_stream_data_offset(ngtcp2_conn*, std::int64_t, std::uint64_t,
                                      std::uint64_t len, void*, void* stream_user_data) {
    if (stream_user_data != nullptr) static_cast<Stream*>(stream_user_data)->on_acked(len);
    return 0;
  }

  static int stream_close(ngtcp2_conn*, std::uint32_t flags, std::int64_t id,
                          std::uint64_t app_error_code, void* user_data, void* stream_user_data) {
    std::optional<std::uint64_t> code;
    if (flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET) code = app_error_code;
    self(user_data)->on_stream_closed(id, static_cast<Stream*>(stream_user_data), code);
    return 0;
  }

  static int stream_reset(ngtcp2_conn*, std::int64_t, std::uint64_t, std::uint64_t code,
                          void*, void* stream_user_data) {
    if (stream_user_data != nullptr) static_cast<Stream*>(stream_user_data)->on_peer_reset(code);
    return 0;
  }

  static int recv_stateless_reset(ngtcp2_conn*, const ngtcp2_pkt_stateless_reset*,
                                  void* user_data) {
    self(user_data)->stateless_reset_received_ = true;
    return 0;
  }

  static int extend_max_local_streams_bidi(ngtcp2_conn* conn, std::uint64_t, void* user_data) {
    Connection* c = self(user_data);
    for (std::uint64_t left = ngtcp2_conn_get_streams_bidi_left(conn); left > 0; --left) {
      if (!c->stream_credit_waiters_.notify_one()) break;
    }
    return 0;
  }

  static int extend_max_stream_data(ngtcp2_conn*, std::int64_t, std::uint64_t, void* user_data,
                                    void* stream_user_data) {
    if (stream_user_data == nullptr) return 0;
    auto* stream = static_cast<Stream*>(stream_user_data);
    stream->blocked_ = false;
    if (stream->has_pending_send()) self(user_data)->enqueue_send(stream);
    return 0;
  }

  static const ngtcp2_callbacks& table(Role role) {
    static const ngtcp2_callbacks client = make(Role::kClient);
    static const ngtcp2_callbacks server = make(Role::kServer);
    return role == Role::kClient ? client : server;
  }

  static ngtcp2_callbacks make(Role role) {
    ngtcp2_callbacks cb{};
    if (role == Role::kClient) {
      cb.client_initial = ngtcp2_crypto_client_initial_cb;
      cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
      cb.handshake_confirmed = handshake_confirmed;
      cb.recv_stateless_reset = recv_stateless_reset;
    } else {
      cb.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
    }
    cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    cb.encrypt = ngtcp2_crypto_encrypt_cb;
    cb.decrypt = ngtcp2_crypto_decrypt_cb;
    cb.hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb.update_key = ngtcp2_crypto_update_key_cb;
    cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    cb.rand = rand;
    cb.get_new_connection_id = get_new_connection_id;
    cb.remove_connection_id = remove_connection_id;
    cb.handshake_completed = handshake_completed;
    cb.recv_stream_data = recv_stream_data;
    cb.stream_open = stream_open;
    cb.acked_stream_data_offset = acked_stream_data_offset;
    cb.stream_close = stream_close;
    cb.stream_reset = stream_reset;
    cb.extend_max_local_streams_bidi = extend_max_local_streams_bidi;
    cb.extend_max_stream_data = extend_max_stream_data;
    return cb;
  }
};

// ---- construction ---------------------------------------------------------------------------------

Connection::Connection(asio::any_io_executor executor, Role role, runtime::DatagramSender* sender,
                       std::shared_ptr<const TlsCredentials> tls,
                       const TransportSettings& settings)
    : executor_(std::move(executor)),
      role_(role),
      socket_(sender),
      tls_(std::move(tls)),
      settings_(settings),
      budget_(settings.connection_memory),
      timer_(executor_, settings.clock) {}

Connection::~Connection() {
  for (auto& [id, stream] : streams_) stream->detach();
  streams_.clear();
  if (conn_ != nullptr) ngtcp2_conn_del(conn_);
  if (session_ != nullptr) gnutls_deinit(session_);
}

void Connection::setup_settings(void* settings_ptr, void* params_ptr, std::uint64_t now) {
  auto* st = static_cast<ngtcp2_settings*>(settings_ptr);
  auto* tp = static_cast<ngtcp2_transport_params*>(params_ptr);
  ngtcp2_settings_default(st);
  st->initial_ts = now;
  st->cc_algo = NGTCP2_CC_ALGO_CUBIC;
  // qlog stays off (st->qlog_write is null): CVE-2026-40170, an overflow in ngtcp2's qlog
  // writer, is fixed only in 1.22.1 (doc/architecture.md).
  st->max_window = settings_.receive_window_ceiling();
  // Stream windows are tuned by StreamReceiveWindow (by the minimum RTT; ngtcp2's tuning uses
  // the smoothed one, which a queue in our socket buffer inflates): ngtcp2's stays off.
  st->max_stream_window = 0;
  st->handshake_timeout = to_ns(settings_.handshake_timeout);
  if (RPCNET_LOG_ENABLED(kQuic, kTrace)) st->log_printf = log_ngtcp2_line;
  const auto* remote = reinterpret_cast<const sockaddr*>(&remote_storage_);
  const bool loopback = runtime::is_loopback(remote);
  const std::optional<std::size_t> mtu =
      settings_.route_mtu ? settings_.route_mtu(remote)
                          : (loopback ? std::optional<std::size_t>(65536) : std::nullopt);
  udp_payload_ = plan_udp_payload(settings_.max_udp_payload, mtu, remote->sa_family == AF_INET6, loopback);
  st->max_tx_udp_payload_size = udp_payload_.max_payload;
  st->no_tx_udp_payload_size_shaping = udp_payload_.skip_discovery ? 1 : 0;
  if (!udp_payload_.probes.empty()) {
    st->pmtud_probes = udp_payload_.probes.data();
    st->pmtud_probeslen = udp_payload_.probes.size();
  }

  ngtcp2_transport_params_default(tp);
  tp->initial_max_stream_data_bidi_local = std::min(settings_.stream_window, st->max_window);
  tp->initial_max_stream_data_bidi_remote = tp->initial_max_stream_data_bidi_local;
  stream_window_initial_ = tp->initial_max_stream_data_bidi_local;
  stream_window_ceiling_ = std::min(settings_.max_stream_window, st->max_window);
  tp->initial_max_stream_data_uni = 0;
  tp->initial_max_data = std::min(settings_.connection_window, st->max_window);
  // Only clients open streams: one call = one client-initiated bidirectional stream.
  tp->initial_max_streams_bidi = role_ == Role::kServer ? settings_.max_streams_bidi : 0;
  stream_credit_granted_ = tp->initial_max_streams_bidi;
  tp->initial_max_streams_uni = 0;
  tp->max_idle_timeout = to_ns(settings_.idle_timeout);
  tp->active_connection_id_limit = 7;
  tp->max_ack_delay = to_ns(settings_.max_ack_delay);
}

Result<void> Connection::attach_tls() {
  conn_ref_ = std::make_unique<ConnRef>();
  conn_ref_->get_conn = &Callbacks::get_conn;
  conn_ref_->user_data = this;
  auto session = tls_->new_session(conn_ref_.get());
  if (!session) return std::move(session).error();
  session_ = *session;
  ngtcp2_conn_set_tls_native_handle(conn_, session_);
  return {};
}

Result<std::shared_ptr<Connection>> Connection::make_client(
    asio::any_io_executor executor, std::unique_ptr<runtime::UdpSocket> socket,
    const SocketAddress& remote, std::shared_ptr<const TlsCredentials> tls,
    const TransportSettings& settings) {
  std::shared_ptr<Connection> c(
      new Connection(std::move(executor), Role::kClient, socket.get(), std::move(tls), settings));
  c->owned_socket_ = std::move(socket);
  return start_client(std::move(c), remote);
}

Result<std::shared_ptr<Connection>> Connection::make_client(
    asio::any_io_executor executor, runtime::DatagramSender* sender, const SocketAddress& remote,
    std::shared_ptr<const TlsCredentials> tls, const TransportSettings& settings) {
  std::shared_ptr<Connection> c(
      new Connection(std::move(executor), Role::kClient, sender, std::move(tls), settings));
  return start_client(std::move(c), remote);
}

Result<std::shared_ptr<Connection>> Connection::start_client(std::shared_ptr<Connection> c,
                                                             const SocketAddress& remote) {
  c->remote_ = remote;
  c->remote_len_ = static_cast<socklen_t>(remote.size());
  std::memcpy(&c->remote_storage_, remote.data(), remote.size());
  c->address_validated_ = true;  // only servers validate addresses

  std::uint8_t dcid_bytes[kConnectionIdLength];
  std::uint8_t scid_bytes[kConnectionIdLength];
  random_nonce_bytes(dcid_bytes, sizeof dcid_bytes);
  random_nonce_bytes(scid_bytes, sizeof scid_bytes);
  ngtcp2_cid dcid;
  ngtcp2_cid scid;
  ngtcp2_cid_init(&dcid, dcid_bytes, sizeof dcid_bytes);
  ngtcp2_cid_init(&scid, scid_bytes, sizeof scid_bytes);

  ngtcp2_path path{make_addr(c->socket_->local_sockaddr(), c->socket_->local_sockaddr_len()),
                   make_addr(reinterpret_cast<const sockaddr*>(&c->remote_storage_), c->remote_len_),
                   c->socket_};
  ngtcp2_settings st;
  ngtcp2_transport_params tp;
  c->setup_settings(&st, &tp, c->timestamp(c->settings_.clock.now_ns()));
  const int rv = ngtcp2_conn_client_new(&c->conn_, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1,
                                        &Callbacks::table(Role::kClient), &st, &tp, nullptr,
                                        c.get());
  if (rv != 0) return RpcError::connection(std::string("ngtcp2_conn_client_new: ") + ngtcp2_strerror(rv));
  if (c->settings_.keep_alive) {
    ngtcp2_conn_set_keep_alive_timeout(c->conn_, to_ns(*c->settings_.keep_alive));
  }
  if (auto r = c->attach_tls(); !r) return std::move(r).error();
  return c;
}

Result<std::shared_ptr<Connection>> Connection::make_server(
    asio::any_io_executor executor, runtime::DatagramSender* sender, ConnectionOwner* owner,
    const ServerAccept& first, std::shared_ptr<const TlsCredentials> tls,
    const TransportSettings& settings) {
  ngtcp2_pkt_hd hd;
  if (ngtcp2_accept(&hd, first.packet, first.packet_len) != 0) {
    return RpcError::connection("not an acceptable Initial packet");
  }
  std::shared_ptr<Connection> c(
      new Connection(std::move(executor), Role::kServer, sender, std::move(tls), settings));
  c->owner_ = owner;
  c->remote_len_ = first.from_len;
  std::memcpy(&c->remote_storage_, first.from, first.from_len);
  c->remote_.resize(first.from_len);
  std::memcpy(c->remote_.data(), first.from, first.from_len);
  c->address_validated_ = first.address_validated;
  c->created_ns_ = first.now_ns;

  std::uint8_t scid_bytes[kConnectionIdLength];
  owner->generate_cid(scid_bytes, sizeof scid_bytes);
  ngtcp2_cid scid;
  ngtcp2_cid_init(&scid, scid_bytes, sizeof scid_bytes);

  ngtcp2_path path{make_addr(sender->local_sockaddr(), sender->local_sockaddr_len()),
                   make_addr(reinterpret_cast<const sockaddr*>(&c->remote_storage_), c->remote_len_),
                   sender};
  ngtcp2_settings st;
  ngtcp2_transport_params tp;
  c->setup_settings(&st, &tp, c->timestamp(first.now_ns));
  if (first.address_validated) {
    // After a Retry the client's first DCID is in the token; the DCID of this Initial is the
    // Retry's source connection ID. Both go into the transport parameters (RFC 9000 §7.3).
    ngtcp2_cid_init(&tp.original_dcid, first.original_dcid, first.original_dcid_len);
    tp.retry_scid = hd.dcid;
    tp.retry_scid_present = 1;
    st.token = hd.token;
    st.tokenlen = hd.tokenlen;
    st.token_type = NGTCP2_TOKEN_TYPE_RETRY;
  } else {
    tp.original_dcid = hd.dcid;
  }
  tp.original_dcid_present = 1;
  // The reset token of the connection ID in our first packets (NEW_CONNECTION_ID carries those
  // of later ones): keyed by the server secret so a restarted server can still send it.
  owner->stateless_reset_token(scid_bytes, sizeof scid_bytes, tp.stateless_reset_token);
  tp.stateless_reset_token_present = 1;
  const int rv = ngtcp2_conn_server_new(&c->conn_, &hd.scid, &scid, &path, hd.version,
                                        &Callbacks::table(Role::kServer), &st, &tp, nullptr,
                                        c.get());
  if (rv != 0) return RpcError::connection(std::string("ngtcp2_conn_server_new: ") + ngtcp2_strerror(rv));
  if (settings.keep_alive) {
    ngtcp2_conn_set_keep_alive_timeout(c->conn_, to_ns(*settings.keep_alive));
  }
  if (auto r = c->attach_tls(); !r) return std::move(r).error();
  owner->add_cid(scid_bytes, sizeof scid_bytes, c.get());
  owner->add_cid(hd.dcid.data, hd.dcid.datalen, c.get());
  return c;
}

asio::awaitable<Result<std::shared_ptr<Connection>>> Connection::connect(
    const SocketAddress& remote, std::shared_ptr<const TlsCredentials> tls,
    const TransportSettings& settings, std::optional<SocketAddress> local) {
  auto executor = co_await asio::this_coro::executor;
  runtime::UdpSocketOptions options;
  options.icmp_reports = true;  // see run_client_receive_loop: only reports about our packets count
  auto socket = runtime::UdpSocket::connect(executor, remote, options, local);
  if (!socket) co_return std::move(socket).error();
  auto made = make_client(executor, std::move(*socket), remote, std::move(tls), settings);
  if (!made) co_return std::move(made).error();
  std::shared_ptr<Connection> connection = std::move(*made);
  asio::co_spawn(executor, run_client_receive_loop(connection), asio::detached);
  connection->flush();  // the first flight: Initial with the ClientHello
  auto established = co_await connection->wait_established();
  if (!established) co_return std::move(established).error();
  co_return connection;
}

asio::awaitable<Result<std::shared_ptr<Connection>>> Connection::connect(
    std::unique_ptr<runtime::MemoryPort> port, const SocketAddress& remote,
    std::shared_ptr<const TlsCredentials> tls, const TransportSettings& settings) {
  auto executor = co_await asio::this_coro::executor;
  runtime::MemoryPort* raw = port.get();
  raw->connect(remote);
  auto made = make_client(executor, raw, remote, std::move(tls), settings);
  if (!made) co_return std::move(made).error();
  std::shared_ptr<Connection> connection = std::move(*made);
  connection->owned_port_ = std::move(port);
  raw->set_receiver([weak = std::weak_ptr<Connection>(connection)](const runtime::ReceivedDatagram& datagram) {
    auto self = weak.lock();
    if (!self || self->state_ == State::kFinished) return;
    self->on_datagram(datagram, self->clock().now_ns());
    self->flush_after_read();
  });
  connection->flush();  // the first flight: Initial with the ClientHello
  auto established = co_await connection->wait_established();
  if (!established) co_return std::move(established).error();
  co_return connection;
}

// ---- public API -----------------------------------------------------------------------------------

SocketAddress Connection::local_address() const {
  SocketAddress out;
  out.resize(socket_->local_sockaddr_len());
  std::memcpy(out.data(), socket_->local_sockaddr(), socket_->local_sockaddr_len());
  return out;
}

bool Connection::quotes_own_packet(std::span<const std::uint8_t> quoted) const {
  if (conn_ == nullptr || quoted.empty()) return false;  // ngtcp2 asserts on empty input
  const ngtcp2_cid* dcid = ngtcp2_conn_get_dcid(conn_);
  ngtcp2_version_cid vc;
  if (ngtcp2_pkt_decode_version_cid(&vc, quoted.data(), quoted.size(), dcid->datalen) != 0) {
    return false;
  }
  return vc.dcidlen == dcid->datalen && std::memcmp(vc.dcid, dcid->data, dcid->datalen) == 0;
}

asio::awaitable<Result<std::shared_ptr<transport::CallStream>>> Connection::open_call_stream(
    asio::cancellation_slot cancel) {
  auto opened = co_await open_stream(cancel);
  if (!opened) co_return std::move(opened).error();
  co_return std::shared_ptr<transport::CallStream>(std::move(*opened));
}

NegotiatedTls Connection::negotiated_tls() const {
  if (session_ == nullptr || !handshake_completed_) return {};
  return TlsCredentials::negotiated(session_);
}

bool Connection::resumed() const {
  return session_ != nullptr && TlsCredentials::resumed(session_);
}

std::string Connection::peer_certificate_subject() const {
  return session_ == nullptr ? std::string() : TlsCredentials::peer_certificate_subject(session_);
}

ConnectionStats Connection::stats() const {
  ConnectionStats out;
  out.packets_sent = packets_sent_;
  out.packets_received = packets_received_;
  out.send_drops = socket_ != nullptr ? socket_->send_drops() : 0;
  out.bytes_sent = bytes_sent_;
  out.bytes_received = bytes_received_;
  out.close_packets_sent = close_packets_sent_;
  out.memory_used = budget_.used();
  out.icmp_reports_counted = icmp_reports_counted_;
  out.icmp_reports_ignored = icmp_reports_ignored_;
  if (conn_ != nullptr) {
    ngtcp2_conn_info info;
    ngtcp2_conn_get_conn_info(conn_, &info);
    out.smoothed_rtt_ns = info.smoothed_rtt;
    out.min_rtt_ns = info.min_rtt;
    out.cwnd = info.cwnd;
    out.bytes_in_flight = info.bytes_in_flight;
  }
  return out;
}

asio::awaitable<Result<void>> Connection::wait_established() {
  auto self = shared_from_this();
  while (state_ == State::kHandshaking) {
    const auto reason = co_await established_waiter_.async_wait(asio::use_awaitable);
    if (reason == runtime::WakeReason::kCancelled && state_ == State::kHandshaking) {
      close(0, "connect cancelled");
      co_return RpcError::cancelled("connect cancelled");
    }
  }
  if (state_ == State::kOpen) co_return ok();
  co_return close_error_.value_or(RpcError::connection("connection failed"));
}

asio::awaitable<Result<std::shared_ptr<Stream>>> Connection::open_stream(
    asio::cancellation_slot cancel) {
  auto self = shared_from_this();
  for (;;) {
    if (state_ != State::kOpen) {
      co_return close_error_.value_or(RpcError::connection("connection is not open"));
    }
    auto stream = std::make_shared<Stream>(this, -1);
    stream->rx_window_ = new_stream_window();
    std::int64_t id = -1;
    const int rv = ngtcp2_conn_open_bidi_stream(conn_, &id, stream.get());
    if (rv == 0) {
      stream->id_ = id;
      streams_.emplace(id, stream);
      co_return stream;
    }
    if (rv != NGTCP2_ERR_STREAM_ID_BLOCKED) {
      co_return RpcError::connection(std::string("cannot open a stream: ") + ngtcp2_strerror(rv));
    }
    // The server's concurrent-stream limit is reached: wait for it to grant more.
    const auto reason = co_await runtime::wait_with(stream_credit_waiters_, cancel);
    if (reason == runtime::WakeReason::kCancelled && state_ == State::kOpen) {
      co_return RpcError::cancelled("cancelled while waiting for a stream");
    }
  }
}

void Connection::close(std::uint64_t app_code, std::string_view reason) {
  if (state_ == State::kClosing || state_ == State::kDraining || state_ == State::kFinished) return;
  // Send what is already queued (stream resets, final data) before the CONNECTION_CLOSE.
  flush();
  if (state_ != State::kOpen && state_ != State::kHandshaking) return;
  ngtcp2_ccerr ccerr;
  ngtcp2_ccerr_default(&ccerr);
  ngtcp2_ccerr_set_application_error(
      &ccerr, app_code, reinterpret_cast<const std::uint8_t*>(reason.data()), reason.size());
  write_close_packet(&ccerr);
  enter_closed(State::kClosing,
               RpcError::connection("connection closed locally" +
                                    (reason.empty() ? std::string() : ": " + std::string(reason))));
}

void Connection::note_budget_reset() {
  if (owner_ != nullptr) owner_->counters().memory_budget_resets.fetch_add(1, std::memory_order_relaxed);
  if (++budget_resets_ < settings_.budget_resets_before_close) return;
  close(settings_.budget_close_code, "memory budget exceeded " + std::to_string(budget_resets_) + " times");
}

// ---- reading --------------------------------------------------------------------------------------

void Connection::on_datagram(const runtime::ReceivedDatagram& datagram, std::uint64_t now) {
  if (datagram.data.empty()) return;  // ngtcp2 asserts on an empty packet
  bytes_received_ += datagram.data.size();
  if (first_receive_since_send_ns_ == UINT64_MAX) first_receive_since_send_ns_ = now;
  switch (state_) {
    case State::kFinished:
    case State::kDraining:
      return;
    case State::kClosing:
      answer_while_closing();  // the peer has not seen our close yet
      return;
    case State::kHandshaking:
    case State::kOpen:
      break;
  }
  ++packets_received_;
  ngtcp2_path path{make_addr(socket_->local_sockaddr(), socket_->local_sockaddr_len()),
                   make_addr(datagram.from, datagram.from_len), socket_};
  ngtcp2_pkt_info pi{};
  const int rv =
      ngtcp2_conn_read_pkt(conn_, &path, &pi, datagram.data.data(), datagram.data.size(),
                           timestamp(now));
  if (rv == 0) return;
  if (rv == NGTCP2_ERR_DRAINING) {
    enter_closed(State::kDraining,
                 stateless_reset_received_
                     ? RpcError::connection("connection reset by " + to_string(remote_) +
                                            ": the server no longer knows it (stateless reset; "
                                            "it restarted or dropped the connection)")
                     : error_from_peer_close());
    return;
  }
  if (rv == NGTCP2_ERR_DROP_CONN) {
    enter_closed(State::kDraining, RpcError::connection("connection dropped"));
    finish();
    return;
  }
  fail_handshake_or_close(rv);
}

void Connection::flush_after_read() {
  if (state_ == State::kFinished) return;
  if (!accepted_.empty()) {
    auto accepted = std::move(accepted_);
    accepted_.clear();
    for (auto& stream : accepted) {
      if (acceptor_) {
        acceptor_(std::move(stream));
      } else {
        stream->reset(0);
      }
    }
  }
  // With no stream data of ours waiting, write at the time the batch was read (the last
  // timestamp ngtcp2 saw) rather than now.
  // What the read made ngtcp2 owe the peer (window updates, immediate ACKs) goes out either way,
  // but an ordinary ACK is due only once ngtcp2's ACK delay (an eighth of the RTT: a few µs on
  // a LAN) has passed, and reading a reply can take that long: a slowed client then sent an ACK
  // of its own after every reply, just before the next request that would have carried it, and
  // the server woke for it. With stream data waiting, now: pacing and RTT samples want it.
  flush(has_stream_data_to_send() ? std::nullopt : std::optional<std::uint64_t>(last_ts_));
  // The coroutines this read woke are posted; a flush posted now runs right after them, so
  // what they write (the caller's next request, the handler's reply) goes out in the same turn
  // of the loop. Posted by the first of them instead, it would run a turn later, after one more
  // poll of the reactor: a system call per call on each side. It does nothing if none writes.
  // Posted even when a flush is queued already: that one may run before the wake-ups.
  if (std::exchange(readers_woken_, false)) post_flush();
}

// Finished streams leave the send queue lazily (next_sendable_stream): the queue being
// non-empty does not mean anything waits.
bool Connection::has_stream_data_to_send() const {
  return std::any_of(send_queue_.begin(), send_queue_.end(), &Connection::sendable);
}

asio::awaitable<void> Connection::run_client_receive_loop(std::shared_ptr<Connection> self) {
  runtime::UdpSocket* socket = self->owned_socket_.get();
  int wakes_without_check = 0;
  bool more_ready = false;
  while (self->state_ != State::kFinished) {
    if (more_ready) {
      // The last turn left datagrams queued: read them after the loop's other work, without
      // waiting for a new arrival (the wait is edge-triggered; see receive_ready).
      co_await runtime::yield_to_loop();
      if (self->state_ == State::kFinished) break;
    } else {
      auto [error] = co_await socket->async_wait_readable(asio::experimental::as_tuple(asio::use_awaitable));
      if (error || self->state_ == State::kFinished) break;
    }
    const std::uint64_t now = self->clock().now_ns();
    // One recvmmsg of at most about kReceiveTurnBytes per turn of the loop: a client receiving
    // a bulk stream would otherwise take up to 4 MiB per turn (GRO) while its timers and other
    // calls wait; the small calls of the bench's open-loop mixed scenario went out up to 64 ms
    // late (p99) with four batches a turn, and up to 7 ms with one batch of 16 GRO slots (1 MiB).
    constexpr int kBatchesPerTurn = 1;
    const auto received = socket->receive_ready(
        [&](const runtime::ReceivedDatagram& datagram) { self->on_datagram(datagram, now); },
        kBatchesPerTurn, runtime::kReceiveTurnBytes);
    more_ready = received.more_ready;
    if (received.delivered > 0) self->unanswered_refusals_ = 0;
    // The kernel reports an ICMP error to the next receive as well as queueing it, so the error
    // queue (one more system call) is read only after a receive failed with an error, and every
    // kWakesPerErrorQueueCheck wake-ups in case a report arrived while datagrams kept the error
    // from reaching a receive (a queued report keeps the socket signalling: no wake-up is lost).
    constexpr int kWakesPerErrorQueueCheck = 64;
    const bool receive_failed = socket->take_error() != 0;
    if (receive_failed || ++wakes_without_check >= kWakesPerErrorQueueCheck) {
      wakes_without_check = 0;
      if (self->closed_by_icmp_reports(*socket)) break;
    }
    self->flush_after_read();
  }
}

// Reads the socket's ICMP reports; true when they closed the connection. Anyone who knows our
// address and port can send an ICMP port unreachable; only the server and the path between see
// the connection ID it must quote, so forgeries are counted and ignored. During the handshake
// the first refusal ends it; afterwards a process that died (its port closed) answers each of
// our retransmissions with a refusal, so a few in a row close the connection at once instead of
// after the idle timeout: its calls fail over promptly. (A server restarted on the same port
// answers with a stateless reset instead.)
bool Connection::closed_by_icmp_reports(runtime::UdpSocket& socket) {
  int refusals = 0;
  socket.drain_icmp_reports([&](const runtime::IcmpReport& report) {
    if (report.error == ECONNREFUSED && quotes_own_packet(report.quoted)) {
      ++refusals;
      ++icmp_reports_counted_;
    } else {
      ++icmp_reports_ignored_;
    }
  });
  unanswered_refusals_ += refusals;
  constexpr int kRefusalsWhenOpen = 3;
  if (refusals == 0 || (state_ != State::kHandshaking && unanswered_refusals_ < kRefusalsWhenOpen)) {
    return false;
  }
  enter_closed(State::kDraining, RpcError::connection("connection refused by " + to_string(remote_)));
  finish();
  return true;
}

// ---- streams --------------------------------------------------------------------------------------

Stream* Connection::stream_for(std::int64_t id, void* stream_user_data) {
  if (stream_user_data != nullptr) return static_cast<Stream*>(stream_user_data);
  if (role_ != Role::kServer || !ngtcp2_is_bidi_stream(id) || ngtcp2_conn_is_local_stream(conn_, id)) {
    return nullptr;
  }
  if (auto it = streams_.find(id); it != streams_.end()) return it->second.get();
  return accept_remote_stream(id);
}

// Credit for closed calls goes back in one MAX_STREAMS frame once the peer has used half of what
// it was granted (as QUIC stacks commonly do), not one frame per call: returned at every close,
// the frame went out as a packet of its own whenever the call's last ACK arrived alone, the
// peer acknowledged that packet and the response together at once (two ack-eliciting packets),
// and from then on every sequential call cost four packets instead of two. The peer can always
// open at least half of max_streams_bidi more calls; when it runs lower, all owed credit
// goes back at once.
void Connection::note_remote_stream(std::int64_t id) {
  remote_streams_opened_ = std::max(remote_streams_opened_, static_cast<std::uint64_t>(id) / 4 + 1);
}

void Connection::return_stream_credit_when_low() {
  if (stream_credit_owed_ == 0) return;
  const std::uint64_t left = stream_credit_granted_ - std::min(stream_credit_granted_, remote_streams_opened_);
  if (left >= (settings_.max_streams_bidi + 1) / 2) return;
  ngtcp2_conn_extend_max_streams_bidi(conn_, stream_credit_owed_);
  stream_credit_granted_ += stream_credit_owed_;
  stream_credit_owed_ = 0;
}

Stream* Connection::accept_remote_stream(std::int64_t id) {
  note_remote_stream(id);
  return_stream_credit_when_low();
  auto stream = std::make_shared<Stream>(this, id);
  stream->rx_window_ = new_stream_window();
  ngtcp2_conn_set_stream_user_data(conn_, id, stream.get());
  Stream* raw = stream.get();
  streams_.emplace(id, stream);
  accepted_.push_back(std::move(stream));
  readers_woken_ = true;
  return raw;
}

void Connection::enqueue_send(Stream* stream) {
  if (!stream->in_send_queue_ && !stream->blocked_) {
    stream->in_send_queue_ = true;
    send_queue_.push_back(stream);
  }
  schedule_flush();
}

void Connection::extend_credit(Stream& stream, std::uint64_t len) {
  if (conn_ == nullptr || state_ != State::kOpen || len == 0) return;
  ngtcp2_conn_info info;
  ngtcp2_conn_get_conn_info(conn_, &info);
  const std::uint64_t grant = stream.rx_window_.on_consumed(len, clock().now_ns(), info.min_rtt);
  ngtcp2_conn_extend_max_stream_offset(conn_, stream.id_, grant);
  ngtcp2_conn_extend_max_offset(conn_, len);
  schedule_flush();
}

bool Connection::charge_received(std::size_t bytes) {
  if (budget_.try_charge(bytes)) return true;
  for (auto& [id, stream] : streams_) stream->drop_spares();
  return budget_.try_charge(bytes);
}

void Connection::return_connection_credit(std::uint64_t len) {
  if (conn_ == nullptr || state_ != State::kOpen || len == 0) return;
  ngtcp2_conn_extend_max_offset(conn_, len);
  schedule_flush();
}

void Connection::shutdown_stream(std::int64_t id, std::uint64_t code, bool read, bool write) {
  if (conn_ == nullptr || state_ != State::kOpen) return;
  if (read && write) {
    ngtcp2_conn_shutdown_stream(conn_, 0, id, code);
  } else if (read) {
    ngtcp2_conn_shutdown_stream_read(conn_, 0, id, code);
  } else if (write) {
    ngtcp2_conn_shutdown_stream_write(conn_, 0, id, code);
  }
  schedule_flush();
}

void Connection::on_stream_closed(std::int64_t id, Stream* stream,
                                  std::optional<std::uint64_t> app_error_code) {
  if (role_ == Role::kServer && ngtcp2_is_bidi_stream(id) && !ngtcp2_conn_is_local_stream(conn_, id)) {
    // Stream credit is ours to return: the peer may open one more call.
    note_remote_stream(id);
    ++stream_credit_owed_;
    return_stream_credit_when_low();
  }
  if (stream == nullptr) return;
  readers_woken_ = true;
  if (stream->in_send_queue_) {
    auto it = std::find(send_queue_.begin(), send_queue_.end(), stream);
    if (it != send_queue_.end()) {
      *it = send_queue_.back();
      send_queue_.pop_back();
    }
    stream->in_send_queue_ = false;
  }
  stream->on_closed(app_error_code);  // unread data stays readable; credit returns as it is read
  // Nothing up this callback's stack touches the stream again, so dropping our reference here
  // is safe even when it is the last one.
  streams_.erase(id);
}

// ---- writing --------------------------------------------------------------------------------------

void Connection::schedule_flush() {
  flush_wanted_ = true;
  if (flush_posts_queued_ == 0) post_flush();
}

void Connection::post_flush() {
  if (state_ != State::kOpen && state_ != State::kHandshaking) return;
  ++flush_posts_queued_;
  asio::post(executor_, [self = shared_from_this()] {
    --self->flush_posts_queued_;
    // A flush after a read may already have sent what this one was posted for. Flushing again
    // would send an ACK of its own as soon as ngtcp2's ACK delay (an eighth of the RTT) has
    // passed, where the next packet with data would have carried it.
    if (self->flush_wanted_) self->flush();
  });
}

void Connection::flush(std::optional<std::uint64_t> at_ns) {
  if (in_flush_ || (state_ != State::kOpen && state_ != State::kHandshaking)) return;
  in_flush_ = true;
  flush_wanted_ = false;
  const std::uint64_t now = at_ns ? *at_ns : settings_.clock.now_ns();
  const std::uint64_t packets_before = packets_sent_;
  const bool more = write_packets(timestamp(now));
  if (packets_sent_ != packets_before) {
    last_send_ns_ = now;
    first_receive_since_send_ns_ = UINT64_MAX;
  }
  in_flush_ = false;
  if (more) schedule_flush();  // burst limit reached: let incoming ACKs in before continuing
  update_timer();
}

void Connection::send_to_peer(const sockaddr* to, socklen_t to_len, const std::uint8_t* data,
                              std::size_t len, std::size_t segment) {
  bytes_sent_ += len;
  if (role_ == Role::kClient) {
    socket_->send(nullptr, 0, data, len, segment);  // a connected socket
    return;
  }
  if (to == nullptr) {
    to = reinterpret_cast<const sockaddr*>(&remote_storage_);
    to_len = remote_len_;
  }
  socket_->send(to, to_len, data, len, segment);
}

void Connection::send_train() {
  if (train_len_ == 0) return;
  send_to_peer(nullptr, 0, send_buffer_, train_len_, train_segment_);
  train_len_ = 0;
  train_segment_ = 0;
}

// What one ngtcp2_conn_writev_stream call offers from a stream (none: control frames only).
struct Connection::StreamWrite {
  Stream* stream = nullptr;
  ngtcp2_vec vecs[kMaxVectors];
  std::size_t nvecs = 0;
  std::size_t total = 0;
  std::int64_t stream_id = -1;
  std::uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
  bool fin = false;
};

// Writes packets until ngtcp2 has nothing more to send now (false) or the burst allowed by the
// send quantum is used up (true: the caller yields to incoming ACKs before continuing).
bool Connection::write_packets(std::uint64_t now) {
  // Packets are at most max_udp, the size path-MTU discovery has confirmed (trains are cut to
  // it), except discovery's own probes, which are larger: the buffer offered to ngtcp2 has room
  // for the largest size it may probe.
  const std::size_t max_udp = ngtcp2_conn_get_path_max_tx_udp_payload_size(conn_);
  const std::size_t max_packet = std::max(max_udp, ngtcp2_conn_get_max_tx_udp_payload_size(conn_));
  path_max_udp_payload_.store(max_udp, std::memory_order_relaxed);
  const std::size_t quantum = ngtcp2_conn_get_send_quantum(conn_);
  const std::size_t burst =
      std::clamp<std::size_t>(quantum / std::max<std::size_t>(max_udp, 1), 1, kMaxBurstPackets);
  begin_trains(max_packet);

  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi;
  std::size_t packets = 0;
  std::size_t stalls = 0;  // WRITE_MORE answers that took no stream bytes
  std::size_t segments = 0;

  for (;;) {
    StreamWrite write;
    write.stream = next_sendable_stream(stalls);
    offer_stream_data(write, stalls);

    std::uint8_t* dest = send_buffer_ + train_len_;
    ngtcp2_ssize datalen = -1;
    const ngtcp2_ssize n =
        ngtcp2_conn_writev_stream(conn_, &ps.path, &pi, dest, max_packet, &datalen, write.flags,
                                  write.stream_id, write.vecs, write.nvecs, now);
    if (n < 0) {
      if (!absorb_write_error(n, write, datalen, stalls)) return false;
      continue;
    }
    if (write.stream != nullptr && datalen >= 0) record_sent(write, datalen);
    stalls = 0;
    if (n == 0) break;  // congestion, pacing or flow control: nothing more for now

    ++packets_sent_;
    append_to_train(ps.path, static_cast<std::size_t>(n), max_udp, segments);
    if (++packets >= burst) {
      send_train();
      return true;
    }
  }
  send_train();
  ngtcp2_conn_update_pkt_tx_time(conn_, now);
  return false;
}

void Connection::begin_trains(std::size_t max_packet) {
  // One packet-train buffer per thread, shared by all of its connections: a flush never
  // suspends, so they cannot overlap, and idle connections then cost no send buffer at all.
  thread_local std::vector<std::uint8_t> thread_send_buffer;
  if (thread_send_buffer.size() < kMaxTrainBytes + max_packet) {
    thread_send_buffer.resize(kMaxTrainBytes + max_packet);
  }
  send_buffer_ = thread_send_buffer.data();
  train_len_ = 0;
  train_segment_ = 0;
}

// Round robin over the send queue; drops the streams that have nothing to send or are blocked
// by flow control (they are queued again when that changes). After as many stalls as queued
// streams, none can make progress in this packet.
Stream* Connection::next_sendable_stream(std::size_t stalls) {
  while (!send_queue_.empty() && stalls <= send_queue_.size()) {
    if (send_cursor_ >= send_queue_.size()) send_cursor_ = 0;
    Stream* candidate = send_queue_[send_cursor_];
    if (sendable(candidate)) return candidate;
    candidate->in_send_queue_ = false;
    send_queue_[send_cursor_] = send_queue_.back();
    send_queue_.pop_back();
  }
  return nullptr;
}

void Connection::offer_stream_data(StreamWrite& write, std::size_t stalls) {
  if (write.stream != nullptr) {
    Stream& stream = *write.stream;
    write.nvecs = stream.unsent_vectors(write.vecs, kMaxVectors, write.total);
    write.stream_id = stream.id_;
    write.fin = stream.tx_fin_queued_ && write.total == stream.tx_unsent_bytes_;
    if (write.fin) write.flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
  }
  // Every stream stalled: write the packet with what it holds rather than ask for more.
  if (write.stream == nullptr && stalls > 0) write.flags = NGTCP2_WRITE_STREAM_FLAG_NONE;
}

void Connection::record_sent(const StreamWrite& write, std::ptrdiff_t datalen) {
  const auto taken = static_cast<std::size_t>(datalen);
  write.stream->consume_sent(taken, write.fin && taken == write.total);
  ++send_cursor_;  // round robin: the next stream fills the rest of the packet (or the next one)
}

// A negative ngtcp2_conn_writev_stream result: the stream-level ones let the loop go on (true);
// anything else is fatal to the connection (false, after sending the train written so far).
bool Connection::absorb_write_error(std::ptrdiff_t error, const StreamWrite& write,
                                    std::ptrdiff_t datalen, std::size_t& stalls) {
  switch (error) {
    case NGTCP2_ERR_STREAM_DATA_BLOCKED:
      if (write.stream != nullptr) write.stream->blocked_ = true;
      return true;  // dropped from the queue by the next scan
    case NGTCP2_ERR_STREAM_SHUT_WR:
    case NGTCP2_ERR_STREAM_NOT_FOUND:
      if (write.stream != nullptr) write.stream->on_write_shut();
      return true;
    case NGTCP2_ERR_WRITE_MORE:
      if (write.stream == nullptr) return true;
      record_sent(write, datalen);
      if (datalen == 0 && !(write.fin && write.total == 0)) ++stalls;
      return true;
    default:
      send_train();
      fail_handshake_or_close(static_cast<int>(error));
      return false;
  }
}

// Adds the packet just written at send_buffer_ + train_len_ to the GSO train, sending the train
// first when the packet cannot join it and afterwards when the packet ends it.
void Connection::append_to_train(const ngtcp2_path& path, std::size_t size, std::size_t max_udp,
                                 std::size_t& segments) {
  if (role_ == Role::kServer &&
      (path.remote.addrlen != remote_len_ ||
       std::memcmp(path.remote.addr, &remote_storage_, remote_len_) != 0)) {
    // ngtcp2 moved the connection to another path (the client's address changed, e.g. a NAT
    // rebinding, or a path probe): send there from now on, ending the train for the old one.
    restart_train_with(size, segments);
    remote_len_ = static_cast<socklen_t>(path.remote.addrlen);
    std::memcpy(&remote_storage_, path.remote.addr, remote_len_);
  }
  // Larger than the train's segment size: send the train, start a new one with this packet.
  if (train_segment_ != 0 && size > train_segment_) restart_train_with(size, segments);
  if (train_segment_ == 0) train_segment_ = size;
  train_len_ += size;
  ++segments;
  if (size < train_segment_ || segments >= kMaxTrainSegments ||
      train_len_ + max_udp > kMaxTrainBytes) {
    send_train();  // a short packet ends a GSO train
    segments = 0;
  }
}

// Sends the train so far and moves the packet of `size` bytes written after it to the front.
void Connection::restart_train_with(std::size_t size, std::size_t& segments) {
  const std::size_t start = train_len_;
  send_train();
  if (start != 0) std::memmove(send_buffer_, send_buffer_ + start, size);
  segments = 0;
}

// ---- timers -------------------------------------------------------------------------------------

void Connection::update_timer() {
  if (state_ == State::kFinished) return;
  std::uint64_t expiry = ngtcp2_conn_get_expiry(conn_);
  if (state_ == State::kClosing || state_ == State::kDraining) {
    expiry = close_deadline_;
  }
  if (expiry == UINT64_MAX) return;
  expiry = quiet_deadline(expiry);
  // Re-arming an Asio timer is costly: only move it earlier; a late deadline is picked up when
  // the earlier one fires.
  if (armed_expiry_ != UINT64_MAX && expiry >= armed_expiry_) return;
  armed_expiry_ = expiry;
  timer_.expires_at(runtime::from_monotonic_ns(expiry));
  timer_.async_wait([self = shared_from_this()](const asio::error_code& error) {
    if (!error) self->on_timer();
  });
}

// Nothing of ours waits to be sent: a deadline close to the last packet sent or received is
// then nearly always ngtcp2's ACK delay (an eighth of the RTT: microseconds on a LAN) or the
// pacing slot after our last packet. Arming for it cost two timer updates and a wake-up on each
// side of every call, and sent an ACK of its own that the next packet would have carried. Such
// deadlines wait until half the max_ack_delay we advertise has passed since the first packet
// received after our last send (RFC 9000 lets an ACK wait all of it), or since that send when
// nothing came. Only deadlines at or after that moment are moved, so each is moved at most once
// and by at most that much, however often a peer makes us send (a loss timer included); stream
// data waiting for its pacing slot keeps the exact deadline. Returns `expiry`, moved or not.
std::uint64_t Connection::quiet_deadline(std::uint64_t expiry) const {
  if (state_ != State::kOpen || !send_queue_.empty()) return expiry;
  const std::uint64_t anchor =
      first_receive_since_send_ns_ != UINT64_MAX ? first_receive_since_send_ns_ : last_send_ns_;
  if (expiry < anchor) return expiry;
  return std::max(expiry, anchor + to_ns(settings_.max_ack_delay) / 2);
}

void Connection::on_timer() {
  armed_expiry_ = UINT64_MAX;
  const std::uint64_t now = settings_.clock.now_ns();
  // Armed earlier than the quiet deadline (timers only move earlier): not due yet.
  if (state_ == State::kOpen && now < quiet_deadline(ngtcp2_conn_get_expiry(conn_))) {
    update_timer();
    return;
  }
  switch (state_) {
    case State::kFinished:
      return;
    case State::kClosing:
    case State::kDraining:
      if (now >= close_deadline_) {
        finish();
      } else {
        update_timer();
      }
      return;
    case State::kHandshaking:
    case State::kOpen:
      break;
  }
  const int rv = ngtcp2_conn_handle_expiry(conn_, timestamp(now));
  if (rv == NGTCP2_ERR_IDLE_CLOSE) {
    enter_closed(State::kDraining,
                 handshake_completed_
                     ? RpcError::connection("connection closed after the idle timeout")
                     : RpcError::connection("connect to " + to_string(remote_) + " timed out"));
    finish();
    return;
  }
  if (rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
    enter_closed(State::kDraining,
                 RpcError::connection("connect to " + to_string(remote_) + " timed out"));
    finish();
    return;
  }
  if (rv != 0) {
    fail_handshake_or_close(rv);
    return;
  }
  flush();
}

// ---- closing ------------------------------------------------------------------------------------

RpcError Connection::error_from_peer_close() const {
  const ngtcp2_ccerr& ccerr = *ngtcp2_conn_get_ccerr(conn_);
  const std::string reason = printable(ccerr.reason, ccerr.reasonlen);
  const std::string suffix = reason.empty() ? "" : ": " + reason;
  if (ccerr.type == NGTCP2_CCERR_TYPE_APPLICATION) {
    if (ccerr.error_code == 0) return RpcError::connection("connection closed by peer" + suffix);
    return RpcError::connection("connection closed by peer with code " +
                                std::to_string(ccerr.error_code) + suffix);
  }
  if ((ccerr.error_code & ~std::uint64_t{0xff}) == NGTCP2_CRYPTO_ERROR) {
    const auto alert = static_cast<unsigned>(ccerr.error_code & 0xff);
    const char* name = gnutls_alert_get_name(static_cast<gnutls_alert_description_t>(alert));
    return RpcError::tls(std::string("peer refused the TLS handshake: ") +
                         (name ? name : "alert " + std::to_string(alert)) + suffix);
  }
  if (ccerr.error_code == NGTCP2_CONNECTION_REFUSED) {
    return RpcError::connection("server " + to_string(remote_) + " refused the connection" + suffix);
  }
  if (ccerr.error_code == NGTCP2_NO_ERROR) {
    return RpcError::connection("connection closed by peer" + suffix);
  }
  return RpcError::connection("connection closed by peer with transport error " +
                              std::to_string(ccerr.error_code) + suffix);
}

void Connection::fail_handshake_or_close(int liberr) {
  if (state_ == State::kClosing || state_ == State::kDraining || state_ == State::kFinished) return;
  ngtcp2_ccerr ccerr;
  ngtcp2_ccerr_default(&ccerr);
  RpcError error = RpcError::connection(std::string("transport error: ") + ngtcp2_strerror(liberr));
  if (liberr == NGTCP2_ERR_CRYPTO) {
    const auto alert = ngtcp2_conn_get_tls_alert(conn_);
    ngtcp2_ccerr_set_tls_alert(&ccerr, alert, nullptr, 0);
    tls_alert_ = alert;
    error = RpcError::tls(tls_->describe_handshake_failure(session_, alert));
  } else {
    ngtcp2_ccerr_set_liberr(&ccerr, liberr, nullptr, 0);
  }
  write_close_packet(&ccerr);
  enter_closed(State::kClosing, std::move(error));
}

void Connection::write_close_packet(const void* close_error) {
  // Written once and kept: answer_while_closing re-sends the same bytes (RFC 9000 §10.2.1).
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi;
  close_packet_.resize(NGTCP2_MAX_UDP_PAYLOAD_SIZE);
  const auto n = ngtcp2_conn_write_connection_close(
      conn_, &ps.path, &pi, close_packet_.data(), close_packet_.size(),
      static_cast<const ngtcp2_ccerr*>(close_error), timestamp(settings_.clock.now_ns()));
  close_packet_.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  // ngtcp2 applies the anti-amplification limit itself here: with the budget spent it writes
  // nothing (1.4+; 0.12 asserted instead: upstream 81ffdda2, doc/architecture.md).
  send_close_packet();
}

void Connection::answer_while_closing() {
  ++packets_while_closing_;
  // Exponential decay: the 1st, 2nd, 4th, 8th ... packet gets an answer. A peer that keeps
  // sending (or an attacker replaying its packets) gets log2(n) closes for n packets.
  if ((packets_while_closing_ & (packets_while_closing_ - 1)) != 0) {
    if (owner_ != nullptr) owner_->counters().close_packets_suppressed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  send_close_packet();
}

void Connection::send_close_packet() {
  if (close_packet_.empty() || socket_ == nullptr) return;
  // An address not yet validated gets at most three times what it sent us (RFC 9000 §8.1), the
  // close packets included: a spoofed source cannot turn our closes into a flood.
  if (!address_validated_ && bytes_sent_ + close_packet_.size() > 3 * bytes_received_) {
    if (owner_ != nullptr) owner_->counters().close_packets_suppressed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  ++close_packets_sent_;
  if (owner_ != nullptr) owner_->counters().close_packets_sent.fetch_add(1, std::memory_order_relaxed);
  send_to_peer(nullptr, 0, close_packet_.data(), close_packet_.size(), close_packet_.size());
}

void Connection::end_handshake() {
  if (handshake_ended_) return;
  handshake_ended_ = true;
  if (owner_ != nullptr) owner_->on_handshake_ended(this);
}

void Connection::enter_closed(State state, RpcError error) {
  if (close_error_) return;
  close_error_ = std::move(error);
  state_ = state;
  log_closed();
  end_handshake();
  for (auto& [id, stream] : streams_) stream->detach();
  for (Stream* stream : send_queue_) stream->in_send_queue_ = false;
  send_queue_.clear();
  accepted_.clear();
  // Streams are kept by their users; drop ours after this turn of the loop.
  asio::post(executor_, [streams = std::move(streams_)] {});
  streams_.clear();
  stream_credit_waiters_.notify_all();
  established_waiter_.notify();
  if (close_handler_) {
    asio::post(executor_, [handler = std::move(close_handler_), error = *close_error_] {
      handler(error);
    });
    close_handler_ = nullptr;
  }
  if (role_ == Role::kClient) {
    // Nothing to retransmit for a client: its socket goes with it.
    finish();
    return;
  }
  // Linger for three PTOs so late packets are answered (closing) or absorbed (draining).
  close_deadline_ = settings_.clock.now_ns() + 3 * ngtcp2_conn_get_pto(conn_);
  armed_expiry_ = UINT64_MAX;
  timer_.cancel();
  update_timer();
}

void Connection::finish() {
  if (state_ == State::kFinished) return;
  if (!close_error_) enter_closed(State::kDraining, RpcError::connection("connection finished"));
  state_ = State::kFinished;
  timer_.cancel();
  if (owned_socket_) owned_socket_->close();
  if (owner_ != nullptr) {
    asio::post(executor_, [owner = owner_, self = shared_from_this()] {
      owner->on_finished(self.get());
    });
  }
}

}  // namespace rpcnet::quic
