// `rpcnet call` end to end: the built binary against a real RpcServer on loopback (port 0)
// serving demo.Greeter (protos/greeter.proto), a health handler and a byte method. Each test
// runs a shell command line, as a user would, and checks the exact output and exit code.
//
// DocumentedExamplesRunVerbatim runs every ```sh test block of doc/tools.md in a directory
// holding what the page assumes (certs/ca.pem, greeter.proto, other-ca.pem) with $ADDR set to
// the server, and compares the output (stdout and stderr) with the ```text block after it.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "greeter/greeter.hpp"
#include "integration/harness.h"
#include "rpcnet/health.h"
#include "rpcnet/health_service.h"
#include "rpcnet/reflection.h"
#include "runtime/child_process.h"

namespace rpcnet {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class Greeter : public demo::GreeterHandler {
 public:
  asio::awaitable<Result<demo::HelloReply>> SayHello(const demo::HelloRequest& request, CallContext&) override {
    if (request.name().empty()) co_return RpcError::status(StatusCode::kInvalidArgument, "name is required");
    demo::HelloReply reply;
    reply.set_message("Hello, " + request.name());
    co_return reply;
  }
  asio::awaitable<Result<void>> CountTo(const demo::CountRequest& request, TypedServerWriter<demo::Number>& writer,
                                        CallContext&) override {
    for (int i = 1; i <= request.count(); ++i) {
      demo::Number number;
      number.set_value(i);
      auto written = co_await writer.write(number);
      if (!written) co_return written;
    }
    co_return ok();
  }
  asio::awaitable<Result<demo::Total>> Sum(TypedServerReader<demo::Number>& reader, CallContext&) override {
    demo::Total total;
    for (;;) {
      auto number = co_await reader.read();
      if (!number) co_return std::move(number).error();
      if (!*number) co_return total;
      total.set_count(total.count() + 1);
      total.set_sum(total.sum() + (*number)->value());
    }
  }
  asio::awaitable<Result<void>> Chat(TypedServerStream<demo::HelloRequest, demo::HelloReply>& stream,
                                     CallContext&) override {
    for (;;) {
      auto request = co_await stream.read();
      if (!request) co_return std::move(request).error();
      if (!*request) co_return ok();
      demo::HelloReply reply;
      reply.set_message("Hello, " + (*request)->name());
      auto written = co_await stream.write(reply);
      if (!written) co_return written;
    }
  }
  asio::awaitable<Result<demo::HelloReply>> Whoami(const google::protobuf::Empty&, CallContext& context) override {
    const auto user = find_metadata(context.metadata(), "user");
    if (!user) co_return RpcError::status(StatusCode::kUnauthenticated, "no user metadata");
    demo::HelloReply reply;
    reply.set_message("you are " + std::string(*user));
    co_return reply;
  }
  asio::awaitable<Result<google::protobuf::Empty>> Hang(const google::protobuf::Empty&, CallContext&) override {
    // A timer that never expires: only the call's cancellation (its deadline) ends the wait.
    asio::steady_timer timer(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
    asio::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    co_return RpcError::cancelled();
  }
};

struct ShellRun {
  std::string output;  // stdout and stderr, interleaved as written
  std::optional<int> exit_code;
};

// A UDP port on loopback that nobody listens on (bound, then released).
std::string dead_address() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ::close(fd);
  return "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
}

class CallCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    demo::GreeterServer::register_with(server_.server(), std::make_shared<Greeter>());
    // The real health service: the server overall ("") and demo.Greeter serve once serving
    // starts, demo.Draining is set NOT_SERVING, any other name is NOT_FOUND.
    enable_health_service(server_.server());
    server_.server().health().set("demo.Draining", HealthStatus::kNotServing);
    server_.server().register_method("echo", [](Bytes request) -> asio::awaitable<Result<Bytes>> {
      co_return request;
    });
    enable_reflection(server_.server());
    server_.start();
    address_ = to_string(server_.address());
    demo::GreeterServer::register_with(no_reflection_.server(), std::make_shared<Greeter>());
    no_reflection_.start();
    no_reflection_address_ = to_string(no_reflection_.address());
    dead_address_ = dead_address();
    const auto& certs = testing::certificates();
    fs::create_directories(dir_.path() / "certs");
    fs::copy_file(certs.main.ca_cert, dir_.path() / "certs" / "ca.pem");
    fs::copy_file(certs.other.ca_cert, dir_.path() / "other-ca.pem");
    fs::copy_file(RPCNET_SOURCE_DIR "/tests/tools/protos/greeter.proto", dir_.path() / "greeter.proto");
  }

  // Runs `command` with sh in the work directory, `rpcnet` on the PATH and $ADDR (the server,
  // with reflection), $NO_REFLECTION_ADDR (demo.Greeter alone) and $DEAD_ADDR (a port nobody
  // serves) set.
  ShellRun sh(const std::string& command) {
    const std::string bin = fs::path(RPCNET_CLI_PATH).parent_path().string();
    const std::string prelude = "cd '" + dir_.path().string() + "' && export ADDR='" + address_ + "' DEAD_ADDR='" +
                                dead_address_ + "' NO_REFLECTION_ADDR='" + no_reflection_address_ + "' PATH='" + bin + "':\"$PATH\" && ";
    runtime::Process process({"sh", "-c", prelude + "{ " + command + "\n} 2>&1"});
    EXPECT_TRUE(process.started());
    process.close_stdin();
    ShellRun run;
    run.exit_code = process.wait_exit(60s);
    EXPECT_TRUE(process.wait_output_end(10s));
    for (const auto& line : process.lines()) run.output += line + "\n";
    return run;
  }

  testing::TempDir dir_;
  testing::LoopbackServer server_;
  testing::LoopbackServer no_reflection_;
  std::string address_;
  std::string no_reflection_address_;
  std::string dead_address_;
};

