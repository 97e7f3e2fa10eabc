// QuicPipe: one server endpoint and any number of clients joined by an in-memory network on a
// single io_context — no sockets, no threads, no real time: the server and every client read one
// virtual clock (now()), which moves only when pump() fires a due pacing timer or a test calls
// advance(). What a side sends is queued; pump() delivers it and runs what that made ready, until
// nothing moves. Tests use it to play an attacker with
// exact control (replay a datagram a thousand times, change a client's address between two
// packets, keep a connection closing for as long as they like); the in-process fuzz target
// (fuzz/fuzz_server_endpoint.cc) uses it to drive real handshakes before feeding junk.
//
// Server address 127.0.0.1:4433; client i sends from 127.0.0.2:(40000 + i) unless moved.
// Certificates made by a pipe live in one temporary directory per process, removed at exit.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <string>
#include <vector>

#include "quic/connection.h"
#include "quic/server_endpoint.h"
#include "quic/server_secrets.h"
#include "quic/tls.h"
#include "rpcnet/certs.h"
#include "runtime/clock.h"
#include "runtime/timer.h"

namespace rpcnet::testing {

inline sockaddr_storage make_sockaddr(const char* ip, std::uint16_t port, socklen_t& len) {
  sockaddr_storage out{};
  auto* in = reinterpret_cast<sockaddr_in*>(&out);
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &in->sin_addr);
  len = sizeof(sockaddr_in);
  return out;
}

struct PipeDatagram {
  Bytes data;
  sockaddr_storage from{};
  socklen_t from_len = 0;
  sockaddr_storage to{};
  socklen_t to_len = 0;
};

// Records what a side sends, split into datagrams (GSO trains are split by segment size).
class CaptureSender final : public runtime::DatagramSender {
 public:
  CaptureSender(const char* ip, std::uint16_t port) { local_ = make_sockaddr(ip, port, local_len_); }

  void send(const sockaddr* to, socklen_t to_len, const std::uint8_t* data, std::size_t len,
            std::size_t segment) override {
    if (segment == 0) segment = len;
    for (std::size_t off = 0; off < len; off += segment) {
      PipeDatagram d;
      d.data.assign(data + off, data + off + std::min(segment, len - off));
      d.from = local_;
      d.from_len = local_len_;
      if (to != nullptr) {
        std::memcpy(&d.to, to, to_len);
        d.to_len = to_len;
      } else {
        d.to = peer_;
        d.to_len = peer_len_;
      }
      bytes_sent += d.data.size();
      ++datagrams_sent;
      queue.push_back(std::move(d));
    }
  }
  const sockaddr* local_sockaddr() const noexcept override {
    return reinterpret_cast<const sockaddr*>(&local_);
  }
  socklen_t local_sockaddr_len() const noexcept override { return local_len_; }

  void set_peer(const sockaddr_storage& peer, socklen_t len) {
    peer_ = peer;
    peer_len_ = len;
  }

  std::deque<PipeDatagram> queue;
  std::uint64_t bytes_sent = 0;
  std::uint64_t datagrams_sent = 0;

 private:
  sockaddr_storage local_{};
  socklen_t local_len_ = 0;
  sockaddr_storage peer_{};
  socklen_t peer_len_ = 0;
};

class QuicPipe {
 public:
  struct Client {
    std::unique_ptr<CaptureSender> sender;
    std::shared_ptr<quic::Connection> connection;
    // Every datagram the client sent, for replays; and a filter that may drop outgoing ones.
    std::vector<PipeDatagram> sent_log;
    std::function<bool(const PipeDatagram&)> drop_outgoing;
    std::uint64_t bytes_received = 0;
    // Set by rebind_nat: the address a NAT in front of the client maps it to, as the server
    // sees it. The client itself never learns of it.
    sockaddr_storage nat{};
    socklen_t nat_len = 0;
  };

  // A NAT in front of `client` starts mapping it to 127.0.0.3:`port`: its next datagrams reach
  // the server from there, and the server's replies must go there to reach it.
  void rebind_nat(Client& client, std::uint16_t port) {
    client.nat = make_sockaddr("127.0.0.3", port, client.nat_len);
  }

