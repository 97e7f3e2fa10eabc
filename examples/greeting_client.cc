// greeting_client — the guide's "client essentials": connect, make one unary call, print it.
//
//   greeting_client --server 127.0.0.1:4433 --ca certs/ca.pem --name rpcnet
//   -> Hello, rpcnet!
//
// Options:
//   --server ADDR        the server's address, "IP:port" (as printed by greeting_server)
//   --ca PEM             the CA certificate to trust (certs/ca.pem from `rpcnet certs`)
//   --name NAME          who to greet (default: world)
//   --server-name NAME   the name expected in the server's certificate (default: localhost)
#include <iostream>
#include <string>
#include <string_view>

#include "rpcnet/rpcnet.h"

namespace {

struct Options {
  std::string server;
  std::string ca;
  std::string name = "world";
  std::string server_name = "localhost";
};

bool parse(int argc, char** argv, Options& options) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view arg = argv[i];
    const std::string value = argv[i + 1];
    if (arg == "--server") {
      options.server = value;
    } else if (arg == "--ca") {
      options.ca = value;
    } else if (arg == "--name") {
      options.name = value;
    } else if (arg == "--server-name") {
      options.server_name = value;
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && !options.server.empty() && !options.ca.empty();
}

// Everything that talks to the network is a coroutine running on an rpcnet::Runtime loop.
asio::awaitable<rpcnet::Result<std::string>> greet(rpcnet::SocketAddress server, Options options) {
  // The client trusts the CA (ca_path via the first argument) and checks the server's name.
  auto config = rpcnet::RpcConfig(options.ca, "127.0.0.1:0").with_server_name(options.server_name);
  auto client = co_await rpcnet::RpcClient::connect(server, std::move(config));
  if (!client) co_return client.error();  // kConnection, kTls, kConfig: see rpcnet/error.h

  auto reply = co_await client->call("greet", rpcnet::to_bytes(options.name));
  if (!reply) co_return reply.error();
  co_return rpcnet::to_string(*reply);
}  // the client (and with it the connection) closes here, on its own loop

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!parse(argc, argv, options)) {
    std::cerr << "usage: greeting_client --server ADDR --ca PEM [--name NAME] [--server-name NAME]\n";
    return 2;
  }
  auto server = rpcnet::parse_socket_address(options.server);
  if (!server) {
    std::cerr << "greeting_client: " << server.error() << "\n";
    return 2;
  }

  rpcnet::Runtime runtime(1);  // one event loop is plenty for a client
  auto greeting = runtime.block_on(greet(*server, options));
  if (!greeting) {
    // Branch on the kind / code, never on the message text.
    if (greeting.error().code() == rpcnet::StatusCode::kDeadlineExceeded) {
      std::cerr << "greeting_client: the server took too long\n";
    } else {
      std::cerr << "greeting_client: " << greeting.error() << "\n";
    }
    return 1;
  }
  std::cout << *greeting << "\n";
  return 0;
}