// `text` with the addresses of this run written as the variables that hold them.
std::string with_variables(std::string text, const std::vector<std::pair<std::string, std::string>>& variables) {
  for (const auto& [value, name] : variables) {
    for (auto at = text.find(value); at != std::string::npos; at = text.find(value, at + name.size())) {
      text.replace(at, value.size(), name);
    }
  }
  return text;
}

constexpr const char* kCall = "rpcnet call --proto greeter.proto $ADDR ";

TEST_F(CallCommand, UnaryCallTakesAndPrintsJson) {
  const ShellRun run = sh(std::string(kCall) + "demo.Greeter/SayHello '{\"name\": \"Ada\"}'");
  EXPECT_EQ(run.output, "{\"message\":\"Hello, Ada\"}\n");
  EXPECT_EQ(run.exit_code, 0);
}

TEST_F(CallCommand, UnaryRequestFromStdinWhenGivenAsDash) {
  const ShellRun run = sh("echo '{\"name\": \"Bob\"}' | " + std::string(kCall) + "demo.Greeter/SayHello -");
  EXPECT_EQ(run.output, "{\"message\":\"Hello, Bob\"}\n");
  EXPECT_EQ(run.exit_code, 0);
}

TEST_F(CallCommand, WellKnownTypesResolveWithoutImportPaths) {
  const ShellRun run = sh(std::string(kCall) +
                     "demo.Greeter/SayHello '{\"name\": \"Ada\", \"sent_at\": \"2026-01-02T03:04:05Z\"}'");
  EXPECT_EQ(run.output, "{\"message\":\"Hello, Ada\"}\n");
  EXPECT_EQ(run.exit_code, 0);
}

TEST_F(CallCommand, ServerStreamingPrintsOneObjectPerLine) {
  const ShellRun run = sh(std::string(kCall) + "demo.Greeter/CountTo '{\"count\": 3}'");
  EXPECT_EQ(run.output, "{\"value\":1}\n{\"value\":2}\n{\"value\":3}\n");
  EXPECT_EQ(run.exit_code, 0);
}

