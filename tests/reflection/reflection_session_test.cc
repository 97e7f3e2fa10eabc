// ReflectionSession in-process (no sockets): how answers obey the size bound, what a request that
// does not parse does, and which method names make a service.
#include "reflection/reflection_session.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "grpc/reflection/v1/reflection.pb.h"
#include "rpcnet/generated_support.h"
#include "shop/shop.pb.h"

namespace rpcnet::reflection {
namespace {

namespace pb = google::protobuf;
using grpc::reflection::v1::ServerReflectionRequest;
using grpc::reflection::v1::ServerReflectionResponse;

constexpr std::size_t kUnbounded = 16u << 20;

ServerReflectionRequest shop_request() {
  ServerReflectionRequest request;
  request.set_file_containing_symbol("reflection.test.Shop");
  return request;
}

ServerReflectionResponse answer(ReflectionSession& session, const ServerReflectionRequest& request,
                                std::size_t* size = nullptr) {
  auto bytes = session.answer(serialize(request));
  EXPECT_TRUE(bytes) << bytes.error();
  if (!bytes) return {};
  if (size != nullptr) *size = bytes->size();
  ServerReflectionResponse response;
  EXPECT_TRUE(response.ParseFromArray(bytes->data(), static_cast<int>(bytes->size())));
  return response;
}

ReflectionSession session_with_limit(std::size_t max_response_bytes) {
  return ReflectionSession(*pb::DescriptorPool::generated_pool(), [] { return std::vector<std::string>(); },
                           max_response_bytes);
}

std::size_t answer_size(std::size_t max_response_bytes, const ServerReflectionRequest& request) {
  auto session = session_with_limit(max_response_bytes);
  std::size_t size = 0;
  (void)answer(session, request, &size);
  return size;
}

TEST(ReflectionSessionTest, ADependencyThatDoesNotFitIsLeftOutAndSentWhenAskedForByName) {
  (void)::reflection::test::Order::descriptor();  // the test links shop.proto's generated code
  const std::size_t whole = answer_size(kUnbounded, shop_request());
  // One byte short of the file with its import: the import is left out, the file still goes.
  auto session = session_with_limit(whole - 1);
  std::size_t size = 0;
  const auto first = answer(session, shop_request(), &size);
  ASSERT_EQ(first.file_descriptor_response().file_descriptor_proto_size(), 1) << first.DebugString();
  EXPECT_LE(size, whole - 1);
  // Not marked sent: asking for it by name brings it.
  ServerReflectionRequest common;
  common.set_file_by_filename("shop/common.proto");
  const auto second = answer(session, common);
  ASSERT_EQ(second.file_descriptor_response().file_descriptor_proto_size(), 1);
  pb::FileDescriptorProto file;
  ASSERT_TRUE(file.ParseFromString(second.file_descriptor_response().file_descriptor_proto(0)));
  EXPECT_EQ(file.name(), "shop/common.proto");
}

TEST(ReflectionSessionTest, AFileLargerThanTheBoundIsAResourceExhaustedAnswerWithinTheBound) {
  auto session = session_with_limit(120);  // shop.proto's descriptor alone is larger
  std::size_t size = 0;
  const auto response = answer(session, shop_request(), &size);
  ASSERT_TRUE(response.has_error_response()) << response.DebugString();
  EXPECT_EQ(response.error_response().error_code(), static_cast<int>(StatusCode::kResourceExhausted));
  EXPECT_LE(size, 120u);
}

TEST(ReflectionSessionTest, AnEchoThatWouldBreakTheBoundIsDropped) {
  ServerReflectionRequest request;
  request.set_host(std::string(200, 'h'));
  request.set_list_services("");
  auto session = session_with_limit(220);  // the request alone is 203 bytes; echo and host, 400+
  std::size_t size = 0;
  const auto response = answer(session, request, &size);
  EXPECT_TRUE(response.has_list_services_response()) << response.DebugString();
  EXPECT_FALSE(response.has_original_request());
  EXPECT_LE(size, 220u);
}

TEST(ReflectionSessionTest, BytesThatAreNotARequestAreInvalidArgument) {
  auto session = session_with_limit(kUnbounded);
  const Bytes truncated{0x0a, 0x10, 'x'};  // host announces 16 bytes, one follows
  auto result = session.answer(truncated);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), StatusCode::kInvalidArgument);
  const Bytes bad_utf8{0x0a, 0x01, 0xff};  // proto3 strings must be UTF-8
  result = session.answer(bad_utf8);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), StatusCode::kInvalidArgument);
}

TEST(ReflectionSessionTest, ServicesAreTheMethodPrefixesSortedOnceEach) {
  EXPECT_EQ(services_of({"b.S/M", "a.T/X", "b.S/N", "echo", "/lead", "trail/", "x/y/z"}),
            (std::vector<std::string>{"a.T", "b.S", "x/y"}));
}

}  // namespace
}  // namespace rpcnet::reflection
