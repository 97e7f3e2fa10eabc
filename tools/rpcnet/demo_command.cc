// `rpcnet demo`: the guided tour. One process, two sides:
//   - an RpcServer on 127.0.0.1:<OS-chosen port> with its own event loops (demo_service.cc),
//   - an RpcClient on a Runtime loop of ours, which walks through the steps below and checks
//     that each one behaved as documented.
// The exit code is 0 only when every check passed.
#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "base/percentile.h"
#include "commands.h"
#include "demo_service.h"
#include "rpcnet/certs.h"
#include "rpcnet/client.h"
#include "rpcnet/runtime.h"
#include "rpcnet/server.h"
#include "runtime/event.h"

#ifndef RPCNET_VERSION
#define RPCNET_VERSION "unknown"
#endif

namespace rpcnet::tool {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using asio::experimental::as_tuple;

// The server's max_message_size, small so step 5 can exceed it cheaply. (Step 5 stays below the
// 1 MiB initial stream window: see the report on oversized requests larger than the window.)
constexpr std::size_t kServerMaxMessage = 256u << 10;

// ---- presentation ---------------------------------------------------------------------------------

std::int64_t micros(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

std::string us_text(Clock::duration d) { return std::to_string(micros(d)) + " µs"; }

// A message as the reader should see it: quoted, non-printable bytes as \xNN.
std::string shown(ByteView bytes) {
  std::string out = "\"";
  for (std::uint8_t byte : bytes) {
    if (byte == '"' || byte == '\\') {
      out += '\\';
      out += static_cast<char>(byte);
    } else if (byte >= 0x20 && byte < 0x7f) {
      out += static_cast<char>(byte);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", byte);
      out += hex;
    }
  }
  return out + "\"";
}
std::string shown(std::string_view text) {
  return shown(ByteView(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

std::string padded(std::string text, std::size_t width) {
  if (text.size() < width) text.resize(width, ' ');
  return text + " ";
}

// What a caller branches on (code), where it was noticed (kind), then the human-readable part.
std::string describe(const RpcError& error) {
  std::string out = "kind=" + std::string(error_kind_name(error.kind())) +
                    "  code=" + std::string(status_code_name(error.code())) +
                    "  message=" + shown(error.message());
  if (!error.details().empty()) out += "  details=" + shown(error.details());
  out += error.is_remote() ? "  (status sent by the server)" : "  (detected by the client)";
  return out;
}

// The same, over two lines, for step 5 where the error is the point.
std::vector<std::string> describe_lines(const RpcError& error) {
  std::vector<std::string> lines;
  lines.push_back("kind=" + std::string(error_kind_name(error.kind())) +
                  "  code=" + std::string(status_code_name(error.code())) +
                  (error.is_remote() ? "  is_remote()=true (a status sent by the server)"
                                     : "  is_remote()=false (detected by the client)"));
  std::string text = "message=" + shown(error.message());
  if (!error.details().empty()) text += "  details=" + shown(error.details());
  lines.push_back(text);
  return lines;
}

// Prints the walkthrough and remembers which checks failed.
class Report {
 public:
  void section(int number, std::string_view title) {
    current_ = std::to_string(number) + ". " + std::string(title);
    std::cout << "\n" << current_ << "\n";
    std::cout.flush();
  }
  void say(std::string_view text) { std::cout << "   " << text << "\n"; }
  void flush() { std::cout.flush(); }
  bool check(bool ok, std::string_view what) {
    std::cout << (ok ? "   [ok]   " : "   [FAIL] ") << what << "\n";
    std::cout.flush();
    if (!ok) failures_.push_back(current_ + ": " + std::string(what));
    return ok;
  }
  void result(const RpcError& error) {
    const auto lines = describe_lines(error);
    std::cout << "      -> " << lines[0] << "\n";
    for (std::size_t i = 1; i < lines.size(); ++i) std::cout << "         " << lines[i] << "\n";
  }
  void fail(std::string_view what) { (void)check(false, what); }
  const std::vector<std::string>& failures() const { return failures_; }

 private:
  std::string current_ = "setup";
  std::vector<std::string> failures_;
};

// ---- helpers --------------------------------------------------------------------------------------

// A directory removed with everything in it when the object goes away.
class TempDir {
 public:
  TempDir() {
    std::error_code error;
    auto base = std::filesystem::temp_directory_path(error);
    if (error) base = "/tmp";
    std::string pattern = (base / "rpcnet-demo-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  bool ok() const { return !path_.empty(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

asio::awaitable<void> sleep_for(Clock::duration duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  (void)co_await timer.async_wait(as_tuple(asio::use_awaitable));
}

// Polls `condition` every millisecond, for at most `limit`. Pass a named callable (GCC 12).
template <class Condition>
asio::awaitable<bool> wait_until(Condition condition, Clock::duration limit) {
  const auto give_up = Clock::now() + limit;
  while (!condition()) {
    if (Clock::now() >= give_up) co_return false;
    co_await sleep_for(1ms);
  }
  co_return true;
}

double percentile_us(const std::vector<std::int64_t>& samples_ns, double fraction) {
  return static_cast<double>(percentile(samples_ns, fraction).value_or(0)) / 1000.0;
}

std::string fixed(double value, int decimals) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(decimals);
  out << value;
  return out.str();
}

// Everything the steps share. Lives in run_demo's frame; `client` points into run_steps' frame
// (the client is created and dropped on the client loop).
struct Demo {
  const DemoOptions& options;
  Report& report;
  RpcServer& server;
  std::future<Result<void>>& serving;
  std::shared_ptr<DemoProbe> probe;
  RpcClient* client = nullptr;
};

// ---- the steps ------------------------------------------------------------------------------------

asio::awaitable<std::optional<RpcClient>> step_connect(Demo& d, SocketAddress address,
                                                       std::string ca_cert) {
  // The client trusts the development CA and checks the name "localhost" in the server's
  // certificate, as in the guide's client essentials.
  auto config = RpcConfig(ca_cert, "127.0.0.1:0")
                    .with_server_name("localhost")
                    .with_default_timeout(10s);
  const auto start = Clock::now();
  auto client = co_await RpcClient::connect(address, std::move(config));
  const auto took = Clock::now() - start;
  if (!client) {
    d.report.fail("RpcClient::connect failed: " + describe(client.error()));
    co_return std::nullopt;
  }
  d.report.say("client        RpcClient::connect(" + to_string(address) +
               "): QUIC + TLS 1.3 handshake done in " + us_text(took));
  d.report.say("              (every call below opens its own QUIC stream on this one connection)");
  co_return std::move(*client);
}

asio::awaitable<void> step_unary(Demo& d) {
  d.report.section(1, "Unary call: one request in, one response out");
  d.report.say("client.call(\"add\", 8 bytes)   the request is (21, 21) as two little-endian int32");
  Bytes request = encode_pair(21, 21);
  const auto start = Clock::now();
  auto reply = co_await d.client->call("add", std::move(request));
  const auto took = Clock::now() - start;
  if (!reply) {
    d.report.fail("add failed: " + describe(reply.error()));
    co_return;
  }
  const auto sum = decode_int(*reply);
  d.report.say("-> " + std::to_string(reply->size()) + " bytes, decoded: " +
               (sum ? std::to_string(*sum) : std::string("(not an int32)")) + "   in " +
               us_text(took));
  d.report.check(sum == 42, "the sum is 42");
}

asio::awaitable<void> step_server_streaming(Demo& d) {
  d.report.section(2, "Server streaming: one request, a stream of responses");
  d.report.say("client.call_server_streaming(\"list_items\", \"planets\")");
  const auto start = Clock::now();
  auto stream = co_await d.client->call_server_streaming("list_items", to_bytes("planets"));
  if (!stream) {
    d.report.fail("list_items failed: " + describe(stream.error()));
    co_return;
  }
  std::vector<std::string> items;
  for (;;) {
    auto next = co_await stream->next();
    if (!next) {
      d.report.fail("the stream broke after " + std::to_string(items.size()) +
                    " items: " + describe(next.error()));
      co_return;
    }
    if (!*next) break;  // the server finished with OK
    items.push_back(to_string(**next));
    d.report.say("<- item " + std::to_string(items.size()) + ": " + padded(shown(items.back()), 12) +
                 "at +" + us_text(Clock::now() - start));
  }
  d.report.say("<- end of stream (the handler returned OK) at +" + us_text(Clock::now() - start));
  d.report.check(items == demo_planets(),
                 std::to_string(demo_planets().size()) + " items in order, then a clean end");
}

asio::awaitable<void> step_client_streaming(Demo& d) {
  d.report.section(3, "Client streaming: a stream of requests, one response");
  std::vector<Bytes> chunks;
  chunks.push_back(to_bytes("chunk-a"));
  chunks.push_back(to_bytes("chunk-b"));
  Bytes big(32 * 1024);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 31 + 7);
  chunks.push_back(std::move(big));
  chunks.push_back(to_bytes("last chunk"));
  UploadDigest expected;
  std::string sizes;
  for (const auto& chunk : chunks) {
    expected.add(chunk);
    sizes += (sizes.empty() ? "" : ", ") + std::to_string(chunk.size());
  }
  d.report.say("client.call_client_streaming(\"upload\", " + std::to_string(chunks.size()) +
               " chunks of " + sizes + " bytes)");
  const auto start = Clock::now();
  auto digest = co_await d.client->call_client_streaming("upload", std::move(chunks));
  const auto took = Clock::now() - start;
  if (!digest) {
    d.report.fail("upload failed: " + describe(digest.error()));
    co_return;
  }
  d.report.say("-> " + shown(*digest) + "   in " + us_text(took));
  d.report.check(to_string(*digest) == expected.summary(),
                 "the server's summary matches the digest computed locally");
}

asio::awaitable<void> step_bidirectional(Demo& d) {
  d.report.section(4, "Bidirectional streaming: both directions at once");
  d.report.say("client.open_call(\"chat\"), then write / read by hand: each reply arrives while the");
  d.report.say("client is still sending (the stream stays open until finish())");
  auto call = co_await d.client->open_call("chat");
  if (!call) {
    d.report.fail("open_call failed: " + describe(call.error()));
    co_return;
  }
  const std::vector<std::string> messages = {"hello", "", "streams are independent", "bye"};
  bool all_match = true;
  for (const auto& message : messages) {
    const auto sent_at = Clock::now();
    if (auto written = co_await call->write(to_bytes(message)); !written) {
      d.report.fail("write failed: " + describe(written.error()));
      co_return;
    }
    d.report.say("-> " + (message.empty() ? padded(shown(message), 28) + "(an empty message is a message too)"
                                          : shown(message)));
    auto reply = co_await call->read();
    if (!reply || !*reply) {
      d.report.fail(!reply ? "read failed: " + describe(reply.error())
                           : std::string("the server ended the call early"));
      co_return;
    }
    std::string expected = message;
    for (char& c : expected) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    all_match = all_match && to_string(**reply) == expected;
    d.report.say("<- " + padded(shown(**reply), 28) + us_text(Clock::now() - sent_at) +
                 " after the write, before the next one");
  }
  if (auto finished = co_await call->finish(); !finished) {
    d.report.fail("finish failed: " + describe(finished.error()));
    co_return;
  }
  d.report.say("finish()   the client is done sending (QUIC FIN)");
  auto end = co_await call->read();
  const bool clean_end = end && !*end;
  d.report.say(std::string("read()     ") +
               (clean_end ? "end of stream: the handler returned OK"
                          : (end ? "an unexpected extra message" : describe(end.error()))));
  d.report.check(all_match && clean_end,
                 "every message came back uppercased, in order, the empty one included");
}

// 5a: a method nobody registered.
asio::awaitable<void> error_unknown_method(Demo& d) {
  d.report.say("a) client.call(\"no_such_method\", ...)");
  Bytes request = to_bytes("anything");
  auto reply = co_await d.client->call("no_such_method", std::move(request));
  if (reply) {
    d.report.fail("an unknown method answered");
    co_return;
  }
  d.report.result(reply.error());
  d.report.check(reply.error().kind() == ErrorKind::kStatus &&
                     reply.error().code() == StatusCode::kNotFound,
                 "unknown method: NOT_FOUND (do not retry)");
}

// 5b: the handler decides the call is bad and says why, with machine-readable details.
asio::awaitable<void> error_typed_status(Demo& d) {
  d.report.say("b) client.call(\"divide\", (1, 0))   the handler returns RpcError::status(...)");
  Bytes request = encode_pair(1, 0);
  auto reply = co_await d.client->call("divide", std::move(request));
  if (reply) {
    d.report.fail("1 / 0 succeeded");
    co_return;
  }
  d.report.result(reply.error());
  d.report.check(reply.error().kind() == ErrorKind::kStatus &&
                     reply.error().code() == StatusCode::kInvalidArgument &&
                     reply.error().is_remote() &&
                     to_string(reply.error().details()) == "field=divisor; reason=must not be zero",
                 "typed status: INVALID_ARGUMENT with the handler's message and details");
}

// 5c: a call that outlives its deadline; the server cancels the handler.
asio::awaitable<void> error_deadline(Demo& d) {
  CallOptions options;
  options.timeout = 250ms;
  d.report.say("c) client.call(\"slow\", ..., timeout = 250 ms)   the handler would wait a minute");
  const auto start = Clock::now();
  Bytes request;
  auto reply = co_await d.client->call("slow", std::move(request), options);
  const auto took = Clock::now() - start;
  if (reply) {
    d.report.fail("the slow call succeeded within its deadline");
    co_return;
  }
  d.report.result(reply.error());
  d.report.say("      (the call returned after " +
               std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()) +
               " ms)");
  d.report.check(reply.error().code() == StatusCode::kDeadlineExceeded,
                 "the caller gets DEADLINE_EXCEEDED when the deadline passes");
  auto probe = d.probe;
  auto woke = [probe] { return probe->slow_wake.load() != 0; };
  if (!co_await wait_until(woke, 5s)) {
    d.report.fail("the server handler was never woken");
    co_return;
  }
  const bool cancelled = probe->slow_wake.load() == static_cast<int>(DemoProbe::Wake::kCancelled);
  d.report.say(std::string("   server side: the handler's timer wait was aborted after ") +
               std::to_string(probe->slow_parked_us.load() / 1000) + " ms, context.cancelled() == " +
               (cancelled ? "true" : "false"));
  d.report.check(cancelled, "the server handler observed the cancellation");
}

// 5d: a request larger than the server accepts.
asio::awaitable<void> error_too_large(Demo& d) {
  const std::size_t size = 2 * kServerMaxMessage;
  d.report.say("d) client.call(\"echo\", " + std::to_string(size >> 10) +
               " KiB)   the server's max_message_size is " + std::to_string(kServerMaxMessage >> 10) +
               " KiB");
  Bytes big(size, 0xab);
  auto reply = co_await d.client->call("echo", std::move(big));
  if (reply) {
    d.report.fail("an oversized request was accepted");
    co_return;
  }
  d.report.result(reply.error());
  d.report.check(reply.error().code() == StatusCode::kResourceExhausted,
                 "over the size limit: RESOURCE_EXHAUSTED (send less)");
  Bytes request = encode_pair(1, 2);
  auto after = co_await d.client->call("add", std::move(request));
  const bool fine = after && decode_int(*after) == 3;
  d.report.say(std::string("   then client.call(\"add\", (1, 2)) -> ") +
               (fine ? "3" : (after ? "a wrong answer" : describe(after.error()))));
  d.report.check(fine, "errors end only their own call: the connection keeps working");
}

asio::awaitable<void> step_errors(Demo& d) {
  d.report.section(5, "Errors are values: branch on code(), not on message text");
  co_await error_unknown_method(d);
  co_await error_typed_status(d);
  co_await error_deadline(d);
  co_await error_too_large(d);
}

// 6a: one call at a time: latency percentiles.
asio::awaitable<void> benchmark_sequential(Demo& d, int calls) {
  Bytes payload(64);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i);
  for (int i = 0; i < 200; ++i) (void)co_await d.client->call("echo", Bytes(payload));  // warm up
  d.report.say("a) " + std::to_string(calls) + " sequential unary calls, 64-byte request and response ...");
  d.report.flush();
  std::vector<std::int64_t> latencies_ns;
  latencies_ns.reserve(static_cast<std::size_t>(calls));
  int errors = 0;
  std::optional<RpcError> first_error;
  const auto start = Clock::now();
  for (int i = 0; i < calls; ++i) {
    const auto t0 = Clock::now();
    auto reply = co_await d.client->call("echo", Bytes(payload));
    latencies_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
    if (!reply || *reply != payload) {
      ++errors;
      if (!reply && !first_error) first_error = reply.error();
    }
  }
  const auto total = Clock::now() - start;
  const double seconds = std::chrono::duration<double>(total).count();
  d.report.say("   latency p50 " + fixed(percentile_us(latencies_ns, 0.50), 1) + " µs, p99 " +
               fixed(percentile_us(latencies_ns, 0.99), 1) + " µs   (" +
               fixed(static_cast<double>(calls) / seconds, 0) + " calls/s one at a time)");
  if (first_error) d.report.say("   first error: " + describe(*first_error));
  d.report.check(errors == 0, "every sequential call returned its payload");
}

// 6b: 64 calls in flight on the one connection: throughput.
asio::awaitable<void> benchmark_concurrent(Demo& d, Clock::duration duration) {
  constexpr int kInFlight = 64;
  d.report.say("b) " + std::to_string(kInFlight) + " calls in flight on one connection for " +
               fixed(std::chrono::duration<double>(duration).count(), 1) + " s ...");
  d.report.flush();
  Bytes payload(64, 0x5a);
  auto executor = co_await asio::this_coro::executor;
  std::uint64_t completed = 0;
  std::uint64_t errors = 0;
  std::optional<RpcError> first_error;
  int running = kInFlight;
  runtime::Event all_done;
  const auto start = Clock::now();
  const auto stop_at = start + duration;
  for (int i = 0; i < kInFlight; ++i) {
    // Each worker keeps one call in flight until time is up. Named before co_spawn (GCC 12).
    auto worker = [&]() -> asio::awaitable<void> {
      while (Clock::now() < stop_at) {
        auto reply = co_await d.client->call("echo", Bytes(payload));
        if (reply && *reply == payload) {
          ++completed;
        } else {
          ++errors;
          if (!reply && !first_error) first_error = reply.error();
        }
      }
      if (--running == 0) all_done.set();
    };
    asio::co_spawn(executor, std::move(worker), asio::detached);
  }
  co_await all_done.wait();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  d.report.say("   " + std::to_string(completed) + " calls in " + fixed(seconds, 2) + " s = " +
               fixed(static_cast<double>(completed) / seconds, 0) + " calls/s");
  if (first_error) d.report.say("   first error: " + describe(*first_error));
  d.report.check(errors == 0 && completed > 0, "every concurrent call returned its payload");
}

asio::awaitable<void> step_benchmark(Demo& d) {
  d.report.section(6, "Loopback benchmark (client and server share this machine's cores)");
  if (d.options.quick) d.report.say("(--quick: shortened)");
  co_await benchmark_sequential(d, d.options.quick ? 2'000 : 20'000);
  co_await benchmark_concurrent(d, d.options.quick ? Clock::duration(300ms) : Clock::duration(2s));
}

asio::awaitable<void> step_shutdown(Demo& d) {
  d.report.section(7, "Graceful shutdown");
  auto executor = co_await asio::this_coro::executor;
  auto probe = d.probe;

  // A call that takes a while is in flight when shutdown begins.
  std::optional<Result<Bytes>> work;
  runtime::Event work_done;
  auto in_flight = [&]() -> asio::awaitable<void> {
    Bytes request;
    work.emplace(co_await d.client->call("work", std::move(request)));
    work_done.set();
  };
  asio::co_spawn(executor, std::move(in_flight), asio::detached);
  auto started = [probe] { return probe->work_started.load(); };
  if (!co_await wait_until(started, 5s)) d.report.fail("the in-flight call never started");
  d.report.say("client.call(\"work\") is in flight (the handler takes " +
               std::to_string(kWorkDuration.count()) + " ms)");

  const auto shutdown_at = Clock::now();
  d.server.shutdown(5s);
  d.report.say("server.shutdown(grace = 5 s): refuse new calls, let calls in flight finish, then close");

  // New calls are refused from now on: UNAVAILABLE, safe to retry elsewhere.
  std::optional<RpcError> refused;
  for (int i = 0; i < 1000 && !refused; ++i) {
    Bytes request;
    auto reply = co_await d.client->call("echo", std::move(request));
    if (!reply) refused = reply.error();
  }
  if (refused) {
    d.report.say("a new call:");
    d.report.result(*refused);
  }
  d.report.check(refused && refused->code() == StatusCode::kUnavailable,
                 "a call started during shutdown is refused with UNAVAILABLE (retryable)");

  co_await work_done.wait();
  const bool finished = work && *work && to_string(**work) == "finished";
  d.report.say("the in-flight call -> " +
               (work && *work ? shown(**work) : (work ? describe(work->error()) : std::string("?"))) +
               " after " +
               std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - shutdown_at).count()) +
               " ms");
  d.report.check(finished, "the call in flight finished normally within the grace period");

  auto& serving = d.serving;
  auto serve_returned = [&serving] { return serving.wait_for(0s) == std::future_status::ready; };
  const bool returned = co_await wait_until(serve_returned, 5s);
  d.report.say("shutdown complete " +
               std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - shutdown_at).count()) +
               " ms after it began" + (returned ? "; server.serve() returned" : ""));
  d.report.check(returned, "server.serve() returned after the shutdown");

