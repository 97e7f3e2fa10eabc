// The answering half of grpc.reflection.v1.ServerReflection/ServerReflectionInfo, sans I/O: one
// request message in, one response message out, so the stream handler, the tests and the fuzz
// target drive the same code.
//
// One session per stream. It remembers which files it has sent, so a dependency goes to a
// client once per stream (the requested file itself is always sent). That memory is bounded by
// the number of files in the descriptor pool.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <unordered_set>
#include <vector>

#include "rpcnet/bytes.h"
#include "rpcnet/result.h"

namespace google::protobuf {
class DescriptorPool;
class FileDescriptor;
}  // namespace google::protobuf

namespace grpc::reflection::v1 {
class ServerReflectionResponse;
}

namespace rpcnet::reflection {

// The services behind method names of the form "package.Service/Method", sorted and without
// repeats. Names without a '/' (or with nothing on one side of it) belong to no service.
std::vector<std::string> services_of(const std::vector<std::string>& method_names);

class ReflectionSession {
 public:
  // `list_services` is asked on every list_services request (the server's table may grow while
  // it serves). `max_response_bytes` bounds each serialized response: the server's
  // max_message_size.
  ReflectionSession(const google::protobuf::DescriptorPool& pool,
                    std::function<std::vector<std::string>()> list_services,
                    std::size_t max_response_bytes);

  // The serialized ServerReflectionResponse to `request`. Lookups that fail are answered with an
  // error_response (NOT_FOUND, UNIMPLEMENTED, RESOURCE_EXHAUSTED); only a request that is not a
  // ServerReflectionRequest at all is an error: INVALID_ARGUMENT, for the whole call.
  Result<Bytes> answer(ByteView request);

 private:
  void add_files(const google::protobuf::FileDescriptor& file,
                 grpc::reflection::v1::ServerReflectionResponse& response);

  const google::protobuf::DescriptorPool& pool_;
  std::function<std::vector<std::string>()> list_services_;
  std::size_t max_response_bytes_;
  std::unordered_set<std::string> sent_files_;
};

}  // namespace rpcnet::reflection
