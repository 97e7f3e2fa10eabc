// rpcnet/error.h — RpcError: what went wrong, as values callers can branch on.
//
// Every error has a *kind* (where it failed: connecting, TLS, a stream, configuration, I/O,
// serialization, a deadline, a local cancellation, or a status sent by the peer) and a canonical
// *code* (rpcnet/status.h) that says what to do about it. Branch on kind() or code(), never on
// message() — messages are for humans and may change.
//
// Kinds and the code each carries:
//   kConnection     connect failed, or the connection closed or broke   -> kUnavailable
//   kStream         the call's stream was reset or ended without status -> the reset's code
//   kTls            handshake failed: untrusted or misnamed certificate, missing client
//                   certificate, ALPN mismatch                          -> kUnavailable
//   kConfig         invalid RpcConfig; message() names the culprit       -> kInvalidArgument
//   kIo             a socket or file operation failed                   -> kUnavailable
//   kSerialization  a payload could not be encoded or decoded           -> kInvalidArgument
//   kTimeout        the deadline passed (noticed locally, or reported by
//                   the peer with DEADLINE_EXCEEDED)                     -> kDeadlineExceeded
//   kCancelled      the call was cancelled on this side                 -> kCancelled
//   kStatus         the peer finished the call with a non-OK status     -> that status
// is_remote() is true when the code and message came from the peer's status trailer;
// not_started() when the call provably never reached a handler (safe to retry anywhere).
//
// Example:
//   #include <iostream>
//
//   asio::awaitable<void> ping(rpcnet::RpcClient& client) {
//     auto reply = co_await client.call("ping", {});
//     if (!reply) {
//       switch (reply.error().kind()) {
//         case rpcnet::ErrorKind::kTimeout: std::cerr << "server took too long\n"; break;
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
  kTimeout,
  kCancelled,
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
