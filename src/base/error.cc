#include "rpcnet/error.h"

namespace rpcnet {

std::string_view error_kind_name(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::kConnection: return "connection";
    case ErrorKind::kStream: return "stream";
    case ErrorKind::kTls: return "tls";
    case ErrorKind::kConfig: return "config";
    case ErrorKind::kIo: return "io";
    case ErrorKind::kSerialization: return "serialization";
    case ErrorKind::kCall: return "call";
    case ErrorKind::kStatus: return "status";
  }
  return "unknown";
}

RpcError::RpcError(ErrorKind kind, StatusCode code, std::string message)
    : kind_(kind), code_(code), message_(std::move(message)) {}

RpcError RpcError::connection(std::string message) {
  return {ErrorKind::kConnection, StatusCode::kUnavailable, std::move(message)};
}
RpcError RpcError::stream(std::string message, StatusCode code) {
  return {ErrorKind::kStream, code, std::move(message)};
}
RpcError RpcError::tls(std::string message) {
  return {ErrorKind::kTls, StatusCode::kUnavailable, std::move(message)};
}
RpcError RpcError::config(std::string message) {
  return {ErrorKind::kConfig, StatusCode::kInvalidArgument, std::move(message)};
}
RpcError RpcError::io(std::string message) {
  return {ErrorKind::kIo, StatusCode::kUnavailable, std::move(message)};
}
RpcError RpcError::serialization(std::string message) {
  return {ErrorKind::kSerialization, StatusCode::kInvalidArgument, std::move(message)};
}
RpcError RpcError::timeout(std::string message) {
  return {ErrorKind::kCall, StatusCode::kDeadlineExceeded, std::move(message)};
}
RpcError RpcError::cancelled(std::string message) {
  return {ErrorKind::kCall, StatusCode::kCancelled, std::move(message)};
}
RpcError RpcError::status(StatusCode code, std::string message, Bytes details) {
  RpcError error(ErrorKind::kStatus, code, std::move(message));
  error.details_ = std::move(details);
  return error;
}
RpcError RpcError::remote(StatusCode code, std::string message, Bytes details) {
  RpcError error(ErrorKind::kStatus, code, std::move(message));
  error.details_ = std::move(details);
  error.remote_ = true;
  return error;
}

std::string RpcError::to_string() const {
  std::string out(error_kind_name(kind_));
  out += ": ";
  out += message_;
  out += " (";
  out += status_code_name(code_);
  out += remote_ ? ", from peer)" : ")";
  return out;
}

std::ostream& operator<<(std::ostream& out, const RpcError& error) {
  return out << error.to_string();
}

}  // namespace rpcnet
