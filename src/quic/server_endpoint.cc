#include "quic/server_endpoint.h"

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <cstring>
#include <string_view>

#include "base/logging.h"
#include "quic/connection_ids.h"
#include "runtime/clock.h"
#include "runtime/fair_share.h"

namespace rpcnet::quic {

namespace {

// How long a Retry token stays valid: one round trip is all a client needs.
constexpr std::uint64_t kRetryTokenLifetimeNs = 10'000'000'000;
// A stateless reset must be smaller than the packet it answers (so two endpoints cannot loop)
// and at least 21 bytes (RFC 9000 §10.3); tiny packets are not worth answering.
constexpr std::size_t kMinResetTrigger = 1 + NGTCP2_MIN_STATELESS_RESET_RANDLEN +
                                         NGTCP2_STATELESS_RESET_TOKENLEN + 1 + 20;
constexpr std::size_t kMaxResetSize = 128;

std::string peer_of(const runtime::ReceivedDatagram& datagram) {
  SocketAddress peer;
  if (datagram.from_len > peer.capacity()) return "?";
  peer.resize(datagram.from_len);
  std::memcpy(peer.data(), datagram.from, datagram.from_len);
  return to_string(peer);
}

}  // namespace

ServerEndpoint::ServerEndpoint(asio::any_io_executor executor,
                               std::unique_ptr<runtime::UdpSocket> socket, Options options,
                               ConnectionHandler on_connection)
    : ServerEndpoint(std::move(executor), socket.get(), std::move(options),
                     std::move(on_connection)) {
  socket_ = std::move(socket);
}

ServerEndpoint::ServerEndpoint(asio::any_io_executor executor, runtime::DatagramSender* sender,
                               Options options, ConnectionHandler on_connection)
    : executor_(std::move(executor)),
      sender_(sender),
      options_(std::move(options)),
      on_connection_(std::move(on_connection)),
      cids_(64, CidHash{options_.shared->secrets.cid_table}) {}

ServerEndpoint::~ServerEndpoint() {
  for (const auto& [key, connection] : cids_) {
    options_.shared->directory.remove(key, options_.loop_index);
  }
}

void ServerEndpoint::set_peers(std::vector<std::shared_ptr<ServerEndpoint>> peers) {
  peers_.clear();
  for (auto& peer : peers) peers_.push_back(peer);
}

// ---- ConnectionOwner ------------------------------------------------------------------------------

void ServerEndpoint::generate_cid(std::uint8_t* out, std::size_t len) {
  random_nonce_bytes(out, len);
  out[0] = options_.loop_index;
}

void ServerEndpoint::add_cid(const std::uint8_t* cid, std::size_t len, Connection* connection) {
  const CidKey key = CidKey::of(cid, len);
  cids_[key] = connection;
  cids_by_connection_[connection].push_back(key);
  options_.shared->directory.add(key, options_.loop_index);
}

void ServerEndpoint::remove_cid(const std::uint8_t* cid, std::size_t len) {
  const CidKey key = CidKey::of(cid, len);
  cids_.erase(key);
  options_.shared->directory.remove(key, options_.loop_index);
}

void ServerEndpoint::stateless_reset_token(const std::uint8_t* cid, std::size_t len,
                                           std::uint8_t* token) {
  ngtcp2_cid id;
  ngtcp2_cid_init(&id, cid, std::min<std::size_t>(len, NGTCP2_MAX_CIDLEN));
  const auto& secret = options_.shared->secrets.stateless_reset;
  if (ngtcp2_crypto_generate_stateless_reset_token(token, secret.data(), secret.size(), &id) != 0) {
    random_nonce_bytes(token, NGTCP2_STATELESS_RESET_TOKENLEN);  // a token nobody can match
  }
}

void ServerEndpoint::on_handshake_ended(Connection* connection) {
  options_.shared->admission.on_handshake_ended();
  if (options_.handshake_seconds != nullptr && connection->handshake_duration_ns() != 0) {
    options_.handshake_seconds->observe(static_cast<double>(connection->handshake_duration_ns()) * 1e-9);
  }
}

void ServerEndpoint::on_finished(Connection* connection) {
  if (auto it = cids_by_connection_.find(connection); it != cids_by_connection_.end()) {
    for (const CidKey& key : it->second) {
      auto found = cids_.find(key);
      if (found != cids_.end() && found->second == connection) {
        cids_.erase(found);
        options_.shared->directory.remove(key, options_.loop_index);
      }
    }
    cids_by_connection_.erase(it);
  }
  if (connections_.erase(connection) > 0) {
    options_.shared->admission.on_connection_finished();
    const ConnectionStats stats = connection->stats();
    finished_.packets_sent += stats.packets_sent;
    finished_.packets_received += stats.packets_received;
    finished_.bytes_sent += stats.bytes_sent;
    finished_.bytes_received += stats.bytes_received;
  }
}

ServerEndpoint::TransportSnapshot ServerEndpoint::transport_snapshot() const {
  TransportSnapshot out = finished_;
  for (const auto& [raw, connection] : connections_) {
    const ConnectionStats stats = connection->stats();
    out.packets_sent += stats.packets_sent;
    out.packets_received += stats.packets_received;
    out.bytes_sent += stats.bytes_sent;
    out.bytes_received += stats.bytes_received;
    if (!connection->is_open()) continue;
    out.smoothed_rtt_min_ns = out.open == 0 ? stats.smoothed_rtt_ns : std::min(out.smoothed_rtt_min_ns, stats.smoothed_rtt_ns);
    out.smoothed_rtt_max_ns = std::max(out.smoothed_rtt_max_ns, stats.smoothed_rtt_ns);
    out.smoothed_rtt_sum_ns += static_cast<double>(stats.smoothed_rtt_ns);
    out.cwnd_bytes += stats.cwnd;
    out.bytes_in_flight += stats.bytes_in_flight;
    ++out.open;
  }
  return out;
}

// ---- lifecycle ------------------------------------------------------------------------------------

void ServerEndpoint::start() {
  if (!socket_) return;
  asio::co_spawn(executor_, [self = shared_from_this()] { return self->receive_loop(); },
                 asio::detached);
}

void ServerEndpoint::close_all(std::uint64_t app_code, std::string_view reason) {
  // close() may finish a connection, which erases it from connections_: iterate a copy.
  std::vector<std::shared_ptr<Connection>> all;
  all.reserve(connections_.size());
  for (auto& [raw, connection] : connections_) all.push_back(connection);
  for (auto& connection : all) connection->close(app_code, reason);
}

void ServerEndpoint::stop() {
  stopped_ = true;
  accepting_ = false;
  if (socket_) socket_->close();
}

asio::awaitable<void> ServerEndpoint::receive_loop() {
  bool more_ready = false;
  while (!stopped_) {
    if (more_ready) {
      // Datagrams were left queued: read them after the loop's other work, without waiting for
      // a new arrival (the wait is edge-triggered; see UdpSocket::receive_ready).
      co_await runtime::yield_to_loop();
      if (stopped_) break;
    } else {
      auto [error] = co_await socket_->async_wait_readable(asio::experimental::as_tuple(asio::use_awaitable));
      if (error || stopped_) break;
    }
    const std::uint64_t now = options_.transport.clock.now_ns();
    // Up to four batches of small datagrams (many clients' calls), but no more bytes than one
    // turn should decrypt (a client uploading in GRO batches): the loop's timers and its other
    // connections wait meanwhile.
    constexpr int kBatchesPerTurn = 4;
    more_ready = socket_->receive_ready([&](const runtime::ReceivedDatagram& datagram) {
      handle_datagram(datagram, now, false);
    }, kBatchesPerTurn, runtime::kReceiveTurnBytes).more_ready;
    (void)socket_->take_error();  // ICMP errors about one client concern only that client
    flush_touched();
  }
  // Stopped: connections can no longer send or receive.
  connections_.clear();
  for (const auto& [key, connection] : cids_) {
    options_.shared->directory.remove(key, options_.loop_index);
  }
  cids_.clear();
  cids_by_connection_.clear();
}

void ServerEndpoint::receive(const runtime::ReceivedDatagram& datagram, std::uint64_t now_ns) {
  if (stopped_) return;
  handle_datagram(datagram, now_ns, false);
  flush_touched();
}

void ServerEndpoint::flush_touched() {
  auto touched = std::move(touched_);
  touched_.clear();
  for (auto& connection : touched) connection->flush_after_read();
}

// ---- routing --------------------------------------------------------------------------------------

void ServerEndpoint::handle_datagram(const runtime::ReceivedDatagram& datagram,
                                     std::uint64_t now, bool forwarded) {
  counters_.datagrams_received.fetch_add(1, std::memory_order_relaxed);
  const std::uint8_t* data = datagram.data.data();
  const std::size_t len = datagram.data.size();
  if (len == 0) {
    // ngtcp2 asserts on an empty packet (found by fuzz_server_endpoint); UdpSocket never
    // delivers one, but forwarded and in-process datagrams do not pass through it.
    counters_.datagrams_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  ngtcp2_version_cid vc;
  const int rv = ngtcp2_pkt_decode_version_cid(&vc, data, len, kConnectionIdLength);
  if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
    if (accepting_) send_version_negotiation(vc.scid, vc.scidlen, vc.dcid, vc.dcidlen, datagram);
    return;
  }
  if (rv != 0) {
    counters_.datagrams_dropped.fetch_add(1, std::memory_order_relaxed);  // not QUIC: garbage is ignored
    return;
  }
  const CidKey key = CidKey::of(vc.dcid, vc.dcidlen);
  if (auto it = cids_.find(key); it != cids_.end()) {
    auto owner = connections_.find(it->second);
    if (owner == connections_.end()) return;
    owner->second->on_datagram(datagram, now);
    if (std::find(touched_.begin(), touched_.end(), owner->second) == touched_.end()) {
      touched_.push_back(owner->second);
    }
    return;
  }
  if (!forwarded && !peers_.empty()) {
    // Another loop's connection (the client's address changed, so the kernel picked another
    // socket)? Only IDs that exist are forwarded: junk never crosses threads.
    const auto owner = options_.shared->directory.owner(key);
    if (owner && *owner != options_.loop_index && *owner < peers_.size()) {
      forward(*owner, datagram);
      return;
    }
  }
  if (vc.version == 0) {
    send_stateless_reset(vc.dcid, vc.dcidlen, datagram, now);
    return;
  }
  if (!accepting_) {
    counters_.datagrams_dropped.fetch_add(1, std::memory_order_relaxed);  // shutting down
    return;
  }
  handle_new_connection(datagram, now);
}

void ServerEndpoint::handle_new_connection(const runtime::ReceivedDatagram& datagram,
                                           std::uint64_t now) {
  const std::uint8_t* data = datagram.data.data();
  const std::size_t len = datagram.data.size();
  ngtcp2_pkt_hd hd;
  if (ngtcp2_accept(&hd, data, len) != 0) {
    // Not a client Initial that may open a connection (too small, 0-RTT or Handshake packets of
    // a connection we do not have): nothing to answer.
    counters_.datagrams_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Connection::ServerAccept accept{data, len, datagram.from, datagram.from_len, now};
  const bool has_retry_token = hd.type == NGTCP2_PKT_INITIAL && hd.tokenlen > 0 &&
                               hd.token[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY;
  if (has_retry_token && !redeem_retry_token(hd, datagram, now, accept)) return;
  if (!admit(hd, datagram, now, accept.address_validated)) return;
  accept_connection(accept, datagram, now);
}

// A client Initial carrying our Retry token: true (and `accept` marked validated, with the
// original destination CID) when the token is genuine, fresh and minted for this address.
bool ServerEndpoint::redeem_retry_token(const ngtcp2_pkt_hd& hd,
                                        const runtime::ReceivedDatagram& datagram,
                                        std::uint64_t now, Connection::ServerAccept& accept) {
  const auto& secrets = options_.shared->secrets;
  ngtcp2_cid original;
  if (ngtcp2_crypto_verify_retry_token(&original, hd.token, hd.tokenlen, secrets.token.data(),
                                       secrets.token.size(), hd.version, datagram.from,
                                       datagram.from_len, &hd.dcid, kRetryTokenLifetimeNs,
                                       now) != 0) {
    // Forged, expired, or minted for another address: drop, as RFC 9000 §8.1.3 allows; the
    // client retransmits its Initial and gets a fresh Retry when one is needed.
    counters_.invalid_tokens.fetch_add(1, std::memory_order_relaxed);
    counters_.datagrams_dropped.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  accept.address_validated = true;
  accept.original_dcid_len = original.datalen;
  std::memcpy(accept.original_dcid, original.data, original.datalen);
  return true;
}

// Asks admission control about a new connection; answers the client itself (Retry or a
// refusal) unless it is accepted.
bool ServerEndpoint::admit(const ngtcp2_pkt_hd& hd, const runtime::ReceivedDatagram& datagram,
                           std::uint64_t now, bool address_validated) {
  const auto& limits = options_.shared->admission.limits();
  switch (options_.shared->admission.decide(datagram.from, address_validated, now)) {
    case Admission::Decision::kAccept:
      return true;
    case Admission::Decision::kRetry:
      send_retry(hd, datagram, now);
      return false;
    case Admission::Decision::kRefuseConnections:
      refuse(hd, datagram,
             "the server has its maximum of " + std::to_string(limits.max_connections) +
                 " connections",
             counters_.refused_connection_limit, "connection_limit");
      return false;
    case Admission::Decision::kRefuseHandshakes:
      refuse(hd, datagram,
             "the server has its maximum of " + std::to_string(limits.max_handshakes) +
                 " handshakes in progress",
             counters_.refused_handshake_limit, "handshake_limit");
      return false;
    case Admission::Decision::kRefuseSourceRate:
      refuse(hd, datagram, "too many new connections from this address",
             counters_.refused_source_rate, "source_rate");
      return false;
  }
  return false;
}

void ServerEndpoint::send_retry(const ngtcp2_pkt_hd& hd, const runtime::ReceivedDatagram& datagram,
                                std::uint64_t now) {
  counters_.retries_sent.fetch_add(1, std::memory_order_relaxed);
  const auto& secrets = options_.shared->secrets;
  std::uint8_t scid_bytes[kConnectionIdLength];
  generate_cid(scid_bytes, sizeof scid_bytes);
  ngtcp2_cid scid;
  ngtcp2_cid_init(&scid, scid_bytes, sizeof scid_bytes);
  std::uint8_t token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN];
  const auto token_len = ngtcp2_crypto_generate_retry_token(
      token, secrets.token.data(), secrets.token.size(), hd.version, datagram.from,
      datagram.from_len, &scid, &hd.dcid, now);
  if (token_len < 0) return;
  std::uint8_t out[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
  reply(datagram, out,
        ngtcp2_crypto_write_retry(out, sizeof out, hd.version, &hd.scid, &scid, &hd.dcid, token,
                                  static_cast<std::size_t>(token_len)));
}

// A refusal the client reports as its connect error (Connection::error_from_peer_close).
void ServerEndpoint::refuse(const ngtcp2_pkt_hd& hd, const runtime::ReceivedDatagram& datagram,
                            std::string_view reason, std::atomic<std::uint64_t>& counter,
                            const char* limit) {
  counter.fetch_add(1, std::memory_order_relaxed);
  RPCNET_LOG_LIMITED(kQuic, kWarn, "connection refused",
             {{"conn", log_detail::hex(hd.dcid.data, hd.dcid.datalen)},
              {"peer", peer_of(datagram)},
              {"limit", limit},
              {"reason", std::string(reason)}});
  std::uint8_t scid_bytes[kConnectionIdLength];
  random_nonce_bytes(scid_bytes, sizeof scid_bytes);
  ngtcp2_cid scid;
  ngtcp2_cid_init(&scid, scid_bytes, sizeof scid_bytes);
  std::uint8_t out[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
  reply(datagram, out,
        ngtcp2_crypto_write_connection_close(
            out, sizeof out, hd.version, &hd.scid, &hd.dcid, NGTCP2_CONNECTION_REFUSED,
            reinterpret_cast<const std::uint8_t*>(reason.data()), reason.size()));
}

// Sends the `written` bytes of `out` (nothing when the write failed) back to the datagram's sender.
void ServerEndpoint::reply(const runtime::ReceivedDatagram& datagram, const std::uint8_t* out,
                           std::ptrdiff_t written) {
  if (written > 0) {
    sender_->send(datagram.from, datagram.from_len, out, static_cast<std::size_t>(written),
                  static_cast<std::size_t>(written));
  }
}

void ServerEndpoint::accept_connection(const Connection::ServerAccept& accept,
                                       const runtime::ReceivedDatagram& datagram,
                                       std::uint64_t now) {
  auto created = Connection::make_server(executor_, sender_, this, accept, options_.tls,
                                         options_.transport);
  if (!created) {
    options_.shared->admission.on_handshake_ended();
    options_.shared->admission.on_connection_finished();
    counters_.datagrams_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  counters_.connections_accepted.fetch_add(1, std::memory_order_relaxed);
  auto connection = std::move(*created);
  connections_.emplace(connection.get(), connection);
  if (on_connection_) on_connection_(connection);
  connection->on_datagram(datagram, now);
  touched_.push_back(std::move(connection));
}

void ServerEndpoint::forward(std::uint8_t loop, const runtime::ReceivedDatagram& datagram) {
  auto peer = peers_[loop].lock();
  if (!peer) return;
  // The queue to one loop is bounded: a flood aimed at forwarding costs a counter, not memory.
  if (peer->forward_queue_.fetch_add(1, std::memory_order_relaxed) >=
      options_.shared->admission.limits().max_forward_queue) {
    peer->forward_queue_.fetch_sub(1, std::memory_order_relaxed);
    counters_.forwards_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  counters_.datagrams_forwarded.fetch_add(1, std::memory_order_relaxed);
  Bytes copy(datagram.data.begin(), datagram.data.end());
  sockaddr_storage from{};
  std::memcpy(&from, datagram.from, datagram.from_len);
  const socklen_t from_len = datagram.from_len;
  asio::post(peer->executor(), [peer, copy = std::move(copy), from, from_len] {
    peer->forward_queue_.fetch_sub(1, std::memory_order_relaxed);
    if (peer->stopped_) return;
    runtime::ReceivedDatagram forwarded{std::span<const std::uint8_t>(copy.data(), copy.size()),
                                        reinterpret_cast<const sockaddr*>(&from), from_len};
    peer->handle_datagram(forwarded, peer->options_.transport.clock.now_ns(), true);
    peer->flush_touched();
  });
}

// ---- stateless replies ----------------------------------------------------------------------------

void ServerEndpoint::send_version_negotiation(const std::uint8_t* dcid, std::size_t dcid_len,
                                              const std::uint8_t* scid, std::size_t scid_len,
                                              const runtime::ReceivedDatagram& datagram) {
  // Only answer packets large enough to be a client Initial (no amplification).
  if (datagram.data.size() < NGTCP2_MAX_UDP_PAYLOAD_SIZE) return;
  counters_.version_negotiations.fetch_add(1, std::memory_order_relaxed);
  std::uint8_t buffer[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
  std::uint8_t unused = 0;
  random_nonce_bytes(&unused, 1);
  const std::uint32_t versions[] = {NGTCP2_PROTO_VER_V1};
  const auto n = ngtcp2_pkt_write_version_negotiation(buffer, sizeof buffer, unused, dcid,
                                                      dcid_len, scid, scid_len, versions, 1);
  if (n > 0) {
    sender_->send(datagram.from, datagram.from_len, buffer, static_cast<std::size_t>(n),
                  static_cast<std::size_t>(n));
  }
}

void ServerEndpoint::send_stateless_reset(const std::uint8_t* dcid, std::size_t dcid_len,
                                          const runtime::ReceivedDatagram& datagram,
                                          std::uint64_t now) {
  counters_.datagrams_dropped.fetch_add(1, std::memory_order_relaxed);
  const std::size_t trigger = datagram.data.size();
  if (trigger < kMinResetTrigger) return;
  const double rate = options_.shared->admission.limits().stateless_resets_per_second;
  const double elapsed_s =
      now > reset_tokens_updated_ns_ ? static_cast<double>(now - reset_tokens_updated_ns_) * 1e-9 : 0;
  reset_tokens_ = std::min(rate, reset_tokens_ + elapsed_s * rate);
  reset_tokens_updated_ns_ = now;
  if (reset_tokens_ < 1.0) {
    counters_.stateless_resets_suppressed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  reset_tokens_ -= 1.0;

  std::uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN];
  stateless_reset_token(dcid, dcid_len, token);
  // Smaller than the trigger by at least one byte, so resets cannot ping-pong (RFC 9000 §10.3.3).
  const std::size_t size = std::min(trigger - 1, kMaxResetSize);
  std::uint8_t random[kMaxResetSize];
  // ngtcp2 builds the first byte from the random bytes too: random + token is the whole packet.
  const std::size_t random_len = size - NGTCP2_STATELESS_RESET_TOKENLEN;
  random_nonce_bytes(random, random_len);
  std::uint8_t buffer[kMaxResetSize];
  const auto n = ngtcp2_pkt_write_stateless_reset(buffer, sizeof buffer, token, random, random_len);
  if (n <= 0) return;
  counters_.stateless_resets_sent.fetch_add(1, std::memory_order_relaxed);
  sender_->send(datagram.from, datagram.from_len, buffer, static_cast<std::size_t>(n),
                static_cast<std::size_t>(n));
}

}  // namespace rpcnet::quic