  RpcClient* client = d.client;
  auto disconnected = [client] { return !client->is_connected(); };
  const bool closed = co_await wait_until(disconnected, 5s);
  d.report.check(closed, "the client saw the server close the connection (is_connected() == false)");
}

asio::awaitable<void> run_steps(Demo& d, SocketAddress address, std::string ca_cert) {
  auto client = co_await step_connect(d, address, std::move(ca_cert));
  if (!client) co_return;
  d.client = &*client;
  co_await step_unary(d);
  co_await step_server_streaming(d);
  co_await step_client_streaming(d);
  co_await step_bidirectional(d);
  co_await step_errors(d);
  co_await step_benchmark(d);
  co_await step_shutdown(d);
  d.client = nullptr;  // the client is dropped here, on its own loop
}

}  // namespace

int run_demo(const DemoOptions& options) {
  Report report;
  std::cout << "rpcnet " << RPCNET_VERSION
            << " demo: RPC over QUIC + TLS 1.3, server and client in this process, on loopback\n";
  if (options.quick) std::cout << "(--quick: shortened benchmark)\n";
  std::cout << "\nSetup\n";

  // 1. Certificates: a throwaway development CA, server and client certificate.
  TempDir dir;
  if (!dir.ok()) {
    std::cerr << "rpcnet demo: cannot create a temporary directory\n";
    return 1;
  }
  DevCertificateOptions cert_options;
  cert_options.directory = (dir.path() / "certs").string();
  auto certs = make_dev_certificates(cert_options);
  if (!certs) {
    std::cerr << "rpcnet demo: cannot make certificates: " << certs.error() << "\n";
    return 1;
  }
  report.say("certificates  fresh development CA + server + client certificates (ECDSA P-256) in");
  report.say("              " + cert_options.directory + " (removed at exit)");

  // 2. The server: its own event loops, an OS-chosen port.
  auto probe = std::make_shared<DemoProbe>();
  RpcServer server(RpcConfig(certs->server_cert, "127.0.0.1:0")
                       .with_key_path(certs->server_key)
                       .with_event_loops(2)
                       .with_max_message_size(kServerMaxMessage));
  register_demo_methods(server, probe);
  auto address = server.bind();
  if (!address) {
    std::cerr << "rpcnet demo: bind failed: " << address.error() << "\n";
    return 1;
  }
  report.say("server        RpcServer listening on " + to_string(*address) +
             " (2 event loops, max message size " + std::to_string(kServerMaxMessage >> 10) +
             " KiB)");
  report.say("              methods: add, divide, echo, list_items, upload, chat, slow, work");

  // 3. The client side runs on a Runtime loop of ours; server.serve() is awaited there too.
  //    (Declared after the server, so its loop and pending frames go first.)
  Runtime runtime(1);
  auto serving = asio::co_spawn(runtime.executor(0), server.serve(), asio::use_future);
  Demo demo{options, report, server, serving, probe};
  try {
    runtime.block_on(run_steps(demo, *address, certs->ca_cert));
  } catch (const std::exception& error) {
    report.fail(std::string("unexpected exception: ") + error.what());
  }

  // Whatever happened above, stop the server (a no-op when step 7 already did).
  server.shutdown(0ms);
  if (serving.wait_for(10s) != std::future_status::ready) {
    report.fail("server.serve() did not return after shutdown");
  } else if (auto served = serving.get(); !served) {
    report.fail("server.serve() failed: " + describe(served.error()));
  }

  std::cout << "\n";
  if (report.failures().empty()) {
    std::cout << "All steps behaved as expected.\n";
    return 0;
  }
  std::cout << report.failures().size() << " check(s) FAILED:\n";
  for (const auto& failure : report.failures()) std::cout << "  - " << failure << "\n";
  return 1;
}

}  // namespace rpcnet::tool
