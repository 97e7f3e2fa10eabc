#include "runtime/udp_socket.h"

#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/udp.h>
#include <string.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace rpcnet::runtime {

namespace {

constexpr std::size_t kBatchSize = 16;
constexpr std::size_t kSlotBytes = 65536;  // a full GRO super-packet or one maximal datagram
constexpr std::size_t kMaxGsoSegments = 64;

RpcError errno_error(const char* call) {
  return RpcError::io(std::string(call) + ": " + std::strerror(errno));
}

int open_fd(const SocketAddress& address) {
  return ::socket(address.protocol().family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

}  // namespace

bool is_loopback(const sockaddr* address) noexcept {
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
  }
  return false;
}

std::optional<std::size_t> route_mtu(const sockaddr* address) noexcept {
  const bool v6 = address->sa_family == AF_INET6;
  if (!v6 && address->sa_family != AF_INET) return std::nullopt;
  const int fd = ::socket(address->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  std::optional<std::size_t> mtu;
  const socklen_t length = v6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::connect(fd, address, length) == 0) {
    int value = 0;
    socklen_t value_length = sizeof(value);
    const int got = v6 ? ::getsockopt(fd, IPPROTO_IPV6, IPV6_MTU, &value, &value_length)
                       : ::getsockopt(fd, IPPROTO_IP, IP_MTU, &value, &value_length);
    if (got == 0 && value > 0) mtu = static_cast<std::size_t>(value);
  }
  ::close(fd);
  return mtu;
}

UdpSocket::UdpSocket(const asio::any_io_executor& executor, int fd) : socket_(executor), fd_(fd) {}

UdpSocket::ReceiveBatch& UdpSocket::ReceiveBatch::for_this_thread() {
  thread_local ReceiveBatch batch = [] {
    ReceiveBatch b;
    b.slots.resize(kBatchSize);
    b.msgs.resize(kBatchSize);
    b.iovs.resize(kBatchSize);
    for (std::size_t i = 0; i < kBatchSize; ++i) {
      b.slots[i].buffer.resize(kSlotBytes);
      b.iovs[i] = iovec{b.slots[i].buffer.data(), kSlotBytes};
    }
    return b;
  }();
  return batch;
}

UdpSocket::~UdpSocket() { close(); }

void UdpSocket::close() {
  if (fd_ < 0) return;
  asio::error_code ignored;
  socket_.close(ignored);  // closes fd_ too
  fd_ = -1;
}

Result<void> UdpSocket::configure(const UdpSocketOptions& options) {
  const int one = 1;
  if (options.reuse_port && ::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return errno_error("setsockopt(SO_REUSEPORT)");
  }
  // Buffer sizes are requests; the kernel caps them at net.core.{r,w}mem_max.
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &options.buffer_bytes, sizeof options.buffer_bytes);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &options.buffer_bytes, sizeof options.buffer_bytes);
  // GRO is an optimisation: without it every datagram arrives on its own.
  ::setsockopt(fd_, SOL_UDP, UDP_GRO, &one, sizeof one);
  // Probe GSO support: the option exists on kernels >= 4.18.
  int segment = 0;
  socklen_t len = sizeof segment;
  gso_enabled_ = ::getsockopt(fd_, SOL_UDP, UDP_SEGMENT, &segment, &len) == 0;
  // Don't fragment: QUIC does its own path MTU handling.
  const int pmtu = IP_PMTUDISC_DO;
  if (local_.address().is_v4()) {
    ::setsockopt(fd_, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
    if (options.icmp_reports) ::setsockopt(fd_, IPPROTO_IP, IP_RECVERR, &one, sizeof one);
  } else {
    ::setsockopt(fd_, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof pmtu);
    if (options.icmp_reports) ::setsockopt(fd_, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof one);
  }
  asio::error_code error;
  socket_.assign(local_.protocol(), fd_, error);
  if (error) return RpcError::io("assign socket: " + error.message());
  return {};
}

Result<void> UdpSocket::read_local_address() {
  local_len_ = sizeof local_storage_;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&local_storage_), &local_len_) != 0) {
    return errno_error("getsockname");
  }
  local_.resize(local_len_);
  std::memcpy(local_.data(), &local_storage_, local_len_);
  return {};
}

Result<std::unique_ptr<UdpSocket>> UdpSocket::bind(const asio::any_io_executor& executor,
                                                   const SocketAddress& local,
                                                   const UdpSocketOptions& options) {
  const int fd = open_fd(local);
  if (fd < 0) return errno_error("socket");
  std::unique_ptr<UdpSocket> socket(new UdpSocket(executor, fd));
  socket->local_ = local;
  if (options.reuse_port) {
    const int one = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      ::close(fd);
      socket->fd_ = -1;
      return errno_error("setsockopt(SO_REUSEPORT)");
    }
  }
  if (::bind(fd, local.data(), static_cast<socklen_t>(local.size())) != 0) {
    auto error = RpcError::io("bind " + to_string(local) + ": " + std::strerror(errno));
    ::close(fd);
    socket->fd_ = -1;
    return error;
  }
  RPCNET_TRY(socket->read_local_address());
  UdpSocketOptions rest = options;
  rest.reuse_port = false;  // already set before bind()
  RPCNET_TRY(socket->configure(rest));
  return socket;
}

