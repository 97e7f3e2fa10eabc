// A non-blocking UDP socket with the batching the QUIC driver needs: recvmmsg with UDP GRO on
// receive, sendmsg with UDP GSO (one syscall for a train of equal-size packets) on send, large
// kernel buffers, and SO_REUSEPORT so several event loops can share one port.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <asio/any_io_executor.hpp>
#include <algorithm>
#include <asio/ip/udp.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "rpcnet/address.h"
#include "rpcnet/result.h"

namespace rpcnet::runtime {

struct UdpSocketOptions {
  bool reuse_port = false;           // SO_REUSEPORT, for one socket per event loop on one port
  int buffer_bytes = 4 << 20;        // SO_RCVBUF / SO_SNDBUF request (capped by the kernel)
  // IP_RECVERR / IPV6_RECVERR: ICMP errors are queued with the start of the datagram they quote
  // (drain_icmp_errors), so a caller can tell a report about its own packet from a forgery.
  bool icmp_reports = false;
};

// One ICMP error the kernel matched to this socket: the errno it maps to (ECONNREFUSED for
// port unreachable) and the beginning of our datagram the ICMP message quoted.
struct IcmpReport {
  int error = 0;
  std::span<const std::uint8_t> quoted;
};

// How many bytes an event loop reads from one socket before its other work gets a turn
// (UdpSocket::receive_ready's `max_bytes`): about half a millisecond of decrypting packets.
inline constexpr std::size_t kReceiveTurnBytes = 256u << 10;

// One received datagram (a GRO batch is split before it reaches you).
struct ReceivedDatagram {
  std::span<const std::uint8_t> data;
  const sockaddr* from;
  socklen_t from_len;
};

// Where a QUIC connection sends its packets: a UdpSocket, or an in-memory pipe in tests and the
// in-process fuzz target (fuzz/server_endpoint_fuzz.cc), which drive an endpoint without sockets.
class DatagramSender {
 public:
  virtual ~DatagramSender() = default;
  // Sends `len` bytes to `to` (null on a connected socket) as packets of `segment_size` bytes,
  // the last possibly shorter.
  virtual void send(const sockaddr* to, socklen_t to_len, const std::uint8_t* data,
                    std::size_t len, std::size_t segment_size) = 0;
  virtual const sockaddr* local_sockaddr() const noexcept = 0;
  virtual socklen_t local_sockaddr_len() const noexcept = 0;
  // Sends the kernel refused for lack of buffer space (dropped; QUIC recovers them).
  virtual std::uint64_t send_drops() const noexcept { return 0; }
};

class UdpSocket final : public DatagramSender {
 public:
  // Binds `local` (port 0 lets the OS choose). Errors: kIo with the failing call and errno text.
  static Result<std::unique_ptr<UdpSocket>> bind(const asio::any_io_executor& executor,
                                                 const SocketAddress& local,
                                                 const UdpSocketOptions& options);
  // One socket per executor on one port (SO_REUSEPORT when there are several), sharing it with
  // nobody else. The kernel lets a port-0 bind with SO_REUSEPORT land on a port that another
  // process of the same user already holds with SO_REUSEPORT, and then splits the traffic
  // between the two: the port is therefore picked by a socket that cannot share, and afterwards
  // checked in /proc/net/udp{,6} to hold exactly our sockets (port 0: another port is tried).
  // Errors: kIo when binding fails or a fixed port is shared with another process.
  static Result<std::vector<std::unique_ptr<UdpSocket>>> bind_group(
      const std::vector<asio::any_io_executor>& executors, const SocketAddress& local,
      UdpSocketOptions options);
  // Opens a socket connected to `remote`. `local`, when given, is bound first; otherwise the
  // kernel picks the local address.
  static Result<std::unique_ptr<UdpSocket>> connect(const asio::any_io_executor& executor,
                                                    const SocketAddress& remote,
                                                    const UdpSocketOptions& options,
                                                    std::optional<SocketAddress> local = std::nullopt);
  ~UdpSocket() override;
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  const SocketAddress& local_address() const noexcept { return local_; }
  const sockaddr* local_sockaddr() const noexcept override {
    return reinterpret_cast<const sockaddr*>(&local_storage_);
  }
  socklen_t local_sockaddr_len() const noexcept override { return local_len_; }

  // Waits until the socket is readable; completes with void(std::error_code).
  template <class Token>
  auto async_wait_readable(Token&& token) {
    return socket_.async_wait(asio::socket_base::wait_read, std::forward<Token>(token));
  }

