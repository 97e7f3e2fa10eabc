// Sans-I/O call state machines: one per side of a call. They turn the bytes, FIN and resets a
// QUIC stream delivers into an ordered list of events, enforcing framing, limits, ordering and
// the cardinality a call kind implies. They never touch a socket, clock or executor; the I/O glue
// (rpc/client_call.cc, rpc/server_call.cc) feeds them and acts on their events.
//
// Every violation by the peer ends the call with an error event that also names what the glue
// must do to the stream (reset it, or answer with a status) — the connection is never affected.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "rpc/wire/call_header.h"
#include "rpc/wire/codes.h"
#include "rpc/wire/frame.h"
#include "rpcnet/bytes.h"
#include "rpcnet/error.h"

namespace rpcnet::rpc {

// What the glue must do to the stream after a failed kEnd event.
enum class StreamAction : std::uint8_t {
  kNone,            // nothing: the stream already ended (peer reset, or trailer received)
  kReset,           // reset both directions with `reset_code`
  kRespondStatus,   // (server) send a trailer with the error's status, then STOP_SENDING with
                    // `reset_code` so the client stops uploading
};

struct InboundEvent {
  enum class Kind : std::uint8_t {
    kHeader,   // server: the call header arrived (always the first event)
    kMessage,  // a message arrived
    kEnd,      // no more events; `error` is empty on a clean end
  };
  Kind kind = Kind::kMessage;
  Bytes message;
  std::optional<wire::CallHeader> header;
  std::optional<RpcError> error;
  StreamAction action = StreamAction::kNone;
  wire::StreamErrorCode reset_code = wire::StreamErrorCode::kNoError;
  Metadata trailer_metadata;  // client kEnd: metadata from the server's trailer
};

// FIFO of events that needs no allocation for the few events a typical call produces.
class EventQueue {
 public:
  bool empty() const noexcept { return size_ == 0; }
  void push(InboundEvent&& event);
  InboundEvent pop();

 private:
  static constexpr std::size_t kInline = 4;
  std::array<InboundEvent, kInline> ring_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;            // events in the ring
  std::deque<InboundEvent> overflow_;  // newer than every event in the ring
};

// Base of both sides: event queue and the end-of-call latch.
class CallCoreBase : public wire::FrameSink {
 public:
  virtual ~CallCoreBase() = default;

  // Feeds bytes of the peer's direction, in order.
  void on_data(ByteView data);

  bool has_event() const noexcept { return !events_.empty(); }
  InboundEvent pop_event();
  // Memory the core holds for the peer: a frame still arriving plus queued events (payloads,
  // headers, metadata). The I/O glue charges it to the connection's memory budget.
  std::size_t held_bytes() const noexcept { return decoder_.buffered_bytes() + queued_bytes_; }
  // True once the kEnd event has been queued: later input is ignored.
  bool ended() const noexcept { return ended_; }

 protected:
  explicit CallCoreBase(wire::FrameLimits limits) : decoder_(limits) {}
  CallCoreBase(const CallCoreBase&) = default;
  CallCoreBase& operator=(const CallCoreBase&) = default;
  void on_frame(const wire::FrameView& frame) final;
  virtual void handle_frame(const wire::FrameView& frame) = 0;
  virtual void on_decode_error(wire::FrameError error) = 0;
  void queue(InboundEvent&& event);
  void push_message(Bytes message);
  void end_ok(Metadata trailer_metadata = {});
  void end_with(RpcError error, StreamAction action, wire::StreamErrorCode code);
  void end_protocol_error(std::string what);

  wire::FrameDecoder decoder_;
  EventQueue events_;
  std::size_t queued_bytes_ = 0;
  bool ended_ = false;
};

// The caller's side: decodes the server's messages and status trailer.
class ClientCallCore : public CallCoreBase {
 public:
  ClientCallCore(wire::CallKind kind, wire::FrameLimits limits)
      : CallCoreBase(limits), kind_(kind) {}

  void on_fin();
  // The server reset its sending side with application error `code`.
  void on_reset(std::uint64_t code);

 private:
  void handle_frame(const wire::FrameView& frame) override;
  void on_decode_error(wire::FrameError error) override;

  wire::CallKind kind_;
  std::uint64_t responses_ = 0;
};

// The handler's side: decodes the call header and the client's messages.
class ServerCallCore : public CallCoreBase {
 public:
  explicit ServerCallCore(wire::FrameLimits limits) : CallCoreBase(limits) {}

  void on_fin();
  // The client reset its sending side (it cancelled) with application error `code`.
  void on_reset(std::uint64_t code);

  bool header_received() const noexcept { return kind_.has_value(); }

 private:
  void handle_frame(const wire::FrameView& frame) override;
  void on_decode_error(wire::FrameError error) override;

  std::optional<wire::CallKind> kind_;
  std::uint64_t requests_ = 0;
};

// Outbound encoding. All return complete frames ready to write to the stream.
Bytes encode_message(ByteView message);
// A MESSAGE frame as two buffers for Stream::write: small payloads are copied behind their
// prefix (one buffer), large ones travel as their own buffer (no copy).
struct MessageParts {
  Bytes head;
  Bytes body;
};
MessageParts encode_message_parts(Bytes message);
// The client's opening bytes: header frame, then the first message if given.
Bytes encode_call_start(const wire::CallHeader& header, const Bytes* first_message);
// The server's closing bytes: an optional last message, then the status trailer.
Bytes encode_call_end(const Bytes* last_message, const wire::Trailer& trailer);
// The trailer for a handler's error.
wire::Trailer trailer_for(const RpcError& error);

}  // namespace rpcnet::rpc