  // `certificates`: reuse these (a restarted server keeps its key); by default fresh ones.
  explicit QuicPipe(quic::TransportSettings transport = {}, quic::AdmissionLimits limits = {},
                    std::optional<DevCertificatePaths> certificates = std::nullopt)
      : transport_(transport), server_sender_("127.0.0.1", 4433) {
    transport_.clock = clock();
    if (certificates) {
      certs_ = *certificates;
    } else {
      DevCertificateOptions options;
      options.directory = default_cert_dir().string();
      auto certs = make_dev_certificates(options);
      if (!certs) throw std::runtime_error("certificates: " + certs.error().to_string());
      certs_ = *certs;
    }
    auto tls = quic::TlsCredentials::for_server({certs_.server_cert, certs_.server_key, ""});
    auto secrets = quic::ServerSecrets::derive(certs_.server_key);
    if (!tls || !secrets) throw std::runtime_error("server TLS setup failed");
    shared_ = std::make_shared<quic::ServerShared>(limits, *secrets);
    server_tls_ = *tls;
    quic::ServerEndpoint::Options endpoint_options;
    endpoint_options.transport = transport_;
    endpoint_options.tls = server_tls_;
    endpoint_options.shared = shared_;
    server_ = std::make_shared<quic::ServerEndpoint>(
        io.get_executor(), &server_sender_, std::move(endpoint_options),
        [this](const std::shared_ptr<quic::Connection>& connection) {
          server_connections.push_back(connection);
          if (on_server_connection) on_server_connection(connection);
        });
    quic::ClientTlsOptions client_options;
    client_options.trust_path = certs_.ca_cert;
    client_options.server_name = "localhost";
    auto client_tls = quic::TlsCredentials::for_client(client_options);
    if (!client_tls) throw std::runtime_error("client TLS setup failed");
    client_tls_ = *client_tls;
  }

