#include "quic/server_endpoint.h"

#include <gnutls/crypto.h>
#include <ngtcp2/ngtcp2.h>

#include <algorithm>
#include <asio/experimental/as_tuple.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <cstring>

#include "runtime/clock.h"

namespace rpcnet::quic {

namespace {
constexpr std::size_t kCidLen = 16;  // must match the length connection.cc issues
}

ServerEndpoint::ServerEndpoint(asio::any_io_executor executor,
                               std::unique_ptr<runtime::UdpSocket> socket, Options options,
                               ConnectionHandler on_connection)
    : executor_(std::move(executor)),
      socket_(std::move(socket)),
      options_(std::move(options)),
      on_connection_(std::move(on_connection)) {}

ServerEndpoint::~ServerEndpoint() = default;

void ServerEndpoint::set_peers(std::vector<std::shared_ptr<ServerEndpoint>> peers) {
  peers_.clear();
  for (auto& peer : peers) peers_.push_back(peer);
}

std::size_t ServerEndpoint::CidHash::operator()(const CidKey& key) const noexcept {
  // Connection IDs are random past the first byte; eight of those bytes make a good hash.
  std::uint64_t h = key.len;
  std::uint64_t tail = 0;
  std::memcpy(&tail, key.bytes.data() + 1, sizeof tail);
  return static_cast<std::size_t>(h * 0x9e3779b97f4a7c15ull ^ tail);
}

ServerEndpoint::CidKey ServerEndpoint::make_key(const std::uint8_t* cid, std::size_t len) {
  CidKey key;
  key.len = static_cast<std::uint8_t>(std::min<std::size_t>(len, key.bytes.size()));
  std::memcpy(key.bytes.data(), cid, key.len);
  return key;
}

void ServerEndpoint::generate_cid(std::uint8_t* out, std::size_t len) {
  gnutls_rnd(GNUTLS_RND_NONCE, out, len);
  out[0] = options_.loop_index;
}

void ServerEndpoint::add_cid(const std::uint8_t* cid, std::size_t len, Connection* connection) {
  const CidKey key = make_key(cid, len);
  cids_[key] = connection;
  cids_by_connection_[connection].push_back(key);
}

void ServerEndpoint::remove_cid(const std::uint8_t* cid, std::size_t len) {
  cids_.erase(make_key(cid, len));
}

void ServerEndpoint::on_finished(Connection* connection) {
  if (auto it = cids_by_connection_.find(connection); it != cids_by_connection_.end()) {
    for (const CidKey& key : it->second) {
      auto found = cids_.find(key);
      if (found != cids_.end() && found->second == connection) cids_.erase(found);
    }
    cids_by_connection_.erase(it);
  }
  connections_.erase(connection);
}

void ServerEndpoint::start() {
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
  socket_->close();
}

asio::awaitable<void> ServerEndpoint::receive_loop() {
  while (!stopped_) {
    auto [error] = co_await socket_->async_wait_readable(asio::experimental::as_tuple(asio::use_awaitable));
    if (error || stopped_) break;
    const std::uint64_t now = runtime::monotonic_ns();
    socket_->receive_ready([&](const runtime::ReceivedDatagram& datagram) {
      handle_datagram(datagram, now, false);
    });
    (void)socket_->take_error();  // ICMP errors about one client concern only that client
    flush_touched();
  }
  // Stopped: connections can no longer send or receive.
  connections_.clear();
  cids_.clear();
  cids_by_connection_.clear();
}

void ServerEndpoint::flush_touched() {
  auto touched = std::move(touched_);
  touched_.clear();
  for (auto& connection : touched) connection->flush_after_read();
}

void ServerEndpoint::handle_datagram(const runtime::ReceivedDatagram& datagram,
                                     std::uint64_t now, bool forwarded) {
  counters_.datagrams_received.fetch_add(1, std::memory_order_relaxed);
  const std::uint8_t* data = datagram.data.data();
  const std::size_t len = datagram.data.size();
  ngtcp2_version_cid vc;
  const int rv = ngtcp2_pkt_decode_version_cid(&vc, data, len, kCidLen);
  if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
    if (accepting_) send_version_negotiation(vc.scid, vc.scidlen, vc.dcid, vc.dcidlen, datagram);
    return;
  }
  if (rv != 0) {
    counters_.datagrams_dropped.fetch_add(1, std::memory_order_relaxed);  // not QUIC: garbage is ignored
    return;
  }
  if (auto it = cids_.find(make_key(vc.dcid, vc.dcidlen)); it != cids_.end()) {
    auto owner = connections_.find(it->second);
    if (owner == connections_.end()) return;
    owner->second->on_datagram(datagram, now);
    if (std::find(touched_.begin(), touched_.end(), owner->second) == touched_.end()) {
      touched_.push_back(owner->second);
    }
    return;
  }
  if (!forwarded && vc.dcidlen == kCidLen && vc.dcid[0] != options_.loop_index &&
      vc.dcid[0] < peers_.size()) {
    forward(vc.dcid[0], datagram);  // issued by another loop's endpoint
    return;
  }
  if (vc.version == 0 || !accepting_) {
    counters_.datagrams_dropped.fetch_add(1, std::memory_order_relaxed);  // short header for an unknown connection, or shutting down
    return;
  }
  auto created = Connection::make_server(
      executor_, socket_.get(), this,
      Connection::ServerAccept{data, len, datagram.from, datagram.from_len}, options_.tls,
      options_.transport);
  if (!created) {
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
  counters_.datagrams_forwarded.fetch_add(1, std::memory_order_relaxed);
  Bytes copy(datagram.data.begin(), datagram.data.end());
  sockaddr_storage from{};
  std::memcpy(&from, datagram.from, datagram.from_len);
  const socklen_t from_len = datagram.from_len;
  asio::post(peer->executor(), [peer, copy = std::move(copy), from, from_len] {
    if (peer->stopped_) return;
    runtime::ReceivedDatagram forwarded{std::span<const std::uint8_t>(copy.data(), copy.size()),
                                        reinterpret_cast<const sockaddr*>(&from), from_len};
    peer->handle_datagram(forwarded, runtime::monotonic_ns(), true);
    peer->flush_touched();
  });
}

void ServerEndpoint::send_version_negotiation(const std::uint8_t* dcid, std::size_t dcid_len,
                                              const std::uint8_t* scid, std::size_t scid_len,
                                              const runtime::ReceivedDatagram& datagram) {
  // Only answer packets large enough to be a client Initial (no amplification).
  if (datagram.data.size() < NGTCP2_MAX_UDP_PAYLOAD_SIZE) return;
  counters_.version_negotiations.fetch_add(1, std::memory_order_relaxed);
  std::uint8_t buffer[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
  std::uint8_t unused = 0;
  gnutls_rnd(GNUTLS_RND_NONCE, &unused, 1);
  const std::uint32_t versions[] = {NGTCP2_PROTO_VER_V1};
  const auto n = ngtcp2_pkt_write_version_negotiation(buffer, sizeof buffer, unused, dcid,
                                                      dcid_len, scid, scid_len, versions, 1);
  if (n > 0) {
    socket_->send(datagram.from, datagram.from_len, buffer, static_cast<std::size_t>(n),
                  static_cast<std::size_t>(n));
  }
}

}  // namespace rpcnet::quic