namespace {

// Sockets bound to exactly `address` (address and port), from /proc/net/udp or udp6; nullopt
// when the table cannot be read.
std::optional<std::size_t> sockets_bound_to(const SocketAddress& address) {
  const bool v4 = address.address().is_v4();
  std::FILE* table = std::fopen(v4 ? "/proc/net/udp" : "/proc/net/udp6", "r");
  if (table == nullptr) return std::nullopt;
  char wanted[64];
  if (v4) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address.data());
    std::snprintf(wanted, sizeof wanted, "%08X:%04X", in->sin_addr.s_addr, address.port());
  } else {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address.data());
    std::uint32_t words[4];
    std::memcpy(words, &in6->sin6_addr, sizeof words);
    std::snprintf(wanted, sizeof wanted, "%08X%08X%08X%08X:%04X", words[0], words[1], words[2],
                  words[3], address.port());
  }
  std::size_t count = 0;
  char line[512];
  while (std::fgets(line, sizeof line, table) != nullptr) {
    char local[64] = {};
    if (std::sscanf(line, " %*[0-9]: %63s", local) == 1 && std::strcmp(local, wanted) == 0) ++count;
  }
  std::fclose(table);
  return count;
}

}  // namespace

Result<std::vector<std::unique_ptr<UdpSocket>>> UdpSocket::bind_group(
    const std::vector<asio::any_io_executor>& executors, const SocketAddress& local,
    UdpSocketOptions options) {
  const bool pick_port = local.port() == 0;
  options.reuse_port = executors.size() > 1;
  constexpr int kAttempts = 16;
  RpcError last = RpcError::io("bind " + to_string(local) + ": no free port");
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    SocketAddress target = local;
    if (pick_port && options.reuse_port) {
      // A socket without SO_REUSEPORT only gets a port nobody holds.
      UdpSocketOptions exclusive = options;
      exclusive.reuse_port = false;
      auto probe = bind(executors[0], local, exclusive);
      if (!probe) return std::move(probe).error();
      target = (*probe)->local_address();
    }
    std::vector<std::unique_ptr<UdpSocket>> sockets;
    for (const auto& executor : executors) {
      auto socket = bind(executor, target, options);
      if (!socket) {
        last = std::move(socket).error();
        break;
      }
      if (target.port() == 0) target = (*socket)->local_address();
      sockets.push_back(std::move(*socket));
    }
    if (sockets.size() != executors.size()) {
      if (!pick_port) return last;
      continue;  // someone took the port between the probe and us
    }
    if (options.reuse_port) {
      const auto holders = sockets_bound_to(target);
      if (holders && *holders > sockets.size()) {
        last = RpcError::io("bind " + to_string(target) + ": the port is shared with " +
                            std::to_string(*holders - sockets.size()) +
                            " socket(s) of another process (SO_REUSEPORT)");
        if (!pick_port) return last;
        continue;
      }
    }
    return sockets;
  }
  return last;
}

Result<std::unique_ptr<UdpSocket>> UdpSocket::connect(const asio::any_io_executor& executor,
                                                      const SocketAddress& remote,
                                                      const UdpSocketOptions& options,
                                                      std::optional<SocketAddress> local) {
  const int fd = open_fd(remote);
  if (fd < 0) return errno_error("socket");
  std::unique_ptr<UdpSocket> socket(new UdpSocket(executor, fd));
  if (local && ::bind(fd, local->data(), static_cast<socklen_t>(local->size())) != 0) {
    auto error = RpcError::io("bind " + to_string(*local) + ": " + std::strerror(errno));
    ::close(fd);
    socket->fd_ = -1;
    return error;
  }
  if (::connect(fd, remote.data(), static_cast<socklen_t>(remote.size())) != 0) {
    auto error = RpcError::io("connect " + to_string(remote) + ": " + std::strerror(errno));
    ::close(fd);
    socket->fd_ = -1;
    return error;
  }
  RPCNET_TRY(socket->read_local_address());
  RPCNET_TRY(socket->configure(options));
  return socket;
}

std::size_t UdpSocket::slots_within(std::size_t bytes) const noexcept {
  // A datagram of the usual path MTU is the least we assume, so small traffic (and the first
  // read) takes a whole batch.
  constexpr std::size_t kTypicalDatagram = 1500;
  const std::size_t per_slot = std::max(largest_recent_datagram_, kTypicalDatagram);
  return std::clamp<std::size_t>(bytes / per_slot, 1, kBatchSize);
}

