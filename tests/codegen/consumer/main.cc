// One generated service in one process: a GreeterServer on a loopback port (fresh development
// certificates in a temporary directory), a GreeterClient calling it once. Prints
//   consumer: Hello, installed rpcnet!
// and exits 0 when the call worked.
#include <stdlib.h>

#include <asio/co_spawn.hpp>
#include <asio/use_future.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "greeter/greeter.hpp"
#include "rpcnet/rpcnet.h"

namespace {

class Greeter final : public consumer::v1::GreeterHandler {
 public:
  asio::awaitable<rpcnet::Result<consumer::v1::HelloReply>> SayHello(
      const consumer::v1::HelloRequest& request, rpcnet::CallContext&) override {
    consumer::v1::HelloReply reply;
    reply.set_message("Hello, " + request.name() + "!");
    co_return reply;
  }
};

asio::awaitable<rpcnet::Result<consumer::v1::HelloReply>> call(rpcnet::SocketAddress server,
                                                              rpcnet::RpcConfig config) {
  auto client = co_await consumer::v1::GreeterClient::connect(server, std::move(config));
  if (!client) co_return client.error();
  consumer::v1::HelloRequest request;
  request.set_name("installed rpcnet");
  co_return co_await client->SayHello(request);
}

int run(const std::filesystem::path& directory) {
  rpcnet::DevCertificateOptions options;
  options.directory = (directory / "certs").string();
  auto certs = rpcnet::make_dev_certificates(options);
  if (!certs) {
    std::cerr << "certificates: " << certs.error() << "\n";
    return 1;
  }

  consumer::v1::GreeterServer server(
      rpcnet::RpcConfig(certs->server_cert, "127.0.0.1:0").with_key_path(certs->server_key),
      std::make_shared<Greeter>());
  auto address = server.bind();
  if (!address) {
    std::cerr << "bind: " << address.error() << "\n";
    return 1;
  }
  rpcnet::Runtime runtime(1);
  auto serving = asio::co_spawn(runtime.executor(0), server.serve(), asio::use_future);
  auto reply = runtime.block_on(
      call(*address, rpcnet::RpcConfig(certs->ca_cert, "127.0.0.1:0").with_server_name("localhost")));
  server.shutdown(std::chrono::milliseconds(0));
  auto served = serving.get();
  if (!reply) {
    std::cerr << "call: " << reply.error() << "\n";
    return 1;
  }
  if (!served) {
    std::cerr << "serve: " << served.error() << "\n";
    return 1;
  }
  std::cout << "consumer: " << reply->message() << "\n";
  return 0;
}

}  // namespace

int main() {
  std::string pattern = (std::filesystem::temp_directory_path() / "rpcnet-consumer-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::cerr << "mkdtemp failed\n";
    return 1;
  }
  const int status = run(pattern);
  std::error_code ignored;
  std::filesystem::remove_all(pattern, ignored);
  return status;
}
