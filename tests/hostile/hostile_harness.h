// What the real-socket hostile tests share: the server under attack as its own process
// (hostile_server), a legitimate client that keeps calling while the attack runs, a UDP relay
// that can reorder datagrams or rebind its port (a NAT), and a forger of ICMP errors.
// Everything talks over loopback; every wait is bounded.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/use_future.hpp>
#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "integration/harness.h"
#include "rpcnet/rpcnet.h"
#include "runtime/child_process.h"

namespace rpcnet::testing {

using namespace std::chrono_literals;

inline void raise_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// /proc/<pid>/status field in kB (VmRSS: now, VmHWM: the peak since the process started).
inline std::uint64_t status_kb(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stoull(line.substr(prefix.size()));
  }
  return 0;
}

// CPU seconds (user + system) a process has used, from /proc/<pid>/stat.
inline double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// A client of the server under attack that is not attacking: an RpcClient on its own thread,
// connected from `source` (127.0.0.2 by default, so per-address limits aimed at the attacker's
// 127.0.0.1 do not apply to it), calling `echo` back to back until stopped.
class LegitClient {
 public:
  explicit LegitClient(const SocketAddress& server, std::string source = "127.0.0.2")
      : server_(server), source_(std::move(source)) {}
  ~LegitClient() { stop(); }

  // Connects (bounded) and starts calling. False if it could not connect.
  bool start() {
    auto config =
        RpcConfig(certificates().main.ca_cert, source_ + ":0").with_server_name("localhost");
    auto client = run_bounded(runtime_, [&]() -> asio::awaitable<Result<RpcClient>> {
      co_return co_await RpcClient::connect(server_, config);
    }());
    if (!client) {
      first_error_ = client.error().to_string();
      return false;
    }
    client_.emplace(std::move(*client));
    asio::co_spawn(runtime_.executor(0), loop(), asio::detached);
    return true;
  }

  // Stops after the call in flight and waits for it (bounded).
  void stop() {
    if (!client_ || stopped_) return;
    stopping_ = true;
    std::unique_lock lock(mutex_);
    done_.wait_for(lock, 30s, [&] { return finished_; });
    stopped_ = true;
  }

  std::uint64_t succeeded() const { return ok_.load(); }
  // Waits (bounded) until `n` calls have succeeded; false on timeout.
  bool wait_for_successes(std::uint64_t n, std::chrono::seconds limit) {
    std::unique_lock lock(mutex_);
    return progress_.wait_for(lock, limit, [&] { return ok_.load() >= n || finished_; }) &&
           ok_.load() >= n;
  }
  std::uint64_t failed() const { return failed_.load(); }
  std::string first_error() const {
    std::lock_guard lock(mutex_);
    return first_error_;
  }

  // One call now, from the test thread (e.g. stats).
  Result<Bytes> call(std::string_view method, Bytes request = {}) {
    return run_bounded(runtime_, [&]() -> asio::awaitable<Result<Bytes>> {
      co_return co_await client_->call(method, std::move(request), CallOptions{20s, {}, std::nullopt});
    }());
  }

 private:
  asio::awaitable<void> loop() {
    const Bytes payload(64, 0x17);
    while (!stopping_) {
      auto reply = co_await client_->call("echo", payload, CallOptions{20s, {}, std::nullopt});
      if (reply && *reply == payload) {
        ok_.fetch_add(1);
        std::lock_guard lock(mutex_);
        progress_.notify_all();
      } else {
        failed_.fetch_add(1);
        std::lock_guard lock(mutex_);
        if (first_error_.empty()) first_error_ = reply ? "wrong echo" : reply.error().to_string();
      }
    }
    std::lock_guard lock(mutex_);
    finished_ = true;
    done_.notify_all();
  }

  SocketAddress server_;
  std::string source_;
  Runtime runtime_{1};
  std::optional<RpcClient> client_;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
  std::atomic<std::uint64_t> ok_{0};
  std::atomic<std::uint64_t> failed_{0};
  mutable std::mutex mutex_;
  std::condition_variable done_;
  std::condition_variable progress_;
  bool finished_ = false;
  std::string first_error_;
};

