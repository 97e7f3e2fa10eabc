// A blocking HTTP/1.x exchange for tests: send raw request bytes, read the answer until the peer
// closes. The whole exchange is bounded by `timeout` (poll on a non-blocking socket; Asio's
// blocking reads would ignore SO_RCVTIMEO).
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/ip/tcp.hpp>
#include <cerrno>
#include <chrono>
#include <string>
#include <string_view>

namespace rpcnet::testing {

struct HttpExchange {
  std::string response;  // everything received before the peer closed (or the timeout)
  bool closed_by_peer = false;
  int status() const {
    // "HTTP/1.1 200 OK": the status is the three digits after the first space.
    const auto space = response.find(' ');
    if (space == std::string::npos || response.size() < space + 4) return 0;
    return std::stoi(response.substr(space + 1, 3));
  }
  std::string body() const {
    const auto end = response.find("\r\n\r\n");
    return end == std::string::npos ? std::string() : response.substr(end + 4);
  }
};

inline HttpExchange http_exchange(const asio::ip::tcp::endpoint& endpoint, std::string_view request,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  HttpExchange out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const int fd = ::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return out;
  // Waits for `events` until the deadline; false once it has passed.
  const auto wait = [&](short events) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    return ::poll(&p, 1, static_cast<int>(left.count())) > 0;
  };
  if (::connect(fd, endpoint.data(), static_cast<socklen_t>(endpoint.size())) != 0 &&
      (errno != EINPROGRESS || !wait(POLLOUT))) {
    ::close(fd);
    return out;
  }
  std::size_t sent = 0;
  while (sent < request.size() && wait(POLLOUT)) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  char chunk[4096];
  while (wait(POLLIN)) {
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      out.response.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EAGAIN) continue;
    out.closed_by_peer = true;  // orderly close (0) or reset
    break;
  }
  ::close(fd);
  return out;
}

inline HttpExchange http_get(const asio::ip::tcp::endpoint& endpoint, std::string_view path,
                             std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  return http_exchange(endpoint, "GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\n\r\n", timeout);
}

}  // namespace rpcnet::testing
