#include "runtime/memory_network.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <cstring>
#include <string>

#include "rpcnet/testing/in_memory_network.h"

namespace rpcnet::runtime {

namespace {

constexpr auto kVirtualStart = SteadyTime{} + std::chrono::hours(1);  // as testing::ManualClock
// With no timer left, how long real time may pass without work arriving from another thread
// (a blocking handler's worker) before run_until gives up.
constexpr auto kRealTimeWait = std::chrono::seconds(10);

SocketAddress address_of(const sockaddr* address, socklen_t len) {
  SocketAddress out;
  out.resize(len);
  std::memcpy(out.data(), address, len);
  return out;
}

}  // namespace

// ---- MemoryPort -----------------------------------------------------------------------------------

MemoryPort::MemoryPort(MemoryNetwork& network, SocketAddress local)
    : network_(network), local_(std::move(local)) {}

MemoryPort::~MemoryPort() { network_.ports_.erase(local_); }

void MemoryPort::send(const sockaddr* to, socklen_t to_len, const std::uint8_t* data,
                      std::size_t len, std::size_t segment_size) {
  SocketAddress destination;
  if (to != nullptr) {
    destination = address_of(to, to_len);
  } else if (remote_) {
    destination = *remote_;
  } else {
    ++network_.dropped_;
    return;
  }
  if (segment_size == 0) segment_size = len;
  for (std::size_t offset = 0; offset < len; offset += segment_size) {
    const std::size_t n = std::min(segment_size, len - offset);
    network_.deliver(local_, destination, std::vector<std::uint8_t>(data + offset, data + offset + n));
  }
}

// ---- MemoryNetwork --------------------------------------------------------------------------------

MemoryNetwork::MemoryNetwork() : timeline_(kVirtualStart) {}

MemoryNetwork::~MemoryNetwork() {
  work_.reset();
  context_.stop();
  context_.shutdown();
}

Result<std::unique_ptr<MemoryPort>> MemoryNetwork::open(SocketAddress wanted) {
  if (wanted.port() == 0) {
    do {
      wanted.port(next_port_++);
    } while (ports_.contains(wanted));
  } else if (ports_.contains(wanted)) {
    return RpcError::io("in-memory address " + to_string(wanted) + " is taken");
  }
  auto port = std::make_unique<MemoryPort>(*this, wanted);
  ports_[wanted] = port.get();
  return port;
}

void MemoryNetwork::deliver(const SocketAddress& from, const SocketAddress& to,
                            std::vector<std::uint8_t> bytes) {
  asio::post(context_, [this, from, to, bytes = std::move(bytes)] {
    auto it = ports_.find(to);
    if (it == ports_.end() || !it->second->receiver_) {
      ++dropped_;
      return;
    }
    ++delivered_;
    it->second->receiver_(ReceivedDatagram{std::span<const std::uint8_t>(bytes), from.data(),
                                           static_cast<socklen_t>(from.size())});
  });
}

std::size_t MemoryNetwork::poll() {
  if (context_.stopped()) context_.restart();
  return context_.poll();
}

bool MemoryNetwork::run_until(const std::function<bool()>& done, std::chrono::nanoseconds limit) {
  const bool nested = std::exchange(running_, true);
  const SteadyTime give_up = timeline_.now() + limit;
  bool result = false;
  for (;;) {
    poll();
    if (done()) {
      result = true;
      break;
    }
    if (auto next = timeline_.next_deadline(); next && *next <= give_up) {
      timeline_.fire_next();
      continue;
    }
    // No timer left: only another thread (a worker pool) can still post something.
    if (context_.stopped()) context_.restart();
    if (context_.run_one_for(kRealTimeWait) == 0) {
      result = done();
      break;
    }
  }
  running_ = nested;
  return result;
}

void MemoryNetwork::advance(std::chrono::nanoseconds step) {
  const bool nested = std::exchange(running_, true);
  const SteadyTime target = timeline_.now() + step;
  for (;;) {
    poll();
    if (auto next = timeline_.next_deadline(); next && *next <= target) {
      timeline_.fire_next();
      continue;
    }
    if (timeline_.now() < target) {
      timeline_.move_to(target);
      continue;
    }
    break;
  }
  running_ = nested;
}

}  // namespace rpcnet::runtime

// ---- the public face ------------------------------------------------------------------------------

namespace rpcnet::testing {

InMemoryNetwork::InMemoryNetwork() : impl_(std::make_unique<runtime::MemoryNetwork>()) {}
InMemoryNetwork::~InMemoryNetwork() = default;

asio::any_io_executor InMemoryNetwork::executor() const { return impl_->executor(); }
InMemoryNetwork::time_point InMemoryNetwork::now() const { return impl_->timeline().now(); }
void InMemoryNetwork::advance(std::chrono::nanoseconds step) { impl_->advance(step); }
bool InMemoryNetwork::run_until(const std::function<bool()>& done, std::chrono::nanoseconds limit) {
  return impl_->run_until(done, limit);
}
std::uint64_t InMemoryNetwork::datagrams_delivered() const { return impl_->datagrams_delivered(); }
std::uint64_t InMemoryNetwork::datagrams_dropped() const { return impl_->datagrams_dropped(); }

asio::awaitable<void> InMemoryNetwork::sleep(std::chrono::nanoseconds duration) {
  runtime::Timer timer(co_await asio::this_coro::executor, impl_->clock());
  timer.expires_after(std::chrono::duration_cast<runtime::SteadyTime::duration>(duration));
  (void)co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
}

}  // namespace rpcnet::testing
