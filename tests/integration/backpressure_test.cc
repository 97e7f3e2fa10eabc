// Backpressure end to end: 1 GiB through a bidirectional stream whose reader is slow. Memory must
// stay bounded because credit flows back only as data is consumed, and writers wait for it.
#include <gtest/gtest.h>

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <string>

#include "harness.h"

#if defined(__SANITIZE_ADDRESS__)
// ASan keeps freed memory in a quarantine (256 MiB by default), which would count as growth here.
extern "C" const char* __asan_default_options() { return "quarantine_size_mb=8"; }
#endif

namespace rpcnet::testing {
namespace {

using asio::experimental::as_tuple;

// Peak resident set size of this process, in KiB (VmHWM).
std::size_t peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoul(line.substr(6));
  }
  return 0;
}

constexpr std::size_t kTotalBytes = 1u << 30;
constexpr std::size_t kMessageBytes = 64u << 10;
constexpr std::size_t kRssBoundKib = 256u << 10;  // growth allowed over the baseline: 256 MiB

TEST(BackpressureTest, OneGibibyteThroughABidiStreamWithASlowReaderKeepsMemoryBounded) {
  LoopbackServer server;
  server.server().register_streaming("echo", [](ServerStream stream) -> asio::awaitable<Result<void>> {
    for (;;) {
      auto next = co_await stream.read();
      if (!next) co_return next.error();
      if (!*next) co_return ok();
      if (auto w = co_await stream.write(std::move(**next)); !w) co_return w;
    }
  });
  server.start();
  const std::size_t baseline = peak_rss_kib();

  struct Outcome {
    std::size_t echoed = 0;
    bool intact = true;
    std::string error;
  };
  auto outcome = run_bounded(server.runtime(), [&]() -> asio::awaitable<Outcome> {
    Outcome out;
    auto client = co_await server.connect();
    CallOptions options;
    options.timeout = kNoDeadline;
    auto call = co_await client.open_call("echo", options);
    if (!call) {
      out.error = call.error().to_string();
      co_return out;
    }
    auto executor = co_await asio::this_coro::executor;
    Completion writer_done(executor);
    auto writer = [&]() -> asio::awaitable<void> {
      for (std::size_t sent = 0; sent < kTotalBytes; sent += kMessageBytes) {
        Bytes message(kMessageBytes, static_cast<std::uint8_t>(sent / kMessageBytes));
        if (auto w = co_await call->write(std::move(message)); !w) {
          out.error = "write: " + w.error().to_string();
          break;
        }
      }
      (void)co_await call->finish();
      writer_done.done();
    };
    asio::co_spawn(executor, std::move(writer), asio::detached);
    asio::steady_timer pause(executor);
    for (std::size_t index = 0;; ++index) {
      auto next = co_await call->read();
      if (!next) {
        out.error = "read: " + next.error().to_string();
        break;
      }
      if (!*next) break;
      out.echoed += (*next)->size();
      out.intact = out.intact && (*next)->size() == kMessageBytes &&
                   (**next)[kMessageBytes - 1] == static_cast<std::uint8_t>(index);
      if (index % 2 == 0) {
        // The slow reader: the writer must wait for it rather than fill memory.
        pause.expires_after(std::chrono::milliseconds(1));
        co_await pause.async_wait(asio::use_awaitable);
      }
    }
    co_await writer_done.wait();
    co_return out;
  }(), std::chrono::seconds(240));

  EXPECT_EQ(outcome.error, "");
  EXPECT_EQ(outcome.echoed, kTotalBytes);
  EXPECT_TRUE(outcome.intact);
  const std::size_t growth = peak_rss_kib() - baseline;
  EXPECT_LT(growth, kRssBoundKib) << "peak RSS grew by " << growth / 1024 << " MiB";
  std::printf("peak RSS growth: %zu MiB for %zu MiB echoed\n", growth / 1024, kTotalBytes >> 20);
}

}  // namespace
}  // namespace rpcnet::testing