TEST_F(CallCommand, ClientStreamingReadsJsonLinesFromStdin) {
  const ShellRun run = sh("printf '{\"value\": 4}\\n\\n{\"value\": 5}\\n' | " + std::string(kCall) + "demo.Greeter/Sum");
  EXPECT_EQ(run.output, "{\"count\":2,\"sum\":9}\n");
  EXPECT_EQ(run.exit_code, 0);
}

TEST_F(CallCommand, BidiAnswersEachLine) {
  const ShellRun run = sh("printf '{\"name\": \"A\"}\\n{\"name\": \"B\"}\\n{\"name\": \"C\"}\\n' | " + std::string(kCall) +
                     "demo.Greeter/Chat");
  EXPECT_EQ(run.output, "{\"message\":\"Hello, A\"}\n{\"message\":\"Hello, B\"}\n{\"message\":\"Hello, C\"}\n");
  EXPECT_EQ(run.exit_code, 0);
}

TEST_F(CallCommand, MetadataReachesTheHandler) {
  const ShellRun with = sh("rpcnet call --proto greeter.proto -H 'user: ada' -H trace:1 $ADDR demo.Greeter/Whoami '{}'");
  EXPECT_EQ(with.output, "{\"message\":\"you are ada\"}\n");
  EXPECT_EQ(with.exit_code, 0);
  const ShellRun without = sh(std::string(kCall) + "demo.Greeter/Whoami '{}'");
  EXPECT_EQ(without.output, "UNAUTHENTICATED: no user metadata\n");
  EXPECT_EQ(without.exit_code, 64 + 16);
}

TEST_F(CallCommand, TimeoutEndsTheCallWithDeadlineExceeded) {
  const ShellRun run = sh("rpcnet call --proto greeter.proto --timeout 300ms $ADDR demo.Greeter/Hang '{}'");
  EXPECT_EQ(run.output, "DEADLINE_EXCEEDED: deadline of 300 ms exceeded\n");
  EXPECT_EQ(run.exit_code, 64 + 4);
}

TEST_F(CallCommand, StatusErrorsPrintCodeAndMessageAndExit64PlusCode) {
  const ShellRun run = sh(std::string(kCall) + "demo.Greeter/SayHello '{}'");
  EXPECT_EQ(run.output, "INVALID_ARGUMENT: name is required\n");
  EXPECT_EQ(run.exit_code, 64 + 3);
}

TEST_F(CallCommand, RawSendsStdinBytesAndWritesResponseBytes) {
  const ShellRun run = sh("printf 'a\\000b\\377' | rpcnet call --raw $ADDR echo | od -An -tx1");
  EXPECT_EQ(run.output, " 61 00 62 ff\n");
  EXPECT_EQ(run.exit_code, 0);
  const ShellRun missing = sh("printf x | rpcnet call --raw $ADDR nope");
  EXPECT_EQ(missing.output, "NOT_FOUND: unknown method \"nope\"\n");
  EXPECT_EQ(missing.exit_code, 64 + 5);
}

TEST_F(CallCommand, ListsServicesAndMethods) {
  EXPECT_EQ(sh(std::string(kCall) + "list").output, "demo.Greeter\n");
  const ShellRun methods = sh(std::string(kCall) + "list demo.Greeter");
  EXPECT_EQ(methods.output,
            "demo.Greeter/SayHello\ndemo.Greeter/CountTo\ndemo.Greeter/Sum\ndemo.Greeter/Chat\n"
            "demo.Greeter/Whoami\ndemo.Greeter/Hang\n");
  EXPECT_EQ(methods.exit_code, 0);
}

TEST_F(CallCommand, DescribesServicesMethodsAndMessages) {
  const ShellRun method = sh(std::string(kCall) + "describe demo.Greeter/Sum");
  EXPECT_EQ(method.output, "demo.Greeter.Sum is a method:\nrpc Sum(stream .demo.Number) returns (.demo.Total);\n");
  EXPECT_EQ(method.exit_code, 0);
  const ShellRun message = sh(std::string(kCall) + "describe demo.Total");
  EXPECT_EQ(message.output, "demo.Total is a message:\nmessage Total {\n  int32 count = 1;\n  int32 sum = 2;\n}\n");
  const ShellRun service = sh(std::string(kCall) + "describe demo.Greeter");
  EXPECT_EQ(service.output.rfind("demo.Greeter is a service:\nservice Greeter {\n  rpc SayHello(.demo.HelloRequest)", 0), 0u)
      << service.output;
  const ShellRun unknown = sh(std::string(kCall) + "describe demo.Nothing");
  EXPECT_EQ(unknown.output, "rpcnet call: unknown symbol \"demo.Nothing\"\n");
  EXPECT_EQ(unknown.exit_code, 3);
}

