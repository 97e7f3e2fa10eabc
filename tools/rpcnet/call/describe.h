// What `rpcnet call` prints for `list` and `describe`, and how it finds the method a call
// names: lookups in a descriptor pool, with errors that say what exists instead.
#pragma once

#include <google/protobuf/descriptor.h>

#include <string>
#include <string_view>

#include "rpcnet/result.h"

namespace rpcnet::tool {

// "pkg.Service/Method" (also "pkg.Service.Method"). Errors: kConfig naming the unknown service,
// or the unknown method and the methods the service has.
Result<const google::protobuf::MethodDescriptor*> find_method(const google::protobuf::DescriptorPool& pool,
                                                              std::string_view name);

// The methods of `service`, one "pkg.Service/Method" per line, as `rpcnet call` takes them.
Result<std::string> list_methods(const google::protobuf::DescriptorPool& pool, std::string_view service);

// `symbol` (a service, method, message or enum) as .proto text, after a line saying what it is.
// Errors: kConfig when the pool has no such symbol.
Result<std::string> describe_symbol(const google::protobuf::DescriptorPool& pool, std::string_view symbol);

}  // namespace rpcnet::tool
