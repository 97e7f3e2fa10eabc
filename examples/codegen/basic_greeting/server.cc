// greeting_server — the guide's hello world, typed: serves the Greeting service of greeting.proto.
//
// rpcnet-gen made greeting/ from greeting.proto (CMake's rpcnet_generate() runs it at build
// time). This program implements the generated GreetingHandler, hands it to the generated
// GreetingServer, and serves until Ctrl-C or SIGTERM, then shuts down gracefully.
//
//   rpcnet certs --out certs                                   # once: development certificates
//   greeting_server --certs certs --listen 127.0.0.1:50051
//   greeting_client --server 127.0.0.1:50051 --ca certs/ca.pem --name rpcnet
#include <asio/signal_set.hpp>
#include <chrono>
#include <csignal>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

#include "greeting/greeting.hpp"  // generated: messages, GreetingClient, GreetingHandler, GreetingServer
#include "rpcnet/rpcnet.h"

namespace {

// One coroutine per RPC in the .proto. It returns the reply, or an RpcError whose status the
// caller receives. Handlers may run concurrently (keep shared state thread-safe).
class GreetingService final : public greeting::v1::GreetingHandler {
 public:
  asio::awaitable<rpcnet::Result<greeting::v1::HelloReply>> SayHello(
      const greeting::v1::HelloRequest& request, rpcnet::CallContext& /*context*/) override {
    if (request.name().empty()) {
      co_return rpcnet::RpcError::status(rpcnet::StatusCode::kInvalidArgument, "name is empty");
    }
    greeting::v1::HelloReply reply;
    reply.set_message("Hello, " + request.name() + "!");
    co_return reply;
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string certs = "certs";
  std::string listen = "127.0.0.1:50051";
  bool usage_error = argc % 2 != 1;  // options come in pairs
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view option = argv[i];
    if (option == "--certs") {
      certs = argv[i + 1];
    } else if (option == "--listen") {
      listen = argv[i + 1];
    } else {
      usage_error = true;
    }
  }
  if (usage_error) {
    std::cerr << "usage: greeting_server [--certs DIR] [--listen ADDR]\n";
    return 2;
  }

  // The server's certificate and key, as written by `rpcnet certs --out DIR`.
  auto config = rpcnet::RpcConfig(certs + "/server.pem", listen)
                    .with_key_path(certs + "/server-key.pem");
  greeting::v1::GreetingServer server(config, std::make_shared<GreetingService>());
  auto address = server.bind();  // claims the port, loads the certificate
  if (!address) {
    std::cerr << "greeting_server: " << address.error() << "\n";
    return 1;
  }

  std::cout << "listening on " << rpcnet::to_string(*address) << std::endl;  // flushes

  // SIGINT/SIGTERM start a graceful shutdown: new calls are refused, calls in flight get up to
  // 5 s to finish. The signal is awaited on a loop of ours; the server has loops of its own.
  rpcnet::Runtime runtime(1);
  asio::signal_set signals(runtime.executor(0), SIGINT, SIGTERM);
  signals.async_wait([&server](const asio::error_code& error, int) {
    if (!error) server.shutdown(std::chrono::seconds(5));
  });
  auto served = server.run();  // returns once the shutdown is complete
  if (!served) {
    std::cerr << "greeting_server: " << served.error() << "\n";
    return 1;
  }
  std::cerr << "greeting_server: stopped\n";
  return 0;
}
