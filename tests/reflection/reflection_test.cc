// Server reflection over loopback: the generated reflection client that rpcnet::reflection
// carries asks a server running a generated service (shop.proto, which imports common.proto)
// plus hand-registered byte methods. Exact service lists, descriptors that rebuild into a fresh
// DescriptorPool, files sent once per stream, error answers, and the call-level failures.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "integration/harness.h"
#include "rpcnet/generated_support.h"
#include "rpcnet/reflection.h"
#include "server_reflection/server_reflection.hpp"
#include "shop/shop.hpp"

namespace rpcnet::testing {
namespace {

namespace pb = google::protobuf;
using grpc::reflection::v1::ServerReflectionClient;
using grpc::reflection::v1::ServerReflectionRequest;
using grpc::reflection::v1::ServerReflectionResponse;
using ::reflection::test::Order;
using ::reflection::test::Receipt;

constexpr const char* kReflectionMethod = "grpc.reflection.v1.ServerReflection/ServerReflectionInfo";

class Shop final : public ::reflection::test::ShopHandler {
 public:
  asio::awaitable<Result<Receipt>> Buy(const Order&, CallContext&) override { co_return Receipt(); }
  asio::awaitable<Result<void>> Track(const Order&, TypedServerWriter<Receipt>&, CallContext&) override {
    co_return ok();
  }
  asio::awaitable<Result<Receipt>> Upload(TypedServerReader<Order>&, CallContext&) override {
    co_return Receipt();
  }
  asio::awaitable<Result<void>> Haggle(TypedServerStream<Order, Receipt>&, CallContext&) override {
    co_return ok();
  }
};

ServerReflectionRequest list_services() {
  ServerReflectionRequest request;
  request.set_host("shop.example");
  request.set_list_services("*");
  return request;
}

ServerReflectionRequest by_symbol(std::string symbol) {
  ServerReflectionRequest request;
  request.set_file_containing_symbol(std::move(symbol));
  return request;
}

ServerReflectionRequest by_filename(std::string name) {
  ServerReflectionRequest request;
  request.set_file_by_filename(std::move(name));
  return request;
}

ServerReflectionRequest by_extension(std::string type, int number) {
  ServerReflectionRequest request;
  request.mutable_file_containing_extension()->set_containing_type(std::move(type));
  request.mutable_file_containing_extension()->set_extension_number(number);
  return request;
}

ServerReflectionRequest extension_numbers(std::string type) {
  ServerReflectionRequest request;
  request.set_all_extension_numbers_of_type(std::move(type));
  return request;
}

// Asks `requests` on one ServerReflectionInfo stream, one at a time, and returns the answers.
asio::awaitable<Result<std::vector<ServerReflectionResponse>>> ask(RpcClient client,
                                                                   std::vector<ServerReflectionRequest> requests) {
  ServerReflectionClient reflection(client);
  auto stream = co_await reflection.ServerReflectionInfo();
  if (!stream) co_return std::move(stream).error();
  std::vector<ServerReflectionResponse> answers;
  for (const auto& request : requests) {
    if (auto written = co_await stream->write(request); !written) co_return std::move(written).error();
    auto answer = co_await stream->read();
    if (!answer) co_return std::move(answer).error();
    if (!*answer) co_return RpcError::stream("the stream ended before its answer");
    answers.push_back(std::move(**answer));
  }
  if (auto finished = co_await stream->finish(); !finished) co_return std::move(finished).error();
  auto end = co_await stream->read();
  if (!end) co_return std::move(end).error();
  if (*end) co_return RpcError::stream("an answer nobody asked for");
  co_return answers;
}

// The file names a file_descriptor_response carries, in order.
std::vector<std::string> file_names(const ServerReflectionResponse& response) {
  std::vector<std::string> names;
  for (const auto& bytes : response.file_descriptor_response().file_descriptor_proto()) {
    pb::FileDescriptorProto file;
    EXPECT_TRUE(file.ParseFromString(bytes));
    names.push_back(file.name());
  }
  return names;
}

class ReflectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::reflection::test::ShopServer::register_with(loopback_.server(), std::make_shared<Shop>());
    // Byte handlers with no .proto behind them: one in a service, one in none.
    loopback_.server().register_method("demo.Raw/Echo", [](Bytes request) -> asio::awaitable<Result<Bytes>> {
      co_return request;
    });
    loopback_.server().register_method("echo", [](Bytes request) -> asio::awaitable<Result<Bytes>> {
      co_return request;
    });
    enable_reflection(loopback_.server());
    loopback_.start();
  }

  std::vector<ServerReflectionResponse> ask_ok(std::vector<ServerReflectionRequest> requests) {
    auto task = [this](std::vector<ServerReflectionRequest> asked)
        -> asio::awaitable<Result<std::vector<ServerReflectionResponse>>> {
      auto client = co_await loopback_.connect();
      co_return co_await ask(client, std::move(asked));
    };
    auto answers = run_bounded(loopback_.runtime(), task(std::move(requests)));
    EXPECT_TRUE(answers) << answers.error();
    return answers ? std::move(*answers) : std::vector<ServerReflectionResponse>();
  }

