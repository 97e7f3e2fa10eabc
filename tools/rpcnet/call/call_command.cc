#include "call_command.h"

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <cstdio>
#include <iostream>

#include "describe.h"
#include "descriptor_source.h"
#include "exit_code.h"
#include "health/client.hpp"
#include "json_messages.h"
#include "rpcnet/client.h"
#include "stdin_lines.h"
#include "target.h"

namespace rpcnet::tool {

namespace pb = google::protobuf;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr int exit_code(CallExit code) { return static_cast<int>(code); }

// Everything a run needs once the command line has been checked.
struct CallPlan {
  const CallCommandOptions* options = nullptr;
  CallTarget target;
  CallOptions call_options;
  std::optional<DescriptorSource> descriptors;  // from --proto; else asked of the server
};

int fail(const RpcError& error) {
  const int code = call_exit_code(error);
  if (code >= exit_code(CallExit::kStatusBase)) {
    std::cerr << status_code_name(error.code()) << ": " << error.message() << "\n";
  } else {
    std::cerr << "rpcnet call: " << error.message() << "\n";
  }
  return code;
}

int usage(const std::string& message) {
  std::cerr << "rpcnet call: " << message << "\n";
  return exit_code(CallExit::kUsage);
}

void print_line(const std::string& text) { std::cout << text << "\n" << std::flush; }

RpcConfig client_config(const CallCommandOptions& options, const CallTarget& target,
                        std::optional<std::chrono::milliseconds> timeout) {
  const bool mutual = !options.cert.empty() || !options.key.empty();
  RpcConfig config = mutual ? RpcConfig(options.cert, "").with_key_path(options.key).with_ca_path(options.ca)
                            : RpcConfig(options.ca, "");
  config.with_server_name(options.server_name.empty() ? target.host_name : options.server_name);
  if (timeout) config.with_connect_timeout(std::min(*timeout, config.connect_timeout()));
  return config;
}

// The descriptors for `symbol`: the --proto ones, or the server's by reflection.
asio::awaitable<Result<const DescriptorSource*>> descriptors_for(CallPlan& plan, const RpcClient& client,
                                                                  std::string symbol) {
  if (!plan.descriptors) {
    auto loaded = co_await DescriptorSource::from_reflection(client, std::move(symbol), plan.call_options);
    if (!loaded) co_return std::move(loaded).error();
    plan.descriptors.emplace(std::move(*loaded));
  }
  co_return &*plan.descriptors;
}

asio::awaitable<int> run_list(CallPlan& plan, const RpcClient& client, const std::vector<std::string>& arguments) {
  if (arguments.size() > 2) co_return usage("list takes at most one service");
  if (arguments.size() == 2) {
    auto source = co_await descriptors_for(plan, client, arguments[1]);
    if (!source) co_return fail(source.error());
    auto methods = list_methods((*source)->pool(), arguments[1]);
    if (!methods) co_return fail(methods.error());
    std::cout << *methods << std::flush;
    co_return exit_code(CallExit::kOk);
  }
  std::vector<std::string> services;
  if (plan.descriptors) {
    services = plan.descriptors->services();
  } else {
    auto listed = co_await DescriptorSource::list_by_reflection(client, plan.call_options);
    if (!listed) co_return fail(listed.error());
    services = std::move(*listed);
  }
  for (const auto& service : services) print_line(service);
  co_return exit_code(CallExit::kOk);
}

asio::awaitable<int> run_describe(CallPlan& plan, const RpcClient& client, const std::vector<std::string>& arguments) {
  if (arguments.size() != 2) co_return usage("describe takes one symbol: a service, method, message or enum");
  std::string symbol = arguments[1];
  if (const auto slash = symbol.find('/'); slash != std::string::npos) symbol[slash] = '.';
  auto source = co_await descriptors_for(plan, client, symbol);
  if (!source) co_return fail(source.error());
  auto described = describe_symbol((*source)->pool(), symbol);
  if (!described) co_return fail(described.error());
  std::cout << *described << std::flush;
  co_return exit_code(CallExit::kOk);
}

asio::awaitable<int> run_health(CallPlan& plan, const RpcClient& client, const std::vector<std::string>& arguments) {
  if (arguments.size() > 2) co_return usage("health takes at most one service name");
  grpc::health::v1::HealthCheckRequest request;
  if (arguments.size() == 2) request.set_service(arguments[1]);
  grpc::health::v1::HealthClient health(client);
  auto answer = co_await health.Check(request, plan.call_options);
  if (!answer) co_return fail(answer.error());
  print_line(grpc::health::v1::HealthCheckResponse_ServingStatus_Name(answer->status()));
  co_return exit_code(answer->status() == grpc::health::v1::HealthCheckResponse::SERVING ? CallExit::kOk
                                                                                           : CallExit::kNotServing);
}

asio::awaitable<int> run_raw(CallPlan& plan, const RpcClient& client, const std::vector<std::string>& arguments) {
  if (arguments.size() != 1) co_return usage("--raw takes the method only; the request comes from stdin");
  const std::string input = read_all_stdin();
  auto reply = co_await client.call(arguments[0], Bytes(input.begin(), input.end()), plan.call_options);
  if (!reply) co_return fail(reply.error());
  if (!reply->empty() && std::fwrite(reply->data(), 1, reply->size(), stdout) != reply->size()) {
    co_return exit_code(CallExit::kInternal);
  }
  std::fflush(stdout);
  co_return exit_code(CallExit::kOk);
}

// Sends stdin's JSON lines on a bidirectional call, then finishes it. A malformed line cancels
// the call: half a conversation is not what the user asked for.
asio::awaitable<Result<void>> send_lines(ClientCall& call, const pb::Descriptor& type, JsonMessages& json) {
  StdinLines lines;
  for (;;) {
    auto line = co_await lines.next();
    if (!line) co_return co_await call.finish();
    auto request = json.to_bytes(type, *line);
    if (!request) {
      call.cancel();
      co_return std::move(request).error();
    }
    auto written = co_await call.write(std::move(*request));
    if (!written) co_return written;
  }
}

asio::awaitable<Result<void>> print_responses(ClientCall& call, const pb::Descriptor& type, JsonMessages& json) {
  for (;;) {
    auto response = co_await call.read();
    if (!response) co_return std::move(response).error();
    if (!*response) co_return ok();
    auto text = json.to_json(type, **response);
    if (!text) {
      call.cancel();
      co_return std::move(text).error();
    }
    print_line(*text);
  }
}

asio::awaitable<int> run_bidi(CallPlan& plan, const RpcClient& client, const pb::MethodDescriptor& method,
                              const std::string& name) {
  JsonMessages json;
  auto call = co_await client.open_call(name, plan.call_options);
  if (!call) co_return fail(call.error());
  auto [sent, received] = co_await (send_lines(*call, *method.input_type(), json) &&
                                    print_responses(*call, *method.output_type(), json));
  // A malformed line is the cause of the cancellation the reader saw; otherwise the call's
  // status says how it ended (a write refused because the server had finished says less).
  if (!sent && sent.error().kind() == ErrorKind::kSerialization) co_return fail(sent.error());
  if (!received) co_return fail(received.error());
  co_return exit_code(CallExit::kOk);
}

asio::awaitable<int> run_client_streaming(CallPlan& plan, const RpcClient& client,
                                          const pb::MethodDescriptor& method, const std::string& name) {
  // All lines are read and checked before the call starts: its one answer comes at the end
  // anyway, and a malformed line then costs the server nothing.
  JsonMessages json;
  std::vector<Bytes> requests;
  StdinLines lines;
  for (auto line = co_await lines.next(); line; line = co_await lines.next()) {
    auto request = json.to_bytes(*method.input_type(), *line);
    if (!request) co_return fail(request.error());
    requests.push_back(std::move(*request));
  }
  auto reply = co_await client.call_client_streaming(name, std::move(requests), plan.call_options);
  if (!reply) co_return fail(reply.error());
  auto text = json.to_json(*method.output_type(), *reply);
  if (!text) co_return fail(text.error());
  print_line(*text);
  co_return exit_code(CallExit::kOk);
}

asio::awaitable<int> run_method(CallPlan& plan, const RpcClient& client, const std::vector<std::string>& arguments) {
  if (arguments.size() > 2) co_return usage("too many arguments: quote the JSON request as one argument");
  std::string service = arguments[0];
  if (const auto slash = service.find('/'); slash != std::string::npos) service.resize(slash);
  auto source = co_await descriptors_for(plan, client, service);
  if (!source) co_return fail(source.error());
  auto found = find_method((*source)->pool(), arguments[0]);
  if (!found) co_return fail(found.error());
  const pb::MethodDescriptor& method = **found;
  const std::string name = method.service()->full_name() + "/" + method.name();

  if (method.client_streaming()) {
    if (arguments.size() == 2 && arguments[1] != "-") {
      co_return usage(name + " is a client-streaming method: give its requests on stdin, one JSON object per line");
    }
    if (method.server_streaming()) co_return co_await run_bidi(plan, client, method, name);
    co_return co_await run_client_streaming(plan, client, method, name);
  }

  JsonMessages json;
  const std::string text = arguments.size() == 2 && arguments[1] != "-" ? arguments[1] : read_all_stdin();
  auto request = json.to_bytes(*method.input_type(), text);
  if (!request) co_return fail(request.error());
  if (method.server_streaming()) {
    auto stream = co_await client.call_server_streaming(name, std::move(*request), plan.call_options);
    if (!stream) co_return fail(stream.error());
    for (;;) {
      auto response = co_await stream->next();
      if (!response) co_return fail(response.error());
      if (!*response) co_return exit_code(CallExit::kOk);
      auto printed = json.to_json(*method.output_type(), **response);
      if (!printed) co_return fail(printed.error());
      print_line(*printed);
    }
  }
  auto reply = co_await client.call(name, std::move(*request), plan.call_options);
  if (!reply) co_return fail(reply.error());
  auto printed = json.to_json(*method.output_type(), *reply);
  if (!printed) co_return fail(printed.error());
  print_line(*printed);
  co_return exit_code(CallExit::kOk);
}

asio::awaitable<int> run_connected(CallPlan& plan) {
  const auto& options = *plan.options;
  // A name may resolve to several addresses (::1 and 127.0.0.1 for localhost): the first that
  // answers wins, as with grpcurl.
  Result<RpcClient> client = RpcError::connection("no address");
  for (const auto& address : plan.target.addresses) {
    client = co_await RpcClient::connect(address, client_config(options, plan.target, plan.call_options.timeout));
    if (client || client.error().kind() != ErrorKind::kConnection) break;
  }
  if (!client) {
    const RpcError& error = client.error();
    std::cerr << "rpcnet call: cannot connect to " << options.target << ": " << error.message() << "\n";
    co_return call_exit_code(error);
  }
  const auto& arguments = options.arguments;
  int code = 0;
  if (options.raw) {
    code = co_await run_raw(plan, *client, arguments);
  } else if (arguments[0] == "list") {
    code = co_await run_list(plan, *client, arguments);
  } else if (arguments[0] == "describe") {
    code = co_await run_describe(plan, *client, arguments);
  } else if (arguments[0] == "health") {
    code = co_await run_health(plan, *client, arguments);
  } else {
    code = co_await run_method(plan, *client, arguments);
  }
  client->close();
  co_return code;
}

}  // namespace

