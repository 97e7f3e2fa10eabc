// The server side of one event loop: one UDP socket (SO_REUSEPORT, shared port), the connections
// the kernel steers to it, and the map from connection IDs to connections.
//
// What a packet meets, in order (doc/architecture.md, "Limits"):
//   - a connection ID this loop owns            -> that connection
//   - one another loop owns (CidDirectory)      -> forwarded there, through a bounded queue
//   - an unknown ID in a short header           -> a stateless reset (rate-limited), so a client
//                                                  of a restarted server fails in one round trip
//   - a client Initial                          -> Admission: accept, Retry, or refuse with
//                                                  CONNECTION_REFUSED naming the limit
//   - anything else                             -> dropped and counted
// Connection IDs this endpoint issues start with its loop index; the directory, not that byte,
// decides where a packet goes.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rpcnet/metrics.h"

#include "quic/admission.h"
#include "quic/cid_directory.h"
#include "quic/connection.h"
#include "quic/endpoint_counters.h"
#include "quic/server_secrets.h"
#include "quic/tls.h"
#include "quic/transport_settings.h"
#include "runtime/udp_socket.h"

struct ngtcp2_pkt_hd;

namespace rpcnet::quic {

// State one server shares across its loops' endpoints.
struct ServerShared {
  ServerShared(const AdmissionLimits& limits, const ServerSecrets& server_secrets)
      : secrets(server_secrets),
        admission(limits, server_secrets.cid_table),
        directory(server_secrets.cid_table) {}

