// rpcnet-gen's code generator for services: for each service in a .proto file it emits
//   <service_dir>/client.hpp       <Service>Client: one typed coroutine method per RPC
//   <service_dir>/server.hpp       <Service>Handler (one virtual per RPC) and <Service>Server
//   <service_dir>/<service_dir>.hpp  includes the message code and both of the above
// where <service_dir> is the service name in snake_case. Generated code depends only on
// rpcnet/generated_support.h and the protobuf message header of its .proto file. It works both
// inside rpcnet-gen and as a protoc plugin (protoc-gen-rpcnet); output is deterministic.
#pragma once

#include <google/protobuf/compiler/code_generator.h>

#include <set>
#include <string>

namespace google::protobuf {
class FileDescriptor;
class ServiceDescriptor;
}  // namespace google::protobuf

namespace rpcnet::gen {

inline constexpr char kVersion[] = "0.1.0";

struct GeneratorOptions {
  bool client = true;  // emit client.hpp
  bool server = true;  // emit server.hpp
};

// Parses a generator parameter: comma-separated "server_only", "client_only", "types_only".
// Returns false with `error` set for anything else.
bool parse_parameter(const std::string& parameter, GeneratorOptions& options, std::string& error);

// "Greeting" -> "greeting", "CalculatorService" -> "calculator_service", "HTTPProxy" -> "http_proxy".
std::string snake_case(const std::string& name);

// The directory a service's files go to.
std::string service_directory(const google::protobuf::ServiceDescriptor& service);

// The .pb.h include for a proto file, e.g. "greeting.pb.h" for greeting.proto.
std::string message_header(const google::protobuf::FileDescriptor& file);

// rpcnet-gen's layout: where a file's message code goes, relative to the output root ("" for the
// root itself). A top-level .proto with services: its first service's directory; any other file,
// and any file that another input imports (its message header must be found from the root by
// protobuf's own #include): protoc's layout (the root).
std::string message_directory(const google::protobuf::FileDescriptor& file,
                              const std::set<std::string>& imported = {});

class ServiceGenerator : public google::protobuf::compiler::CodeGenerator {
 public:
  // `rpcnet_layout`: the message code is laid out by message_directory() (rpcnet-gen), not by
  // protoc (plugin mode); it decides how service headers include the message header.
  // `imported`: names of input files other inputs import (see message_directory()).
  explicit ServiceGenerator(bool rpcnet_layout = false, std::set<std::string> imported = {})
      : rpcnet_layout_(rpcnet_layout), imported_(std::move(imported)) {}

  bool Generate(const google::protobuf::FileDescriptor* file, const std::string& parameter,
                google::protobuf::compiler::GeneratorContext* context,
                std::string* error) const override;
  std::uint64_t GetSupportedFeatures() const override { return FEATURE_PROTO3_OPTIONAL; }

 private:
  bool rpcnet_layout_;
  std::set<std::string> imported_;
};

}  // namespace rpcnet::gen
