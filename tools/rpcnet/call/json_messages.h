// Requests from JSON and responses to JSON for messages known only at run time (descriptors
// from a .proto or from reflection), with protobuf's JSON mapping.
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>

#include <string>
#include <string_view>

#include "rpcnet/bytes.h"
#include "rpcnet/result.h"

namespace rpcnet::tool {

class JsonMessages {
 public:
  // Parses `json` as a `type` and serializes it. Errors (kSerialization): JSON that is not
  // well formed, naming the line and column; a field `type` does not have; a value of the
  // wrong type for its field.
  Result<Bytes> to_bytes(const google::protobuf::Descriptor& type, std::string_view json);
  // `bytes` parsed as a `type`, as one line of JSON (proto field names). Errors: kSerialization.
  Result<std::string> to_json(const google::protobuf::Descriptor& type, ByteView bytes);

 private:
  google::protobuf::DynamicMessageFactory factory_;
};

}  // namespace rpcnet::tool
