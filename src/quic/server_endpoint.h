// The server side of one event loop: one UDP socket (SO_REUSEPORT, shared port), the connections
// the kernel steers to it, and the map from connection IDs to connections.
//
// Connection IDs this endpoint issues start with its loop index, so a packet that reaches the
// wrong loop (a client whose address changed hashes to another socket) is forwarded to the loop
// that owns its connection instead of being dropped.
#pragma once

#include <array>
#include <atomic>
#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "quic/connection.h"
#include "quic/tls.h"
#include "quic/transport_settings.h"
#include "runtime/udp_socket.h"

namespace rpcnet::quic {

// Written by the endpoint's loop, readable from any thread (relaxed atomics).
struct EndpointCounters {
  std::atomic<std::uint64_t> datagrams_received{0};
  std::atomic<std::uint64_t> datagrams_dropped{0};  // undecodable, unknown connection, refused
  std::atomic<std::uint64_t> datagrams_forwarded{0};
  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> version_negotiations{0};
};

class ServerEndpoint final : public ConnectionIdRouter,
                             public std::enable_shared_from_this<ServerEndpoint> {
 public:
  struct Options {
    TransportSettings transport;
    std::shared_ptr<const TlsCredentials> tls;
    std::uint8_t loop_index = 0;
  };
  using ConnectionHandler = std::function<void(const std::shared_ptr<Connection>&)>;

  ServerEndpoint(asio::any_io_executor executor, std::unique_ptr<runtime::UdpSocket> socket,
                 Options options, ConnectionHandler on_connection);
  ~ServerEndpoint() override;

  const asio::any_io_executor& executor() const noexcept { return executor_; }
  const SocketAddress& local_address() const noexcept { return socket_->local_address(); }

  // Endpoints of every loop, indexed by loop index, for forwarding. Set before start().
  void set_peers(std::vector<std::shared_ptr<ServerEndpoint>> peers);

  // The rest must run on executor().
  void start();
  // New connections are refused (their Initials dropped); existing ones keep working.
  void stop_accepting() { accepting_ = false; }
  // Closes every connection with an application code.
  void close_all(std::uint64_t app_code, std::string_view reason);
  // Stops receiving and closes the socket; connections still open are dropped.
  void stop();
  std::size_t connection_count() const noexcept { return connections_.size(); }
  const EndpointCounters& counters() const noexcept { return counters_; }

  // ConnectionIdRouter
  void generate_cid(std::uint8_t* out, std::size_t len) override;
  void add_cid(const std::uint8_t* cid, std::size_t len, Connection* connection) override;
  void remove_cid(const std::uint8_t* cid, std::size_t len) override;
  void on_finished(Connection* connection) override;

 private:
  struct CidKey {
    std::uint8_t len = 0;
    std::array<std::uint8_t, 20> bytes{};
    friend bool operator==(const CidKey&, const CidKey&) = default;
  };
  struct CidHash {
    std::size_t operator()(const CidKey& key) const noexcept;
  };
  static CidKey make_key(const std::uint8_t* cid, std::size_t len);

  asio::awaitable<void> receive_loop();
  void handle_datagram(const runtime::ReceivedDatagram& datagram, std::uint64_t now_ns,
                       bool forwarded);
  void forward(std::uint8_t loop, const runtime::ReceivedDatagram& datagram);
  void send_version_negotiation(const std::uint8_t* dcid, std::size_t dcid_len,
                                const std::uint8_t* scid, std::size_t scid_len,
                                const runtime::ReceivedDatagram& datagram);
  void flush_touched();

  asio::any_io_executor executor_;
  std::unique_ptr<runtime::UdpSocket> socket_;
  Options options_;
  ConnectionHandler on_connection_;
  std::vector<std::weak_ptr<ServerEndpoint>> peers_;
  bool accepting_ = true;
  bool stopped_ = false;
  std::unordered_map<CidKey, Connection*, CidHash> cids_;
  // Co-owned with calls in flight and pending timer handlers; released when a connection finishes.
  std::unordered_map<Connection*, std::shared_ptr<Connection>> connections_;
  std::unordered_map<Connection*, std::vector<CidKey>> cids_by_connection_;
  std::vector<std::shared_ptr<Connection>> touched_;  // connections to flush after a read batch
  EndpointCounters counters_;
};

}  // namespace rpcnet::quic