  LoopbackServer loopback_;
};

TEST_F(ReflectionTest, ListServicesNamesEveryServiceBehindARegisteredMethodAndNothingElse) {
  const auto answers = ask_ok({list_services()});
  ASSERT_EQ(answers.size(), 1u);
  const auto& answer = answers[0];
  ASSERT_TRUE(answer.has_list_services_response()) << answer.DebugString();
  std::vector<std::string> names;
  for (const auto& service : answer.list_services_response().service()) names.push_back(service.name());
  // "echo" has no '/': it belongs to no service and is not listed.
  EXPECT_EQ(names, (std::vector<std::string>{"demo.Raw", "grpc.reflection.v1.ServerReflection",
                                             "reflection.test.Shop"}));
  EXPECT_EQ(answer.valid_host(), "shop.example");
  EXPECT_EQ(answer.original_request().SerializeAsString(), list_services().SerializeAsString());
}

TEST_F(ReflectionTest, AServiceRegisteredWhileServingIsListedInTheNextAnswer) {
  loopback_.server().register_method("late.Arrival/Run", [](Bytes request) -> asio::awaitable<Result<Bytes>> {
    co_return request;
  });
  const auto answers = ask_ok({list_services()});
  ASSERT_EQ(answers.size(), 1u);
  std::vector<std::string> names;
  for (const auto& service : answers[0].list_services_response().service()) names.push_back(service.name());
  EXPECT_EQ(names, (std::vector<std::string>{"demo.Raw", "grpc.reflection.v1.ServerReflection", "late.Arrival",
                                             "reflection.test.Shop"}));
}

TEST_F(ReflectionTest, TheServiceDescriptorsRebuildInAFreshPoolWithMethodTypesAndStreamingFlags) {
  const auto answers = ask_ok({by_symbol("reflection.test.Shop")});
  ASSERT_EQ(answers.size(), 1u);
  ASSERT_TRUE(answers[0].has_file_descriptor_response()) << answers[0].DebugString();
  // The file first, then its import.
  ASSERT_EQ(file_names(answers[0]), (std::vector<std::string>{"shop/shop.proto", "shop/common.proto"}));

  pb::DescriptorPool pool;  // knows nothing but what reflection sent, built dependencies first
  const auto& files = answers[0].file_descriptor_response().file_descriptor_proto();
  for (int i = files.size() - 1; i >= 0; --i) {
    pb::FileDescriptorProto file;
    ASSERT_TRUE(file.ParseFromString(files[i]));
    ASSERT_NE(pool.BuildFile(file), nullptr) << file.name();
  }
  const pb::ServiceDescriptor* shop = pool.FindServiceByName("reflection.test.Shop");
  ASSERT_NE(shop, nullptr);
  ASSERT_EQ(shop->method_count(), 4);
  struct Expected {
    const char* name;
    bool client_streaming;
    bool server_streaming;
  };
  for (const Expected& expected : {Expected{"Buy", false, false}, Expected{"Track", false, true},
                                   Expected{"Upload", true, false}, Expected{"Haggle", true, true}}) {
    const pb::MethodDescriptor* method = shop->FindMethodByName(expected.name);
    ASSERT_NE(method, nullptr) << expected.name;
    EXPECT_EQ(method->input_type()->full_name(), "reflection.test.Order") << expected.name;
    EXPECT_EQ(method->output_type()->full_name(), "reflection.test.Receipt") << expected.name;
    EXPECT_EQ(method->client_streaming(), expected.client_streaming) << expected.name;
    EXPECT_EQ(method->server_streaming(), expected.server_streaming) << expected.name;
  }
  // The imported type resolved from the second file.
  const pb::FieldDescriptor* total = pool.FindFieldByName("reflection.test.Order.total");
  ASSERT_NE(total, nullptr);
  EXPECT_EQ(total->message_type()->full_name(), "reflection.test.Money");
  EXPECT_EQ(total->message_type()->file()->name(), "shop/common.proto");
}

TEST_F(ReflectionTest, EveryKindOfSymbolResolvesToTheFileDefiningIt) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"reflection.test.Shop", "shop/shop.proto"},
      {"reflection.test.Shop.Buy", "shop/shop.proto"},
      {"reflection.test.Order", "shop/shop.proto"},
      {"reflection.test.Order.Line", "shop/shop.proto"},
      {"reflection.test.Order.Speed", "shop/shop.proto"},
      {"reflection.test.Order.SPEED_EXPRESS", "shop/shop.proto"},
      {"reflection.test.Order.total", "shop/shop.proto"},
      {"reflection.test.Money", "shop/common.proto"},
      {"reflection.test.note", "shop/notes.proto"},
  };
  for (const auto& [symbol, file] : cases) {
    const auto answers = ask_ok({by_symbol(symbol)});  // a fresh stream each: nothing sent yet
    ASSERT_EQ(answers.size(), 1u);
    const auto names = file_names(answers[0]);
    ASSERT_FALSE(names.empty()) << symbol << ": " << answers[0].DebugString();
    EXPECT_EQ(names.front(), file) << symbol;
  }
}

