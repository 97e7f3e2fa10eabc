// rpcnet/rpcnet.h — the whole public API in one include.
//
// rpcnet is RPC over QUIC + TLS 1.3: a server registers named methods (unary or streaming), a
// client connects once and calls them; every call is its own QUIC stream on the shared
// connection, payloads are opaque bytes, and errors are values (Result<T> / RpcError).
//
// Example (a complete round trip in one process; certificates from `rpcnet certs`):
//   #include <iostream>
//
//   int main() {
//     rpcnet::RpcServer server(rpcnet::RpcConfig("certs/server.pem", "127.0.0.1:0")
//                                  .with_key_path("certs/server-key.pem"));
//     server.register_method("ping", [](rpcnet::Bytes)
//         -> asio::awaitable<rpcnet::Result<rpcnet::Bytes>> { co_return rpcnet::to_bytes("pong"); });
//     auto addr = server.bind();                    // port 0: the OS picks one
//     if (!addr) { std::cerr << addr.error() << "\n"; return 1; }
//     rpcnet::Runtime runtime(1);                   // our loop: the client, and serve() on it
//     auto serving = asio::co_spawn(runtime.executor(0), server.serve(), asio::use_future);
//     auto reply = runtime.block_on([&]() -> asio::awaitable<rpcnet::Result<rpcnet::Bytes>> {
//       auto client = co_await rpcnet::RpcClient::connect(
//           *addr, rpcnet::RpcConfig("certs/ca.pem", "127.0.0.1:0").with_server_name("localhost"));
//       if (!client) co_return client.error();
//       co_return co_await client->call("ping", {});
//     }());
//     server.shutdown();                            // returns at once; serve() when it is done
//     if (!serving.get() || !reply) return 1;
//     std::cout << rpcnet::to_string(*reply) << "\n";  // pong
//   }
#pragma once

// The Asio pieces almost every rpcnet program uses alongside it.
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include "rpcnet/address.h"
#include "rpcnet/bytes.h"
#include "rpcnet/call_context.h"
#include "rpcnet/call_options.h"
#include "rpcnet/certs.h"
#include "rpcnet/client.h"
#include "rpcnet/config.h"
#include "rpcnet/error.h"
#include "rpcnet/interceptor.h"
#include "rpcnet/metadata.h"
#include "rpcnet/result.h"
#include "rpcnet/runtime.h"
#include "rpcnet/server.h"
#include "rpcnet/server_stream.h"
#include "rpcnet/status.h"
#include "rpcnet/trace_context.h"
