// gRPC C++ (Debian's libgrpc++, a client nobody here wrote) calls an rpcnet server over its
// gRPC-compatible HTTP/2 + TLS listener: every call kind, deadlines, status codes, metadata,
// cancellation and 1 MiB messages.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>
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

class GrpcCppClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    interop::register_echo_service(server_.server(), observed_);
    server_.start();
    const auto address = server_.server().grpc_address();
    ASSERT_TRUE(address);
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = read_file(certificates().main.ca_cert);
    grpc::ChannelArguments arguments;
    arguments.SetSslTargetNameOverride("localhost");
    channel_ = grpc::CreateCustomChannel("ipv4:127.0.0.1:" + std::to_string(address->port()),
                                         grpc::SslCredentials(tls), arguments);
    stub_ = ::interop::Echo::NewStub(channel_);
  }

  static void set_deadline(grpc::ClientContext& context, std::chrono::milliseconds timeout = 20s) {
    context.set_deadline(std::chrono::system_clock::now() + timeout);
  }

  interop::Observed observed_;
  LoopbackServer server_{server_config().with_grpc_over_tcp()};
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<::interop::Echo::Stub> stub_;
};

TEST_F(GrpcCppClientTest, TheGrpcPortHasTheUdpPortsNumber) {
  EXPECT_EQ(server_.server().grpc_address()->port(), server_.address().port());
}

TEST_F(GrpcCppClientTest, UnaryCallWithMetadataBothWays) {
  grpc::ClientContext context;
  set_deadline(context);
  context.AddMetadata("tenant", "blue");
  context.AddMetadata("blob-bin", std::string("\x00\xff", 2));
  ::interop::Payload request;
  request.set_data("hello");
  ::interop::Payload response;
  const grpc::Status status = stub_->Say(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_EQ(response.data(), "hello|tenant=blue|blob=00ff");
  const auto& trailers = context.GetServerTrailingMetadata();
  ASSERT_EQ(trailers.count("handled-by"), 1u);
  EXPECT_EQ(trailers.find("handled-by")->second, "rpcnet");
  ASSERT_EQ(trailers.count("cost-bin"), 1u);
  EXPECT_EQ(std::string(trailers.find("cost-bin")->second.data(), trailers.find("cost-bin")->second.size()),
            std::string("\x00\x01", 2));
}

TEST_F(GrpcCppClientTest, AHandlersErrorStatusArrivesWithItsCodeAndMessage) {
  grpc::ClientContext context;
  set_deadline(context);
  ::interop::Payload response;
  const grpc::Status status = stub_->Fail(&context, ::interop::Payload(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "no such thing");
}

TEST_F(GrpcCppClientTest, AnUnknownMethodIsUnimplemented) {
  grpc::GenericStub generic(channel_);
  grpc::ClientContext context;
  set_deadline(context);
  grpc::CompletionQueue queue;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
  grpc::Status status;
  auto call = generic.PrepareUnaryCall(&context, "/interop.Echo/Nope", request, &queue);
  call->StartCall();
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  ASSERT_TRUE(queue.Next(&tag, &ok));
  // What gRPC's own servers answer (and what grpcurl and health probes look for); rpcnet's
  // own clients get NOT_FOUND over either transport.
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(status.error_message(), "unknown method \"interop.Echo/Nope\"");
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
}

TEST_F(GrpcCppClientTest, AnExpiredDeadlineIsDeadlineExceededAndTheHandlerIsCancelled) {
  grpc::ClientContext context;
  set_deadline(context, 200ms);
  ::interop::Payload response;
  const grpc::Status status = stub_->Wait(&context, ::interop::Payload(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(observed_.waits_cancelled.reaches(1));
}

TEST_F(GrpcCppClientTest, ServerStreaming) {
  grpc::ClientContext context;
  set_deadline(context);
  ::interop::Payload request;
  request.set_count(5);
  auto reader = stub_->Count(&context, request);
  std::vector<std::string> received;
  ::interop::Payload message;
  while (reader->Read(&message)) received.push_back(message.data());
  const grpc::Status status = reader->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(received, (std::vector<std::string>{"1", "2", "3", "4", "5"}));
}

TEST_F(GrpcCppClientTest, ClientStreaming) {
  grpc::ClientContext context;
  set_deadline(context);
  ::interop::Payload response;
  auto writer = stub_->Sum(&context, &response);
  for (const char* part : {"a", "bc", "def"}) {
    ::interop::Payload message;
    message.set_data(part);
    ASSERT_TRUE(writer->Write(message));
  }
  ASSERT_TRUE(writer->WritesDone());
  const grpc::Status status = writer->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.count(), 3);
  EXPECT_EQ(response.data(), "abcdef");
}

TEST_F(GrpcCppClientTest, BidirectionalStreamingEchoesEachMessageInTurn) {
  grpc::ClientContext context;
  set_deadline(context);
  auto stream = stub_->Chat(&context);
  for (int i = 0; i < 10; ++i) {
    ::interop::Payload message;
    message.set_data("m" + std::to_string(i));
    ASSERT_TRUE(stream->Write(message));
    ::interop::Payload echoed;
    ASSERT_TRUE(stream->Read(&echoed));
    EXPECT_EQ(echoed.data(), "m" + std::to_string(i));
  }
  ASSERT_TRUE(stream->WritesDone());
  const grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(GrpcCppClientTest, CancellingAStreamReachesTheHandler) {
  grpc::ClientContext context;
  set_deadline(context);
  auto stream = stub_->Chat(&context);
  ::interop::Payload message;
  message.set_data("x");
  ASSERT_TRUE(stream->Write(message));
  ASSERT_TRUE(stream->Read(&message));
  context.TryCancel();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(observed_.chats_cancelled.reaches(1));
}

TEST_F(GrpcCppClientTest, OneMebibyteMessagesBothWays) {
  grpc::ClientContext context;
  set_deadline(context);
  ::interop::Payload request;
  std::string data(1u << 20, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  request.set_data(data);
  ::interop::Payload response;
  const grpc::Status status = stub_->Say(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.data(), data);
}

TEST_F(GrpcCppClientTest, ManyConcurrentCallsOnOneChannel) {
  std::vector<std::thread> threads;
  std::atomic<int> succeeded{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        grpc::ClientContext context;
        set_deadline(context);
        ::interop::Payload request;
        request.set_data(std::to_string(t) + ":" + std::to_string(i));
        ::interop::Payload response;
        if (stub_->Say(&context, request, &response).ok() && response.data() == request.data()) {
          succeeded.fetch_add(1);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(succeeded.load(), 200);
  EXPECT_EQ(server_.server().stats().grpc_connections_accepted, 1u);
}

}  // namespace
}  // namespace rpcnet::testing
