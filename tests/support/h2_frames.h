// HTTP/2 frames by hand (RFC 9113 §4.1: 24-bit length, type, flags, 31-bit stream id, payload),
// for tests that check the exact frames a session or a server sends, or send ones no real
// client would.
//
// Example:
//   Bytes out;
//   append_frame(out, kFramePing, 0, 0, Bytes(8, 0));
//   for (const Frame& frame : frames_of(out)) ...
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "rpcnet/bytes.h"

namespace rpcnet::testing {

inline constexpr std::uint8_t kFrameData = 0x0;
inline constexpr std::uint8_t kFrameHeaders = 0x1;
inline constexpr std::uint8_t kFrameRstStream = 0x3;
inline constexpr std::uint8_t kFrameSettings = 0x4;
inline constexpr std::uint8_t kFramePing = 0x6;
inline constexpr std::uint8_t kFrameGoaway = 0x7;
inline constexpr std::uint8_t kFrameWindowUpdate = 0x8;
inline constexpr std::uint8_t kFrameContinuation = 0x9;
inline constexpr std::uint8_t kFlagEndStream = 0x1;
inline constexpr std::uint8_t kFlagAck = 0x1;
inline constexpr std::uint8_t kFlagEndHeaders = 0x4;
inline constexpr std::size_t kFrameHeaderBytes = 9;

struct Frame {
  std::uint8_t type = 0;
  std::uint8_t flags = 0;
  std::uint32_t stream = 0;
  Bytes payload;
};

inline std::uint32_t read_u32(ByteView bytes, std::size_t at) {
  return (std::uint32_t{bytes[at]} << 24) | (std::uint32_t{bytes[at + 1]} << 16) |
         (std::uint32_t{bytes[at + 2]} << 8) | std::uint32_t{bytes[at + 3]};
}

inline void append_frame(Bytes& out, std::uint8_t type, std::uint8_t flags, std::uint32_t stream, ByteView payload) {
  const std::size_t length = payload.size();
  out.push_back(static_cast<std::uint8_t>(length >> 16));
  out.push_back(static_cast<std::uint8_t>(length >> 8));
  out.push_back(static_cast<std::uint8_t>(length));
  out.push_back(type);
  out.push_back(flags);
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(stream >> shift));
  out.insert(out.end(), payload.begin(), payload.end());
}

// Splits bytes into frames as they arrive, in any chunking.
class FrameReader {
 public:
  void feed(ByteView bytes) { buffer_.insert(buffer_.end(), bytes.begin(), bytes.end()); }
  // The next whole frame, if one has arrived.
  std::optional<Frame> next() {
    if (buffer_.size() < kFrameHeaderBytes) return std::nullopt;
    const std::size_t length = (std::size_t{buffer_[0]} << 16) | (std::size_t{buffer_[1]} << 8) | buffer_[2];
    const std::size_t end = kFrameHeaderBytes + length;
    if (buffer_.size() < end) return std::nullopt;
    Frame frame;
    frame.type = buffer_[3];
    frame.flags = buffer_[4];
    frame.stream = read_u32(buffer_, 5) & 0x7fffffffu;
    frame.payload.assign(buffer_.begin() + kFrameHeaderBytes, buffer_.begin() + static_cast<std::ptrdiff_t>(end));
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(end));
    return frame;
  }

 private:
  Bytes buffer_;
};

// The whole frames in `bytes` (a partial one at the end is left out).
inline std::vector<Frame> frames_of(ByteView bytes) {
  FrameReader reader;
  reader.feed(bytes);
  std::vector<Frame> frames;
  while (auto frame = reader.next()) frames.push_back(std::move(*frame));
  return frames;
}

}  // namespace rpcnet::testing
