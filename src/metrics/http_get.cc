// http_get: a non-blocking socket driven by poll() against one deadline, so that no single
// step (connect, send, receive) can stretch the exchange past the timeout.
#include "metrics/http_get.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <optional>
#include <system_error>

#include "metrics/ascii.h"

namespace rpcnet::metrics {
namespace {

using Clock = std::chrono::steady_clock;

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

std::string system_error(int error) { return std::error_code(error, std::system_category()).message(); }

// Waits until `fd` is ready for `events` or the deadline passes; false on timeout.
bool wait_ready(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd entry{fd, events, 0};
    const int ready = ::poll(&entry, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 60'000)));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return true;  // let the next call report the error
  }
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

Result<HttpResponse> parse_http_response(std::string_view raw) {
  const std::size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    return RpcError::io(raw.empty() ? "empty response" : "response ended inside its head");
  }
  std::string_view head = raw.substr(0, head_end);
  const std::string_view body = raw.substr(head_end + 4);

  const std::size_t status_end = head.find("\r\n");
  const std::string_view status_line = head.substr(0, status_end);
  head.remove_prefix(status_end == std::string_view::npos ? head.size() : status_end + 2);
  // "HTTP/1.1 200 OK": a version, exactly three digits, then an optional reason.
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ' ||
      (status_line.size() > 12 && status_line[12] != ' ')) {
    return RpcError::io("malformed status line \"" + std::string(status_line.substr(0, 64)) + "\"");
  }
  HttpResponse response;
  const std::string_view code = status_line.substr(9, 3);
  const auto [end, error] = std::from_chars(code.data(), code.data() + code.size(), response.status);
  if (error != std::errc() || end != code.data() + code.size() || response.status < 100) {
    return RpcError::io("malformed status line \"" + std::string(status_line.substr(0, 64)) + "\"");
  }
  if (status_line.size() > 13) response.reason = status_line.substr(13);

  std::optional<std::size_t> content_length;
  while (!head.empty()) {
    const std::size_t line_end = head.find("\r\n");
    const std::string_view line = head.substr(0, line_end);
    head.remove_prefix(line_end == std::string_view::npos ? head.size() : line_end + 2);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return RpcError::io("malformed header line in the response");
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (equals_ignoring_ascii_case(name, "transfer-encoding") && !equals_ignoring_ascii_case(value, "identity")) {
      return RpcError::io("the response uses Transfer-Encoding: " + std::string(value.substr(0, 32)) +
                          ", which this client does not read");
    }
    if (equals_ignoring_ascii_case(name, "content-length")) {
      std::size_t length = 0;
      const auto [length_end, length_error] = std::from_chars(value.data(), value.data() + value.size(), length);
      if (value.empty() || length_error != std::errc() || length_end != value.data() + value.size()) {
        return RpcError::io("malformed Content-Length in the response");
      }
      content_length = length;
    }
  }
  if (content_length) {
    if (body.size() < *content_length) {
      return RpcError::io("response ended after " + std::to_string(body.size()) + " of " +
                          std::to_string(*content_length) + " body bytes");
    }
    response.body = body.substr(0, *content_length);
  } else {
    response.body = body;
  }
  return response;
}

Result<HttpResponse> http_get(const SocketAddress& address, std::string_view path, const HttpGetOptions& options) {
  const auto deadline = Clock::now() + options.timeout;
  const std::string peer = to_string(address);
  const auto timed_out = [&] {
    return RpcError::timeout("no complete answer from " + peer + " within " + std::to_string(options.timeout.count()) +
                             " ms");
  };

  Socket socket(::socket(address.data()->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (socket.fd() < 0) return RpcError::io("cannot create a socket: " + system_error(errno));
  if (::connect(socket.fd(), address.data(), static_cast<socklen_t>(address.size())) != 0) {
    if (errno != EINPROGRESS) return RpcError::io("cannot connect to " + peer + ": " + system_error(errno));
    if (!wait_ready(socket.fd(), POLLOUT, deadline)) return timed_out();
    int error = 0;
    socklen_t size = sizeof error;
    if (::getsockopt(socket.fd(), SOL_SOCKET, SO_ERROR, &error, &size) != 0) error = errno;
    if (error != 0) return RpcError::io("cannot connect to " + peer + ": " + system_error(error));
  }

  const std::string request = "GET " + std::string(path) + " HTTP/1.0\r\nHost: " + peer +
                              "\r\nAccept: text/plain; version=0.0.4\r\nUser-Agent: rpcnet-top\r\n\r\n";
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(socket.fd(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      if (!wait_ready(socket.fd(), POLLOUT, deadline)) return timed_out();
    } else {
      return RpcError::io("cannot send to " + peer + ": " + system_error(errno));
    }
  }

  std::string raw;
  char chunk[16384];
  for (;;) {
    const ssize_t n = ::recv(socket.fd(), chunk, sizeof chunk, 0);
    if (n > 0) {
      if (raw.size() + static_cast<std::size_t>(n) > options.max_response_bytes) {
        return RpcError::io("the answer from " + peer + " is larger than " +
                            std::to_string(options.max_response_bytes) + " bytes");
      }
      raw.append(chunk, static_cast<std::size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      if (!wait_ready(socket.fd(), POLLIN, deadline)) return timed_out();
    } else {
      return RpcError::io("cannot read from " + peer + ": " + system_error(errno));
    }
  }
  return parse_http_response(raw);
}

}  // namespace rpcnet::metrics
