// An rpcnet client (RpcConfig::with_transport(kHttp2Only)) calls a gRPC C++ server (Debian's
// libgrpc++, a server nobody here wrote) over HTTP/2 + TLS: unary calls with metadata both ways,
// error statuses, an unknown method, bidirectional streaming, deadlines and 1 MiB messages. The
// other direction of grpc_cpp_client_test.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "echo.grpc.pb.h"
#include "echo_service.h"
#include "integration/harness.h"

namespace rpcnet::testing {
namespace {

using namespace std::chrono_literals;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string metadata_value(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                           const std::string& key) {
  const auto found = metadata.find(key);
  if (found == metadata.end()) return "";
  return std::string(found->second.data(), found->second.size());
}

// What the gRPC C++ handlers observed, for the tests to wait on.
struct ServerObserved {
  interop::Counter waits_cancelled;
  interop::Counter waits_with_deadline;  // Wait calls whose context carried a finite deadline
};

// tests/interop/echo.proto served by gRPC C++ (callback API: no handler blocks a thread, and Wait
// learns of its cancellation from OnCancel instead of polling).
class GrpcEcho final : public ::interop::Echo::CallbackService {
 public:
  explicit GrpcEcho(ServerObserved& observed) : observed_(observed) {}

  // The data back, with "|tenant=X" and "|blob=<hex>" for the caller's metadata; trailing
  // metadata handled-by=grpc-cpp.
  grpc::ServerUnaryReactor* Say(grpc::CallbackServerContext* context, const ::interop::Payload* request,
                                ::interop::Payload* response) override {
    std::string data = request->data();
    const auto& metadata = context->client_metadata();
    if (metadata.count("tenant") == 1) data += "|tenant=" + metadata_value(metadata, "tenant");
    if (metadata.count("blob-bin") == 1) data += "|blob=" + interop::hex(metadata_value(metadata, "blob-bin"));
    response->set_data(data);
    response->set_count(request->count());
    context->AddTrailingMetadata("handled-by", "grpc-cpp");
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* Fail(grpc::CallbackServerContext* context, const ::interop::Payload*,
                                 ::interop::Payload*) override {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "no such thing"));
    return reactor;
  }

  // Never answers: finishes only when the call is cancelled (deadline or client).
  grpc::ServerUnaryReactor* Wait(grpc::CallbackServerContext* context, const ::interop::Payload*,
                                 ::interop::Payload*) override {
    if (context->deadline() < std::chrono::system_clock::now() + std::chrono::hours(1)) {
      observed_.waits_with_deadline.add();
    }
    return new WaitReactor(observed_);
  }

  grpc::ServerBidiReactor<::interop::Payload, ::interop::Payload>* Chat(grpc::CallbackServerContext*) override {
    return new ChatReactor();
  }

 private:
  class WaitReactor final : public grpc::ServerUnaryReactor {
   public:
    explicit WaitReactor(ServerObserved& observed) : observed_(observed) {}
    void OnCancel() override {
      observed_.waits_cancelled.add();
      Finish(grpc::Status::CANCELLED);
    }
    void OnDone() override { delete this; }

   private:
    ServerObserved& observed_;
  };

  // Reads a message, writes it back, reads the next; OK once the client ends its requests.
  class ChatReactor final : public grpc::ServerBidiReactor<::interop::Payload, ::interop::Payload> {
   public:
    ChatReactor() { StartRead(&in_); }
    void OnReadDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status::OK);
        return;
      }
      out_ = in_;
      StartWrite(&out_);
    }
    void OnWriteDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status(grpc::StatusCode::UNKNOWN, "write failed"));
        return;
      }
      StartRead(&in_);
    }
    void OnDone() override { delete this; }

   private:
    ::interop::Payload in_;
    ::interop::Payload out_;
  };

  ServerObserved& observed_;
};

Bytes payload(std::string_view data) {
  ::interop::Payload message;
  message.set_data(std::string(data));
  return interop::to_bytes(message);
}

class GrpcCppServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::SslServerCredentialsOptions tls;
    tls.pem_key_cert_pairs.push_back(
        {read_file(certificates().main.server_key), read_file(certificates().main.server_cert)});
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
    address_ = SocketAddress(asio::ip::make_address("127.0.0.1"), static_cast<std::uint16_t>(port_));
  }

  void TearDown() override {
    if (server_) {
      server_->Shutdown(std::chrono::system_clock::now() + 5s);
      server_->Wait();
    }
  }

  static RpcConfig http2_config() { return client_config().with_transport(TransportChoice::kHttp2Only); }

  // Declared first so it is destroyed last (after the gRPC server, whose connections it talks to).
  Runtime runtime_{1};
  ServerObserved observed_;
  GrpcEcho service_{observed_};
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  SocketAddress address_;
};

TEST_F(GrpcCppServerTest, TheClientConnectsOverHttp2) {
  auto transport = run_bounded(runtime_, [](SocketAddress address) -> asio::awaitable<Result<Transport>> {
    auto client = co_await RpcClient::connect(address, http2_config());
    if (!client) co_return client.error();
    co_return client->transport();
  }(address_));
  ASSERT_TRUE(transport) << transport.error();
  EXPECT_EQ(*transport, Transport::kHttp2);
}

TEST_F(GrpcCppServerTest, AUnaryCallCarriesItsMetadataToTheHandler) {
  auto reply = run_bounded(runtime_, [](SocketAddress address) -> asio::awaitable<Result<Bytes>> {
    auto client = co_await RpcClient::connect(address, http2_config());
    if (!client) co_return client.error();
    CallOptions options;
    options.metadata.emplace_back("tenant", "blue");
    options.metadata.emplace_back("blob-bin", std::string("\x00\xff", 2));
    co_return co_await client->call("interop.Echo/Say", payload("hi"), std::move(options));
  }(address_));
  ASSERT_TRUE(reply) << reply.error();
  EXPECT_EQ(interop::from_bytes(*reply).data(), "hi|tenant=blue|blob=00ff");
}

TEST_F(GrpcCppServerTest, TheHandlersTrailingMetadataArrives) {
  struct Outcome {
    std::vector<std::string> replies;
    Metadata trailers;
  };
  auto outcome = run_bounded(runtime_, [](SocketAddress address) -> asio::awaitable<Result<Outcome>> {
    auto client = co_await RpcClient::connect(address, http2_config());
    if (!client) co_return client.error();
    auto call = co_await client->open_call("interop.Echo/Say");
    if (!call) co_return call.error();
    if (auto written = co_await call->write(payload("x")); !written) co_return written.error();
    if (auto finished = co_await call->finish(); !finished) co_return finished.error();
    Outcome out;
    for (int i = 0; i < 3; ++i) {
      auto next = co_await call->read();
      if (!next) co_return next.error();
      if (!*next) break;
      out.replies.push_back(interop::from_bytes(**next).data());
    }
    out.trailers = call->trailer_metadata();
    co_return out;
  }(address_));
  ASSERT_TRUE(outcome) << outcome.error();
  EXPECT_EQ(outcome->replies, std::vector<std::string>{"x"});
  EXPECT_EQ(find_metadata(outcome->trailers, "handled-by"), std::optional<std::string_view>("grpc-cpp"));
}

TEST_F(GrpcCppServerTest, AHandlersErrorStatusArrivesWithItsCodeAndMessage) {
  auto reply = run_bounded(runtime_, [](SocketAddress address) -> asio::awaitable<Result<Bytes>> {
    auto client = co_await RpcClient::connect(address, http2_config());
    if (!client) co_return client.error();
    co_return co_await client->call("interop.Echo/Fail", payload("hi"));
  }(address_));
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().kind(), ErrorKind::kStatus) << reply.error();
  EXPECT_EQ(reply.error().code(), StatusCode::kNotFound) << reply.error();
  EXPECT_EQ(reply.error().message(), "no such thing");
  EXPECT_TRUE(reply.error().is_remote());
}

TEST_F(GrpcCppServerTest, AnUnknownMethodIsUnimplemented) {
  auto reply = run_bounded(runtime_, [](SocketAddress address) -> asio::awaitable<Result<Bytes>> {
    auto client = co_await RpcClient::connect(address, http2_config());
    if (!client) co_return client.error();
    co_return co_await client->call("interop.Echo/Nope", payload("hi"));
  }(address_));
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().code(), StatusCode::kUnimplemented) << reply.error();
  EXPECT_TRUE(reply.error().is_remote()) << reply.error();
}

