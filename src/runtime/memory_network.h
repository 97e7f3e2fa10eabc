// The machinery behind testing::InMemoryNetwork (rpcnet/testing/in_memory_network.h): one event
// loop driven by the test's thread, a VirtualTimeline, and ports that hand datagrams to each
// other through that loop instead of the kernel.
//
// A datagram sent is posted to the loop and delivered on a later turn, at the same virtual
// instant (the network has no latency of its own: time passes only at timers). A datagram to an
// address nobody holds is dropped. Loop-local, like everything on the loop.
#pragma once

#include <asio/io_context.hpp>
#include <asio/executor_work_guard.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "rpcnet/address.h"
#include "rpcnet/result.h"
#include "runtime/timer.h"
#include "runtime/udp_socket.h"

namespace rpcnet::runtime {

class MemoryNetwork;

// One address on the network: a DatagramSender whose datagrams reach the port they are sent to
// (or, for a "connected" send with no destination, the port named at connect()).
class MemoryPort final : public DatagramSender {
 public:
  using Receiver = std::function<void(const ReceivedDatagram&)>;
  MemoryPort(MemoryNetwork& network, SocketAddress local);
  ~MemoryPort() override;
  MemoryPort(const MemoryPort&) = delete;
  MemoryPort& operator=(const MemoryPort&) = delete;

  void set_receiver(Receiver receiver) { receiver_ = std::move(receiver); }
  // Where sends without a destination go.
  void connect(const SocketAddress& remote) { remote_ = remote; }
  const SocketAddress& local_address() const noexcept { return local_; }

  void send(const sockaddr* to, socklen_t to_len, const std::uint8_t* data, std::size_t len,
            std::size_t segment_size) override;
  const sockaddr* local_sockaddr() const noexcept override { return local_.data(); }
  socklen_t local_sockaddr_len() const noexcept override {
    return static_cast<socklen_t>(local_.size());
  }

 private:
  friend class MemoryNetwork;
  MemoryNetwork& network_;
  SocketAddress local_;
  std::optional<SocketAddress> remote_;
  Receiver receiver_;
};

class MemoryNetwork {
 public:
  MemoryNetwork();
  ~MemoryNetwork();

  asio::any_io_executor executor() { return context_.get_executor(); }
  VirtualTimeline& timeline() noexcept { return timeline_; }
  Clock clock() noexcept { return Clock(&timeline_); }

  // Claims `wanted` (port 0: the next free port of that IP). Errors: kIo when it is taken.
  Result<std::unique_ptr<MemoryPort>> open(SocketAddress wanted);

  // See testing::InMemoryNetwork.
  bool run_until(const std::function<bool()>& done, std::chrono::nanoseconds limit);
  void advance(std::chrono::nanoseconds step);
  bool running() const noexcept { return running_; }
  std::uint64_t datagrams_delivered() const noexcept { return delivered_; }
  std::uint64_t datagrams_dropped() const noexcept { return dropped_; }

 private:
  friend class MemoryPort;
  void deliver(const SocketAddress& from, const SocketAddress& to, std::vector<std::uint8_t> bytes);
  std::size_t poll();

  // Exposes io_context's protected shutdown(): destroy pending handlers (coroutine frames with
  // timers on the timeline among them) while the timeline still exists.
  struct Context : asio::io_context {
    Context() : asio::io_context(1) {}
    using asio::io_context::shutdown;
  };
  Context context_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{context_.get_executor()};
  VirtualTimeline timeline_;
  std::map<SocketAddress, MemoryPort*> ports_;
  std::uint16_t next_port_ = 40000;
  bool running_ = false;
  std::uint64_t delivered_ = 0;
  std::uint64_t dropped_ = 0;
};

}  // namespace rpcnet::runtime
