// The rpcnet side of tests/interop/echo.proto, registered as raw byte handlers (what any rpcnet
// server does; the gRPC listener must serve them unchanged). Records what handlers observed, so a
// test can check that a cancellation reached the handler.
#pragma once

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <condition_variable>
#include <mutex>
#include <chrono>
#include <string>

#include "echo.pb.h"
#include "rpcnet/server.h"

namespace rpcnet::interop {

// A count handlers raise on the server's loops and a test waits on (bounded, no polling).
class Counter {
 public:
  void add() {
    std::lock_guard lock(mutex_);
    ++value_;
    changed_.notify_all();
  }
  int value() {
    std::lock_guard lock(mutex_);
    return value_;
  }
  // True once the count reached `value`; false if it did not within `limit`.
  bool reaches(int value, std::chrono::seconds limit = std::chrono::seconds(20)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return value_ >= value; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int value_ = 0;
};

struct Observed {
  Counter waits_started;
  Counter waits_cancelled;
  Counter chats_cancelled;
};

inline Bytes to_bytes(const ::interop::Payload& payload) {
  const std::string text = payload.SerializeAsString();
  return Bytes(text.begin(), text.end());
}

inline ::interop::Payload from_bytes(const Bytes& bytes) {
  ::interop::Payload payload;
  (void)payload.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  return payload;
}

inline std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    out.push_back(kDigits[static_cast<unsigned char>(c) >> 4]);
    out.push_back(kDigits[static_cast<unsigned char>(c) & 0xf]);
  }
  return out;
}

inline void register_echo_service(RpcServer& server, Observed& observed) {
  server.register_method("interop.Echo/Say", [](Bytes request, CallContext& context) -> asio::awaitable<Result<Bytes>> {
    ::interop::Payload payload = from_bytes(request);
    std::string data = payload.data();
    if (auto tenant = find_metadata(context.metadata(), "tenant")) data += "|tenant=" + std::string(*tenant);
    if (auto blob = find_metadata(context.metadata(), "blob-bin")) data += "|blob=" + hex(*blob);
    payload.set_data(data);
    context.trailer_metadata().emplace_back("handled-by", "rpcnet");
    context.trailer_metadata().emplace_back("cost-bin", std::string("\x00\x01", 2));
    co_return to_bytes(payload);
  });
  server.register_method("interop.Echo/Fail", [](Bytes, CallContext&) -> asio::awaitable<Result<Bytes>> {
    co_return RpcError::status(StatusCode::kNotFound, "no such thing");
  });
  server.register_method("interop.Echo/Wait", [&observed](Bytes, CallContext& context) -> asio::awaitable<Result<Bytes>> {
    observed.waits_started.add();
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::minutes(5));
    auto [error] = co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    if (error || context.cancelled()) observed.waits_cancelled.add();
    co_return RpcError::cancelled();
  });
  server.register_streaming("interop.Echo/Chat", [&observed](ServerStream stream) -> asio::awaitable<Result<void>> {
    for (;;) {
      auto next = co_await stream.read();
      if (!next) {
        if (stream.context().cancelled()) observed.chats_cancelled.add();
        co_return next.error();
      }
      if (!*next) co_return ok();
      if (auto written = co_await stream.write(std::move(**next)); !written) {
        if (stream.context().cancelled()) observed.chats_cancelled.add();
        co_return written;
      }
    }
  });
  server.register_streaming("interop.Echo/Count", [](ServerStream stream) -> asio::awaitable<Result<void>> {
    auto first = co_await stream.read();
    if (!first) co_return first.error();
    if (!*first) co_return RpcError::status(StatusCode::kInvalidArgument, "no request");
    const ::interop::Payload request = from_bytes(**first);
    for (int n = 1; n <= request.count(); ++n) {
      ::interop::Payload reply;
      reply.set_data(std::to_string(n));
      if (auto written = co_await stream.write(to_bytes(reply)); !written) co_return written;
    }
    co_return ok();
  });
  server.register_streaming("interop.Echo/Sum", [](ServerStream stream) -> asio::awaitable<Result<void>> {
    ::interop::Payload total;
    for (;;) {
      auto next = co_await stream.read();
      if (!next) co_return next.error();
      if (!*next) break;
      total.set_count(total.count() + 1);
      total.set_data(total.data() + from_bytes(**next).data());
    }
    co_return co_await stream.write(to_bytes(total));
  });
}

}  // namespace rpcnet::interop
