// Application error codes rpcnet puts on QUIC RESET_STREAM / STOP_SENDING frames and on
// CONNECTION_CLOSE. Specified in doc/protocol.md.
// WIRE ENUMS — APPEND ONLY: never renumber or reuse a value (pinned by tests/unit/wire/codes_test.cc).
#pragma once

#include <cstdint>

#include "rpcnet/status.h"

namespace rpcnet::wire {

enum class StreamErrorCode : std::uint64_t {
  kNoError = 0x0,           // STOP_SENDING: the reader does not need the rest (call is complete)
  kCancelled = 0x1,         // the caller cancelled the call
  kProtocolError = 0x2,     // malformed header or frame, or frames out of order
  kDeadlineExceeded = 0x3,  // the call's deadline passed
  kMessageTooLarge = 0x4,   // a message exceeded the receiver's max message size
  kRefused = 0x5,           // the server did not start the call (shutting down); safe to retry
  kInternal = 0x6,          // the sender failed internally
  kShutdown = 0x7,          // the server shut down before the call finished; it may have run
  kHeaderTimeout = 0x8,     // the call header did not arrive within the server's header timeout
  kResourceExhausted = 0x9, // the call needed more than its connection's memory budget allows
};

enum class ConnectionCloseCode : std::uint64_t {
  kNoError = 0x0,      // graceful close by either side
  kShutdown = 0x1,     // the server is shutting down; calls still open were not finished
  kInternal = 0x2,     // the sender hit an internal error
  kIdle = 0x3,         // closed by the owner because it was unused
  kResourceExhausted = 0x4,  // the peer kept exceeding the connection's memory budget
};

// The status a caller reports when the peer reset its stream with `code`.
inline StatusCode status_for_stream_error(std::uint64_t code) noexcept {
  switch (static_cast<StreamErrorCode>(code)) {
    case StreamErrorCode::kCancelled: return StatusCode::kCancelled;
    case StreamErrorCode::kDeadlineExceeded:
    case StreamErrorCode::kHeaderTimeout: return StatusCode::kDeadlineExceeded;
    case StreamErrorCode::kMessageTooLarge:
    case StreamErrorCode::kResourceExhausted: return StatusCode::kResourceExhausted;
    case StreamErrorCode::kRefused:
    case StreamErrorCode::kShutdown: return StatusCode::kUnavailable;
    case StreamErrorCode::kNoError:
    case StreamErrorCode::kProtocolError:
    case StreamErrorCode::kInternal: return StatusCode::kInternal;
  }
  return StatusCode::kUnknown;
}

}  // namespace rpcnet::wire
