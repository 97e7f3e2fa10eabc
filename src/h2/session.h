// One HTTP/2 connection, without I/O: the gRPC-compatible TCP listener (and later an HTTP/2
// client transport) feeds it the bytes read from the socket and writes out the bytes it
// produces. Keeping sockets, TLS and timers out is what lets the HTTP/2 rules be tested and
// fuzzed deterministically in memory, and keeps nghttp2 inside this one directory: this header
// names its handle by struct tag only.
//
// Contract with the caller:
//  - receive() and take_output() are the only calls that run nghttp2's state machine, and the
//    only ones from which SessionEvents are called (a stream can close when our last frame for
//    it goes out, so take_output() reports on_stream_closed too). submit_*, reset_stream,
//    consume and goaway only queue work and never call back. An event handler may call
//    submit_*, reset_stream and consume; take_output() called from inside a handler appends
//    nothing (receive() collects that output itself) and receive() fails; a handler must not
//    destroy the Session. An exception a handler throws comes out of receive() / take_output()
//    and leaves the session failed.
//  - receive() also produces the replies (ACKs, WINDOW_UPDATEs, GOAWAY) its input calls for,
//    so that a protocol error is reported by the receive() that caused it; call take_output()
//    after every receive(). The replies then wait in the caller's write buffer, not in nghttp2,
//    where its ACK-flood limit would have counted them: a peer that sends without reading
//    can only be bounded by the caller, which must stop reading while its unsent output is
//    large.
//  - Everything a peer controls is bounded here: header bytes per block
//    (SessionLimits::max_header_list_bytes; a larger block resets its stream with
//    ENHANCE_YOUR_CALM — but a single value over HPACK's 64 KiB string limit ends the whole
//    connection with GOAWAY COMPRESSION_ERROR, nghttp2's decoder limit), concurrent streams (nghttp2 refuses extra ones with REFUSED_STREAM),
//    received DATA (flow control is manual: the window reopens only as the caller consume()s,
//    so a slow reader stalls its writer), and floods of SETTINGS / PING / RST_STREAM /
//    CONTINUATION frames (nghttp2's limits; the connection is torn down with a GOAWAY).
//    Malformed input is an error value, never a crash.
//  - The caller is told about a stream only once it knows it: a server stream from its
//    request's header block on, a client stream from submit_request on. Streams refused or reset
//    before that produce no events. Every stream the caller knows ends in exactly one
//    on_stream_closed, after which the session has dropped everything it held for it (queued
//    DATA, and the connection window credit of delivered but unconsumed bytes, which it returns
//    itself, so a caller that drops a finished stream's data never shrinks the window).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rpcnet/bytes.h"
#include "rpcnet/result.h"

struct nghttp2_session;