// The server under attack, as a child process.
class ServerProcess {
 public:
  // `options`: hostile_server's name=value arguments (cert and key are added).
  explicit ServerProcess(std::vector<std::string> options = {}) {
    std::vector<std::string> argv = {RPCNET_HOSTILE_SERVER,
                                     "cert=" + certificates().main.server_cert,
                                     "key=" + certificates().main.server_key};
    argv.insert(argv.end(), options.begin(), options.end());
    // RPCNET_HOSTILE_WRAPPER=heaptrack (or valgrind, ...) runs the server under that tool.
    if (const char* wrapper = ::getenv("RPCNET_HOSTILE_WRAPPER")) argv.insert(argv.begin(), wrapper);
    // ASan keeps freed memory in a quarantine (256 MB by default), which would make the peak RSS
    // measure the sanitizer rather than the server.
    // (The sanitizer's other options, leak checking included, pass through: a server that
    // leaks exits non-zero and fails stop().)
    static const std::string asan_options = [] {
      const char* inherited = ::getenv("ASAN_OPTIONS");
      return std::string(inherited != nullptr ? inherited : "") + ":quarantine_size_mb=4";
    }();
    ::setenv("ASAN_OPTIONS", asan_options.c_str(), 1);
    process_ = std::make_unique<runtime::Process>(argv);
    auto line = process_->wait_line([](const std::string& l) { return l.rfind("PORT ", 0) == 0; }, 30s);
    if (!line) return;
    const auto text = process_->lines()[*line];
    port_ = static_cast<std::uint16_t>(std::stoi(text.substr(5)));
    address_ = *parse_socket_address("127.0.0.1:" + std::to_string(port_));
  }
  ~ServerProcess() { stop(); }

  bool started() const { return port_ != 0; }
  std::uint16_t port() const { return port_; }
  const SocketAddress& address() const { return address_; }
  pid_t pid() const { return process_->pid(); }
  bool running() { return process_->running(); }
  std::uint64_t peak_rss_kb() const { return status_kb(process_->pid(), "VmHWM"); }
  std::uint64_t rss_kb() const { return status_kb(process_->pid(), "VmRSS"); }

  // Graceful stop: stdin closes, the server shuts down; its exit code (nullopt: it hung or died).
  std::optional<int> stop() {
    if (!process_ || stopped_) return exit_code_;
    stopped_ = true;
    process_->close_stdin();
    exit_code_ = process_->wait_exit(30s);
    if (!exit_code_) process_->kill(SIGKILL);
    return exit_code_;
  }
  void kill_hard() {
    stopped_ = true;
    process_->kill(SIGKILL);
  }

 private:
  std::unique_ptr<runtime::Process> process_;
  std::uint16_t port_ = 0;
  SocketAddress address_;
  bool stopped_ = false;
  std::optional<int> exit_code_;
};

// `name=value` lines from the server's `stats` method.
inline std::map<std::string, std::uint64_t> parse_stats(const Bytes& text) {
  std::map<std::string, std::uint64_t> out;
  std::istringstream in(std::string(text.begin(), text.end()));
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = std::stoull(line.substr(eq + 1));
  }
  return out;
}

inline std::map<std::string, std::uint64_t> server_stats(LegitClient& client) {
  auto text = client.call("stats");
  if (!text) return {};
  return parse_stats(*text);
}

// A UDP relay between one client and the server: 127.0.0.1:<port>, forwarding from an upstream
// socket of its own. It can swap each pair of client datagrams (reordering), and rebind its
// upstream socket to a new port at any moment (what a NAT does to a long-lived flow).
class UdpProxy {
 public:
  explicit UdpProxy(std::uint16_t server_port) {
    front_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in any{};
    any.sin_family = AF_INET;
    any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(front_, reinterpret_cast<sockaddr*>(&any), sizeof any);
    socklen_t len = sizeof any;
    ::getsockname(front_, reinterpret_cast<sockaddr*>(&any), &len);
    port_ = ntohs(any.sin_port);
    server_ = any;
    server_.sin_port = htons(server_port);
    up_ = open_upstream();
    thread_ = std::thread([this] { run(); });
  }
  ~UdpProxy() {
    stop_ = true;
    thread_.join();
    ::close(front_);
    ::close(up_);
  }

  SocketAddress address() const { return *parse_socket_address("127.0.0.1:" + std::to_string(port_)); }
  void set_reorder(bool on) { reorder_ = on; }
  // The next client datagram leaves from a fresh port; the old mapping is gone.
  void rebind() { rebind_requested_ = true; }
  std::uint16_t upstream_port() const { return upstream_port_.load(); }
  std::uint64_t rebinds() const { return rebinds_.load(); }
  std::uint64_t swapped() const { return swapped_.load(); }
  std::uint64_t from_client() const { return from_client_.load(); }

 private:
  int open_upstream() {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ::connect(fd, reinterpret_cast<const sockaddr*>(&server_), sizeof server_);
    sockaddr_in local{};
    socklen_t len = sizeof local;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
    upstream_port_ = ntohs(local.sin_port);
    return fd;
  }

