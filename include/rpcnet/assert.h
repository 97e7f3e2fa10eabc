// rpcnet/assert.h — RPCNET_ASSERT(condition, precondition): a caller's programming error, caught
// loudly.
//
// Contract: in builds without NDEBUG (the debug and sanitize presets) a false `condition` prints
// the file, line and the precondition that was violated to stderr and aborts, so the bug shows
// where it is made. With NDEBUG (release) it compiles to nothing and the caller's own fallback
// applies (Result documents what each accessor does then). Never for untrusted input: that gets
// an RpcError, not an assertion.
//
// Example (fragment):
//   const RpcError& error() const& {
//     RPCNET_ASSERT(!ok(), "error() called on a successful Result: check ok() first");
//     ...
//   }
#pragma once

#include <cstdio>
#include <cstdlib>

namespace rpcnet::detail {

[[noreturn]] inline void assertion_failed(const char* condition, const char* precondition, const char* file,
                                          int line) noexcept {
  std::fprintf(stderr, "%s:%d: rpcnet precondition violated: %s (%s)\n", file, line, precondition, condition);
  std::abort();
}

}  // namespace rpcnet::detail

#ifdef NDEBUG
#define RPCNET_ASSERT(condition, precondition) static_cast<void>(0)
#else
#define RPCNET_ASSERT(condition, precondition) \
  ((condition) ? static_cast<void>(0) : ::rpcnet::detail::assertion_failed(#condition, precondition, __FILE__, __LINE__))
#endif
