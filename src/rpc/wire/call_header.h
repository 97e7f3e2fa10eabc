// The call header and the status trailer (doc/protocol.md §4, §6): payloads of HEADER and TRAILER
// frames, each a sequence of fields
//   tag (varint) | length (varint) | value (length bytes)
// Unknown tags are skipped, so fields can be added without breaking old peers; a known singular
// field that appears twice is a protocol error.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "rpcnet/bytes.h"
#include "rpcnet/metadata.h"
#include "rpcnet/result.h"
#include "rpcnet/status.h"

namespace rpcnet::wire {

// WIRE ENUM — APPEND ONLY (pinned by call_header_test.cc).
enum class CallKind : std::uint8_t {
  kUnary = 0,            // one request message, one response message
  kServerStreaming = 1,  // one request message, any number of responses
  kClientStreaming = 2,  // any number of requests, one response
  kBidiStreaming = 3,    // any number both ways, directions independent
};
inline constexpr std::uint8_t kMaxCallKind = 3;

// Cardinalities implied by a kind.
constexpr bool single_request(CallKind kind) noexcept {
  return kind == CallKind::kUnary || kind == CallKind::kServerStreaming;
}
constexpr bool single_response(CallKind kind) noexcept {
  return kind == CallKind::kUnary || kind == CallKind::kClientStreaming;
}

// WIRE ENUMS — APPEND ONLY.
enum class HeaderTag : std::uint64_t {
  kMethod = 0x01,
  kCallKind = 0x02,
  kTimeoutMicros = 0x03,
  kRequestId = 0x04,
  kMetadata = 0x05,
};
enum class TrailerTag : std::uint64_t {
  kStatusCode = 0x01,
  kMessage = 0x02,
  kDetails = 0x03,
  kMetadata = 0x04,
};

struct CallHeader {
  std::string method;
  CallKind kind = CallKind::kUnary;
  // Relative deadline; the receiver measures it from when the header arrives.
  std::optional<std::chrono::microseconds> timeout;
  std::uint64_t request_id = 0;
  Metadata metadata;

  friend bool operator==(const CallHeader&, const CallHeader&) = default;
};

struct Trailer {
  StatusCode code = StatusCode::kOk;
  std::string message;
  Bytes details;
  Metadata metadata;

  friend bool operator==(const Trailer&, const Trailer&) = default;
};

// Metadata a decoder accepts. Past either bound decoding stops at once (before the entry is
// copied) with kStatus RESOURCE_EXHAUSTED naming the limit.
struct MetadataLimits {
  std::uint64_t max_entries = UINT64_MAX;
  std::uint64_t max_bytes = UINT64_MAX;  // keys plus values
};

// The longest timeout a decoded header carries; longer ones are clamped to it, so the deadline
// arithmetic a receiver does with it (now + timeout, in nanoseconds) cannot overflow.
inline constexpr std::chrono::microseconds kMaxTimeout = std::chrono::hours(24 * 365);

Bytes encode_call_header(const CallHeader& header);
// Appends a complete HEADER frame for `header` to `out`.
void append_call_header_frame(Bytes& out, const CallHeader& header);
// Errors: kStream/kInternal with a description, for any malformed or incomplete header.
Result<CallHeader> decode_call_header(ByteView payload, MetadataLimits limits = {});

Bytes encode_trailer(const Trailer& trailer);
Result<Trailer> decode_trailer(ByteView payload, MetadataLimits limits = {});

}  // namespace rpcnet::wire
