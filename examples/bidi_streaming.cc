// bidi_streaming — both directions at once (the guide's call_streaming).
//
// Part 1, the guide's form: hand call_streaming() all requests up front and read the responses;
//   `uppercase` answers each message as it arrives (an empty message is a message too).
// Part 2, by hand: open_call() returns a ClientCall to write and read in any interleaving.
//   `running_total` answers every number with the sum so far, and each answer arrives while the
//   client is still sending: the two directions of a stream are independent.
// Server and client run in this process.
#include <asio/co_spawn.hpp>
#include <asio/use_future.hpp>
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "example_support.h"
#include "rpcnet/rpcnet.h"

namespace {

// ---- server side ------------------------------------------------------------------------------

asio::awaitable<rpcnet::Result<void>> uppercase(rpcnet::ServerStream stream) {
  for (;;) {
    auto next = co_await stream.read();
    if (!next) co_return next.error();
    if (!*next) co_return rpcnet::ok();  // the client finished: end with OK
    rpcnet::Bytes reply = std::move(**next);
    for (auto& b : reply) b = static_cast<std::uint8_t>(std::toupper(b));
    if (auto written = co_await stream.write(std::move(reply)); !written) co_return written;
  }
}

// Numbers travel as 8-byte little-endian integers.
rpcnet::Bytes encode(std::int64_t value) {
  rpcnet::Bytes out(8);
  std::memcpy(out.data(), &value, 8);
  return out;
}
std::int64_t decode(const rpcnet::Bytes& bytes) {
  std::int64_t value = 0;
  std::memcpy(&value, bytes.data(), std::min<std::size_t>(bytes.size(), 8));
  return value;
}

asio::awaitable<rpcnet::Result<void>> running_total(rpcnet::ServerStream stream) {
  std::int64_t total = 0;
  for (;;) {
    auto next = co_await stream.read();
    if (!next) co_return next.error();
    if (!*next) co_return rpcnet::ok();
    if ((*next)->size() != 8) {
      co_return rpcnet::RpcError::status(rpcnet::StatusCode::kInvalidArgument, "expected 8 bytes");
    }
    total += decode(**next);
    if (auto written = co_await stream.write(encode(total)); !written) co_return written;
  }
}

// ---- client side ------------------------------------------------------------------------------

asio::awaitable<bool> part1(const rpcnet::RpcClient& client) {
  std::cout << "part 1: call_streaming(\"uppercase\", [hello, <empty>, world])\n";
  // Build the request list first (not inside the co_await expression).
  std::vector<rpcnet::Bytes> requests;
  requests.push_back(rpcnet::to_bytes("hello"));
  requests.push_back(rpcnet::Bytes());
  requests.push_back(rpcnet::to_bytes("world"));
  auto stream = co_await client.call_streaming("uppercase", std::move(requests));
  if (!stream) {
    std::cerr << "call_streaming failed: " << stream.error() << "\n";
    co_return false;
  }
  std::vector<std::string> replies;
  for (;;) {
    auto next = co_await stream->next();
    if (!next) {
      std::cerr << "stream failed: " << next.error() << "\n";
      co_return false;
    }
    if (!*next) break;
    replies.push_back(rpcnet::to_string(**next));
    std::cout << "  response: \"" << replies.back() << "\"\n";
  }
  const std::vector<std::string> expected = {"HELLO", "", "WORLD"};
  co_return replies == expected;
}

asio::awaitable<bool> part2(const rpcnet::RpcClient& client) {
  std::cout << "part 2: open_call(\"running_total\"), write and read in turn\n";
  auto call = co_await client.open_call("running_total");
  if (!call) {
    std::cerr << "open_call failed: " << call.error() << "\n";
    co_return false;
  }
  std::int64_t expected_total = 0;
  const std::vector<std::int64_t> numbers = {5, 10, -3, 100};
  for (std::int64_t number : numbers) {
    if (auto written = co_await call->write(encode(number)); !written) {
      std::cerr << "write failed: " << written.error() << "\n";
      co_return false;
    }
    // The answer to this number arrives before we send the next one.
    auto reply = co_await call->read();
    if (!reply || !*reply) {
      std::cerr << "no answer\n";
      co_return false;
    }
    expected_total += number;
    std::cout << "  sent " << number << ", running total " << decode(**reply) << "\n";
    if (decode(**reply) != expected_total) co_return false;
  }
  // finish() ends our side (QUIC FIN); the handler then returns OK and read() gives nullopt.
  if (auto finished = co_await call->finish(); !finished) co_return false;
  auto end = co_await call->read();
  const bool clean_end = end && !*end;
  std::cout << "  " << (clean_end ? "stream ended with OK" : "stream did not end cleanly") << "\n";
  co_return clean_end;
}

asio::awaitable<bool> run_client(rpcnet::SocketAddress server, rpcnet::RpcConfig config) {
  auto client = co_await rpcnet::RpcClient::connect(server, std::move(config));
  if (!client) {
    std::cerr << "connect failed: " << client.error() << "\n";
    co_return false;
  }
  const bool first = co_await part1(*client);
  const bool second = co_await part2(*client);
  co_return first && second;
}

}  // namespace

int main() {
  examples::TempCertificates certs;
  if (!certs.ok()) return 1;

  rpcnet::RpcServer server(certs.server_config());
  server.register_streaming("uppercase", uppercase);
  server.register_streaming("running_total", running_total);
  auto address = server.bind();
  if (!address) {
    std::cerr << "bind failed: " << address.error() << "\n";
    return 1;
  }
  rpcnet::Runtime runtime(1);
  auto serving = asio::co_spawn(runtime.executor(0), server.serve(), asio::use_future);

  const bool ok = runtime.block_on(run_client(*address, certs.client_config()));

  server.shutdown(std::chrono::seconds(1));
  auto served = serving.get();
  return ok && served ? 0 : 1;
}
