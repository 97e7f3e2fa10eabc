#include "descriptor_source.h"

#include <google/protobuf/compiler/importer.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/descriptor_database.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "server_reflection/client.hpp"

#ifndef RPCNET_PROTOBUF_INCLUDE_DIR
#define RPCNET_PROTOBUF_INCLUDE_DIR "/usr/include"
#endif

namespace rpcnet::tool {

namespace pb = google::protobuf;
namespace reflection = grpc::reflection::v1;

struct DescriptorSource::State {
  // --proto: the compiler and what it compiled.
  pb::compiler::DiskSourceTree source_tree;
  std::unique_ptr<pb::compiler::MultiFileErrorCollector> errors;
  std::unique_ptr<pb::compiler::Importer> importer;
  // Reflection: the files the server sent, and the installed ones for what it did not send.
  pb::SimpleDescriptorDatabase reflected;
  std::unique_ptr<pb::DescriptorPoolDatabase> installed;
  std::unique_ptr<pb::MergedDescriptorDatabase> merged;
  std::unique_ptr<pb::DescriptorPool> reflected_pool;

  std::vector<std::string> services;

  const pb::DescriptorPool& pool() const { return importer ? *importer->pool() : *reflected_pool; }
};

namespace {

class CollectedErrors : public pb::compiler::MultiFileErrorCollector {
 public:
  void AddError(const std::string& file, int line, int column, const std::string& message) override {
    text += "\n  " + file + (line >= 0 ? ":" + std::to_string(line + 1) + ":" + std::to_string(column + 1) : "") +
            ": " + message;
  }
  std::string text;
};

void add_services(const pb::FileDescriptor& file, std::vector<std::string>& out) {
  for (int i = 0; i < file.service_count(); ++i) out.push_back(file.service(i)->full_name());
}

// One request on the reflection stream, and its answer. An error_response becomes a local
// (not is_remote()) status error with the code and message it carries; a remote error is the
// call's own status.
asio::awaitable<Result<reflection::ServerReflectionResponse>> ask(
    rpcnet::TypedClientCall<reflection::ServerReflectionRequest, reflection::ServerReflectionResponse>& stream,
    reflection::ServerReflectionRequest request) {
  auto written = co_await stream.write(request);
  auto response = co_await stream.read();
  if (!written && response) co_return std::move(written).error();  // the status, if any, says more
  if (!response) co_return std::move(response).error();
  if (!*response) co_return RpcError::stream("the reflection service ended the stream without answering");
  if ((*response)->has_error_response()) {
    const auto& error = (*response)->error_response();
    co_return RpcError::status(status_code_from_wire(static_cast<std::uint32_t>(error.error_code())),
                               error.error_message());
  }
  co_return std::move(**response);
}

// A call-level NOT_FOUND or UNIMPLEMENTED means the server has no reflection method at all
// (reflection itself reports unknown symbols inside its answers).
RpcError no_reflection(const RpcError& error) {
  if (error.is_remote() &&
      (error.code() == StatusCode::kNotFound || error.code() == StatusCode::kUnimplemented)) {
    return RpcError::config("the server offers no reflection (" + std::string(status_code_name(error.code())) + ": " +
                            error.message() + "); pass the service's definition with --proto FILE [-I DIR]");
  }
  return error;
}

using ReflectionStream =
    rpcnet::TypedClientCall<reflection::ServerReflectionRequest, reflection::ServerReflectionResponse>;

asio::awaitable<Result<ReflectionStream>> open_reflection(RpcClient client, CallOptions options) {
  reflection::ServerReflectionClient stub(std::move(client));
  auto stream = co_await stub.ServerReflectionInfo(std::move(options));
  if (!stream) co_return no_reflection(stream.error());
  co_return std::move(*stream);
}

}  // namespace

Result<DescriptorSource> DescriptorSource::from_protos(const std::vector<std::string>& protos,
                                                       const std::vector<std::string>& import_paths) {
  auto state = std::make_unique<State>();
  std::vector<std::string> roots = import_paths;
  if (roots.empty()) {
    for (const auto& proto : protos) {
      const auto directory = std::filesystem::path(proto).parent_path().string();
      roots.push_back(directory.empty() ? "." : directory);
    }
  }
  for (const auto& root : roots) state->source_tree.MapPath("", root);
  // protoc finds the well-known types (google/protobuf/*.proto) by itself; so does this.
  state->source_tree.MapPath("", RPCNET_PROTOBUF_INCLUDE_DIR);
  auto errors = std::make_unique<CollectedErrors>();
  auto* collected = errors.get();
  state->errors = std::move(errors);
  state->importer = std::make_unique<pb::compiler::Importer>(&state->source_tree, state->errors.get());
  for (const auto& proto : protos) {
    std::string virtual_name;
    std::string shadowing;
    if (!std::filesystem::exists(proto)) return RpcError::config("--proto " + proto + ": no such file");
    const auto mapped = state->source_tree.DiskFileToVirtualFile(proto, &virtual_name, &shadowing);
    if (mapped != pb::compiler::DiskSourceTree::SUCCESS) {
      return RpcError::config("--proto " + proto + " is not under any import path (-I)");
    }
    const auto* file = state->importer->Import(virtual_name);
    if (file == nullptr) return RpcError::config("--proto " + proto + " does not compile:" + collected->text);
    add_services(*file, state->services);
  }
  std::sort(state->services.begin(), state->services.end());
  return DescriptorSource(std::move(state));
}

asio::awaitable<Result<DescriptorSource>> DescriptorSource::from_reflection(RpcClient client, std::string symbol,
                                                                            CallOptions options) {
  auto stream = co_await open_reflection(std::move(client), std::move(options));
  if (!stream) co_return std::move(stream).error();
  auto state = std::make_unique<State>();

  reflection::ServerReflectionRequest request;
  request.set_file_containing_symbol(symbol);
  auto answer = co_await ask(*stream, std::move(request));
  std::set<std::string> pending;  // files depended on but not received yet
  std::set<std::string> received;
  std::set<std::string> asked;  // by file name, each once
  for (bool first = true;; first = false) {
    if (!answer) {
      const bool refused = answer.error().kind() == ErrorKind::kStatus && !answer.error().is_remote();
      if (refused && first) {
        co_return RpcError::config("the server does not know \"" + symbol + "\" (" +
                                   std::string(status_code_name(answer.error().code())) + ": " +
                                   answer.error().message() + ")");
      }
      // A dependency the server lacks may be an installed one (the well-known types).
      if (!refused) co_return no_reflection(answer.error());
    } else {
      for (const auto& bytes : answer->file_descriptor_response().file_descriptor_proto()) {
        pb::FileDescriptorProto file;
        if (!file.ParseFromString(bytes)) {
          co_return RpcError::serialization("the server sent a malformed FileDescriptorProto");
        }
        if (!received.insert(file.name()).second) continue;
        pending.erase(file.name());
        if (first) {
          for (const auto& service : file.service()) {
            const std::string full = file.package().empty() ? service.name() : file.package() + "." + service.name();
            if (symbol == full || symbol.starts_with(full + ".")) state->services.push_back(full);
          }
        }
        for (const auto& dependency : file.dependency()) {
          if (!received.contains(dependency) && !asked.contains(dependency)) pending.insert(dependency);
        }
        if (!state->reflected.Add(file)) {
          co_return RpcError::serialization("the server sent a conflicting " + file.name());
        }
      }
    }
    if (pending.empty()) break;
    reflection::ServerReflectionRequest next;
    next.set_file_by_filename(*pending.begin());
    asked.insert(*pending.begin());
    pending.erase(pending.begin());
    answer = co_await ask(*stream, std::move(next));
  }
  (void)co_await stream->finish();
  stream->cancel();
  state->installed = std::make_unique<pb::DescriptorPoolDatabase>(*pb::DescriptorPool::generated_pool());
  state->merged = std::make_unique<pb::MergedDescriptorDatabase>(&state->reflected, state->installed.get());
  state->reflected_pool = std::make_unique<pb::DescriptorPool>(state->merged.get());
  co_return DescriptorSource(std::move(state));
}

asio::awaitable<Result<std::vector<std::string>>> DescriptorSource::list_by_reflection(RpcClient client,
                                                                                      CallOptions options) {
  auto stream = co_await open_reflection(std::move(client), std::move(options));
  if (!stream) co_return std::move(stream).error();
  reflection::ServerReflectionRequest request;
  request.set_list_services("*");
  auto answer = co_await ask(*stream, std::move(request));
  if (!answer) co_return no_reflection(answer.error());
  (void)co_await stream->finish();
  stream->cancel();
  std::vector<std::string> services;
  for (const auto& service : answer->list_services_response().service()) services.push_back(service.name());
  std::sort(services.begin(), services.end());
  co_return services;
}

const pb::DescriptorPool& DescriptorSource::pool() const { return state_->pool(); }
std::vector<std::string> DescriptorSource::services() const { return state_->services; }

DescriptorSource::DescriptorSource(std::unique_ptr<State> state) : state_(std::move(state)) {}
DescriptorSource::DescriptorSource(DescriptorSource&&) noexcept = default;
DescriptorSource& DescriptorSource::operator=(DescriptorSource&&) noexcept = default;
DescriptorSource::~DescriptorSource() = default;

}  // namespace rpcnet::tool
