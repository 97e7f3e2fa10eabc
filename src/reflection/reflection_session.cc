#include "reflection/reflection_session.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include <algorithm>
#include <utility>

#include "grpc/reflection/v1/reflection.pb.h"
#include "rpcnet/error.h"
#include "rpcnet/status.h"

namespace rpcnet::reflection {

namespace pb = google::protobuf;
using grpc::reflection::v1::ServerReflectionRequest;
using grpc::reflection::v1::ServerReflectionResponse;

std::vector<std::string> services_of(const std::vector<std::string>& method_names) {
  std::vector<std::string> services;
  for (const auto& name : method_names) {
    const auto slash = name.rfind('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == name.size()) continue;
    services.push_back(name.substr(0, slash));
  }
  std::sort(services.begin(), services.end());
  services.erase(std::unique(services.begin(), services.end()), services.end());
  return services;
}

namespace {

void set_error(ServerReflectionResponse& response, StatusCode code, std::string message) {
  auto& error = *response.mutable_error_response();
  error.set_error_code(static_cast<std::int32_t>(code));
  error.set_error_message(std::move(message));
}

std::string serialized(const pb::FileDescriptor& file) {
  pb::FileDescriptorProto proto;
  file.CopyTo(&proto);
  return proto.SerializeAsString();
}

// The file's dependencies, depth first in import order, each once.
void collect_dependencies(const pb::FileDescriptor& file, std::vector<const pb::FileDescriptor*>& out) {
  for (int i = 0; i < file.dependency_count(); ++i) {
    const pb::FileDescriptor* dependency = file.dependency(i);
    if (std::find(out.begin(), out.end(), dependency) != out.end()) continue;
    out.push_back(dependency);
    collect_dependencies(*dependency, out);
  }
}

Bytes to_bytes(const ServerReflectionResponse& response) {
  Bytes out(response.ByteSizeLong());
  if (!out.empty()) response.SerializeWithCachedSizesToArray(out.data());
  return out;
}

}  // namespace

ReflectionSession::ReflectionSession(const pb::DescriptorPool& pool,
                                     std::function<std::vector<std::string>()> list_services,
                                     std::size_t max_response_bytes)
    : pool_(pool), list_services_(std::move(list_services)), max_response_bytes_(max_response_bytes) {}

// gRPC's order: the requested file, then the files it depends on that this stream has not
// carried yet. A dependency that would push the response over the size bound is left out (and
// not marked sent): the client asks for it by name, as it does for any file it lacks.
void ReflectionSession::add_files(const pb::FileDescriptor& file, ServerReflectionResponse& response) {
  auto& files = *response.mutable_file_descriptor_response();
  files.add_file_descriptor_proto(serialized(file));
  if (response.ByteSizeLong() > max_response_bytes_) {
    response.clear_file_descriptor_response();
    set_error(response, StatusCode::kResourceExhausted,
              "the descriptor of " + file.name() + " alone exceeds the maximum message size");
    return;
  }
  sent_files_.insert(file.name());
  std::vector<const pb::FileDescriptor*> dependencies;
  collect_dependencies(file, dependencies);
  for (const pb::FileDescriptor* dependency : dependencies) {
    if (sent_files_.contains(dependency->name())) continue;
    files.add_file_descriptor_proto(serialized(*dependency));
    if (response.ByteSizeLong() > max_response_bytes_) {
      files.mutable_file_descriptor_proto()->RemoveLast();
      continue;
    }
    sent_files_.insert(dependency->name());
  }
}

Result<Bytes> ReflectionSession::answer(ByteView bytes) {
  ServerReflectionRequest request;
  if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return RpcError::status(StatusCode::kInvalidArgument, "cannot parse a grpc.reflection.v1.ServerReflectionRequest");
  }
  ServerReflectionResponse response;
  response.set_valid_host(request.host());
  *response.mutable_original_request() = request;

  switch (request.message_request_case()) {
    case ServerReflectionRequest::kFileByFilename: {
      const pb::FileDescriptor* file = pool_.FindFileByName(request.file_by_filename());
      if (file == nullptr) {
        set_error(response, StatusCode::kNotFound, "file not found: " + request.file_by_filename());
      } else {
        add_files(*file, response);
      }
      break;
    }
    case ServerReflectionRequest::kFileContainingSymbol: {
      const pb::FileDescriptor* file = pool_.FindFileContainingSymbol(request.file_containing_symbol());
      if (file == nullptr) {
        set_error(response, StatusCode::kNotFound, "symbol not found: " + request.file_containing_symbol());
      } else {
        add_files(*file, response);
      }
      break;
    }
    case ServerReflectionRequest::kFileContainingExtension: {
      const auto& wanted = request.file_containing_extension();
      const pb::Descriptor* type = pool_.FindMessageTypeByName(wanted.containing_type());
      const pb::FieldDescriptor* extension =
          type == nullptr ? nullptr : pool_.FindExtensionByNumber(type, wanted.extension_number());
      if (extension == nullptr) {
        set_error(response, StatusCode::kNotFound,
                  "extension not found: " + wanted.containing_type() + " " +
                      std::to_string(wanted.extension_number()));
      } else {
        add_files(*extension->file(), response);
      }
      break;
    }
    case ServerReflectionRequest::kAllExtensionNumbersOfType: {
      const pb::Descriptor* type = pool_.FindMessageTypeByName(request.all_extension_numbers_of_type());
      if (type == nullptr) {
        set_error(response, StatusCode::kNotFound, "type not found: " + request.all_extension_numbers_of_type());
        break;
      }
      std::vector<const pb::FieldDescriptor*> extensions;
      pool_.FindAllExtensions(type, &extensions);
      std::vector<std::int32_t> numbers;
      numbers.reserve(extensions.size());
      for (const auto* extension : extensions) numbers.push_back(extension->number());
      std::sort(numbers.begin(), numbers.end());
      auto& out = *response.mutable_all_extension_numbers_response();
      out.set_base_type_name(type->full_name());
      for (const std::int32_t number : numbers) out.add_extension_number(number);
      break;
    }
    case ServerReflectionRequest::kListServices: {
      auto& out = *response.mutable_list_services_response();
      for (auto& name : list_services_()) out.add_service()->set_name(std::move(name));
      break;
    }
    case ServerReflectionRequest::MESSAGE_REQUEST_NOT_SET:
      set_error(response, StatusCode::kUnimplemented, "the request names no known question");
      break;
  }

  // The echo of the request comes last in priority: without it the answer may still fit.
  if (response.ByteSizeLong() > max_response_bytes_) response.clear_original_request();
  if (response.ByteSizeLong() > max_response_bytes_) {
    response.Clear();
    set_error(response, StatusCode::kResourceExhausted, "the answer exceeds the maximum message size");
  }
  return to_bytes(response);
}

}  // namespace rpcnet::reflection
