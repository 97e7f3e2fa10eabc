#include "rpc/core/call_core.h"

#include <algorithm>
#include <string>

namespace rpcnet::rpc {

using wire::CallKind;
using wire::Frame;
using wire::FrameError;
using wire::FrameType;
using wire::StreamErrorCode;

void EventQueue::push(InboundEvent&& event) {
  if (size_ < kInline && overflow_.empty()) {
    ring_[(head_ + size_) % kInline] = std::move(event);
    ++size_;
  } else {
    overflow_.push_back(std::move(event));
  }
}

InboundEvent EventQueue::pop() {
  InboundEvent event = std::move(ring_[head_]);
  head_ = (head_ + 1) % kInline;
  --size_;
  if (!overflow_.empty()) {
    ring_[(head_ + size_) % kInline] = std::move(overflow_.front());
    overflow_.pop_front();
    ++size_;
  }
  return event;
}

namespace {
// What a queued event costs beyond its payload: the event itself in the queue.
constexpr std::size_t kEventOverhead = sizeof(InboundEvent);

std::size_t metadata_bytes(const Metadata& metadata) {
  std::size_t total = 0;
  for (const auto& [key, value] : metadata) total += key.size() + value.size() + 2 * sizeof(std::string);
  return total;
}

std::size_t event_bytes(const InboundEvent& event) {
  std::size_t total = kEventOverhead + event.message.capacity() + metadata_bytes(event.trailer_metadata);
  if (event.header) total += event.header->method.size() + metadata_bytes(event.header->metadata);
  return total;
}

wire::MetadataLimits metadata_limits(const wire::FrameLimits& limits) {
  return wire::MetadataLimits{limits.max_metadata_entries, limits.max_metadata_bytes};
}
}  // namespace

InboundEvent CallCoreBase::pop_event() {
  InboundEvent event = events_.pop();
  queued_bytes_ -= std::min(queued_bytes_, event_bytes(event));
  return event;
}

void CallCoreBase::queue(InboundEvent&& event) {
  queued_bytes_ += event_bytes(event);
  events_.push(std::move(event));
}

void CallCoreBase::push_message(Bytes message) {
  InboundEvent event;
  event.kind = InboundEvent::Kind::kMessage;
  event.message = std::move(message);
  queue(std::move(event));
}

void CallCoreBase::end_ok(Metadata trailer_metadata) {
  InboundEvent event;
  event.kind = InboundEvent::Kind::kEnd;
  event.trailer_metadata = std::move(trailer_metadata);
  queue(std::move(event));
  ended_ = true;
}

void CallCoreBase::end_with(RpcError error, StreamAction action, StreamErrorCode code) {
  InboundEvent event;
  event.kind = InboundEvent::Kind::kEnd;
  event.error = std::move(error);
  event.action = action;
  event.reset_code = code;
  queue(std::move(event));
  ended_ = true;
}

void CallCoreBase::end_protocol_error(std::string what) {
  end_with(RpcError::stream("protocol error: " + std::move(what), StatusCode::kInternal),
           StreamAction::kReset, StreamErrorCode::kProtocolError);
}

namespace {

std::string too_large(const char* what, std::uint64_t length, std::uint64_t limit) {
  return std::string(what) + " of " + std::to_string(length) + " bytes exceeds the limit of " +
         std::to_string(limit) + " bytes";
}

RpcError reset_error(std::uint64_t code, const char* who) {
  const StatusCode status = wire::status_for_stream_error(code);
  std::string message = std::string("stream reset by ") + who + " (code " +
                        std::to_string(code) + ")";
  RpcError error = RpcError::stream(std::move(message), status);
  if (code == static_cast<std::uint64_t>(StreamErrorCode::kRefused)) error.mark_not_started();
  return error;
}

}  // namespace

// ---- client ---------------------------------------------------------------------------------

void CallCoreBase::on_data(ByteView data) {
  if (ended_) return;
  const FrameError error = decoder_.feed(data, *this);
  if (!ended_ && error != FrameError::kNone) on_decode_error(error);
}

void CallCoreBase::on_frame(const wire::FrameView& frame) {
  if (!ended_) handle_frame(frame);  // after the end, the rest of the input is ignored
}


void ClientCallCore::on_decode_error(FrameError error) {
  switch (error) {
    case FrameError::kMessageTooLarge:
      end_with(RpcError::stream(too_large("response message", decoder_.rejected_length(),
                                          decoder_.limits().max_message_size),
                                StatusCode::kResourceExhausted),
               StreamAction::kReset, StreamErrorCode::kMessageTooLarge);
      break;
    case FrameError::kHeaderTooLarge:
      end_with(RpcError::stream(too_large("status trailer", decoder_.rejected_length(),
                                          decoder_.limits().max_header_size),
                                StatusCode::kResourceExhausted),
               StreamAction::kReset, StreamErrorCode::kMessageTooLarge);
      break;
    default:
      end_protocol_error("unknown frame type from server");
  }
}

void ClientCallCore::handle_frame(const wire::FrameView& frame) {
  switch (frame.type) {
    case FrameType::kMessage:
      if (wire::single_response(kind_) && responses_ == 1) {
        return end_protocol_error("more than one response to a single-response call");
      }
      ++responses_;
      return push_message(frame.take());
    case FrameType::kTrailer: {
      auto trailer = wire::decode_trailer(frame.payload, metadata_limits(decoder_.limits()));
      if (!trailer && trailer.error().code() == StatusCode::kResourceExhausted) {
        return end_with(RpcError::stream(trailer.error().message(), StatusCode::kResourceExhausted),
                        StreamAction::kReset, StreamErrorCode::kMessageTooLarge);
      }
      if (!trailer) return end_protocol_error(trailer.error().message());
      if (trailer->code != StatusCode::kOk) {
        return end_with(RpcError::remote(trailer->code, std::move(trailer->message),
                                         std::move(trailer->details)),
                        StreamAction::kNone, StreamErrorCode::kNoError);
      }
      if (wire::single_response(kind_) && responses_ == 0) {
        return end_protocol_error("OK status without the response message");
      }
      return end_ok(std::move(trailer->metadata));
    }
    case FrameType::kHeader:
      return end_protocol_error("header frame from server");
  }
}

void ClientCallCore::on_fin() {
  if (ended_) return;
  end_with(RpcError::stream("stream ended without a status", StatusCode::kInternal),
           StreamAction::kNone, StreamErrorCode::kNoError);
}

void ClientCallCore::on_reset(std::uint64_t code) {
  if (ended_) return;
  end_with(reset_error(code, "server"), StreamAction::kNone, StreamErrorCode::kNoError);
}

// ---- server ---------------------------------------------------------------------------------

void ServerCallCore::on_decode_error(FrameError error) {
  switch (error) {
    case FrameError::kMessageTooLarge:
      end_with(RpcError::status(StatusCode::kResourceExhausted,
                                too_large("request message", decoder_.rejected_length(),
                                          decoder_.limits().max_message_size)),
               StreamAction::kRespondStatus, StreamErrorCode::kMessageTooLarge);
      break;
    case FrameError::kHeaderTooLarge:
      end_with(RpcError::status(StatusCode::kResourceExhausted,
                                too_large("call header", decoder_.rejected_length(),
                                          decoder_.limits().max_header_size)),
               StreamAction::kRespondStatus, StreamErrorCode::kMessageTooLarge);
      break;
    default:
      end_protocol_error("unknown frame type from client");
  }
}

void ServerCallCore::handle_frame(const wire::FrameView& frame) {
  if (!kind_) {
    if (frame.type != FrameType::kHeader) return end_protocol_error("first frame is not a header");
    auto header = wire::decode_call_header(frame.payload, metadata_limits(decoder_.limits()));
    if (!header && header.error().code() == StatusCode::kResourceExhausted) {
      // Too much metadata: answered with the status, like an oversized header.
      return end_with(std::move(header).error(), StreamAction::kRespondStatus,
                      StreamErrorCode::kMessageTooLarge);
    }
    if (!header) return end_protocol_error(header.error().message());
    kind_ = header->kind;
    InboundEvent event;
    event.kind = InboundEvent::Kind::kHeader;
    event.header = std::move(*header);
    queue(std::move(event));
    return;
  }
  switch (frame.type) {
    case FrameType::kMessage:
      if (wire::single_request(*kind_) && requests_ == 1) {
        return end_protocol_error("more than one request to a single-request call");
      }
      ++requests_;
      return push_message(frame.take());
    case FrameType::kHeader:
      return end_protocol_error("second header frame");
    case FrameType::kTrailer:
      return end_protocol_error("trailer frame from client");
  }
}

void ServerCallCore::on_fin() {
  if (ended_) return;
  if (!decoder_.at_frame_boundary()) return end_protocol_error("stream ended inside a frame");
  if (!kind_) return end_protocol_error("stream ended before the call header");
  if (wire::single_request(*kind_) && requests_ == 0) {
    return end_protocol_error("single-request call ended without its request");
  }
  end_ok();
}

void ServerCallCore::on_reset(std::uint64_t code) {
  if (ended_) return;
  end_with(code == static_cast<std::uint64_t>(StreamErrorCode::kDeadlineExceeded)
               ? RpcError::timeout("client gave up: deadline exceeded")
               : RpcError::cancelled("cancelled by the client"),
           StreamAction::kReset, StreamErrorCode::kCancelled);
}

// ---- encoding -------------------------------------------------------------------------------

Bytes encode_message(ByteView message) {
  Bytes out;
  wire::append_frame(out, FrameType::kMessage, message);
  return out;
}

MessageParts encode_message_parts(Bytes message) {
  // Below this size a copy is cheaper than an extra buffer to track until it is acknowledged.
  constexpr std::size_t kCopyThreshold = 4096;
  MessageParts parts;
  if (message.size() <= kCopyThreshold) {
    wire::append_frame(parts.head, FrameType::kMessage, message);
  } else {
    wire::append_frame_prefix(parts.head, FrameType::kMessage, message.size());
    parts.body = std::move(message);
  }
  return parts;
}

Bytes encode_call_start(const wire::CallHeader& header, const Bytes* first_message) {
  const Bytes header_payload = wire::encode_call_header(header);
  Bytes out;
  out.reserve(header_payload.size() + 10 + (first_message ? first_message->size() + 9 : 0));
  wire::append_frame(out, FrameType::kHeader, header_payload);
  if (first_message) wire::append_frame(out, FrameType::kMessage, *first_message);
  return out;
}

Bytes encode_call_end(const Bytes* last_message, const wire::Trailer& trailer) {
  const Bytes trailer_payload = wire::encode_trailer(trailer);
  Bytes out;
  out.reserve(trailer_payload.size() + 10 + (last_message ? last_message->size() + 9 : 0));
  if (last_message) wire::append_frame(out, FrameType::kMessage, *last_message);
  wire::append_frame(out, FrameType::kTrailer, trailer_payload);
  return out;
}

wire::Trailer trailer_for(const RpcError& error) {
  wire::Trailer trailer;
  trailer.code = error.code() == StatusCode::kOk ? StatusCode::kUnknown : error.code();
  trailer.message = error.message();
  trailer.details = error.details();
  return trailer;
}

}  // namespace rpcnet::rpc