CLI::App* add_call_command(CLI::App& app, CallCommandOptions& options) {
  CLI::App* cmd = app.add_subcommand(
      "call", "Call a method with a JSON request (grpcurl-style); list, describe, health (see doc/tools.md)");
  // One positional list, split in run_call: CLI11 assigns two positionals (a string, then a
  // vector) from the wrong end when the list has several items.
  cmd->add_option("HOST:PORT what", options.arguments,
                  "The server, then: package.Service/Method [JSON request | -], list [service], describe SYMBOL "
                  "or health [service]")
      ->required();
  cmd->add_option("--ca", options.ca, "CA certificate (PEM) the server's certificate must chain to")
      ->capture_default_str();
  cmd->add_option("--cert", options.cert, "Client certificate (PEM), for servers that require mutual TLS");
  cmd->add_option("--key", options.key, "Client private key (PEM), with --cert");
  cmd->add_option("--server-name", options.server_name,
                  "Name to verify in the server's certificate (default: HOST as written; for an IP, the IP)");
  cmd->add_option("--proto", options.protos, "Take descriptors from this .proto, not reflection (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("-I,--import-path", options.import_paths,
                  "Where --proto files and their imports are (repeatable; default: each file's directory)")
      ->allow_extra_args(false);
  cmd->add_option("-H,--header", options.headers, "Metadata key:value sent with the call (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--timeout", options.timeout, "Deadline of the call, e.g. 500ms, 2s, 1m (default: 30s)");
  cmd->add_flag("--raw", options.raw, "Send stdin's bytes as the request, write the response's bytes to stdout");
  return cmd;
}