TEST_F(CallCommand, HealthPrintsTheStatusAndFailsUnlessServing) {
  const ShellRun overall = sh("rpcnet call $ADDR health");
  EXPECT_EQ(overall.output, "SERVING\n");
  EXPECT_EQ(overall.exit_code, 0);
  const ShellRun draining = sh("rpcnet call $ADDR health demo.Draining");
  EXPECT_EQ(draining.output, "NOT_SERVING\n");
  EXPECT_EQ(draining.exit_code, 4);
  const ShellRun unknown = sh("rpcnet call $ADDR health demo.Nobody");
  EXPECT_EQ(unknown.output, "NOT_FOUND: unknown service \"demo.Nobody\"\n");
  EXPECT_EQ(unknown.exit_code, 64 + 5);
}

TEST_F(CallCommand, MalformedJsonNamesThePosition) {
  const ShellRun run = sh(std::string(kCall) + "demo.Greeter/SayHello '{\"name\" \"Ada\"}'");
  EXPECT_EQ(run.output,
            "rpcnet call: malformed JSON for demo.HelloRequest: parse error at line 1, column 13: syntax error while "
            "parsing object separator - unexpected string literal; expected ':'\n");
  EXPECT_EQ(run.exit_code, 3);
}

TEST_F(CallCommand, MalformedLineInABidiStreamEndsTheCall) {
  const ShellRun run = sh("printf '{\"name\": \"A\"}\\n{oops\\n' | " + std::string(kCall) + "demo.Greeter/Chat");
  EXPECT_NE(run.output.find("rpcnet call: malformed JSON for demo.HelloRequest: parse error at line 1, column 2"),
            std::string::npos)
      << run.output;
  EXPECT_EQ(run.exit_code, 3);
}

TEST_F(CallCommand, UnknownFieldIsRefused) {
  const ShellRun run = sh(std::string(kCall) + "demo.Greeter/SayHello '{\"nme\": \"Ada\"}'");
  EXPECT_EQ(run.output, "rpcnet call: JSON does not fit demo.HelloRequest: nme: Cannot find field.\n");
  EXPECT_EQ(run.exit_code, 3);
}

TEST_F(CallCommand, UnknownMethodAndServiceAreRefusedBeforeCalling) {
  const ShellRun method = sh(std::string(kCall) + "demo.Greeter/SayBye '{}'");
  EXPECT_EQ(method.output,
            "rpcnet call: unknown method \"demo.Greeter/SayBye\": demo.Greeter has SayHello, CountTo, Sum, Chat, "
            "Whoami, Hang\n");
  EXPECT_EQ(method.exit_code, 3);
  const ShellRun service = sh(std::string(kCall) + "demo.Nope/SayHello '{}'");
  EXPECT_EQ(service.output, "rpcnet call: unknown service \"demo.Nope\"\n");
  EXPECT_EQ(service.exit_code, 3);
}

TEST_F(CallCommand, WithoutReflectionOrProtoSaysToPassProto) {
  const ShellRun run = sh("rpcnet call $NO_REFLECTION_ADDR demo.Greeter/SayHello '{\"name\": \"Ada\"}'");
  EXPECT_EQ(run.output,
            "rpcnet call: the server offers no reflection (NOT_FOUND: unknown method "
            "\"grpc.reflection.v1.ServerReflection/ServerReflectionInfo\"); pass the service's definition with "
            "--proto FILE [-I DIR]\n");
  EXPECT_EQ(run.exit_code, 3);
}