  // Reads the datagrams that are ready, up to `max_batches` recvmmsg calls and about
  // `max_bytes` bytes, calling `on_datagram(const ReceivedDatagram&)` for each.
  //
  // The byte bound is what keeps a turn short under bulk traffic: with GRO one slot holds up to
  // 64 KiB (44 packets of a 1500-byte link), so a full batch of 16 is a megabyte, milliseconds
  // of decryption while the loop's timers wait. The socket sizes each recvmmsg from the largest
  // datagram of its previous one: small datagrams are still read 16 at a time.
  //
  // The socket is registered edge-triggered (asio's epoll reactor): a wait completes only when
  // a new datagram arrives, not while old ones are queued. A caller that stops with
  // `more_ready` set must therefore read again without waiting (after letting its loop's other
  // work run): otherwise what is left waits for the next arrival, and under a steady stream the
  // queue never drains, so every datagram waits behind a full buffer and the overflow is
  // dropped.
  struct Received {
    std::size_t delivered = 0;  // datagrams handed to on_datagram (GRO batches split)
    bool more_ready = false;    // the last recvmmsg filled every slot it asked for
  };
  template <class Fn>
  Received receive_ready(Fn&& on_datagram, int max_batches = 4, std::size_t max_bytes = SIZE_MAX) {
    ReceiveBatch& batch = ReceiveBatch::for_this_thread();
    Received received;
    std::size_t bytes = 0;
    for (int round = 0; round < max_batches && bytes < max_bytes; ++round) {
      const std::size_t slots = slots_within(max_bytes - bytes);
      const int n = receive_batch(batch, slots);
      received.more_ready = false;
      if (n <= 0) break;
      std::size_t largest = 0;
      for (int i = 0; i < n; ++i) {
        const auto index = static_cast<std::size_t>(i);
        const auto& slot = batch.slots[index];
        const std::size_t total = batch.msgs[index].msg_len;
        largest = std::max(largest, total);
        bytes += total;
        const std::size_t segment = segment_size(batch, index, total);
        for (std::size_t off = 0; off < total; off += segment) {
          const std::size_t len = std::min(segment, total - off);
          on_datagram(ReceivedDatagram{std::span<const std::uint8_t>(slot.buffer.data() + off, len),
                                       reinterpret_cast<const sockaddr*>(&slot.from),
                                       batch.msgs[index].msg_hdr.msg_namelen});
          ++received.delivered;
        }
      }
      largest_recent_datagram_ = largest;
      if (static_cast<std::size_t>(n) < slots) break;
      received.more_ready = true;
    }
    return received;
  }

  // Sends `len` bytes to `to` as packets of `segment_size` bytes (the last may be shorter),
  // using one GSO syscall where the kernel supports it. A send the kernel refuses for lack of
  // buffer space is dropped (QUIC recovers it) and counted.
  void send(const sockaddr* to, socklen_t to_len, const std::uint8_t* data, std::size_t len,
            std::size_t segment_size) override;

  // The last receive error other than "nothing ready" (e.g. ECONNREFUSED from an ICMP port
  // unreachable on a connected socket), cleared by the call; 0 when none.
  int take_error() noexcept { return std::exchange(last_error_, 0); }
  // With UdpSocketOptions::icmp_reports: hands every queued ICMP report to `on_report` (at most
  // `max` of them) and returns how many there were. The queue must be drained whenever the
  // socket wakes up: a non-empty error queue keeps it readable.
  std::size_t drain_icmp_reports(const std::function<void(const IcmpReport&)>& on_report,
                                 std::size_t max = 64);

  // The descriptor, for callers that wait on several sockets with poll() (tests).
  int native_handle() const noexcept { return fd_; }
  std::uint64_t send_drops() const noexcept override { return send_drops_; }

  void close();

 private:
  // recvmmsg buffers, one set per thread and shared by all of its sockets (a receive never
  // suspends): a connection-per-socket client would otherwise pin 1 MiB per connection.
  struct ReceiveBatch {
    struct Slot {
      std::vector<std::uint8_t> buffer;
      sockaddr_storage from;
      alignas(cmsghdr) std::uint8_t control[64];
    };
    std::vector<Slot> slots;
    std::vector<mmsghdr> msgs;
    std::vector<iovec> iovs;
    static ReceiveBatch& for_this_thread();
  };

  UdpSocket(const asio::any_io_executor& executor, int fd);
  Result<void> configure(const UdpSocketOptions& options);
  Result<void> read_local_address();
  int receive_batch(ReceiveBatch& batch, std::size_t slots);
  // How many slots the next recvmmsg asks for so that it returns about `bytes` at most, judged
  // by the largest datagram of the previous one (1 to the batch size, 16).
  std::size_t slots_within(std::size_t bytes) const noexcept;
  static std::size_t segment_size(ReceiveBatch& batch, std::size_t index, std::size_t total);
  void send_one(const sockaddr* to, socklen_t to_len, const std::uint8_t* data, std::size_t len,
                std::size_t segment_size);

  asio::ip::udp::socket socket_;
  int fd_;
  SocketAddress local_;
  sockaddr_storage local_storage_{};
  socklen_t local_len_ = 0;
  bool gso_enabled_ = false;
  int last_error_ = 0;
  std::size_t largest_recent_datagram_ = 0;  // of the last recvmmsg, GRO batches whole
  std::uint64_t send_drops_ = 0;
};

// True for 127.0.0.0/8 and ::1: routes with no hop between the ends.
bool is_loopback(const sockaddr* address) noexcept;

// The MTU of the route the kernel would send to `address` through (the outgoing interface's, or
// a smaller one it learned for that destination); nullopt when there is no route. Costs a
// socket, a connect (UDP: no packet is sent) and a getsockopt.
std::optional<std::size_t> route_mtu(const sockaddr* address) noexcept;

}  // namespace rpcnet::runtime
