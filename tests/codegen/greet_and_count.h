// Two generated clients over one connection (doc/codegen.md quotes this file; typed_test.cc
// calls it): connect once, then wrap copies of the one RpcClient.
#pragma once

#include <string>
#include <utility>

#include "counter/counter.hpp"
#include "greeting/greeting.hpp"
#include "rpcnet/rpcnet.h"

inline asio::awaitable<rpcnet::Result<std::string>> greet_and_count(rpcnet::SocketAddress server,
                                                                    rpcnet::RpcConfig config) {
  auto connection = co_await rpcnet::RpcClient::connect(server, std::move(config));
  if (!connection) co_return std::move(connection).error();

  // A copy of an RpcClient shares its connection: each call opens its own stream on it.
  codegen::test::GreetingClient greeting(*connection);
  codegen::test::CounterClient counter(*connection);

  codegen::test::HelloRequest hello;
  hello.set_name("Ada");
  auto reply = co_await greeting.SayHello(hello);
  if (!reply) co_return std::move(reply).error();

  codegen::test::Number five;
  five.set_value(5);
  auto total = co_await counter.Add(five);
  if (!total) co_return std::move(total).error();

  co_return reply->message() + " total=" + std::to_string(total->value());
}