namespace rpcnet::h2 {

// HTTP/2 error codes (RFC 9113 section 7) that callers and this layer name.
inline constexpr std::uint32_t kNoError = 0x0;
inline constexpr std::uint32_t kProtocolError = 0x1;
inline constexpr std::uint32_t kInternalError = 0x2;
inline constexpr std::uint32_t kFlowControlError = 0x3;
inline constexpr std::uint32_t kFrameSizeError = 0x6;
inline constexpr std::uint32_t kRefusedStream = 0x7;
inline constexpr std::uint32_t kCancel = 0x8;
inline constexpr std::uint32_t kEnhanceYourCalm = 0xb;
// The reset code of a stream whose received header block exceeded max_header_list_bytes
// (gRPC maps it to RESOURCE_EXHAUSTED).
inline constexpr std::uint32_t kHeaderListTooLarge = kEnhanceYourCalm;

struct Header {
  std::string name;
  std::string value;
  friend bool operator==(const Header&, const Header&) = default;
};
using HeaderList = std::vector<Header>;

struct SessionLimits {
  std::uint32_t max_concurrent_streams = 100;       // SETTINGS_MAX_CONCURRENT_STREAMS we advertise
  std::uint32_t max_header_list_bytes = 16u << 10;  // SETTINGS_MAX_HEADER_LIST_SIZE; enforced on receipt
                                                    // (name + value + 32 per field, RFC 9113 6.5.2)
  std::uint32_t stream_window = 1u << 20;           // SETTINGS_INITIAL_WINDOW_SIZE we advertise
  std::uint32_t connection_window = 16u << 20;      // our connection-level receive window
  std::uint32_t max_frame_size = 16384;             // SETTINGS_MAX_FRAME_SIZE we advertise
  // receive() and take_output() stop pulling frames once this many bytes are out: a transport
  // that asks for more only as its socket drains keeps its buffers small (and in cache) instead
  // of encrypting a whole window of DATA ahead of the socket.
  std::size_t output_batch_bytes = SIZE_MAX;
};

// Implemented by the caller; called from inside receive() and take_output() only.
class SessionEvents {
 public:
  // A complete header block, pseudo-headers included, in the order received, names lowercase as
  // on the wire. Server: the request (then is_trailers=false) or the request's trailers. Client:
  // the response headers, then the trailers (is_trailers=true); 1xx responses are dropped.
  virtual void on_headers(std::int32_t stream, HeaderList headers, bool is_trailers) = 0;
  // A DATA payload (padding excluded). `data` is valid during the call only. The caller
  // consume()s the bytes once the application has taken them.
  virtual void on_data(std::int32_t stream, ByteView data) = 0;
  // The peer's END_STREAM: it sends nothing more on this stream.
  virtual void on_end_of_stream(std::int32_t stream) = 0;
  // The stream closed. error_code 0: both sides finished normally; otherwise the RST_STREAM code
  // (the peer's or ours) or the code nghttp2 closed it with (kRefusedStream for a request the
  // session could not send, or that the peer refused).
  virtual void on_stream_closed(std::int32_t stream, std::uint32_t error_code) = 0;

