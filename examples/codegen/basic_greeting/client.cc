// greeting_client — calls Greeting.SayHello through the generated GreetingClient and prints the
// reply. Exits 1, printing the error, when the call fails (an empty --name is INVALID_ARGUMENT).
//
//   greeting_client --server 127.0.0.1:50051 --ca certs/ca.pem --name rpcnet
#include <iostream>
#include <string>
#include <string_view>

#include "greeting/greeting.hpp"
#include "rpcnet/rpcnet.h"

namespace {

asio::awaitable<int> say_hello(rpcnet::SocketAddress server, std::string ca, std::string name) {
  // Trust the development CA and expect the server certificate's name "localhost".
  auto config = rpcnet::RpcConfig(ca, "127.0.0.1:0").with_server_name("localhost");
  auto client = co_await greeting::v1::GreetingClient::connect(server, config);
  if (!client) {
    std::cerr << "connect failed: " << client.error() << "\n";  // kConnection, kTls, kConfig
    co_return 1;
  }

  greeting::v1::HelloRequest request;
  request.set_name(name);
  auto reply = co_await client->SayHello(request);  // Result<HelloReply>
  if (!reply) {
    const rpcnet::RpcError& error = reply.error();
    if (error.code() == rpcnet::StatusCode::kInvalidArgument) {
      std::cerr << "the server refused the request: " << error.message() << "\n";
    }
    std::cerr << "SayHello failed: " << error << "\n";
    co_return 1;
  }
  std::cout << reply->message() << "\n";
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string server = "127.0.0.1:50051";
  std::string ca = "certs/ca.pem";
  std::string name = "world";
  bool usage_error = argc % 2 != 1;  // options come in pairs
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view option = argv[i];
    if (option == "--server") {
      server = argv[i + 1];
    } else if (option == "--ca") {
      ca = argv[i + 1];
    } else if (option == "--name") {
      name = argv[i + 1];
    } else {
      usage_error = true;
    }
  }
  if (usage_error) {
    std::cerr << "usage: greeting_client [--server ADDR] [--ca PEM] [--name NAME]\n";
    return 2;
  }
  auto address = rpcnet::parse_socket_address(server);
  if (!address) {
    std::cerr << "greeting_client: " << address.error() << "\n";
    return 2;
  }
  rpcnet::Runtime runtime(1);
  return runtime.block_on(say_hello(*address, ca, name));
}
