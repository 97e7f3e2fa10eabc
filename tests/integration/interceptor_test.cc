// Interceptors (rpcnet/interceptor.h) and trace context over real QUIC on loopback: an
// authorization check that rejects calls lacking a token, the order of a chain, what on_end
// reports for each call type, metadata added on either side, and traceparent reaching handlers.
#include <gtest/gtest.h>

#include <algorithm>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "integration/harness.h"
#include "rpcnet/interceptor.h"
#include "rpcnet/trace_context.h"
#include "support/error_matchers.h"

namespace rpcnet::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kToken = "Bearer good";

// Lines appended from any thread; a test waits (bounded, on a condition variable) for a count.
class Log {
 public:
  void add(std::string line) {
    std::lock_guard lock(mutex_);
    lines_.push_back(std::move(line));
    changed_.notify_all();
  }
  std::vector<std::string> wait_for(std::size_t count) {
    std::unique_lock lock(mutex_);
    EXPECT_TRUE(changed_.wait_for(lock, 10s, [&] { return lines_.size() >= count; }))
        << "only " << lines_.size() << " of " << count << " lines";
    return lines_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> lines_;
};

// The test's authorization interceptor: co_awaits (as a token service lookup would), then lets
// the call through only with the right "authorization" entry, telling the handler who called.
class RequireToken final : public ServerInterceptor {
 public:
  asio::awaitable<Result<void>> on_start(ServerCallInfo& call) override {
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    if (find_metadata(call.context.metadata(), "authorization") != kToken) {
      co_return RpcError::status(StatusCode::kUnauthenticated, "missing or invalid token");
    }
    call.context.mutable_metadata().emplace_back("user", "alice");
    co_return ok();
  }
};

// Appends "<name>:start <method>" and "<name>:end <method> <code>"; rejects when told to.
template <class Base, class Info>
class Named : public Base {
 public:
  Named(std::string name, Log& log, std::optional<StatusCode> reject = std::nullopt)
      : name_(std::move(name)), log_(log), reject_(reject) {}
  asio::awaitable<Result<void>> on_start(Info& call) override {
    log_.add(name_ + ":start " + std::string(method_of(call)));
    if (reject_) co_return RpcError::status(*reject_, name_ + " says no");
    co_return ok();
  }
  void on_end(const Info& call, const CallOutcome& outcome) noexcept override {
    log_.add(name_ + ":end " + std::string(method_of(call)) + " " + std::string(status_code_name(outcome.code)));
  }

 private:
  static std::string_view method_of(const ServerCallInfo& call) { return call.context.method(); }
  static std::string_view method_of(const ClientCallInfo& call) { return call.method; }
  std::string name_;
  Log& log_;
  std::optional<StatusCode> reject_;
};
using NamedServer = Named<ServerInterceptor, ServerCallInfo>;
using NamedClient = Named<ClientInterceptor, ClientCallInfo>;

// Records every outcome as "<method> <type> <code> req=<msgs>/<bytes> resp=<msgs>/<bytes>".
template <class Base, class Info>
class Outcomes : public Base {
 public:
  explicit Outcomes(Log& log) : log_(log) {}
  void on_end(const Info& call, const CallOutcome& outcome) noexcept override {
    const std::string method = method_of(call);
    if (outcome.duration <= 0ns || outcome.duration > 60s) log_.add(method + " has a bad duration");
    log_.add(method + " " + std::string(call_type_name(call.type)) + " " + std::string(status_code_name(outcome.code)) +
             " req=" + std::to_string(outcome.request_messages) + "/" + std::to_string(outcome.request_bytes) +
             " resp=" + std::to_string(outcome.response_messages) + "/" + std::to_string(outcome.response_bytes) +
             registered(call));
  }