  void run() {
    std::vector<std::uint8_t> buffer(65536);
    std::optional<std::vector<std::uint8_t>> held;
    while (!stop_) {
      pollfd fds[2] = {{front_, POLLIN, 0}, {up_, POLLIN, 0}};
      const int n = ::poll(fds, 2, 10);
      if (n == 0 && held) {  // nothing followed within 10 ms: let the held datagram go
        (void)::send(up_, held->data(), held->size(), 0);
        held.reset();
      }
      if (n <= 0) continue;
      if (fds[0].revents & POLLIN) {
        sockaddr_in from{};
        socklen_t from_len = sizeof from;
        const ssize_t got = ::recvfrom(front_, buffer.data(), buffer.size(), 0,
                                       reinterpret_cast<sockaddr*>(&from), &from_len);
        if (got > 0) {
          from_client_.fetch_add(1);
          client_ = from;
          have_client_ = true;
          if (rebind_requested_.exchange(false)) {
            ::close(up_);
            up_ = open_upstream();
            rebinds_.fetch_add(1);
          }
          std::vector<std::uint8_t> datagram(buffer.begin(), buffer.begin() + got);
          if (!reorder_) {
            (void)::send(up_, datagram.data(), datagram.size(), 0);
          } else if (!held) {
            held = std::move(datagram);
          } else {
            (void)::send(up_, datagram.data(), datagram.size(), 0);  // the later one first
            (void)::send(up_, held->data(), held->size(), 0);
            held.reset();
            swapped_.fetch_add(1);
          }
        }
      }
      if ((fds[1].revents & POLLIN) && have_client_) {
        const ssize_t got = ::recv(up_, buffer.data(), buffer.size(), 0);
        if (got > 0) {
          (void)::sendto(front_, buffer.data(), static_cast<std::size_t>(got), 0,
                         reinterpret_cast<const sockaddr*>(&client_), sizeof client_);
        }
      }
    }
  }

  int front_ = -1;
  int up_ = -1;
  std::uint16_t port_ = 0;
  sockaddr_in server_{};
  sockaddr_in client_{};
  bool have_client_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<bool> reorder_{false};
  std::atomic<bool> rebind_requested_{false};
  std::atomic<std::uint16_t> upstream_port_{0};
  std::atomic<std::uint64_t> rebinds_{0};
  std::atomic<std::uint64_t> swapped_{0};
  std::atomic<std::uint64_t> from_client_{0};
  std::thread thread_;
};

inline std::uint16_t internet_checksum(const void* data, std::size_t len) {
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < len; i += 2) sum += static_cast<std::uint32_t>(bytes[i] << 8 | bytes[i + 1]);
  if (len % 2) sum += static_cast<std::uint32_t>(bytes[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<std::uint16_t>(~sum));
}

// Sends an ICMP "port unreachable" to `victim` claiming that its UDP datagram to `peer`, which
// began with `quoted`, could not be delivered — what an off-path attacker who knows the two
// addresses can forge. Needs CAP_NET_RAW (root). False if the raw socket cannot be opened.
inline bool forge_port_unreachable(const sockaddr_in& victim, const sockaddr_in& peer,
                                   const std::vector<std::uint8_t>& quoted) {
  const int fd = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (fd < 0) return false;
  std::vector<std::uint8_t> packet(8 + 20 + 8 + quoted.size(), 0);
  auto* icmp = reinterpret_cast<icmphdr*>(packet.data());
  icmp->type = ICMP_DEST_UNREACH;
  icmp->code = ICMP_PORT_UNREACH;
  auto* ip = reinterpret_cast<iphdr*>(packet.data() + 8);  // the datagram the victim "sent"
  ip->version = 4;
  ip->ihl = 5;
  ip->tot_len = htons(static_cast<std::uint16_t>(20 + 8 + quoted.size()));
  ip->ttl = 64;
  ip->protocol = IPPROTO_UDP;
  ip->saddr = victim.sin_addr.s_addr;
  ip->daddr = peer.sin_addr.s_addr;
  ip->check = internet_checksum(ip, 20);
  auto* udp = reinterpret_cast<udphdr*>(packet.data() + 28);
  udp->source = victim.sin_port;
  udp->dest = peer.sin_port;
  udp->len = htons(static_cast<std::uint16_t>(8 + quoted.size()));
  if (!quoted.empty()) std::memcpy(packet.data() + 36, quoted.data(), quoted.size());
  icmp->checksum = internet_checksum(packet.data(), packet.size());
  sockaddr_in to = victim;
  to.sin_port = 0;
  const bool sent = ::sendto(fd, packet.data(), packet.size(), 0, reinterpret_cast<sockaddr*>(&to),
                             sizeof to) == static_cast<ssize_t>(packet.size());
  ::close(fd);
  return sent;
}

}  // namespace rpcnet::testing
