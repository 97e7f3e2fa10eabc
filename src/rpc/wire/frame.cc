#include "rpc/wire/frame.h"

#include <algorithm>

#include "rpc/wire/varint.h"

namespace rpcnet::wire {

namespace {
// Payload memory is reserved up front only to this size; beyond it, the buffer grows with the
// bytes that actually arrive, so a peer announcing a huge length cannot make us allocate it.
constexpr std::uint64_t kMaxUpfrontReserve = 64u << 10;
// Once this fraction (1/kReserveWholeAfter) of a payload has arrived the buffer jumps to the
// announced length: one allocation instead of a doubling series (each new buffer is fresh memory,
// and page faults, not copying, are what a 1 MiB message spent most of its time on), while a peer
// still has to send an eighth of what it announces before we hold all of it.
constexpr std::uint64_t kReserveWholeAfter = 8;

bool is_known_type(std::uint8_t byte) noexcept {
  return byte >= static_cast<std::uint8_t>(FrameType::kHeader) &&
         byte <= static_cast<std::uint8_t>(FrameType::kTrailer);
}
}  // namespace

void append_frame_prefix(Bytes& out, FrameType type, std::uint64_t payload_size) {
  out.push_back(static_cast<std::uint8_t>(type));
  append_varint(out, payload_size);
}

void append_frame(Bytes& out, FrameType type, ByteView payload) {
  out.reserve(out.size() + frame_prefix_size(payload.size()) + payload.size());
  append_frame_prefix(out, type, payload.size());
  out.insert(out.end(), payload.begin(), payload.end());
}

std::size_t frame_prefix_size(std::uint64_t payload_size) noexcept {
  return 1 + varint_size(payload_size);
}

FrameError FrameDecoder::start_payload(std::uint64_t length, FrameSink& sink) {
  const bool is_message = type_ == FrameType::kMessage;
  const std::uint64_t limit = is_message ? limits_.max_message_size : limits_.max_header_size;
  if (length > limit) {
    rejected_length_ = length;
    return fail(is_message ? FrameError::kMessageTooLarge : FrameError::kHeaderTooLarge);
  }
  if (length == 0) {
    sink.on_frame(FrameView{type_, ByteView(), nullptr});
    state_ = State::kType;
    return FrameError::kNone;
  }
  remaining_ = length;
  payload_length_ = length;
  payload_.clear();
  payload_.reserve(static_cast<std::size_t>(std::min(length, kMaxUpfrontReserve)));
  state_ = State::kPayload;
  return FrameError::kNone;
}

void FrameDecoder::grow_payload(std::size_t incoming) {
  const std::uint64_t needed = payload_.size() + incoming;
  const std::uint64_t doubled = std::max<std::uint64_t>(needed, 2 * std::uint64_t{payload_.capacity()});
  const std::uint64_t target =
      needed * kReserveWholeAfter >= payload_length_ ? payload_length_ : std::min(doubled, payload_length_);
  payload_.reserve(static_cast<std::size_t>(target));
}

FrameError FrameDecoder::feed(ByteView data, std::vector<Frame>& out) {
  struct Collect final : FrameSink {
    explicit Collect(std::vector<Frame>& frames) : frames_(frames) {}
    void on_frame(const FrameView& frame) override { frames_.push_back(Frame{frame.type, frame.take()}); }
    std::vector<Frame>& frames_;
  } collect(out);
  return feed(data, collect);
}

FrameError FrameDecoder::feed(ByteView data, FrameSink& sink) {
  if (error_ != FrameError::kNone) return error_;
  std::size_t pos = 0;
  while (pos < data.size()) {
    switch (state_) {
      case State::kType: {
        const std::uint8_t byte = data[pos++];
        if (!is_known_type(byte)) return fail(FrameError::kUnknownType);
        type_ = static_cast<FrameType>(byte);
        length_have_ = 0;
        state_ = State::kLength;
        break;
      }
      case State::kLength: {
        if (length_have_ == 0) length_need_ = varint_size_from_first_byte(data[pos]);
        while (length_have_ < length_need_ && pos < data.size()) {
          length_bytes_[length_have_++] = data[pos++];
        }
        if (length_have_ < length_need_) break;
        const auto length = read_varint(ByteView(length_bytes_, length_need_));
        if (const FrameError e = start_payload(length->value, sink); e != FrameError::kNone) {
          return e;
        }
        break;
      }
      case State::kPayload: {
        const std::size_t take =
            static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size() - pos));
        if (payload_.empty() && take == remaining_) {
          // The whole payload is in this chunk: the sink sees it in place, no copy.
          sink.on_frame(FrameView{type_, data.subspan(pos, take), nullptr});
        } else {
          if (payload_.capacity() - payload_.size() < take) grow_payload(take);
          payload_.insert(payload_.end(), data.begin() + static_cast<std::ptrdiff_t>(pos),
                          data.begin() + static_cast<std::ptrdiff_t>(pos + take));
          if (take == remaining_) sink.on_frame(FrameView{type_, ByteView(payload_), &payload_});
        }
        pos += take;
        remaining_ -= take;
        if (remaining_ == 0) {
          payload_ = Bytes();
          state_ = State::kType;
        }
        break;
      }
    }
  }
  return FrameError::kNone;
}

}  // namespace rpcnet::wire