 private:
  static std::string method_of(const ServerCallInfo& call) { return call.context.method(); }
  static std::string method_of(const ClientCallInfo& call) { return std::string(call.method); }
  static std::string registered(const ServerCallInfo& call) { return call.registered ? "" : " unregistered"; }
  static std::string registered(const ClientCallInfo&) { return ""; }
  Log& log_;
};

class AddMetadata final : public ClientInterceptor {
 public:
  asio::awaitable<Result<void>> on_start(ClientCallInfo& call) override {
    call.metadata.emplace_back("x-added-by", "client-interceptor");
    co_return ok();
  }
};

// A server with a unary method and one method of each streaming type, all of which report the
// metadata entry "user" (or "-") so tests can see what interceptors added.
class InterceptorTest : public ::testing::Test {
 protected:
  void start(RpcConfig config) {
    server_.emplace(std::move(config));
    RpcServer& server = server_->server();
    server.register_method("echo", [this](Bytes request, CallContext& context) -> asio::awaitable<Result<Bytes>> {
      ++handler_runs_;
      const std::string user(find_metadata(context.metadata(), "user").value_or("-"));
      const std::string added(find_metadata(context.metadata(), "x-added-by").value_or("-"));
      co_return to_bytes(to_string(request) + " user=" + user + " added=" + added);
    });
    server.register_method("fail", [](Bytes) -> asio::awaitable<Result<Bytes>> {
      co_return RpcError::status(StatusCode::kFailedPrecondition, "not now");
    });
    // Server streaming: one request "n", n responses "item".
    server.register_streaming("items", [this](ServerStream stream) -> asio::awaitable<Result<void>> {
      ++handler_runs_;
      auto request = co_await stream.read();
      if (!request || !*request) co_return RpcError::status(StatusCode::kInvalidArgument, "no request");
      const int count = std::stoi(to_string(**request));
      for (int i = 0; i < count; ++i) {
        if (auto written = co_await stream.write(to_bytes("item")); !written) co_return written;
      }
      co_return ok();
    });
    // Client streaming: the total length of the requests, as text.
    server.register_streaming("total", [](ServerStream stream) -> asio::awaitable<Result<void>> {
      std::size_t total = 0;
      for (;;) {
        auto next = co_await stream.read();
        if (!next) co_return next.error();
        if (!*next) break;
        total += (*next)->size();
      }
      co_return co_await stream.write(to_bytes(std::to_string(total)));
    });
    // Bidirectional: echoes every message.
    server.register_streaming("echo_stream", [](ServerStream stream) -> asio::awaitable<Result<void>> {
      for (;;) {
        auto next = co_await stream.read();
        if (!next) co_return next.error();
        if (!*next) co_return ok();
        if (auto written = co_await stream.write(std::move(**next)); !written) co_return written;
      }
    });
    server_->start();
  }

  template <class T>
  T run(asio::awaitable<T> task) {
    return run_bounded(server_->runtime(), std::move(task));
  }

  static CallOptions with_token(std::string_view token) {
    CallOptions options;
    options.metadata.emplace_back("authorization", std::string(token));
    return options;
  }

  // "a,b|end" or "a|<error>": everything a response stream gives.
  static asio::awaitable<std::string> drain(ResponseStream& stream) {
    std::string out;
    for (;;) {
      auto next = co_await stream.next();
      if (!next) co_return out + "|" + std::string(status_code_name(next.error().code()));
      if (!*next) co_return out + "|end";
      if (!out.empty()) out += ",";
      out += to_string(**next);
    }
  }

  // drain(), or "open failed" when the stream did not open (no co_await inside ?:, GCC 12).
  static asio::awaitable<std::string> drain_or_fail(Result<ResponseStream>& stream) {
    if (!stream) co_return "open failed";
    co_return co_await drain(*stream);
  }

