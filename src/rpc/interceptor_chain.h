// Running an interceptor chain (rpcnet/interceptor.h) for one call, the same way on both ends:
// on_start in order until one rejects, on_end in reverse for those whose on_start ran.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/error.hpp>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "rpc/wire/call_header.h"
#include "rpcnet/interceptor.h"

namespace rpcnet::rpc {

inline CallType call_type_of(wire::CallKind kind) noexcept { return static_cast<CallType>(kind); }

// Runs on_start of each interceptor in order; counts in `started` those that ran. Returns the
// first rejection (a throw becomes INTERNAL). A cancellation of the call (Asio's
// operation_aborted) propagates as it would from any other co_await of the call.
template <class Interceptor, class Info>
asio::awaitable<std::optional<RpcError>> run_on_start(
    const std::vector<std::shared_ptr<Interceptor>>& chain, Info& info, std::size_t& started) {
  for (const auto& interceptor : chain) {
    ++started;
    std::optional<RpcError> rejected;
    try {
      Result<void> verdict = co_await interceptor->on_start(info);
      if (!verdict) rejected = std::move(verdict).error();
    } catch (const std::system_error& error) {
      if (error.code() == asio::error::operation_aborted) throw;
      rejected = RpcError::status(StatusCode::kInternal, std::string("interceptor threw: ") + error.what());
    } catch (const std::exception& error) {
      rejected = RpcError::status(StatusCode::kInternal, std::string("interceptor threw: ") + error.what());
    }
    if (rejected) co_return rejected;
  }
  co_return std::nullopt;
}

template <class Interceptor, class Info>
void run_on_end(const std::vector<std::shared_ptr<Interceptor>>& chain, std::size_t started,
                const Info& info, const CallOutcome& outcome) noexcept {
  for (std::size_t i = started; i-- > 0;) chain[i]->on_end(info, outcome);
}

// The counters on_end reports; kept by a call only while it is observed.
struct CallTally {
  std::uint64_t request_messages = 0;
  std::uint64_t request_bytes = 0;
  std::uint64_t response_messages = 0;
  std::uint64_t response_bytes = 0;

  void request(std::size_t bytes) noexcept {
    ++request_messages;
    request_bytes += bytes;
  }
  void response(std::size_t bytes) noexcept {
    ++response_messages;
    response_bytes += bytes;
  }
  CallOutcome outcome(const RpcError* error, std::chrono::nanoseconds duration) const noexcept {
    CallOutcome out;
    out.code = error ? error->code() : StatusCode::kOk;
    out.error = error;
    out.duration = duration;
    out.request_messages = request_messages;
    out.request_bytes = request_bytes;
    out.response_messages = response_messages;
    out.response_bytes = response_bytes;
    return out;
  }
};

}  // namespace rpcnet::rpc