TEST_F(CallCommand, ReflectionSuppliesTheDescriptorsOfEachCallKind) {
  EXPECT_EQ(sh("rpcnet call $ADDR demo.Greeter/SayHello '{\"name\": \"Ada\", \"sent_at\": \"2026-01-02T03:04:05Z\"}'").output,
            "{\"message\":\"Hello, Ada\"}\n");
  EXPECT_EQ(sh("rpcnet call $ADDR demo.Greeter/CountTo '{\"count\": 2}'").output, "{\"value\":1}\n{\"value\":2}\n");
  EXPECT_EQ(sh("printf '{\"value\": 2}\\n{\"value\": 3}\\n' | rpcnet call $ADDR demo.Greeter/Sum").output,
            "{\"count\":2,\"sum\":5}\n");
  const ShellRun bidi = sh("printf '{\"name\": \"A\"}\\n' | rpcnet call $ADDR demo.Greeter/Chat");
  EXPECT_EQ(bidi.output, "{\"message\":\"Hello, A\"}\n");
  EXPECT_EQ(bidi.exit_code, 0);
}

TEST_F(CallCommand, ReflectionListsAndDescribes) {
  const ShellRun services = sh("rpcnet call $ADDR list");
  EXPECT_EQ(services.output, "demo.Greeter\ngrpc.health.v1.Health\ngrpc.reflection.v1.ServerReflection\n");
  EXPECT_EQ(services.exit_code, 0);
  EXPECT_EQ(sh("rpcnet call $ADDR list grpc.health.v1.Health").output,
            "grpc.health.v1.Health/Check\ngrpc.health.v1.Health/Watch\n");
  EXPECT_EQ(sh("rpcnet call $ADDR describe demo.Greeter.Sum").output,
            "demo.Greeter.Sum is a method:\nrpc Sum(stream .demo.Number) returns (.demo.Total);\n");
  EXPECT_EQ(sh("rpcnet call $ADDR describe demo.Total").output,
            "demo.Total is a message:\nmessage Total {\n  int32 count = 1;\n  int32 sum = 2;\n}\n");
}

TEST_F(CallCommand, ReflectionRefusesUnknownServicesAndFields) {
  const ShellRun service = sh("rpcnet call $ADDR demo.Nope/Hi '{}'");
  EXPECT_EQ(service.output.rfind("rpcnet call: the server does not know \"demo.Nope\" (NOT_FOUND: ", 0), 0u)
      << service.output;
  EXPECT_EQ(service.exit_code, 3);
  const ShellRun field = sh("rpcnet call $ADDR demo.Greeter/SayHello '{\"nme\": 1}'");
  EXPECT_EQ(field.output, "rpcnet call: JSON does not fit demo.HelloRequest: nme: Cannot find field.\n");
  EXPECT_EQ(field.exit_code, 3);
}

TEST_F(CallCommand, ProtoThatDoesNotCompileIsBadInput) {
  const ShellRun run = sh("printf 'syntax = \"proto3\";\\nmessage {\\n' > broken.proto && rpcnet call --proto broken.proto "
                     "$ADDR list");
  EXPECT_EQ(run.output, "rpcnet call: --proto broken.proto does not compile:\n  broken.proto:2:9: Expected message name.\n");
  EXPECT_EQ(run.exit_code, 3);
}

TEST_F(CallCommand, UnreachableServerIsAConnectionFailure) {
  const ShellRun run = sh("rpcnet call --timeout 1s $DEAD_ADDR health");
  EXPECT_EQ(run.output.rfind("rpcnet call: cannot connect to 127.0.0.1:", 0), 0u) << run.output;
  EXPECT_EQ(run.exit_code, 5);
}

TEST_F(CallCommand, UntrustedCertificateIsATlsFailure) {
  const ShellRun run = sh("rpcnet call --ca other-ca.pem $ADDR health");
  EXPECT_EQ(run.output.rfind("rpcnet call: cannot connect to " + address_ + ": ", 0), 0u) << run.output;
  EXPECT_EQ(run.exit_code, 6);
}