  std::atomic<int> handler_runs_{0};
  std::optional<LoopbackServer> server_;
};

TEST_F(InterceptorTest, AuthorizationRejectsUnaryCallsWithoutTheTokenAndLetsOthersThrough) {
  start(server_config().with_server_interceptor(std::make_shared<RequireToken>()));
  auto results = run([&]() -> asio::awaitable<std::vector<Result<Bytes>>> {
    auto client = co_await server_->connect();
    std::vector<Result<Bytes>> out;
    out.push_back(co_await client.call("echo", to_bytes("hi")));
    out.push_back(co_await client.call("echo", to_bytes("hi"), with_token("Bearer bad")));
    out.push_back(co_await client.call("echo", to_bytes("hi"), with_token(kToken)));
    out.push_back(co_await client.call("no_such_method", to_bytes("hi")));
    co_return out;
  }());
  ASSERT_EQ(results.size(), 4u);
  EXPECT_THAT(results[0], StatusIs(StatusCode::kUnauthenticated));
  EXPECT_EQ(results[0].error().message(), "missing or invalid token");
  EXPECT_THAT(results[1], StatusIs(StatusCode::kUnauthenticated));
  ASSERT_TRUE(results[2]) << results[2].error();
  EXPECT_EQ(to_string(*results[2]), "hi user=alice added=-");  // the interceptor's metadata
  // Unknown methods are checked too: no method list leaks to unauthenticated callers.
  EXPECT_THAT(results[3], StatusIs(StatusCode::kUnauthenticated));
  EXPECT_EQ(handler_runs_.load(), 1);
}

TEST_F(InterceptorTest, AuthorizationRejectsStreamingCallsWithoutTheTokenBeforeTheHandlerRuns) {
  start(server_config().with_server_interceptor(std::make_shared<RequireToken>()));
  auto drained = run([&]() -> asio::awaitable<std::vector<std::string>> {
    auto client = co_await server_->connect();
    std::vector<std::string> out;
    auto refused = co_await client.call_server_streaming("items", to_bytes("3"));
    out.push_back(co_await drain_or_fail(refused));
    auto allowed = co_await client.call_server_streaming("items", to_bytes("3"), with_token(kToken));
    out.push_back(co_await drain_or_fail(allowed));
    std::vector<Bytes> requests;
    requests.push_back(to_bytes("x"));
    auto bidi = co_await client.call_streaming("echo_stream", std::move(requests));
    out.push_back(co_await drain_or_fail(bidi));
    co_return out;
  }());
  EXPECT_EQ(drained, (std::vector<std::string>{"|UNAUTHENTICATED", "item,item,item|end", "|UNAUTHENTICATED"}));
  EXPECT_EQ(handler_runs_.load(), 1);
}

TEST_F(InterceptorTest, ChainsRunInOrderAndEndInReverseOnBothSides) {
  Log log;
  start(server_config()
            .with_server_interceptor(std::make_shared<NamedServer>("s1", log))
            .with_server_interceptor(std::make_shared<NamedServer>("s2", log)));
  auto client_config_with_chain = client_config()
                                      .with_client_interceptor(std::make_shared<NamedClient>("c1", log))
                                      .with_client_interceptor(std::make_shared<NamedClient>("c2", log));
  auto reply = run([&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server_->connect(client_config_with_chain);
    co_return co_await client.call("echo", to_bytes("hi"));
  }());
  ASSERT_TRUE(reply) << reply.error();
  auto lines = log.wait_for(8);
  // The client's chain starts before anything is sent and (unary) ends once the status is in;
  // the server's may end on its loop just after the client has it: compare each side alone.
  std::vector<std::string> client_side, server_side;
  for (const auto& line : lines) (line[0] == 'c' ? client_side : server_side).push_back(line);
  EXPECT_EQ(client_side, (std::vector<std::string>{"c1:start echo", "c2:start echo", "c2:end echo OK", "c1:end echo OK"}));
  EXPECT_EQ(server_side, (std::vector<std::string>{"s1:start echo", "s2:start echo", "s2:end echo OK", "s1:end echo OK"}));
}

TEST_F(InterceptorTest, ARejectionStopsTheChainAndTheCallerGetsThatExactStatus) {
  Log log;
  start(server_config()
            .with_server_interceptor(std::make_shared<NamedServer>("s1", log))
            .with_server_interceptor(std::make_shared<NamedServer>("s2", log, StatusCode::kPermissionDenied))
            .with_server_interceptor(std::make_shared<NamedServer>("s3", log)));
  auto reply = run([&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server_->connect();
    co_return co_await client.call("echo", to_bytes("hi"));
  }());
  EXPECT_THAT(reply, ErrorIs(ErrorKind::kStatus, StatusCode::kPermissionDenied));
  EXPECT_EQ(reply.error().message(), "s2 says no");
  EXPECT_EQ(log.wait_for(4), (std::vector<std::string>{"s1:start echo", "s2:start echo", "s2:end echo PERMISSION_DENIED",
                                                       "s1:end echo PERMISSION_DENIED"}));
  EXPECT_EQ(handler_runs_.load(), 0);
}

TEST_F(InterceptorTest, AClientInterceptorRejectsBeforeAnythingIsSent) {
  Log log;
  start(server_config());
  auto config = client_config().with_client_interceptor(
      std::make_shared<NamedClient>("c1", log, StatusCode::kFailedPrecondition));
  auto reply = run([&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server_->connect(config);
    co_return co_await client.call("echo", to_bytes("hi"));
  }());
  EXPECT_THAT(reply, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_EQ(reply.error().message(), "c1 says no");
  EXPECT_EQ(log.wait_for(2), (std::vector<std::string>{"c1:start echo", "c1:end echo FAILED_PRECONDITION"}));
  EXPECT_EQ(server_->server().stats().calls_started, 0u);
}

TEST_F(InterceptorTest, AClientInterceptorAddsMetadataTheHandlerSees) {
  start(server_config());
  auto config = client_config().with_client_interceptor(std::make_shared<AddMetadata>());
  auto reply = run([&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server_->connect(config);
    co_return co_await client.call("echo", to_bytes("hi"));
  }());
  ASSERT_TRUE(reply) << reply.error();
  EXPECT_EQ(to_string(*reply), "hi user=- added=client-interceptor");
}

TEST_F(InterceptorTest, OnEndReportsStatusDurationAndBytesForEveryCallType) {
  Log server_log, client_log;
  start(server_config().with_server_interceptor(std::make_shared<Outcomes<ServerInterceptor, ServerCallInfo>>(server_log)));
  auto config = client_config().with_client_interceptor(
      std::make_shared<Outcomes<ClientInterceptor, ClientCallInfo>>(client_log));
  run([&]() -> asio::awaitable<void> {
    auto client = co_await server_->connect(config);
    // Each call ends before the next starts, so the client's lines come in this order.
    auto unary = co_await client.call("echo", to_bytes("hello"));  // answers "hello user=- added=-"
    EXPECT_TRUE(unary);
    auto items = co_await client.call_server_streaming("items", to_bytes("3"));  // 3 x "item"
    const std::string items_read = co_await drain_or_fail(items);
    EXPECT_EQ(items_read, "item,item,item|end");
    std::vector<Bytes> parts;
    for (const char* part : {"a", "bb", "ccc"}) parts.push_back(to_bytes(part));
    auto total = co_await client.call_client_streaming("total", std::move(parts));
    EXPECT_EQ(total ? to_string(*total) : total.error().to_string(), "6");
    std::vector<Bytes> echoed;
    for (const char* part : {"xy", "z"}) echoed.push_back(to_bytes(part));
    auto bidi = co_await client.call_streaming("echo_stream", std::move(echoed));
    const std::string bidi_read = co_await drain_or_fail(bidi);
    EXPECT_EQ(bidi_read, "xy,z|end");
    auto failed = co_await client.call("fail", to_bytes("1234"));
    EXPECT_THAT(failed, StatusIs(StatusCode::kFailedPrecondition));
    const Bytes empty;
    auto unknown = co_await client.call("nope", empty);
    EXPECT_THAT(unknown, StatusIs(StatusCode::kNotFound));
  }());
  const std::vector<std::string> expected_client{
      "echo unary OK req=1/5 resp=1/20",
      "items server_streaming OK req=1/1 resp=3/12",
      "total client_streaming OK req=3/6 resp=1/1",
      "echo_stream bidi_streaming OK req=2/3 resp=2/3",
      "fail unary FAILED_PRECONDITION req=1/4 resp=0/0",
      "nope unary NOT_FOUND req=1/0 resp=0/0",
  };
  EXPECT_EQ(client_log.wait_for(6), expected_client);
  auto server_lines = server_log.wait_for(6);
  std::sort(server_lines.begin(), server_lines.end());
  // The server reads no request of a call it answers before its handler (unknown methods), and
  // never sees a registered name for them.
  std::vector<std::string> expected_server{
      "echo unary OK req=1/5 resp=1/20",
      "items server_streaming OK req=1/1 resp=3/12",
      "total client_streaming OK req=3/6 resp=1/1",
      "echo_stream bidi_streaming OK req=2/3 resp=2/3",
      "fail unary FAILED_PRECONDITION req=1/4 resp=0/0",
      "nope unary NOT_FOUND req=0/0 resp=0/0 unregistered",
  };
  std::sort(expected_server.begin(), expected_server.end());
  EXPECT_EQ(server_lines, expected_server);
}

TEST_F(InterceptorTest, HandlersSeeTheCallersTraceAndOutgoingCallsContinueIt) {
  // "relay" calls "trace" on the same server with trace_parent = its own trace; "trace"
  // answers with what it received.
  start(server_config());
  SocketAddress address = server_->address();
  server_->server().register_method("trace", [](Bytes, CallContext& context) -> asio::awaitable<Result<Bytes>> {
    auto trace = context.trace_context();
    co_return to_bytes(trace ? format_traceparent(*trace) : std::string("none"));
  });
  server_->server().register_method("relay", [address](Bytes, CallContext& context) -> asio::awaitable<Result<Bytes>> {
    auto client = co_await RpcClient::connect(address, client_config());
    if (!client) co_return client.error();
    CallOptions options;
    options.trace_parent = context.trace_context();
    options.metadata.emplace_back("traceparent", "00-11111111111111111111111111111111-2222222222222222-00");  // replaced
    const Bytes empty;
    co_return co_await client->call("trace", empty, options);
  });
  const std::string incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto replies = run([&]() -> asio::awaitable<std::vector<std::string>> {
    auto client = co_await server_->connect();
    std::vector<std::string> out;
    const std::vector<std::string> methods{"trace", "relay"};
    const Bytes empty;
    for (const std::string& method : methods) {
      CallOptions options;
      options.metadata.emplace_back("traceparent", incoming);
      auto reply = co_await client.call(method, empty, options);
      out.push_back(reply ? to_string(*reply) : reply.error().to_string());
    }
    CallOptions malformed;
    malformed.metadata.emplace_back("traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01");
    auto reply = co_await client.call("trace", empty, malformed);
    out.push_back(reply ? to_string(*reply) : reply.error().to_string());
    co_return out;
  }());
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[0], incoming);
  auto relayed = parse_traceparent(replies[1]);
  ASSERT_TRUE(relayed) << replies[1];
  const auto original = *parse_traceparent(incoming);
  EXPECT_EQ(relayed->trace_id, original.trace_id);
  EXPECT_EQ(relayed->flags, original.flags);
  EXPECT_NE(relayed->parent_id, original.parent_id);
  EXPECT_EQ(replies[2], "none");  // upper-case hex is not W3C: ignored
}

}  // namespace
}  // namespace rpcnet::testing
