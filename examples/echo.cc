// echo — binary payloads round-trip byte for byte.
//
// rpcnet never looks inside a payload: requests and responses are opaque byte vectors, so any
// serialization (protobuf, JSON, a hand-made struct codec) can sit on top. This example sends
// random bytes of several sizes, from empty to 1 MiB, to an `echo` method and checks that
// exactly the same bytes come back. Server and client run in this one process.
#include <asio/co_spawn.hpp>
#include <asio/use_future.hpp>
#include <chrono>
#include <iostream>
#include <random>
#include <vector>

#include "example_support.h"
#include "rpcnet/rpcnet.h"

namespace {

// The server side: answer with the request itself.
asio::awaitable<rpcnet::Result<rpcnet::Bytes>> echo(rpcnet::Bytes request) { co_return request; }

rpcnet::Bytes random_bytes(std::size_t size, std::mt19937_64& generator) {
  std::uniform_int_distribution<int> byte(0, 255);
  rpcnet::Bytes out(size);
  for (auto& b : out) b = static_cast<std::uint8_t>(byte(generator));
  return out;
}

// The client side: one call per size, each checked byte for byte. Returns the number of failures.
asio::awaitable<int> run_client(rpcnet::SocketAddress server, rpcnet::RpcConfig config) {
  auto client = co_await rpcnet::RpcClient::connect(server, std::move(config));
  if (!client) {
    std::cerr << "connect failed: " << client.error() << "\n";
    co_return 1;
  }
  std::mt19937_64 generator(20240601);  // fixed seed: the same bytes every run
  const std::vector<std::size_t> sizes = {0, 1, 100, 1200, 64 * 1024, 1024 * 1024};
  int failures = 0;
  for (std::size_t size : sizes) {
    const rpcnet::Bytes payload = random_bytes(size, generator);
    const auto start = std::chrono::steady_clock::now();
    auto reply = co_await client->call("echo", payload);  // the request is copied into the call
    const auto took = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - start);
    if (!reply) {
      std::cout << size << " bytes: FAILED " << reply.error() << "\n";
      ++failures;
    } else if (*reply != payload) {
      std::cout << size << " bytes: FAILED, " << reply->size() << " different bytes came back\n";
      ++failures;
    } else {
      std::cout << size << " bytes: identical after the round trip (" << took.count() << " µs)\n";
    }
  }
  co_return failures;
}

}  // namespace

int main() {
  examples::TempCertificates certs;  // fresh development certificates, removed at exit
  if (!certs.ok()) return 1;

  // Server: register, bind (port 0: the OS picks), then start serving in the background.
  rpcnet::RpcServer server(certs.server_config());
  server.register_method("echo", echo);
  auto address = server.bind();
  if (!address) {
    std::cerr << "bind failed: " << address.error() << "\n";
    return 1;
  }
  rpcnet::Runtime runtime(1);  // our loop: runs the client and awaits server.serve()
  auto serving = asio::co_spawn(runtime.executor(0), server.serve(), asio::use_future);

  // Client: run the calls to completion.
  const int failures = runtime.block_on(run_client(*address, certs.client_config()));

  // Graceful shutdown; serve() returns once it is complete.
  server.shutdown(std::chrono::seconds(1));
  auto served = serving.get();
  if (!served) std::cerr << "server: " << served.error() << "\n";
  return failures == 0 && served ? 0 : 1;
}
