// server_streaming — one request in, a stream of responses out (the guide's
// call_server_streaming).
//
// The server's `search` method receives a prefix and writes every matching word as its own
// message; the client prints them as they arrive. Returning OK from the handler ends the
// stream, which the client sees as next() == nullopt. Server and client run in this process.
#include <asio/co_spawn.hpp>
#include <asio/use_future.hpp>
#include <iostream>
#include <string>
#include <vector>

#include "example_support.h"
#include "rpcnet/rpcnet.h"

namespace {

const std::vector<std::string> kWords = {"apple", "apricot", "avocado", "banana", "blueberry",
                                         "cherry", "apple pie", "grape"};

// A streaming handler reads the request(s) and writes as many responses as it likes.
asio::awaitable<rpcnet::Result<void>> search(rpcnet::ServerStream stream) {
  auto request = co_await stream.read();        // the single request message
  if (!request) co_return request.error();      // cancelled, too large, ...
  if (!*request) co_return rpcnet::RpcError::status(rpcnet::StatusCode::kInvalidArgument,
                                                    "send a prefix");
  const std::string prefix = rpcnet::to_string(**request);
  for (const auto& word : kWords) {
    if (word.rfind(prefix, 0) != 0) continue;  // not a prefix match
    // write() waits while the client is not reading (backpressure) and fails if it went away.
    if (auto written = co_await stream.write(rpcnet::to_bytes(word)); !written) co_return written;
  }
  co_return rpcnet::ok();  // ends the stream with an OK status
}

// Returns the words received, or an error.
asio::awaitable<rpcnet::Result<std::vector<std::string>>> run_client(rpcnet::SocketAddress server,
                                                                     rpcnet::RpcConfig config) {
  auto client = co_await rpcnet::RpcClient::connect(server, std::move(config));
  if (!client) co_return client.error();

  auto stream = co_await client->call_server_streaming("search", rpcnet::to_bytes("ap"));
  if (!stream) co_return stream.error();
  std::vector<std::string> words;
  for (;;) {
    auto next = co_await stream->next();
    if (!next) co_return next.error();  // a failed stream is an error, never a silent end
    if (!*next) break;                  // nullopt: the server finished with OK
    words.push_back(rpcnet::to_string(**next));
    std::cout << "received: " << words.back() << "\n";
  }
  std::cout << "end of stream after " << words.size() << " messages\n";
  co_return words;
}

}  // namespace

int main() {
  examples::TempCertificates certs;
  if (!certs.ok()) return 1;

  rpcnet::RpcServer server(certs.server_config());
  server.register_streaming("search", search);
  auto address = server.bind();
  if (!address) {
    std::cerr << "bind failed: " << address.error() << "\n";
    return 1;
  }
  rpcnet::Runtime runtime(1);
  auto serving = asio::co_spawn(runtime.executor(0), server.serve(), asio::use_future);

  auto words = runtime.block_on(run_client(*address, certs.client_config()));

  server.shutdown(std::chrono::seconds(1));
  auto served = serving.get();

  if (!words) {
    std::cerr << "search failed: " << words.error() << "\n";
    return 1;
  }
  const std::vector<std::string> expected = {"apple", "apricot", "apple pie"};
  if (*words != expected) {
    std::cerr << "unexpected words\n";
    return 1;
  }
  return served ? 0 : 1;
}