int UdpSocket::receive_batch(ReceiveBatch& batch, std::size_t slots) {
  slots = std::min(slots, kBatchSize);
  for (std::size_t i = 0; i < slots; ++i) {
    auto& hdr = batch.msgs[i].msg_hdr;
    hdr = msghdr{};
    hdr.msg_name = &batch.slots[i].from;
    hdr.msg_namelen = sizeof(sockaddr_storage);
    hdr.msg_iov = &batch.iovs[i];
    hdr.msg_iovlen = 1;
    hdr.msg_control = batch.slots[i].control;
    hdr.msg_controllen = sizeof batch.slots[i].control;
    batch.msgs[i].msg_len = 0;
  }
  int n;
  do {
    n = ::recvmmsg(fd_, batch.msgs.data(), static_cast<unsigned>(slots), MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) last_error_ = errno;
  return n;  // < 0 on EAGAIN (nothing ready) or an ICMP-reported error; both end the batch
}

std::size_t UdpSocket::drain_icmp_reports(const std::function<void(const IcmpReport&)>& on_report,
                                          std::size_t max) {
  std::size_t reports = 0;
  for (; reports < max && fd_ >= 0; ++reports) {
    std::uint8_t quoted[512];
    alignas(cmsghdr) std::uint8_t control[256];
    sockaddr_storage offender{};
    iovec iov{quoted, sizeof quoted};
    msghdr msg{};
    msg.msg_name = &offender;
    msg.msg_namelen = sizeof offender;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd_, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
    if (n < 0) break;  // EAGAIN: the queue is empty
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      const bool v4 = c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR;
      const bool v6 = c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR;
      if (!v4 && !v6) continue;
      sock_extended_err error{};
      std::memcpy(&error, CMSG_DATA(c), sizeof error);
      if (error.ee_origin != SO_EE_ORIGIN_ICMP && error.ee_origin != SO_EE_ORIGIN_ICMP6) continue;
      const std::size_t len = std::min<std::size_t>(static_cast<std::size_t>(n), sizeof quoted);
      on_report(IcmpReport{static_cast<int>(error.ee_errno), std::span<const std::uint8_t>(quoted, len)});
    }
  }
  return reports;
}

std::size_t UdpSocket::segment_size(ReceiveBatch& batch, std::size_t index, std::size_t total) {
  auto& hdr = batch.msgs[index].msg_hdr;
  for (cmsghdr* c = CMSG_FIRSTHDR(&hdr); c != nullptr; c = CMSG_NXTHDR(&hdr, c)) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
      int segment = 0;
      std::memcpy(&segment, CMSG_DATA(c), sizeof segment);
      if (segment > 0) return static_cast<std::size_t>(segment);
    }
  }
  return total == 0 ? 1 : total;
}

void UdpSocket::send_one(const sockaddr* to, socklen_t to_len, const std::uint8_t* data,
                         std::size_t len, std::size_t segment_size) {
  iovec iov{const_cast<std::uint8_t*>(data), len};
  msghdr msg{};
  msg.msg_name = const_cast<sockaddr*>(to);
  msg.msg_namelen = to_len;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) std::uint8_t control[CMSG_SPACE(sizeof(std::uint16_t))] = {};
  if (segment_size < len) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
    const auto segment = static_cast<std::uint16_t>(segment_size);
    std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
  }
  ssize_t n;
  do {
    n = ::sendmsg(fd_, &msg, 0);
  } while (n < 0 && errno == EINTR);
  if (n >= 0) return;
  if ((errno == EIO || errno == EINVAL) && segment_size < len) {
    // The device refused segmentation offload: stop using it and send packet by packet.
    gso_enabled_ = false;
    for (std::size_t off = 0; off < len; off += segment_size) {
      send_one(to, to_len, data + off, std::min(segment_size, len - off), segment_size);
    }
    return;
  }
  ++send_drops_;  // EAGAIN/ENOBUFS, or an ICMP error reported on a connected socket
}

void UdpSocket::send(const sockaddr* to, socklen_t to_len, const std::uint8_t* data,
                     std::size_t len, std::size_t segment_size) {
  if (fd_ < 0 || len == 0) return;
  if (segment_size >= len) return send_one(to, to_len, data, len, len);
  if (!gso_enabled_) {
    for (std::size_t off = 0; off < len; off += segment_size) {
      send_one(to, to_len, data + off, std::min(segment_size, len - off), segment_size);
    }
    return;
  }
  const std::size_t max_train = segment_size * kMaxGsoSegments;
  for (std::size_t off = 0; off < len; off += max_train) {
    send_one(to, to_len, data + off, std::min(max_train, len - off), segment_size);
  }
}

}  // namespace rpcnet::runtime
