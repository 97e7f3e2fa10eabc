// rpcnet/error.h — RpcError: what went wrong, as values callers can branch on.
//
// The rule: branch on code(). Every error carries a canonical code (rpcnet/status.h) that says
// what to do about it — retry, fix the request, give up — whether the failure was noticed here
// or reported by the peer. kind() says only *where* it was noticed; use it for logs and for the
// rare decision that depends on the layer (e.g. a pool dropping a broken connection), always
// together with code(). Never branch on message(): messages are for humans and may change.
//
// Kinds (where) and the codes each carries (what):
//   kConnection     setting up, or losing, the QUIC connection          -> kUnavailable
//   kTls            the handshake: untrusted or misnamed certificate,
//                   missing client certificate, ALPN mismatch           -> kUnavailable
//   kStream         the peer reset the call's stream, or broke the call
//                   protocol on it                                      -> the reset's code, e.g.
//                   kDeadlineExceeded (the server's deadline fired), kCancelled (it stopped
//                   reading), kUnavailable (refused before a handler ran), kResourceExhausted
//                   (a frame over the limit), kInternal (malformed frames, missing status),
//                   kFailedPrecondition (a write after finish)
//   kCall           this side ended the call or the wait: its deadline
//                   passed                                              -> kDeadlineExceeded
//                   or it was cancelled (by the caller, a dropped
//                   handle, a shutdown, or on a server the client)      -> kCancelled
//   kConfig         invalid configuration or argument; message() names
//                   the culprit                                         -> kInvalidArgument
//   kIo             a socket or file operation failed                   -> kUnavailable
//   kSerialization  a payload could not be encoded or decoded           -> kInvalidArgument
//   kStatus         a status chosen by a handler or the library (a limit,
//                   an unknown method...), or received from the peer's
//                   trailer (is_remote())                               -> that status
// code() is never kOk for an error the library makes (one built by hand with kOk travels as
// UNKNOWN). The codes are the ones on the wire: a peer sees exactly the code() of the error
// its call ended with.
// is_remote() is true when the code and message came from the peer's status trailer;
// not_started() when the call provably never reached a handler (safe to retry anywhere).
//
// Example:
//   #include <iostream>
//
//   asio::awaitable<void> ping(rpcnet::RpcClient& client) {
//     auto reply = co_await client.call("ping", {});
//     if (!reply) {
//       switch (reply.error().code()) {
//         case rpcnet::StatusCode::kDeadlineExceeded: std::cerr << "server took too long\n"; break;
//         case rpcnet::StatusCode::kUnavailable: /* retry with backoff */ break;
//         default: std::cerr << "rpc failed: " << reply.error().to_string() << "\n";
//       }
//     }
//   }
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "rpcnet/bytes.h"
#include "rpcnet/status.h"

namespace rpcnet {

enum class ErrorKind : std::uint8_t {
  kConnection,
  kStream,
  kTls,
  kConfig,
  kIo,
  kSerialization,
  kCall,
  kStatus,
};

std::string_view error_kind_name(ErrorKind kind) noexcept;

class RpcError {
 public:
  RpcError(ErrorKind kind, StatusCode code, std::string message);

  static RpcError connection(std::string message);
  static RpcError stream(std::string message, StatusCode code = StatusCode::kInternal);
  static RpcError tls(std::string message);
  static RpcError config(std::string message);
  static RpcError io(std::string message);
  static RpcError serialization(std::string message);
  // kCall: this side's deadline passed / this side cancelled.
  static RpcError timeout(std::string message = "deadline exceeded");
  static RpcError cancelled(std::string message = "cancelled");
  // A status a handler returns, e.g. RpcError::status(StatusCode::kNotFound, "no such user").
  // `details` is an opaque payload (e.g. a serialized error message) delivered to the caller.
  static RpcError status(StatusCode code, std::string message, Bytes details = {});
  // A status received from the peer's trailer (is_remote() == true).
  static RpcError remote(StatusCode code, std::string message, Bytes details = {});

  ErrorKind kind() const noexcept { return kind_; }
  StatusCode code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  const Bytes& details() const noexcept { return details_; }
  bool is_remote() const noexcept { return remote_; }
  // True when the call certainly never reached a handler (the connection could not be set up or
  // was already closed when the call was made, or the server refused it unstarted): retrying it
  // elsewhere is safe even when it is not idempotent.
  bool not_started() const noexcept { return not_started_; }
  RpcError& mark_not_started() noexcept {
    not_started_ = true;
    return *this;
  }

  // "kind: message (CODE)", for logs.
  std::string to_string() const;

  friend bool operator==(const RpcError&, const RpcError&) = default;

 private:
  ErrorKind kind_;
  StatusCode code_;
  bool remote_ = false;
  bool not_started_ = false;
  std::string message_;
  Bytes details_;
};

std::ostream& operator<<(std::ostream& out, const RpcError& error);

}  // namespace rpcnet