TEST_F(CallCommand, HostNamesResolveAndTheVerifiedNameCanBeChosen) {
  const std::string port = address_.substr(address_.rfind(':') + 1);
  const ShellRun named = sh("rpcnet call localhost:" + port + " health");
  EXPECT_EQ(named.output, "SERVING\n");
  EXPECT_EQ(named.exit_code, 0);
  // The development certificate names localhost, 127.0.0.1 and ::1 only.
  const ShellRun misnamed = sh("rpcnet call --server-name elsewhere.example $ADDR health");
  EXPECT_EQ(misnamed.output.rfind("rpcnet call: cannot connect to " + address_ + ": ", 0), 0u) << misnamed.output;
  EXPECT_EQ(misnamed.exit_code, 6);
}

TEST_F(CallCommand, MutualTlsPresentsTheClientCertificate) {
  const auto& certs = testing::certificates().main;
  testing::LoopbackServer strict(testing::server_config().with_ca_path(certs.ca_cert));
  enable_health_service(strict.server());
  strict.start();
  fs::copy_file(certs.client_cert, dir_.path() / "certs" / "client.pem");
  fs::copy_file(certs.client_key, dir_.path() / "certs" / "client-key.pem");
  const std::string address = to_string(strict.address());
  const ShellRun with = sh("rpcnet call --cert certs/client.pem --key certs/client-key.pem " + address + " health");
  EXPECT_EQ(with.output, "SERVING\n");
  EXPECT_EQ(with.exit_code, 0);
  const ShellRun without = sh("rpcnet call --timeout 2s " + address + " health");
  EXPECT_EQ(without.exit_code, 6) << without.output;
  EXPECT_EQ(sh("rpcnet call --cert certs/client.pem " + address + " health").exit_code, 2);
}

TEST_F(CallCommand, BadCommandLinesAreUsageErrors) {
  EXPECT_EQ(sh("rpcnet call not-an-address health").exit_code, 2);
  EXPECT_EQ(sh("rpcnet call --timeout soon $ADDR health").exit_code, 2);
  EXPECT_EQ(sh("rpcnet call -H novalue $ADDR health").exit_code, 2);
  EXPECT_EQ(sh("rpcnet call $ADDR").exit_code, 2);
  const ShellRun extra = sh(std::string(kCall) + "demo.Greeter/SayHello '{}' '{}'");
  EXPECT_EQ(extra.output, "rpcnet call: too many arguments: quote the JSON request as one argument\n");
  EXPECT_EQ(extra.exit_code, 2);
}

// ---- doc/tools.md ---------------------------------------------------------------------------

struct Example {
  std::string command;
  std::string expected;
};

// Each ```sh test block and the ```text block right after it.
std::vector<Example> documented_examples() {
  std::ifstream doc(RPCNET_SOURCE_DIR "/doc/tools.md");
  std::vector<Example> examples;
  std::string line;
  auto read_block = [&doc, &line] {
    std::string block;
    while (std::getline(doc, line) && line != "```") block += line + "\n";
    return block;
  };
  while (std::getline(doc, line)) {
    if (line != "```sh test") continue;
    Example example;
    example.command = read_block();
    while (std::getline(doc, line) && line.empty()) {
    }
    if (line == "```text") example.expected = read_block();
    examples.push_back(std::move(example));
  }
  return examples;
}

TEST_F(CallCommand, DocumentedExamplesRunVerbatim) {
  const auto examples = documented_examples();
  ASSERT_GE(examples.size(), 10u) << "doc/tools.md lost its ```sh test examples";
  for (const auto& example : examples) {
    const ShellRun run = sh(example.command);
    // Addresses differ per run: the page shows them as the variables.
    const auto output = with_variables(run.output, {{address_, "$ADDR"}, {no_reflection_address_, "$NO_REFLECTION_ADDR"}, {dead_address_, "$DEAD_ADDR"}});
    EXPECT_EQ(output, example.expected) << "doc/tools.md example:\n" << example.command;
    EXPECT_EQ(run.exit_code, 0) << example.command;
  }
}

}  // namespace
}  // namespace rpcnet
