// The physical floor: a plain UDP ping-pong of 64-byte datagrams between the same two processes'
// CPUs and over the same link as the RPC scenarios, so every latency can be read as "floor +
// overhead". Two variants: blocking sockets (recvfrom sleeps in the kernel), and non-blocking
// sockets behind epoll on both ends (the wake-up path an event loop pays).
//
// Each datagram carries a sequence number; a reply that does not come within kLostAfter counts
// as lost (possible on the lossy link), is left out of the latencies and the next ping goes out.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "sides.h"

namespace bench {

namespace {

constexpr std::size_t kDatagram = 64;
constexpr int kLostAfterMs = 20;

bool parse_ipv4(const std::string& host, std::uint16_t port, sockaddr_in& out) {
  out = sockaddr_in{};
  out.sin_family = AF_INET;
  out.sin_port = htons(port);
  return ::inet_pton(AF_INET, host.c_str(), &out.sin_addr) == 1;
}

// One datagram from the connected socket: through epoll when `epoll_fd` >= 0 (non-blocking
// socket), else blocking (its SO_RCVTIMEO bounds the wait). -1 when nothing came in time.
ssize_t receive(int fd, int epoll_fd, std::uint8_t* buffer, std::size_t size, int timeout_ms) {
  if (epoll_fd < 0) return ::recv(fd, buffer, size, 0);
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, size, 0);
    if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return n;
    epoll_event event{};
    const int ready = ::epoll_wait(epoll_fd, &event, 1, timeout_ms);
    if (ready == 0 || (ready < 0 && errno != EINTR)) return -1;
  }
}

int open_socket(bool through_epoll, int& epoll_fd) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | (through_epoll ? SOCK_NONBLOCK : 0), 0);
  epoll_fd = -1;
  if (fd < 0 || !through_epoll) return fd;
  epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = fd;
  if (epoll_fd < 0 || ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) return -1;
  return fd;
}

}  // namespace

int floor_server_main(const std::string& bind_host, bool through_epoll) {
  int epoll_fd = -1;
  const int fd = open_socket(through_epoll, epoll_fd);
  sockaddr_in address{};
  if (fd < 0 || !parse_ipv4(bind_host, 0, address) ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    std::fprintf(stderr, "floor server: socket/bind %s: %s\n", bind_host.c_str(), std::strerror(errno));
    return 1;
  }
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  std::printf("PORT %u\n", static_cast<unsigned>(ntohs(address.sin_port)));
  std::fflush(stdout);
  std::uint8_t buffer[2048];
  for (;;) {  // until the orchestrator kills the process
    sockaddr_in peer{};
    socklen_t peer_length = sizeof peer;
    ssize_t n = ::recvfrom(fd, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&peer), &peer_length);
    if (n < 0 && through_epoll && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      epoll_event event{};
      (void)::epoll_wait(epoll_fd, &event, 1, -1);
      continue;
    }
    if (n < 0) continue;
    (void)::sendto(fd, buffer, static_cast<std::size_t>(n), 0, reinterpret_cast<sockaddr*>(&peer), peer_length);
  }
}

int floor_client_main(const ClientArgs& args, bool through_epoll) {
  int epoll_fd = -1;
  const int fd = open_socket(through_epoll, epoll_fd);
  sockaddr_in server{};
  if (fd < 0 || !parse_ipv4(args.host, args.port, server) ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&server), sizeof server) != 0) {
    std::fprintf(stderr, "floor client: socket/connect %s: %s\n", args.host.c_str(), std::strerror(errno));
    return 1;
  }
  if (!through_epoll) {
    timeval timeout{0, kLostAfterMs * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  std::uint8_t ping[kDatagram] = {};
  std::uint8_t pong[2048];
  std::vector<double> latencies;
  latencies.reserve(1 << 18);
  Sample sample;
  long lost = 0;
  const Window window = Window::after(args.warm, args.measure);
  for (std::uint64_t sequence = 1;; ++sequence) {
    const auto start = Clock::now();
    if (start >= window.end) break;
    std::memcpy(ping, &sequence, sizeof sequence);
    if (::send(fd, ping, sizeof ping, 0) != static_cast<ssize_t>(sizeof ping)) {
      ++sample.errors;
      continue;
    }
    bool answered = false;
    for (;;) {  // skips late replies to pings already counted as lost
      const ssize_t n = receive(fd, epoll_fd, pong, sizeof pong, kLostAfterMs);
      if (n < 0) break;
      std::uint64_t echoed = 0;
      if (n == static_cast<ssize_t>(kDatagram)) std::memcpy(&echoed, pong, sizeof echoed);
      if (echoed == sequence) {
        answered = true;
        break;
      }
    }
    const auto stop = Clock::now();
    if (!answered) {
      ++lost;
      continue;
    }
    if (window.contains(start)) latencies.push_back(micros(stop - start));
  }
  sample.set("p50_us", percentile(latencies, 0.50));
  sample.set("p99_us", percentile(latencies, 0.99));
  sample.set("round_trips", static_cast<double>(latencies.size()));
  sample.set("lost", static_cast<double>(lost));
  sample.print();
  return latencies.empty() ? 1 : 0;
}

}  // namespace bench