 protected:
  ~SessionEvents() = default;
};

class Session {
 public:
  // Errors: kConfig for limits out of HTTP/2's ranges; kConnection if nghttp2 cannot start.
  // The server's SETTINGS are queued at once (take_output() sends them).
  static Result<std::unique_ptr<Session>> server(SessionEvents& events, SessionLimits limits = {});
  // The client's connection preface and SETTINGS are queued at once.
  static Result<std::unique_ptr<Session>> client(SessionEvents& events, SessionLimits limits = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Feeds bytes from the peer, in any chunking. An error (kConnection, naming nghttp2's reason:
  // no connection preface, a protocol error, a flood, a GOAWAY with an error code from the peer)
  // means the connection is unusable: send what take_output() returns (a GOAWAY is queued),
  // then close. Every later receive() returns the same error.
  Result<void> receive(ByteView data);
  // Appends what the session has to send now to `out`: everything, or a batch of about
  // SessionLimits::output_batch_bytes (whole frames; the rest waits for the next call).
  void take_output(Bytes& out);
  // False once the connection is finished (both sides said GOAWAY and no stream is left, or it
  // failed and a take_output() found nothing more to send): close it.
  bool wants_io() const;

  // Client only: opens a request stream and returns its id; end_stream when there is no body.
  // A request beyond the peer's stream limit waits in the session until a stream closes.
  Result<std::int32_t> submit_request(const HeaderList& headers, bool end_stream);
  // Server only: the response HEADERS (end_stream: a trailers-only response, which DATA queued
  // before must not precede).
  Result<void> submit_headers(std::int32_t stream, const HeaderList& headers, bool end_stream);
  // Queues DATA (moved in, sent as flow control allows); end_stream sets END_STREAM on the last
  // DATA frame. A server may queue DATA before its response headers; it is sent after them.
  Result<void> submit_data(std::int32_t stream, Bytes data, bool end_stream);
  // Trailing HEADERS with END_STREAM, sent after all DATA queued before.
  Result<void> submit_trailers(std::int32_t stream, const HeaderList& trailers);
  // RST_STREAM with `error_code`; drops the stream's queued DATA and delivers no more of its
  // headers or data. on_stream_closed follows from a later receive() or take_output() (from
  // the next take_output() for a request still waiting for a stream slot, which then never goes
  // out at all). Unknown or closed streams are ignored.
  void reset_stream(std::int32_t stream, std::uint32_t error_code);
  // Returns flow-control credit for `bytes` delivered by on_data (a WINDOW_UPDATE follows once
  // enough is owed). Bytes of a stream that has closed are already returned: a no-op then.
  void consume(std::int32_t stream, std::size_t bytes);
  // DATA queued on the stream and not yet handed to nghttp2 (0 for unknown streams).
  std::size_t queued_bytes(std::int32_t stream) const;
  // GOAWAY naming the last stream the peer opened that we processed: no new streams from the
  // peer after it; streams already open finish. error_code kNoError for a graceful shutdown.
  void goaway(std::uint32_t error_code);
  // True from when the caller knows the stream (see above) until its on_stream_closed.
  bool stream_open(std::int32_t stream) const;

 private:
  enum class Role : std::uint8_t { kServer, kClient };

  struct StreamState {
    // Receiving.
    bool announced = false;           // the caller knows this stream
    bool final_headers_seen = false;  // the next header block from the peer is trailers
    HeaderList header_block;          // the block being received
    std::size_t header_block_bytes = 0;
    std::size_t unconsumed = 0;       // delivered by on_data and not yet consume()d
    std::optional<std::uint32_t> reset_by_us;
    // Sending.
    bool headers_submitted = false;  // our request or response HEADERS went to nghttp2
    bool end_submitted = false;      // END_STREAM is queued or sent: no more submit_data/trailers
    bool data_deferred = false;      // the data provider is waiting for submit_data/trailers
    bool end_after_data = false;     // END_STREAM on the DATA frame that empties the queue
    std::optional<HeaderList> trailers_after_data;
    std::deque<Bytes> outbound;
    std::size_t outbound_front_offset = 0;  // bytes of outbound.front() already handed out
    std::size_t outbound_bytes = 0;
  };

  struct Callbacks;  // the nghttp2 callbacks (session.cc)
  friend struct Callbacks;

  Session(SessionEvents& events, Role role, const SessionLimits& limits);
  static Result<std::unique_ptr<Session>> create(SessionEvents& events, Role role, const SessionLimits& limits);
  Result<void> start();

  Result<void> usable() const;
  Result<StreamState*> stream_for_sending(std::int32_t stream);
  Result<void> wake_data_provider(std::int32_t stream, StreamState& state);
  std::size_t copy_outbound(StreamState& state, std::uint8_t* buffer, std::size_t capacity);
  // Pulls frames into `out` until nghttp2 has none left or `out` holds a batch.
  void drain_output(Bytes& out);
  void fail(RpcError error);
  void rethrow_escaped_exception();

  SessionEvents& events_;
  Role role_;
  SessionLimits limits_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<std::int32_t, StreamState> streams_;
  Bytes pending_output_;                       // produced inside receive(), not yet taken
  bool failed_output_taken_ = false;           // failed, and a take found nothing more to send
  std::size_t connection_credit_owed_ = 0;     // unconsumed bytes of closed streams
  std::vector<std::pair<std::int32_t, std::uint32_t>> closes_to_report_;  // by the next receive/take_output
  std::optional<RpcError> failure_;            // set once the connection is unusable
  std::optional<std::uint32_t> our_goaway_code_;
  bool inside_nghttp2_ = false;                // in mem_recv / mem_send (and so in an event)
  std::exception_ptr escaped_exception_;       // thrown by an event handler through nghttp2
};

}  // namespace rpcnet::h2
