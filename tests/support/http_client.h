// A blocking HTTP/1.x exchange for tests: send raw request bytes, read the answer until the peer
// closes. Every socket operation is bounded by `timeout`.
#pragma once

#include <sys/socket.h>
#include <sys/time.h>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
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
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  HttpExchange out;
  std::error_code error;
  socket.connect(endpoint, error);
  if (error) return out;
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  asio::write(socket, asio::buffer(request), error);
  char chunk[4096];
  for (;;) {
    const std::size_t n = socket.read_some(asio::buffer(chunk), error);
    out.response.append(chunk, n);
    if (error == asio::error::eof || error == asio::error::connection_reset) {
      out.closed_by_peer = true;
      break;
    }
    if (error) break;
  }
  return out;
}

inline HttpExchange http_get(const asio::ip::tcp::endpoint& endpoint, std::string_view path,
                             std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  return http_exchange(endpoint, "GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\n\r\n", timeout);
}

}  // namespace rpcnet::testing
