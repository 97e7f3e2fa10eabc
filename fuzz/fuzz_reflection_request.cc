// libFuzzer target: rpcnet::reflection::ReflectionSession::answer, the bytes a peer sends as a
// grpc.reflection.v1.ServerReflectionRequest on a reflection stream.
//
// Input: two bytes choosing the response bound (64 bytes upwards, in 16-byte steps), then the
// request, answered twice on one session (the second answer runs with the files the first sent).
// Oracle: an answer is a ServerReflectionResponse within the bound, carrying exactly one of the
// four answers; a request that does not parse is INVALID_ARGUMENT, both times.
#include <google/protobuf/descriptor.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "grpc/reflection/v1/reflection.pb.h"
#include "reflection/reflection_session.h"
#include "rpcnet/error.h"

namespace {

using grpc::reflection::v1::ServerReflectionResponse;

void check(const rpcnet::Result<rpcnet::Bytes>& answer, std::size_t bound) {
  if (!answer) {
    if (answer.error().code() != rpcnet::StatusCode::kInvalidArgument) __builtin_trap();
    return;
  }
  if (answer->size() > bound) __builtin_trap();
  ServerReflectionResponse response;
  if (!response.ParseFromArray(answer->data(), static_cast<int>(answer->size()))) __builtin_trap();
  if (response.message_response_case() == ServerReflectionResponse::MESSAGE_RESPONSE_NOT_SET) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t bound = 64 + 16 * ((std::size_t{data[0]} << 8) | data[1]);
  const rpcnet::ByteView request(data + 2, size - 2);
  rpcnet::reflection::ReflectionSession session(
      *google::protobuf::DescriptorPool::generated_pool(),
      [] { return std::vector<std::string>{"demo.Raw", "grpc.reflection.v1.ServerReflection"}; }, bound);
  const auto first = session.answer(request);
  check(first, bound);
  const auto second = session.answer(request);
  check(second, bound);
  if (first.ok() != second.ok()) __builtin_trap();
  return 0;
}
