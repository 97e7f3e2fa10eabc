// What `rpcnet call` exits with: one code per failure class, so scripts can branch on the kind
// of failure without reading messages. doc/tools.md shows the same table; keep them together.
#pragma once

#include "rpcnet/error.h"

namespace rpcnet::tool {

enum class CallExit : int {
  kOk = 0,
  kInternal = 1,     // a failure of the tool itself (e.g. stdout closed)
  kUsage = 2,        // bad command line: unknown option, malformed HOST:PORT or --timeout
  kBadInput = 3,     // malformed JSON, unknown method or field, a .proto that does not compile,
                     // no descriptors (no reflection and no --proto), an unreadable file
  kNotServing = 4,   // `health`: the server answered, the status is not SERVING
  kConnection = 5,   // cannot reach the server, or the connection was lost
  kTls = 6,          // the handshake failed: untrusted or misnamed certificate, mTLS refused
  kStatusBase = 64,  // the call ended with a status: 64 + its code (68 DEADLINE_EXCEEDED, ...)
};

// The exit code for an error: the class it belongs to (see CallExit).
inline int call_exit_code(const RpcError& error) {
  switch (error.kind()) {
    case ErrorKind::kConfig:
    case ErrorKind::kSerialization:
      return static_cast<int>(CallExit::kBadInput);
    case ErrorKind::kConnection:
    case ErrorKind::kIo:
      return static_cast<int>(CallExit::kConnection);
    case ErrorKind::kTls:
      return static_cast<int>(CallExit::kTls);
    case ErrorKind::kStream:
    case ErrorKind::kCall:
    case ErrorKind::kStatus:
      break;
  }
  return static_cast<int>(CallExit::kStatusBase) + static_cast<int>(error.code());
}

}  // namespace rpcnet::tool
