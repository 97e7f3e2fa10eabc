// greeting_server — the guide's "server essentials" as a program of its own.
//
// It registers one unary method, `greet` (a name in, "Hello, <name>!" out), binds, prints the
// address it listens on and serves until SIGINT or SIGTERM, then shuts down gracefully.
//
//   rpcnet certs --out certs                      # once: a development CA + certificates
//   greeting_server --certs certs --listen 127.0.0.1:4433
//   greeting_client --server 127.0.0.1:4433 --ca certs/ca.pem --name rpcnet
//
// Options:
//   --certs DIR         use DIR/server.pem and DIR/server-key.pem (as written by `rpcnet certs`)
//   --cert PEM --key PEM  or name the certificate and its private key directly
//   --listen ADDR       address to bind (default 127.0.0.1:0: the OS picks a free port)
//   --once              exit after serving one call (used by the tests)
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

#include "rpcnet/rpcnet.h"

namespace {

using namespace std::chrono_literals;

struct Options {
  std::string cert;
  std::string key;
  std::string listen = "127.0.0.1:0";
  bool once = false;
};

void usage() {
  std::cerr << "usage: greeting_server (--certs DIR | --cert PEM --key PEM) [--listen ADDR] [--once]\n";
}

bool parse(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--once") {
      options.once = true;
      continue;
    }
    if (i + 1 >= argc) return false;  // every other option takes a value
    const std::string value = argv[++i];
    if (arg == "--certs") {
      options.cert = value + "/server.pem";
      options.key = value + "/server-key.pem";
    } else if (arg == "--cert") {
      options.cert = value;
    } else if (arg == "--key") {
      options.key = value;
    } else if (arg == "--listen") {
      options.listen = value;
    } else {
      return false;
    }
  }
  return !options.cert.empty() && !options.key.empty();
}

// The handler: request bytes are the name (UTF-8 text), the response is the greeting.
asio::awaitable<rpcnet::Result<rpcnet::Bytes>> greet(rpcnet::Bytes request) {
  const std::string name = rpcnet::to_string(request);
  if (name.empty()) {
    // A typed status: the caller sees kStatus / INVALID_ARGUMENT with this message.
    co_return rpcnet::RpcError::status(rpcnet::StatusCode::kInvalidArgument, "name is empty");
  }
  co_return rpcnet::to_bytes("Hello, " + name + "!");
}

// A thread-safe one-slot channel: the server's loops send "a call was served", our loop
// receives it, and a send that comes before the receive is kept, not lost. (The bool carries
// nothing: Asio 1.22 cannot instantiate a channel of void(error_code) alone.)
using ServedSignal = asio::experimental::concurrent_channel<void(asio::error_code, bool)>;

// With --once: waits until one call was served and its client has gone, then stops the server.
asio::awaitable<void> stop_after_first_call(rpcnet::RpcServer& server, std::shared_ptr<ServedSignal> served) {
  (void)co_await served->async_receive(asio::experimental::as_tuple(asio::use_awaitable));
  // Let the client read its answer and hang up first (at most 2 s), so nothing is cut short.
  asio::steady_timer tick(co_await asio::this_coro::executor);
  for (int i = 0; i < 200 && server.stats().connections_open > 0; ++i) {
    tick.expires_after(10ms);
    (void)co_await tick.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
  server.shutdown(2s);
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!parse(argc, argv, options)) {
    usage();
    return 2;
  }

  // 1. Configuration: the server's certificate and key, and where to listen.
  auto config = rpcnet::RpcConfig(options.cert, options.listen)
                    .with_key_path(options.key)
                    .with_event_loops(1);
  rpcnet::RpcServer server(config);

  // The loop our own coroutines run on. Declared after the server, so it stops first.
  rpcnet::Runtime runtime(1);
  // Wakes stop_after_first_call, which receives on the runtime's loop.
  auto served = std::make_shared<ServedSignal>(runtime.executor(0), 1);

  // 2. Handlers. This one wraps greet() to tell stop_after_first_call that a call was served.
  //    Handlers run on the server's own loops; the channel may be sent to from any thread.
  server.register_method("greet", [weak = std::weak_ptr(served)](rpcnet::Bytes request)
                                      -> asio::awaitable<rpcnet::Result<rpcnet::Bytes>> {
    auto reply = co_await greet(std::move(request));
    if (auto channel = weak.lock()) (void)channel->try_send(asio::error_code{}, true);  // full: already told
    co_return reply;
  });

  // 3. Bind: claims the UDP port and loads the TLS material; errors name the culprit.
  auto address = server.bind();
  if (!address) {
    std::cerr << "greeting_server: " << address.error() << "\n";
    return 1;
  }
  std::cout << "listening on " << rpcnet::to_string(*address) << std::endl;  // flushes

  // 4. Serve until stopped. Ctrl-C / kill: graceful shutdown, letting calls in flight finish
  //    for up to 5 s. The signal is awaited on our loop; the server has loops of its own.
  asio::signal_set signals(runtime.executor(0), SIGINT, SIGTERM);
  signals.async_wait([&server](const asio::error_code& error, int signal_number) {
    if (error) return;  // cancelled: we are exiting anyway
    std::cerr << "signal " << signal_number << ": shutting down\n";
    server.shutdown(5s);
  });
  if (options.once) {
    asio::co_spawn(runtime.executor(0), stop_after_first_call(server, served), asio::detached);
  }
  auto result = server.run();  // returns once the shutdown is complete
  if (!result) {
    std::cerr << "greeting_server: " << result.error() << "\n";
    return 1;
  }
  std::cerr << "greeting_server: stopped\n";
  return 0;
}
