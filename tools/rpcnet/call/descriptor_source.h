// Where `rpcnet call` learns the shape of a service: the .proto files named with --proto
// (compiled at run time, as protoc would, the well-known types found without -I), or the
// server's reflection service (grpc.reflection.v1), asked for the file defining a symbol and
// the files that one depends on.
#pragma once

#include <google/protobuf/descriptor.h>

#include <asio/awaitable.hpp>
#include <memory>
#include <string>
#include <vector>

#include "rpcnet/call_options.h"
#include "rpcnet/client.h"
#include "rpcnet/result.h"

namespace rpcnet::tool {

class DescriptorSource {
 public:
  // Compiles `protos`; imports are looked up under `import_paths` (default: the directory of
  // each proto), then among the installed well-known types. Errors: kConfig with protoc-style
  // "file:line:column: message" lines.
  static Result<DescriptorSource> from_protos(const std::vector<std::string>& protos,
                                              const std::vector<std::string>& import_paths);
  // Asks the server's reflection for the file defining `symbol` ("pkg.Service",
  // "pkg.Service.Method", "pkg.Message") and everything it imports. Errors: kConfig when the
  // server offers no reflection (saying to pass --proto) or does not know the symbol; the
  // connection's or the call's own errors otherwise.
  static asio::awaitable<Result<DescriptorSource>> from_reflection(RpcClient client, std::string symbol,
                                                                   CallOptions options);
  // The services the server's reflection lists, sorted.
  static asio::awaitable<Result<std::vector<std::string>>> list_by_reflection(RpcClient client,
                                                                             CallOptions options);

  const google::protobuf::DescriptorPool& pool() const;
  // Services defined in the --proto files (not in their imports), or the one loaded by
  // reflection, sorted.
  std::vector<std::string> services() const;

  DescriptorSource(DescriptorSource&&) noexcept;
  DescriptorSource& operator=(DescriptorSource&&) noexcept;
  ~DescriptorSource();

  struct State;

 private:
  explicit DescriptorSource(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace rpcnet::tool
