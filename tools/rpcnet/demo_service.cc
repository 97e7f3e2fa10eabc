// The demo's server side. Each handler is written the way a user would write it: decode the
// request bytes, do the work, encode a response or return a typed status.
#include "demo_service.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <cctype>
#include <cstdio>
#include <cstring>

#include "rpcnet/call_context.h"
#include "rpcnet/random.h"
#include "rpcnet/server_stream.h"

namespace rpcnet::tool {

namespace {

using asio::experimental::as_tuple;

std::optional<std::pair<std::int32_t, std::int32_t>> decode_pair(ByteView bytes) {
  if (bytes.size() != 8) return std::nullopt;
  std::int32_t a = 0;
  std::int32_t b = 0;
  std::memcpy(&a, bytes.data(), 4);
  std::memcpy(&b, bytes.data() + 4, 4);
  return std::pair{a, b};
}

Bytes encode_int(std::int32_t value) {
  Bytes out(4);
  std::memcpy(out.data(), &value, 4);
  return out;
}

// add: (a, b) -> a + b, as in the guide.
asio::awaitable<Result<Bytes>> add(Bytes request) {
  auto pair = decode_pair(request);
  if (!pair) co_return RpcError::serialization("add expects two int32 (8 bytes)");
  // Wrapping addition without signed-overflow UB.
  co_return encode_int(static_cast<std::int32_t>(static_cast<std::uint32_t>(pair->first) +
                                                 static_cast<std::uint32_t>(pair->second)));
}

// divide: (a, b) -> a / b; b == 0 is the caller's mistake: INVALID_ARGUMENT, with details a
// program can parse (here a tiny "field=...; reason=..." text).
asio::awaitable<Result<Bytes>> divide(Bytes request) {
  auto pair = decode_pair(request);
  if (!pair) co_return RpcError::serialization("divide expects two int32 (8 bytes)");
  if (pair->second == 0) {
    co_return RpcError::status(StatusCode::kInvalidArgument, "division by zero",
                               to_bytes("field=divisor; reason=must not be zero"));
  }
  if (pair->first == INT32_MIN && pair->second == -1) {
    co_return RpcError::status(StatusCode::kOutOfRange, "quotient does not fit in an int32");
  }
  co_return encode_int(pair->first / pair->second);
}

asio::awaitable<Result<Bytes>> echo(Bytes request) { co_return request; }

// list_items (server streaming): one request naming a list, then one response per item.
asio::awaitable<Result<void>> list_items(ServerStream stream) {
  auto request = co_await stream.read();
  if (!request) co_return request.error();
  if (!*request) co_return RpcError::status(StatusCode::kInvalidArgument, "no list named");
  const std::string list = to_string(**request);
  if (list != "planets") co_return RpcError::status(StatusCode::kNotFound, "no list \"" + list + "\"");
  for (const auto& planet : demo_planets()) {
    if (auto written = co_await stream.write(to_bytes(planet)); !written) co_return written;
  }
  co_return ok();
}

// upload (client streaming): many chunks in, one summary out.
asio::awaitable<Result<void>> upload(ServerStream stream) {
  UploadDigest digest;
  for (;;) {
    auto next = co_await stream.read();
    if (!next) co_return next.error();
    if (!*next) break;  // the client finished sending
    digest.add(**next);
  }
  co_return co_await stream.write(to_bytes(digest.summary()));
}

// chat (bidirectional, the guide's "uppercase"): answers each message as soon as it arrives.
asio::awaitable<Result<void>> chat(ServerStream stream) {
  for (;;) {
    auto next = co_await stream.read();
    if (!next) co_return next.error();
    if (!*next) co_return ok();
    Bytes reply = std::move(**next);
    for (auto& byte : reply) byte = static_cast<std::uint8_t>(std::toupper(byte));
    if (auto written = co_await stream.write(std::move(reply)); !written) co_return written;
  }
}

}  // namespace

const std::vector<std::string>& demo_planets() {
  static const std::vector<std::string> planets = {"Mercury", "Venus",  "Earth",  "Mars",
                                                   "Jupiter", "Saturn", "Uranus", "Neptune"};
  return planets;
}

Bytes encode_pair(std::int32_t a, std::int32_t b) {
  Bytes out(8);
  std::memcpy(out.data(), &a, 4);
  std::memcpy(out.data() + 4, &b, 4);
  return out;
}

std::optional<std::int32_t> decode_int(ByteView bytes) {
  if (bytes.size() != 4) return std::nullopt;
  std::int32_t value = 0;
  std::memcpy(&value, bytes.data(), 4);
  return value;
}

void UploadDigest::add(ByteView chunk) {
  ++chunks_;
  bytes_ += chunk.size();
  hash_ = rpcnet::fnv1a64(std::as_bytes(chunk), hash_);
}

std::string UploadDigest::summary() const {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash_));
  return std::to_string(chunks_) + " chunks, " + std::to_string(bytes_) + " bytes, fnv1a64 " + hex;
}

void register_demo_methods(RpcServer& server, std::shared_ptr<DemoProbe> probe) {
  server.register_method("add", add);
  server.register_method("divide", divide);
  server.register_method("echo", echo);
  server.register_streaming("list_items", list_items);
  server.register_streaming("upload", upload);
  server.register_streaming("chat", chat);

  // slow: waits a minute unless cancelled. Past the caller's deadline the server cancels the
  // handler: its pending timer wait is aborted and context.cancelled() turns true.
  server.register_method("slow", [probe](Bytes, CallContext& context) -> asio::awaitable<Result<Bytes>> {
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::minutes(1));
    const auto parked_at = std::chrono::steady_clock::now();
    probe->slow_parked.store(true);
    auto [error] = co_await timer.async_wait(as_tuple(asio::use_awaitable));
    probe->slow_parked_us.store(std::chrono::duration_cast<std::chrono::microseconds>(
                                    std::chrono::steady_clock::now() - parked_at)
                                    .count());
    const bool cancelled = error == asio::error::operation_aborted && context.cancelled();
    probe->slow_wake.store(static_cast<int>(cancelled ? DemoProbe::Wake::kCancelled
                                                      : DemoProbe::Wake::kNotCancelled));
    co_return to_bytes("woke up");
  });

  // work: takes kWorkDuration, then answers; shutdown lets it finish within the grace period.
  server.register_method("work", [probe](Bytes) -> asio::awaitable<Result<Bytes>> {
    probe->work_started.store(true);
    asio::steady_timer timer(co_await asio::this_coro::executor, kWorkDuration);
    auto [error] = co_await timer.async_wait(as_tuple(asio::use_awaitable));
    if (error) co_return RpcError::cancelled("work interrupted");
    co_return to_bytes("finished");
  });
}

}  // namespace rpcnet::tool