int run_call(const CallCommandOptions& options) {
  if (options.arguments.size() < 2) return usage("say what to do after HOST:PORT (see rpcnet call --help)");
  CallCommandOptions split = options;
  split.target = split.arguments.front();
  split.arguments.erase(split.arguments.begin());
  CallPlan plan;
  plan.options = &split;
  auto target = resolve_call_target(split.target);
  if (!target) return usage(target.error().message());
  plan.target = std::move(*target);
  if (!options.timeout.empty()) {
    auto timeout = parse_call_duration(options.timeout);
    if (!timeout) return usage("--timeout: " + timeout.error().message());
    plan.call_options.timeout = *timeout;
  }
  for (const auto& header : options.headers) {
    const auto colon = header.find(':');
    if (colon == std::string::npos || colon == 0) return usage("-H \"" + header + "\" is not key:value");
    const auto value_start = header.find_first_not_of(' ', colon + 1);
    plan.call_options.metadata.emplace_back(header.substr(0, colon),
                                            value_start == std::string::npos ? "" : header.substr(value_start));
  }
  if (options.cert.empty() != options.key.empty()) return usage("--cert and --key go together");
  if (!options.protos.empty() && !options.raw) {
    auto loaded = DescriptorSource::from_protos(options.protos, options.import_paths);
    if (!loaded) return fail(loaded.error());
    plan.descriptors.emplace(std::move(*loaded));
  }

  asio::io_context loop;
  auto done = asio::co_spawn(loop, run_connected(plan), asio::use_future);
  loop.run();
  return done.get();
}

}  // namespace rpcnet::tool
