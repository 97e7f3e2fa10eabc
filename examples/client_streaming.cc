// client_streaming — a stream of requests in, one response out (the guide's
// call_client_streaming).
//
// The client uploads a "file" in chunks; the server reads until the client finishes sending,
// then answers with the byte count and a checksum, which the client compares with its own.
// The requests come from a RequestSource: a coroutine called once per message, so the data
// can be produced (read from disk, generated, ...) while it is being sent. Server and client
// run in this process.
#include <asio/co_spawn.hpp>
#include <asio/use_future.hpp>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "example_support.h"
#include "rpcnet/rpcnet.h"

namespace {

constexpr std::size_t kChunkSize = 16 * 1024;
constexpr int kChunks = 40;  // 640 KiB in all

// FNV-1a, 64 bit: a simple checksum both sides can compute.
struct Checksum {
  std::uint64_t value = 0xcbf29ce484222325ULL;
  std::uint64_t bytes = 0;
  void add(rpcnet::ByteView data) {
    bytes += data.size();
    for (std::uint8_t b : data) value = (value ^ b) * 0x100000001b3ULL;
  }
  std::string summary() const {
    return std::to_string(bytes) + " bytes, checksum " + std::to_string(value);
  }
};

// Chunk `index` of the file: deterministic bytes, so both sides agree on the content.
rpcnet::Bytes chunk(int index) {
  rpcnet::Bytes out(kChunkSize);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::uint8_t>((static_cast<std::size_t>(index) * 131 + i * 7) & 0xff);
  }
  return out;
}

// The server reads every message until the client's end, then writes its single response.
asio::awaitable<rpcnet::Result<void>> upload(rpcnet::ServerStream stream) {
  Checksum checksum;
  for (;;) {
    auto next = co_await stream.read();
    if (!next) co_return next.error();
    if (!*next) break;  // nullopt: the client finished sending
    checksum.add(**next);
  }
  co_return co_await stream.write(rpcnet::to_bytes(checksum.summary()));
}

asio::awaitable<rpcnet::Result<std::string>> run_client(rpcnet::SocketAddress server,
                                                        rpcnet::RpcConfig config) {
  auto client = co_await rpcnet::RpcClient::connect(server, std::move(config));
  if (!client) co_return client.error();

  // One message per call of the source; std::nullopt ends the upload.
  auto next_index = std::make_shared<int>(0);
  rpcnet::RequestSource source = [next_index]() -> asio::awaitable<std::optional<rpcnet::Bytes>> {
    if (*next_index == kChunks) co_return std::nullopt;
    co_return chunk((*next_index)++);
  };
  auto reply = co_await client->call_client_streaming("upload", std::move(source));
  if (!reply) co_return reply.error();
  co_return rpcnet::to_string(*reply);
}

}  // namespace

int main() {
  examples::TempCertificates certs;
  if (!certs.ok()) return 1;

  rpcnet::RpcServer server(certs.server_config());
  server.register_streaming("upload", upload);
  auto address = server.bind();
  if (!address) {
    std::cerr << "bind failed: " << address.error() << "\n";
    return 1;
  }
  rpcnet::Runtime runtime(1);
  auto serving = asio::co_spawn(runtime.executor(0), server.serve(), asio::use_future);

  auto summary = runtime.block_on(run_client(*address, certs.client_config()));

  server.shutdown(std::chrono::seconds(1));
  auto served = serving.get();

  if (!summary) {
    std::cerr << "upload failed: " << summary.error() << "\n";
    return 1;
  }
  Checksum expected;
  for (int i = 0; i < kChunks; ++i) expected.add(chunk(i));
  std::cout << "uploaded " << kChunks << " chunks; the server says: " << *summary << "\n";
  if (*summary != expected.summary()) {
    std::cerr << "mismatch: expected " << expected.summary() << "\n";
    return 1;
  }
  std::cout << "matches the local checksum\n";
  return served ? 0 : 1;
}
