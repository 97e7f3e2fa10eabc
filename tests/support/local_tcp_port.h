// A TCP socket bound to 127.0.0.1 on a port the OS picks, for tests that need a peer which
// refuses connections (bound, not listening: no other test can take the port meanwhile) or one
// that accepts them in the kernel and never answers (listening, never accepting).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace rpcnet::testing {

class LocalTcpPort {
 public:
  explicit LocalTcpPort(bool listening) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0 &&
          (!listening || ::listen(fd_, 4) == 0);
    socklen_t size = sizeof local;
    ok_ = ok_ && ::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &size) == 0;
    port_ = ntohs(local.sin_port);
  }
  ~LocalTcpPort() {
    if (fd_ >= 0) ::close(fd_);
  }
  LocalTcpPort(const LocalTcpPort&) = delete;
  LocalTcpPort& operator=(const LocalTcpPort&) = delete;

  bool ok() const { return ok_; }
  int fd() const { return fd_; }
  // "127.0.0.1:<port>"
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_;
  bool ok_ = false;
  unsigned short port_ = 0;
};

}  // namespace rpcnet::testing