  const ServerSecrets secrets;
  Admission admission;
  CidDirectory directory;
};

class ServerEndpoint final : public ConnectionOwner,
                             public std::enable_shared_from_this<ServerEndpoint> {
 public:
  struct Options {
    TransportSettings transport;
    std::shared_ptr<const TlsCredentials> tls;
    std::shared_ptr<ServerShared> shared;
    std::uint8_t loop_index = 0;
    // Observes each completed handshake's duration in seconds, when set.
    Histogram* handshake_seconds = nullptr;
  };
  using ConnectionHandler = std::function<void(const std::shared_ptr<Connection>&)>;

  ServerEndpoint(asio::any_io_executor executor, std::unique_ptr<runtime::UdpSocket> socket,
                 Options options, ConnectionHandler on_connection);
  // In-process: no socket; the driver calls receive() and collects what `sender` is given.
  ServerEndpoint(asio::any_io_executor executor, runtime::DatagramSender* sender, Options options,
                 ConnectionHandler on_connection);
  ~ServerEndpoint() override;

  const asio::any_io_executor& executor() const noexcept { return executor_; }
  const SocketAddress& local_address() const noexcept { return socket_->local_address(); }

  // Endpoints of every loop, indexed by loop index, for forwarding. Set before start().
  void set_peers(std::vector<std::shared_ptr<ServerEndpoint>> peers);

  // The rest must run on executor().
  void start();
  // One datagram from outside the socket (in-process drivers), then the flush of what it
  // touched: what the receive loop does for each batch.
  void receive(const runtime::ReceivedDatagram& datagram, std::uint64_t now_ns);
  // New connections are refused (their Initials dropped); existing ones keep working.
  void stop_accepting() { accepting_ = false; }
  // Closes every connection with an application code.
  void close_all(std::uint64_t app_code, std::string_view reason);
  // Stops receiving and closes the socket; connections still open are dropped.
  void stop();
  const EndpointCounters& counters() const noexcept { return counters_; }
  // False once every connection has finished (closing ones linger for three PTOs).
  bool has_connections() const noexcept { return !connections_.empty(); }
  // Transport figures of this endpoint's connections, for metrics. On the endpoint's loop.
  struct TransportSnapshot {
    // Every connection since start: finished ones plus those held now.
    std::uint64_t packets_sent = 0;
    std::uint64_t packets_received = 0;
    std::uint64_t bytes_sent = 0;
    std::uint64_t bytes_received = 0;
    // Open connections now.
    std::uint64_t open = 0;
    std::uint64_t smoothed_rtt_min_ns = 0;
    std::uint64_t smoothed_rtt_max_ns = 0;
    double smoothed_rtt_sum_ns = 0;
    std::uint64_t cwnd_bytes = 0;
    std::uint64_t bytes_in_flight = 0;
  };
  TransportSnapshot transport_snapshot() const;

  // ConnectionOwner
  void generate_cid(std::uint8_t* out, std::size_t len) override;
  void add_cid(const std::uint8_t* cid, std::size_t len, Connection* connection) override;
  void remove_cid(const std::uint8_t* cid, std::size_t len) override;
  void stateless_reset_token(const std::uint8_t* cid, std::size_t len,
                             std::uint8_t* token) override;
  void on_handshake_ended(Connection* connection) override;
  void on_finished(Connection* connection) override;
  EndpointCounters& counters() override { return counters_; }

 private:
  asio::awaitable<void> receive_loop();
  void handle_datagram(const runtime::ReceivedDatagram& datagram, std::uint64_t now_ns,
                       bool forwarded);
  void handle_new_connection(const runtime::ReceivedDatagram& datagram, std::uint64_t now_ns);
  // Its steps: the Retry token, admission control (with its answers), the new connection.
  bool redeem_retry_token(const ngtcp2_pkt_hd& hd, const runtime::ReceivedDatagram& datagram,
                          std::uint64_t now_ns, Connection::ServerAccept& accept);
  bool admit(const ngtcp2_pkt_hd& hd, const runtime::ReceivedDatagram& datagram,
             std::uint64_t now_ns, bool address_validated);
  void send_retry(const ngtcp2_pkt_hd& hd, const runtime::ReceivedDatagram& datagram,
                  std::uint64_t now_ns);
  void refuse(const ngtcp2_pkt_hd& hd, const runtime::ReceivedDatagram& datagram,
              std::string_view reason, std::atomic<std::uint64_t>& counter,
              const char* limit);
  void reply(const runtime::ReceivedDatagram& datagram, const std::uint8_t* out,
             std::ptrdiff_t written);
  void accept_connection(const Connection::ServerAccept& accept,
                         const runtime::ReceivedDatagram& datagram, std::uint64_t now_ns);
  void forward(std::uint8_t loop, const runtime::ReceivedDatagram& datagram);
  void send_version_negotiation(const std::uint8_t* dcid, std::size_t dcid_len,
                                const std::uint8_t* scid, std::size_t scid_len,
                                const runtime::ReceivedDatagram& datagram);
  void send_stateless_reset(const std::uint8_t* dcid, std::size_t dcid_len,
                            const runtime::ReceivedDatagram& datagram, std::uint64_t now_ns);
  void flush_touched();

  asio::any_io_executor executor_;
  std::unique_ptr<runtime::UdpSocket> socket_;  // null in-process
  runtime::DatagramSender* sender_;             // socket_, or the in-process driver's
  Options options_;
  ConnectionHandler on_connection_;
  std::vector<std::weak_ptr<ServerEndpoint>> peers_;
  std::atomic<std::size_t> forward_queue_{0};  // datagrams posted to this loop, not yet handled
  bool accepting_ = true;
  bool stopped_ = false;
  std::unordered_map<CidKey, Connection*, CidHash> cids_;
  // Co-owned with calls in flight and pending timer handlers; released when a connection finishes.
  std::unordered_map<Connection*, std::shared_ptr<Connection>> connections_;
  std::unordered_map<Connection*, std::vector<CidKey>> cids_by_connection_;
  std::vector<std::shared_ptr<Connection>> touched_;  // connections to flush after a read batch
  // Stateless resets: a token bucket, refilled at AdmissionLimits::stateless_resets_per_second.
  double reset_tokens_ = 0;
  std::uint64_t reset_tokens_updated_ns_ = 0;
  EndpointCounters counters_;
  TransportSnapshot finished_;  // traffic totals of connections already released
};

}  // namespace rpcnet::quic
