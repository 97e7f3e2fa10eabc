// rpcnetbench.EchoService on an rpcnet server, for gRPC C++'s client over HTTP/2 (the "gRPC
// path" rows of `make bench`). Each handler parses its request message and serialises its
// response with protobuf, as the generated gRPC server in grpc_side.cc does, so that the two
// servers do the same work per call; only the transport and the server under it differ.
#include <asio/awaitable.hpp>
#include <string>

#include "echo.pb.h"
#include "rpcnet/rpcnet.h"
#include "sides.h"

namespace bench {

namespace {

using rpcnet::Bytes;
using rpcnetbench::Payload;
using rpcnetbench::StreamRequest;

template <typename Message>
bool parse(const Bytes& bytes, Message& message) {
  return message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

template <typename Message>
Bytes serialise(const Message& message) {
  Bytes bytes(message.ByteSizeLong());
  message.SerializeWithCachedSizesToArray(bytes.data());
  return bytes;
}

rpcnet::RpcError bad_request(const char* what) {
  return rpcnet::RpcError::status(rpcnet::StatusCode::kInvalidArgument, what);
}

asio::awaitable<rpcnet::Result<Bytes>> echo(Bytes request) {
  Payload payload;
  if (!parse(request, payload)) co_return bad_request("not a Payload");
  co_return serialise(payload);
}

asio::awaitable<rpcnet::Result<void>> stream(rpcnet::ServerStream call) {
  auto first = co_await call.read();
  if (!first) co_return first.error();
  StreamRequest request;
  if (!*first || !parse(**first, request) || request.size() > (64u << 20)) {
    co_return bad_request("not a StreamRequest");
  }
  Payload message;
  message.set_data(std::string(request.size(), 'Z'));
  for (std::uint64_t i = 0; i < request.count(); ++i) {
    auto written = co_await call.write(serialise(message));
    if (!written) co_return written;
  }
  co_return rpcnet::ok();
}

asio::awaitable<rpcnet::Result<void>> echo_stream(rpcnet::ServerStream call) {
  for (;;) {
    auto next = co_await call.read();
    if (!next) co_return next.error();
    if (!*next) co_return rpcnet::ok();
    Payload payload;
    if (!parse(**next, payload)) co_return bad_request("not a Payload");
    if (auto written = co_await call.write(serialise(payload)); !written) co_return written;
  }
}

asio::awaitable<rpcnet::Result<void>> upload(rpcnet::ServerStream call) {
  for (;;) {
    auto next = co_await call.read();
    if (!next) co_return next.error();
    if (!*next) {
      auto written = co_await call.write(serialise(Payload()));
      if (!written) co_return written;
      co_return rpcnet::ok();
    }
    Payload payload;
    if (!parse(**next, payload)) co_return bad_request("not a Payload");
  }
}

}  // namespace

bool register_grpc_echo_service(rpcnet::RpcServer& server) {
  server.register_method("rpcnetbench.EchoService/Echo", echo);
  server.register_streaming("rpcnetbench.EchoService/Stream", stream);
  server.register_streaming("rpcnetbench.EchoService/EchoStream", echo_stream);
  server.register_streaming("rpcnetbench.EchoService/Upload", upload);
  return true;
}

}  // namespace bench
