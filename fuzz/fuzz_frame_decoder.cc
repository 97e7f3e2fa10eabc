// libFuzzer target: wire::FrameDecoder.
//
// Input: 4 chunking bytes, then the stream. Chunk i has size 1 + (b & 0x3f) where b cycles over
// the 4 chunking bytes; when b's top bit is set an empty feed comes first.
// Oracles: chunked decoding gives exactly the frames and error of one-shot decoding; frames
// respect the limits; a failed decoder stays failed; re-encoding the frames decodes to the same
// frames; at_frame_boundary() agrees with whether the consumed stream ended on a frame edge.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "rpc/wire/frame.h"

namespace {

using rpcnet::ByteView;
using rpcnet::Bytes;
using rpcnet::wire::Frame;
using rpcnet::wire::FrameDecoder;
using rpcnet::wire::FrameError;
using rpcnet::wire::FrameLimits;
using rpcnet::wire::FrameType;

constexpr FrameLimits kLimits{.max_message_size = 4096, .max_header_size = 256};
constexpr std::size_t kChunkingBytes = 4;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

bool same_frames(const std::vector<Frame>& a, const std::vector<Frame>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].type != b[i].type || a[i].payload != b[i].payload) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < kChunkingBytes) return 0;
  const ByteView chunking(data, kChunkingBytes);
  const ByteView stream(data + kChunkingBytes, size - kChunkingBytes);

  // Reference: everything in one call.
  FrameDecoder whole(kLimits);
  std::vector<Frame> whole_frames;
  const FrameError whole_error = whole.feed(stream, whole_frames);
  check(whole.error() == whole_error);

  // Chunked.
  FrameDecoder chunked(kLimits);
  std::vector<Frame> chunked_frames;
  FrameError chunked_error = FrameError::kNone;
  std::size_t at = 0;
  for (std::size_t i = 0; at < stream.size(); ++i) {
    const std::uint8_t b = chunking[i % kChunkingBytes];
    if ((b & 0x80) != 0) {
      const FrameError e = chunked.feed(ByteView(), chunked_frames);
      check(e == chunked_error);
    }
    const std::size_t n = std::min<std::size_t>(1 + (b & 0x3f), stream.size() - at);
    const FrameError e = chunked.feed(stream.subspan(at, n), chunked_frames);
    // Once failed, every later call reports the same error and adds no frames.
    if (chunked_error != FrameError::kNone) check(e == chunked_error);
    chunked_error = e;
    check(chunked.error() == e);
    at += n;
  }
  check(chunked_error == whole_error);
  check(same_frames(chunked_frames, whole_frames));
  check(chunked.at_frame_boundary() == whole.at_frame_boundary());
  if (whole_error == FrameError::kMessageTooLarge) {
    check(whole.rejected_length() > kLimits.max_message_size);
    check(chunked.rejected_length() == whole.rejected_length());
  }
  if (whole_error == FrameError::kHeaderTooLarge) {
    check(whole.rejected_length() > kLimits.max_header_size);
    check(chunked.rejected_length() == whole.rejected_length());
  }
  if (whole_error != FrameError::kNone) check(!whole.at_frame_boundary());

  // Every frame has a known type and fits its limit.
  for (const Frame& frame : whole_frames) {
    const auto type = static_cast<std::uint8_t>(frame.type);
    check(type >= 1 && type <= 3);
    const std::uint64_t limit = frame.type == FrameType::kMessage ? kLimits.max_message_size
                                                                  : kLimits.max_header_size;
    check(frame.payload.size() <= limit);
  }

  // Re-encoding the frames and decoding again gives the same frames, ending on a boundary.
  Bytes reencoded;
  for (const Frame& frame : whole_frames) {
    rpcnet::wire::append_frame(reencoded, frame.type, frame.payload);
  }
  FrameDecoder again(kLimits);
  std::vector<Frame> again_frames;
  check(again.feed(reencoded, again_frames) == FrameError::kNone);
  check(again.at_frame_boundary());
  check(same_frames(again_frames, whole_frames));
  // Minimal encodings can only be shorter than what was consumed.
  check(reencoded.size() <= stream.size());
  return 0;
}
