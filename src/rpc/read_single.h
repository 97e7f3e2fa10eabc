// The one message of a direction that carries exactly one (a unary request; the response of a
// unary or client-streaming call), shared by the server's and the client's call machinery.
//
// Contract: read_single_message(read_next, missing) awaits read_next() (an awaitable of
// Result<std::optional<Bytes>>, nullopt at a clean end) for the message, then once more for the
// end that must follow it, so the caller acts only on a complete exchange. The first error
// either read returns is returned as is; an end before any message is kStream INTERNAL with the
// text `missing`. A second message is the call core's to reject: it comes back as an error.
//
// Example:
//   auto read = [call] { return call->read(); };
//   Result<Bytes> response = co_await rpc::read_single_message(read, "call ended without a response");
#pragma once

#include <asio/awaitable.hpp>
#include <string>
#include <string_view>
#include <utility>

#include "rpcnet/bytes.h"
#include "rpcnet/error.h"
#include "rpcnet/result.h"

namespace rpcnet::rpc {

// `read_next` is taken by reference: a named callable (GCC 12 mishandles lambda temporaries
// passed into coroutines) that outlives the wait.
template <class ReadNext>
asio::awaitable<Result<Bytes>> read_single_message(ReadNext& read_next, std::string_view missing) {
  auto first = co_await read_next();
  if (!first) co_return std::move(first).error();
  if (!*first) co_return RpcError::stream(std::string(missing), StatusCode::kInternal);
  auto end = co_await read_next();
  if (!end) co_return std::move(end).error();
  co_return std::move(**first);
}

}  // namespace rpcnet::rpc
