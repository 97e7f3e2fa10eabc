#include "json_messages.h"

#include <google/protobuf/util/json_util.h>

#include <memory>
#include <nlohmann/json.hpp>

namespace rpcnet::tool {

namespace {

// protobuf's parser shows the position as a caret under a 40-character window, which does not
// say where in a long request the mistake is; nlohmann's names the line and column.
std::optional<std::string> syntax_error(std::string_view json) {
  try {
    const auto parsed = nlohmann::json::parse(json);
    if (parsed.is_discarded()) return "not JSON";
  } catch (const nlohmann::json::parse_error& error) {
    std::string message = error.what();
    if (const auto bracket = message.find("] "); message.starts_with("[json.exception") && bracket != std::string::npos) {
      message.erase(0, bracket + 2);
    }
    return message;
  }
  return std::nullopt;
}

}  // namespace

Result<Bytes> JsonMessages::to_bytes(const google::protobuf::Descriptor& type, std::string_view json) {
  if (auto error = syntax_error(json)) {
    return RpcError::serialization("malformed JSON for " + type.full_name() + ": " + *error);
  }
  std::unique_ptr<google::protobuf::Message> message(factory_.GetPrototype(&type)->New());
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), message.get());
  if (!status.ok()) {
    return RpcError::serialization("JSON does not fit " + type.full_name() + ": " + std::string(status.message()));
  }
  Bytes bytes(message->ByteSizeLong());
  if (!bytes.empty()) message->SerializeWithCachedSizesToArray(bytes.data());
  return bytes;
}

Result<std::string> JsonMessages::to_json(const google::protobuf::Descriptor& type, ByteView bytes) {
  std::unique_ptr<google::protobuf::Message> message(factory_.GetPrototype(&type)->New());
  if (!message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return RpcError::serialization("the response is not a " + type.full_name());
  }
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(*message, &json, options);
  if (!status.ok()) {
    return RpcError::serialization("cannot print a " + type.full_name() + " as JSON: " + std::string(status.message()));
  }
  return json;
}

}  // namespace rpcnet::tool
