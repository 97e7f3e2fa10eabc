// rpcnet stream framing (doc/protocol.md §3): every frame is
//   type (1 byte) | payload length (QUIC varint) | payload
// FrameDecoder is incremental and sans-I/O: feed it bytes in any chunking, take complete frames.
// It never trusts a length: payloads are checked against the limits before any byte is buffered,
// and memory grows only with bytes that actually arrived.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "rpcnet/bytes.h"

namespace rpcnet::wire {

// WIRE ENUM — APPEND ONLY (pinned by frame_test.cc).
enum class FrameType : std::uint8_t {
  kHeader = 0x01,   // client -> server, exactly once, first
  kMessage = 0x02,  // either direction, any number (empty payloads are legal messages)
  kTrailer = 0x03,  // server -> client, exactly once, last
};

struct Frame {
  FrameType type;
  Bytes payload;
};

struct FrameLimits {
  std::uint64_t max_message_size = 16u << 20;  // bytes per message payload
  std::uint64_t max_header_size = 16u << 10;   // bytes per header or trailer payload
  std::uint64_t max_metadata_entries = 64;     // per header or trailer
  std::uint64_t max_metadata_bytes = 8u << 10; // keys plus values, per header or trailer
};

enum class FrameError : std::uint8_t {
  kNone,
  kUnknownType,      // the type byte is not a FrameType
  kMessageTooLarge,  // a message length exceeds max_message_size
  kHeaderTooLarge,   // a header or trailer length exceeds max_header_size
};

// Appends one encoded frame to `out`.
void append_frame(Bytes& out, FrameType type, ByteView payload);
// Appends only the type and length; the caller appends `payload_size` bytes next.
void append_frame_prefix(Bytes& out, FrameType type, std::uint64_t payload_size);
// Bytes of framing added in front of a payload of `payload_size` bytes.
std::size_t frame_prefix_size(std::uint64_t payload_size) noexcept;

// A decoded frame as the sink sees it, without a copy when the frame sat whole in the input.
struct FrameView {
  FrameType type;
  ByteView payload;          // valid only during FrameSink::on_frame
  Bytes* assembled = nullptr;  // set when the frame spanned chunks: its buffer, free to take

  // The payload as owned bytes: the assembled buffer when there is one, else a copy.
  Bytes take() const { return assembled ? std::move(*assembled) : Bytes(payload.begin(), payload.end()); }
};

// Receives decoded frames, in order.
class FrameSink {
 public:
  virtual void on_frame(const FrameView& frame) = 0;

 protected:
  ~FrameSink() = default;
};

class FrameDecoder {
 public:
  explicit FrameDecoder(FrameLimits limits = {}) : limits_(limits) {}

  // Consumes all of `data`, handing each completed frame to `sink`. On malformed input it
  // returns the error, and every later call returns it too (the stream is unusable).
  FrameError feed(ByteView data, FrameSink& sink);
  // The same, appending the frames to `out`.
  FrameError feed(ByteView data, std::vector<Frame>& out);

  // True when no partial frame is buffered: a FIN here ends the stream cleanly.
  bool at_frame_boundary() const noexcept { return state_ == State::kType && error_ == FrameError::kNone; }
  // Bytes held for a frame still arriving (its buffer's capacity).
  std::size_t buffered_bytes() const noexcept { return payload_.capacity(); }
  FrameError error() const noexcept { return error_; }
  // After kMessageTooLarge / kHeaderTooLarge: the length the peer announced.
  std::uint64_t rejected_length() const noexcept { return rejected_length_; }
  const FrameLimits& limits() const noexcept { return limits_; }

 private:
  enum class State : std::uint8_t { kType, kLength, kPayload };

  FrameError fail(FrameError error) noexcept {
    error_ = error;
    return error;
  }
  FrameError start_payload(std::uint64_t length, FrameSink& sink);
  // Makes room for `incoming` more payload bytes (see kReserveWholeAfter in frame.cc).
  void grow_payload(std::size_t incoming);

  FrameLimits limits_;
  State state_ = State::kType;
  FrameError error_ = FrameError::kNone;
  FrameType type_ = FrameType::kMessage;
  std::uint8_t length_bytes_[8] = {};
  std::size_t length_have_ = 0;
  std::size_t length_need_ = 0;
  std::uint64_t remaining_ = 0;
  std::uint64_t payload_length_ = 0;  // announced length of the payload being assembled
  std::uint64_t rejected_length_ = 0;
  Bytes payload_;
};

}  // namespace rpcnet::wire