TEST_F(ReflectionTest, AStreamSendsEachDependencyOnceButAlwaysTheFileAskedFor) {
  const auto answers = ask_ok({by_symbol("reflection.test.Shop"), by_filename("shop/notes.proto"),
                               by_filename("shop/common.proto"), by_symbol("reflection.test.Order")});
  ASSERT_EQ(answers.size(), 4u);
  EXPECT_EQ(file_names(answers[0]), (std::vector<std::string>{"shop/shop.proto", "shop/common.proto"}));
  EXPECT_EQ(file_names(answers[1]), (std::vector<std::string>{"shop/notes.proto"}));
  EXPECT_EQ(file_names(answers[2]), (std::vector<std::string>{"shop/common.proto"}));
  EXPECT_EQ(file_names(answers[3]), (std::vector<std::string>{"shop/shop.proto"}));
  // A new stream starts afresh.
  const auto fresh = ask_ok({by_filename("shop/notes.proto")});
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_EQ(file_names(fresh[0]), (std::vector<std::string>{"shop/notes.proto", "shop/common.proto"}));
}

TEST_F(ReflectionTest, ExtensionsAreFoundByNumberAndListedByType) {
  const auto answers = ask_ok({by_extension("reflection.test.Money", 100), extension_numbers("reflection.test.Money"),
                               extension_numbers("reflection.test.Order")});
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(file_names(answers[0]), (std::vector<std::string>{"shop/notes.proto", "shop/common.proto"}));
  ASSERT_TRUE(answers[1].has_all_extension_numbers_response()) << answers[1].DebugString();
  EXPECT_EQ(answers[1].all_extension_numbers_response().base_type_name(), "reflection.test.Money");
  EXPECT_EQ(std::vector<int>(answers[1].all_extension_numbers_response().extension_number().begin(),
                             answers[1].all_extension_numbers_response().extension_number().end()),
            (std::vector<int>{100, 101}));
  ASSERT_TRUE(answers[2].has_all_extension_numbers_response()) << answers[2].DebugString();
  EXPECT_EQ(answers[2].all_extension_numbers_response().extension_number_size(), 0);
}

TEST_F(ReflectionTest, UnknownNamesAreNotFoundAnswersAndTheStreamGoesOn) {
  const auto answers = ask_ok({by_symbol("reflection.test.Nope"), by_filename("shop/nope.proto"),
                               by_extension("reflection.test.Money", 150), by_extension("reflection.test.Nope", 100),
                               extension_numbers("reflection.test.Nope"),
                               by_symbol("demo.Raw"),  // listed, but no .proto describes it
                               ServerReflectionRequest(),  // asks nothing
                               list_services()});
  ASSERT_EQ(answers.size(), 8u);
  for (std::size_t i = 0; i < 6; ++i) {
    ASSERT_TRUE(answers[i].has_error_response()) << i << ": " << answers[i].DebugString();
    EXPECT_EQ(answers[i].error_response().error_code(), static_cast<int>(StatusCode::kNotFound)) << i;
    EXPECT_FALSE(answers[i].error_response().error_message().empty()) << i;
  }
  ASSERT_TRUE(answers[6].has_error_response());
  EXPECT_EQ(answers[6].error_response().error_code(), static_cast<int>(StatusCode::kUnimplemented));
  EXPECT_EQ(answers[7].list_services_response().service_size(), 3);
  // Each answer carries the question it answers.
  EXPECT_EQ(answers[1].original_request().file_by_filename(), "shop/nope.proto");
}

// Opens the reflection method with raw bytes and returns how the call ended.
asio::awaitable<Result<void>> send_raw(LoopbackServer& loopback, Bytes request) {
  auto client = co_await loopback.connect();
  auto call = co_await client.open_call(kReflectionMethod);
  if (!call) co_return std::move(call).error();
  if (auto written = co_await call->write(std::move(request)); !written) co_return written;
  if (auto finished = co_await call->finish(); !finished) co_return finished;
  for (;;) {
    auto next = co_await call->read();
    if (!next) co_return std::move(next).error();
    if (!*next) co_return ok();
  }
}

TEST_F(ReflectionTest, ARequestThatDoesNotParseFailsTheCallWithInvalidArgument) {
  // Field 1 (host) announces 16 bytes; one follows.
  auto ended = run_bounded(loopback_.runtime(), send_raw(loopback_, Bytes{0x0a, 0x10, 'x'}));
  ASSERT_FALSE(ended);
  EXPECT_EQ(ended.error().code(), StatusCode::kInvalidArgument) << ended.error();
}

TEST(ReflectionDisabledTest, AServerThatDidNotEnableReflectionAnswersNotFound) {
  LoopbackServer loopback;
  ::reflection::test::ShopServer::register_with(loopback.server(), std::make_shared<Shop>());
  loopback.start();
  auto ended = run_bounded(loopback.runtime(), send_raw(loopback, serialize(list_services())));
  ASSERT_FALSE(ended);
  EXPECT_EQ(ended.error().code(), StatusCode::kNotFound) << ended.error();
}

}  // namespace
}  // namespace rpcnet::testing