TEST_F(GrpcCppServerTest, BidirectionalStreamingEchoesEachMessageInTurn) {
  struct Outcome {
    std::vector<std::string> echoed;
    bool ended_ok = false;
  };
  auto outcome = run_bounded(runtime_, [](SocketAddress address) -> asio::awaitable<Result<Outcome>> {
    auto client = co_await RpcClient::connect(address, http2_config());
    if (!client) co_return client.error();
    auto call = co_await client->open_call("interop.Echo/Chat");
    if (!call) co_return call.error();
    Outcome out;
    for (int i = 0; i < 5; ++i) {
      if (auto written = co_await call->write(payload("m" + std::to_string(i))); !written) co_return written.error();
      auto echoed = co_await call->read();
      if (!echoed) co_return echoed.error();
      if (!*echoed) co_return out;  // ended early: echoed is short
      out.echoed.push_back(interop::from_bytes(**echoed).data());
    }
    if (auto finished = co_await call->finish(); !finished) co_return finished.error();
    auto end = co_await call->read();
    if (!end) co_return end.error();
    out.ended_ok = !end->has_value();
    co_return out;
  }(address_));
  ASSERT_TRUE(outcome) << outcome.error();
  EXPECT_EQ(outcome->echoed, (std::vector<std::string>{"m0", "m1", "m2", "m3", "m4"}));
  EXPECT_TRUE(outcome->ended_ok) << "the call ended with a message instead of OK";
}

TEST_F(GrpcCppServerTest, AnExpiredDeadlineIsDeadlineExceededAndTheHandlerIsCancelled) {
  auto reply = run_bounded(runtime_, [](SocketAddress address) -> asio::awaitable<Result<Bytes>> {
    auto client = co_await RpcClient::connect(address, http2_config());
    if (!client) co_return client.error();
    CallOptions options;
    options.timeout = 200ms;
    co_return co_await client->call("interop.Echo/Wait", payload("hi"), std::move(options));
  }(address_));
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().code(), StatusCode::kDeadlineExceeded) << reply.error();
  // The deadline travelled (grpc-timeout) and the handler learnt that the call is over.
  EXPECT_EQ(observed_.waits_with_deadline.value(), 1);
  EXPECT_TRUE(observed_.waits_cancelled.reaches(1));
}

TEST_F(GrpcCppServerTest, OneMebibyteMessagesBothWays) {
  std::string data(1u << 20, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  auto reply = run_bounded(runtime_, [](SocketAddress address, Bytes request) -> asio::awaitable<Result<Bytes>> {
    auto client = co_await RpcClient::connect(address, http2_config());
    if (!client) co_return client.error();
    co_return co_await client->call("interop.Echo/Say", std::move(request));
  }(address_, payload(data)));
  ASSERT_TRUE(reply) << reply.error();
  EXPECT_EQ(interop::from_bytes(*reply).data(), data);
}

// One of the concurrent calls below: counts a correct echo, and signals once all have finished.
struct ConcurrentCalls {
  int total = 0;
  int succeeded = 0;
  int finished = 0;
  std::optional<Completion> all_done;
};

asio::awaitable<void> say_concurrently(RpcClient client, int i, std::shared_ptr<ConcurrentCalls> calls) {
  const std::string data = "c" + std::to_string(i);
  auto reply = co_await client.call("interop.Echo/Say", payload(data));
  if (reply && interop::from_bytes(*reply).data() == data) ++calls->succeeded;
  if (++calls->finished == calls->total) calls->all_done->done();
}

TEST_F(GrpcCppServerTest, ManyConcurrentCallsOnOneClient) {
  auto succeeded = run_bounded(runtime_, [](SocketAddress address) -> asio::awaitable<Result<int>> {
    auto client = co_await RpcClient::connect(address, http2_config());
    if (!client) co_return client.error();
    auto executor = co_await asio::this_coro::executor;
    auto calls = std::make_shared<ConcurrentCalls>();
    calls->total = 50;
    calls->all_done.emplace(executor);
    for (int i = 0; i < calls->total; ++i) asio::co_spawn(executor, say_concurrently(*client, i, calls), asio::detached);
    co_await calls->all_done->wait();
    co_return calls->succeeded;
  }(address_));
  ASSERT_TRUE(succeeded) << succeeded.error();
  EXPECT_EQ(*succeeded, 50);
}

}  // namespace
}  // namespace rpcnet::testing
