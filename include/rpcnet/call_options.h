// rpcnet/call_options.h — per-call settings on the client.
//
// Example:
//   asio::awaitable<rpcnet::Result<rpcnet::Bytes>> add(rpcnet::RpcClient& client,
//                                                       rpcnet::Bytes request) {
//     rpcnet::CallOptions options;
//     options.timeout = std::chrono::milliseconds(200);
//     options.metadata.emplace_back("trace-id", "abc123");
//     co_return co_await client.call("add", std::move(request), options);
//   }
#pragma once

#include <chrono>
#include <optional>

#include "rpcnet/metadata.h"
#include "rpcnet/trace_context.h"

namespace rpcnet {

// A timeout meaning "no deadline" (for long-lived streams).
inline constexpr std::chrono::milliseconds kNoDeadline = std::chrono::milliseconds::max();

struct CallOptions {
  // Deadline of the whole call, measured from when it starts; it also travels to the server,
  // which cancels the handler when it passes. nullopt: the client's default
  // (RpcConfig::with_default_timeout, 30 s unless changed). kNoDeadline: none.
  std::optional<std::chrono::milliseconds> timeout;
  // Sent in the call header; the handler reads it from CallContext::metadata().
  Metadata metadata;
  // Continue this trace (typically a handler's CallContext::trace_context()): the call sends a
  // traceparent with its trace id and flags and a fresh parent id (child_span), in place of any
  // traceparent entry in `metadata`. nullopt: metadata is sent as it is.
  std::optional<TraceContext> trace_parent;
};

}  // namespace rpcnet