  ~QuicPipe() {
    for (auto& client : clients_) client->connection.reset();
    server_connections.clear();
    // A connection's pending timer keeps it alive: let every connection run out its timers
    // (idle timeout, closing period) in virtual time while the endpoints and senders it uses
    // still exist, so none is left to outlive them.
    io.poll();
    for (int i = 0; i < 100'000 && timeline_.fire_next(); ++i) io.poll();
    server_.reset();
    extra_loops_.clear();
    io.poll();
  }

  // Another event loop's endpoint of the same server (loop index 1, 2, ...), sending through
  // `sender`; the pipe's own endpoint is loop 0. Datagrams reach it only when a test delivers
  // them with receive(); forwarding between the loops goes through `io`.
  quic::ServerEndpoint& add_loop(runtime::DatagramSender& sender) {
    quic::ServerEndpoint::Options options;
    options.transport = transport_;
    options.tls = server_tls_;
    options.shared = shared_;
    options.loop_index = static_cast<std::uint8_t>(extra_loops_.size() + 1);
    extra_loops_.push_back(std::make_shared<quic::ServerEndpoint>(io.get_executor(), &sender,
                                                                  std::move(options), nullptr));
    std::vector<std::shared_ptr<quic::ServerEndpoint>> all = {server_};
    all.insert(all.end(), extra_loops_.begin(), extra_loops_.end());
    for (auto& endpoint : all) endpoint->set_peers(all);
    return *extra_loops_.back();
  }

  // Where pipes write the certificates they make: one directory per process, created on first
  // use and removed (with its contents) when the process exits normally.
  static std::filesystem::path default_cert_dir() {
    struct Owned {
      std::filesystem::path path;
      Owned() {
        std::string pattern = (std::filesystem::temp_directory_path() / "rpcnet-pipe-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path = pattern;
      }
      ~Owned() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
      }
    };
    static const Owned dir;
    return dir.path;
  }

  // The virtual clock every side of the pipe reads.
  runtime::Clock clock() { return runtime::Clock(&timeline_); }
  runtime::SteadyTime now() const { return timeline_.now(); }
  std::uint64_t now_ns() const { return runtime::to_monotonic_ns(timeline_.now()); }

  // Moves virtual time forward by `step`, firing every timer due on the way at its own instant
  // and running what it sets off (datagrams are not delivered: that is pump()'s job).
  void advance(std::chrono::nanoseconds step) {
    const runtime::SteadyTime target = timeline_.now() + step;
    io.poll();
    while (auto next = timeline_.next_deadline()) {
      if (*next > target) break;
      timeline_.fire_next();
      io.poll();
    }
    timeline_.move_to(target);
  }

  // The server echoes every stream it accepts: what it reads, then FIN (at most 10,000 chunks).
  void echo_streams() {
    on_server_connection = [this](const std::shared_ptr<quic::Connection>& connection) {
      connection->set_stream_acceptor([this](std::shared_ptr<quic::Stream> stream) {
        asio::co_spawn(io, [stream]() -> asio::awaitable<void> {
          Bytes all;
          for (int i = 0; i < 10'000; ++i) {
            auto chunk = co_await stream->read();
            if (chunk.status != quic::StreamChunk::Status::kData) co_return;
            all.insert(all.end(), chunk.data.begin(), chunk.data.end());
            if (chunk.fin) break;
          }
          (void)co_await stream->write(std::move(all), {}, true);
        }, asio::detached);
      });
    };
  }

  quic::ServerEndpoint& server() { return *server_; }
  quic::ServerShared& shared() { return *shared_; }
  CaptureSender& server_sender() { return server_sender_; }
  const DevCertificatePaths& certificates() const { return certs_; }

  // A new client; its first flight (the Initial) is queued, not delivered.
  Client& add_client(quic::TransportSettings settings = {}) {
    settings.clock = clock();
    auto client = std::make_unique<Client>();
    const auto port = static_cast<std::uint16_t>(40000 + clients_.size());
    client->sender = std::make_unique<CaptureSender>("127.0.0.2", port);
    socklen_t len = 0;
    const auto server_address = make_sockaddr("127.0.0.1", 4433, len);
    client->sender->set_peer(server_address, len);
    SocketAddress remote;
    remote.resize(len);
    std::memcpy(remote.data(), &server_address, len);
    auto made = quic::Connection::make_client(io.get_executor(), client->sender.get(), remote,
                                              client_tls_, settings);
    if (!made) throw std::runtime_error("client: " + made.error().to_string());
    client->connection = std::move(*made);
    client->connection->flush_after_read();
    clients_.push_back(std::move(client));
    return *clients_.back();
  }

  // Delivers every queued datagram both ways and runs posted work, until quiet (or `rounds`).
  // Quiet means nothing moved and no timer is due within `settle_window` of virtual time: pacing
  // holds packets back on sub-millisecond timers, which pump() fires by moving the clock to
  // them (no real time passes). Timers further out (idle, keep-alive, loss detection) are left
  // pending; advance() reaches them. Zero makes pump() return at the first dry round (the fuzz
  // target, which wants speed over completeness).
  std::chrono::microseconds settle_window{2000};
  // Virtual time a client takes to read a datagram: it passes between the client's on_datagram
  // and its flush_after_read (decryption and handing data out are not instantaneous).
  std::chrono::nanoseconds client_read_time{0};
  // Runs after each datagram a client reads, once its flush_after_read has run.
  std::function<void()> after_client_read;

  void pump(int rounds = 200) {
    for (int round = 0; round < rounds; ++round) {
      bool moved = false;
      for (auto& client : clients_) {
        while (!client->sender->queue.empty()) {
          PipeDatagram d = std::move(client->sender->queue.front());
          client->sender->queue.pop_front();
          if (client->nat_len != 0) {
            d.from = client->nat;
            d.from_len = client->nat_len;
          }
          client->sent_log.push_back(d);
          if (client->drop_outgoing && client->drop_outgoing(d)) continue;
          deliver_to_server(d);
          moved = true;
        }
      }
      while (!server_sender_.queue.empty()) {
        PipeDatagram d = std::move(server_sender_.queue.front());
        server_sender_.queue.pop_front();
        server_log.push_back(d);
        deliver_to_client(d);
        moved = true;
      }
      if (io.poll() > 0) moved = true;
      if (!moved && !fire_timer_due_within(settle_window)) return;
    }
  }

  void deliver_to_server(const PipeDatagram& d) {
    server_->receive(runtime::ReceivedDatagram{std::span<const std::uint8_t>(d.data),
                                               reinterpret_cast<const sockaddr*>(&d.from), d.from_len},
                     now_ns());
  }

  // Raw bytes from any address straight into the server (no client behind them).
  void inject(const Bytes& data, const char* ip = "127.0.0.9", std::uint16_t port = 5555) {
    PipeDatagram d;
    d.data = data;
    d.from = make_sockaddr(ip, port, d.from_len);
    deliver_to_server(d);
  }

  // Datagrams the server sent to `ip:port` (from server_log, after pump()).
  std::size_t server_datagrams_to(const char* ip, std::uint16_t port, std::uint64_t* bytes = nullptr) const {
    socklen_t len = 0;
    const auto target = make_sockaddr(ip, port, len);
    std::size_t count = 0;
    for (const auto& d : server_log) {
      if (d.to_len == len && std::memcmp(&d.to, &target, len) == 0) {
        ++count;
        if (bytes != nullptr) *bytes += d.data.size();
      }
    }
    return count;
  }


 private:
  // Declared before io: outlives every handler and timer that waits on it.
  runtime::VirtualTimeline timeline_{runtime::SteadyTime{} + std::chrono::hours(1)};

 public:
  asio::io_context io;
  // Virtual timers are not work to io: without this, the first poll() that empties its queue
  // would stop it, and handlers posted later (a timer firing) would never run.
  asio::executor_work_guard<asio::io_context::executor_type> io_work{io.get_executor()};
  std::vector<std::shared_ptr<quic::Connection>> server_connections;
  std::function<void(const std::shared_ptr<quic::Connection>&)> on_server_connection;
  std::vector<PipeDatagram> server_log;  // everything the server sent, in order

 private:
  // Fires the earliest timer when it is due within `window` from now; false when none is.
  bool fire_timer_due_within(std::chrono::microseconds window) {
    if (window.count() == 0) return false;
    const auto next = timeline_.next_deadline();
    if (!next || *next > timeline_.now() + window) return false;
    return timeline_.fire_next();
  }

  void deliver_to_client(const PipeDatagram& d) {
    for (auto& client : clients_) {
      const socklen_t len = client->nat_len != 0 ? client->nat_len : client->sender->local_sockaddr_len();
      const void* address = client->nat_len != 0 ? static_cast<const void*>(&client->nat)
                                                 : client->sender->local_sockaddr();
      if (d.to_len != len || std::memcmp(&d.to, address, len) != 0) continue;
      if (!client->connection) return;
      client->bytes_received += d.data.size();
      client->connection->on_datagram(
          runtime::ReceivedDatagram{std::span<const std::uint8_t>(d.data),
                                    reinterpret_cast<const sockaddr*>(&d.from), d.from_len},
          now_ns());
      if (client_read_time.count() > 0) timeline_.move_to(timeline_.now() + client_read_time);
      client->connection->flush_after_read();
      if (after_client_read) after_client_read();
      return;
    }
  }

  quic::TransportSettings transport_;
  CaptureSender server_sender_;
  DevCertificatePaths certs_;
  std::shared_ptr<quic::ServerShared> shared_;
  std::shared_ptr<quic::ServerEndpoint> server_;
  std::vector<std::shared_ptr<quic::ServerEndpoint>> extra_loops_;
  std::shared_ptr<const quic::TlsCredentials> server_tls_;
  std::shared_ptr<const quic::TlsCredentials> client_tls_;
  std::vector<std::unique_ptr<Client>> clients_;
};

// Opens a stream on `connection`, sends `request` with FIN and returns the echo (at most 10,000
// chunks); on failure, what failed.
inline asio::awaitable<std::string> echo_call(std::shared_ptr<quic::Connection> connection, Bytes request) {
  auto stream = co_await connection->open_stream();
  if (!stream) co_return "open failed: " + stream.error().to_string();
  auto written = co_await (*stream)->write(std::move(request), {}, true);
  if (!written) co_return std::string("write failed");
  std::string got;
  for (int i = 0; i < 10'000; ++i) {
    auto chunk = co_await (*stream)->read();
    if (chunk.status != quic::StreamChunk::Status::kData) co_return std::string("stream broke");
    got.append(chunk.data.begin(), chunk.data.end());
    if (chunk.fin) break;
  }
  co_return got;
}

// echo_call on the pipe's loop; `out` stays empty until the call ends.
inline void start_echo_call(QuicPipe& pipe, const std::shared_ptr<quic::Connection>& connection,
                            Bytes request, std::string& out) {
  asio::co_spawn(pipe.io, [connection, request = std::move(request), &out]() mutable
                              -> asio::awaitable<void> {
    out = co_await echo_call(connection, std::move(request));
  }, asio::detached);
}

}  // namespace rpcnet::testing
