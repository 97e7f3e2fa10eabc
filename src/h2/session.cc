// The nghttp2 side of h2::Session (contract in session.h). nghttp2 calls back into C code
// only; each callback below turns a frame event into Session state and SessionEvents calls,
// and no C++ exception crosses nghttp2: one thrown by an event handler is parked and rethrown
// once nghttp2 has returned.
#include "h2/session.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>
#include <utility>

namespace rpcnet::h2 {
namespace {

// nghttp2's own flood limits, spelled out so that a change of library defaults cannot loosen
// them unnoticed: queued SETTINGS/PING ACKs before the peer counts as flooding, SETTINGS
// entries per frame, CONTINUATION frames per header block, and the token bucket for incoming
// RST_STREAM (the "rapid reset" attack: a burst, then so many per second).
constexpr std::size_t kMaxOutboundAcks = 1000;
constexpr std::size_t kMaxSettingsEntries = 32;
constexpr std::size_t kMaxContinuations = 8;
constexpr std::uint64_t kStreamResetBurst = 1000;
constexpr std::uint64_t kStreamResetsPerSecond = 33;
// What a client assumes of the server's stream limit until the server's SETTINGS arrive.
constexpr std::uint32_t kAssumedPeerMaxConcurrentStreams = 100;
// RFC 9113 6.5.2: each field counts its name and value plus 32 octets.
constexpr std::size_t kHeaderFieldOverhead = 32;
constexpr std::uint32_t kMaxWindow = 0x7fffffffu;
constexpr std::uint32_t kMinFrameSize = 16384;
constexpr std::uint32_t kMaxFrameSize = (1u << 24) - 1;

std::string_view error_code_name(std::uint32_t code) {
  static constexpr std::array<std::string_view, 14> kNames = {
      "NO_ERROR",       "PROTOCOL_ERROR", "INTERNAL_ERROR",      "FLOW_CONTROL_ERROR",
      "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR",   "REFUSED_STREAM",
      "CANCEL",         "COMPRESSION_ERROR", "CONNECT_ERROR",    "ENHANCE_YOUR_CALM",
      "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"};
  return code < kNames.size() ? kNames[code] : std::string_view("UNKNOWN_ERROR");
}

std::string_view as_text(const std::uint8_t* bytes, std::size_t size) {
  return {reinterpret_cast<const char*>(bytes), size};
}

// "GOAWAY PROTOCOL_ERROR: <debug data>", for error messages. A peer's debug data is its own
// choice of bytes: at most kGoawayDebugShown of them are kept, printable ASCII only.
constexpr std::size_t kGoawayDebugShown = 128;

std::string describe_goaway(const nghttp2_goaway& goaway) {
  std::string text = "GOAWAY ";
  text += error_code_name(goaway.error_code);
  if (goaway.opaque_data_len > 0) {
    text += ": ";
    for (const char c : as_text(goaway.opaque_data, std::min(goaway.opaque_data_len, kGoawayDebugShown))) {
      text += c >= 0x20 && c < 0x7f ? c : '?';
    }
  }
  return text;
}

std::uint8_t* as_nghttp2_bytes(const std::string& text) {
  // nghttp2_nv is not const-correct; nghttp2 only reads (and copies) these bytes.
  return const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(text.data()));
}

std::vector<nghttp2_nv> to_nv(const HeaderList& headers) {
  std::vector<nghttp2_nv> nva;
  nva.reserve(headers.size());
  for (const Header& header : headers) {
    nva.push_back({as_nghttp2_bytes(header.name), as_nghttp2_bytes(header.value), header.name.size(),
                   header.value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  return nva;
}

// Outgoing headers are checked here so that a bad name reaches the caller as an error rather
// than the peer as a malformed request it resets.
Result<void> validate_headers(const HeaderList& headers) {
  for (const Header& header : headers) {
    if (nghttp2_check_header_name(reinterpret_cast<const std::uint8_t*>(header.name.data()),
                                  header.name.size()) == 0) {
      return RpcError::config("h2: invalid header name \"" + header.name + "\" (HTTP/2 names are lowercase tokens)");
    }
    if (nghttp2_check_header_value(reinterpret_cast<const std::uint8_t*>(header.value.data()),
                                   header.value.size()) == 0) {
      return RpcError::config("h2: invalid value for header \"" + header.name + "\"");
    }
  }
  return ok();
}

RpcError nghttp2_failure(std::string_view what, int code) {
  std::string message = "h2: ";
  message += what;
  message += ": ";
  message += nghttp2_strerror(code);
  return nghttp2_is_fatal(code) != 0 ? RpcError::connection(std::move(message))
                                     : RpcError::stream(std::move(message));
}

Result<void> validate_limits(const SessionLimits& limits) {
  if (limits.stream_window > kMaxWindow) return RpcError::config("h2: stream_window above 2^31-1");
  if (limits.connection_window > kMaxWindow) return RpcError::config("h2: connection_window above 2^31-1");
  if (limits.max_frame_size < kMinFrameSize || limits.max_frame_size > kMaxFrameSize) {
    return RpcError::config("h2: max_frame_size outside [16384, 2^24-1]");
  }
  if (limits.output_batch_bytes == 0) return RpcError::config("h2: output_batch_bytes must be > 0");
  return ok();
}

bool is_informational_response(const HeaderList& headers) {
  for (const Header& header : headers) {
    if (header.name == ":status") return header.value.size() == 3 && header.value.front() == '1';
  }
  return false;
}

struct CallbacksDeleter {
  void operator()(nghttp2_session_callbacks* callbacks) const { nghttp2_session_callbacks_del(callbacks); }
};
struct OptionDeleter {
  void operator()(nghttp2_option* option) const { nghttp2_option_del(option); }
};

// Marks the session as inside nghttp2 for the lifetime of the guard.
class InsideNghttp2 {
 public:
  explicit InsideNghttp2(bool& flag) : flag_(flag) { flag_ = true; }
  ~InsideNghttp2() { flag_ = false; }
  InsideNghttp2(const InsideNghttp2&) = delete;
  InsideNghttp2& operator=(const InsideNghttp2&) = delete;

 private:
  bool& flag_;
};

}  // namespace

// Each callback forwards to Session state. Returning NGHTTP2_ERR_CALLBACK_FAILURE makes
// nghttp2 give up the connection; it happens only when an event handler threw.
struct Session::Callbacks {
  static Session& of(void* user_data) { return *static_cast<Session*>(user_data); }

  template <class Body>
  static auto guarded(Session& self, Body&& body) -> decltype(body()) {
    try {
      return body();
    } catch (...) {
      self.escaped_exception_ = std::current_exception();
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
  }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    Session& self = of(user_data);
    return guarded(self, [&] {
      if (frame->hd.type != NGHTTP2_HEADERS) return 0;
      const std::int32_t id = frame->hd.stream_id;
      if (self.role_ == Role::kServer && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        self.streams_.try_emplace(id);
      }
      if (auto it = self.streams_.find(id); it != self.streams_.end()) {
        it->second.header_block.clear();
        it->second.header_block_bytes = 0;
      }
      return 0;
    });
  }

  static int on_header(nghttp2_session* session, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t name_length, const std::uint8_t* value, std::size_t value_length,
                       std::uint8_t /*flags*/, void* user_data) {
    Session& self = of(user_data);
    return guarded(self, [&] {
      const std::int32_t id = frame->hd.stream_id;
      auto it = self.streams_.find(id);
      if (frame->hd.type != NGHTTP2_HEADERS || it == self.streams_.end()) return 0;
      StreamState& state = it->second;
      state.header_block_bytes += name_length + value_length + kHeaderFieldOverhead;
      if (state.header_block_bytes > self.limits_.max_header_list_bytes) {
        // Our RST_STREAM first: nghttp2 then sees the stream closing and queues no second one;
        // it keeps decoding the block (without callbacks) so the HPACK state stays in step.
        state.header_block.clear();
        const int rv = nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, kHeaderListTooLarge);
        return nghttp2_is_fatal(rv) != 0 ? rv : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
      }
      state.header_block.push_back(
          {std::string(as_text(name, name_length)), std::string(as_text(value, value_length))});
      return 0;
    });
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    Session& self = of(user_data);
    return guarded(self, [&] {
      const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
      switch (frame->hd.type) {
        case NGHTTP2_HEADERS:
          deliver_header_block(self, frame->hd.stream_id);
          if (end_stream) deliver_end_of_stream(self, frame->hd.stream_id);
          break;
        case NGHTTP2_DATA:
          if (end_stream) deliver_end_of_stream(self, frame->hd.stream_id);
          break;
        case NGHTTP2_GOAWAY:
          if (frame->goaway.error_code != kNoError) {
            self.fail(RpcError::connection("h2: the peer closed the connection with " + describe_goaway(frame->goaway)));
          }
          break;
        default:
          break;
      }
      return 0;
    });
  }

  static void deliver_header_block(Session& self, std::int32_t id) {
    auto it = self.streams_.find(id);
    if (it == self.streams_.end() || it->second.reset_by_us) return;
    StreamState& state = it->second;
    HeaderList headers = std::exchange(state.header_block, {});
    state.header_block_bytes = 0;
    if (self.role_ == Role::kClient && !state.final_headers_seen && is_informational_response(headers)) return;
    const bool is_trailers = state.final_headers_seen;
    state.final_headers_seen = true;
    state.announced = true;
    self.events_.on_headers(id, std::move(headers), is_trailers);
  }

  static void deliver_end_of_stream(Session& self, std::int32_t id) {
    auto it = self.streams_.find(id);
    if (it == self.streams_.end() || !it->second.announced || it->second.reset_by_us) return;
    self.events_.on_end_of_stream(id);
  }

  static int on_data_chunk_recv(nghttp2_session* session, std::uint8_t /*flags*/, std::int32_t id,
                                const std::uint8_t* data, std::size_t length, void* user_data) {
    Session& self = of(user_data);
    return guarded(self, [&] {
      auto it = self.streams_.find(id);
      if (it == self.streams_.end() || !it->second.announced || it->second.reset_by_us) {
        // Nobody will read these bytes: their window credit goes back at once.
        const int rv = nghttp2_session_consume(session, id, length);
        return nghttp2_is_fatal(rv) != 0 ? rv : 0;
      }
      it->second.unconsumed += length;
      self.events_.on_data(id, ByteView(data, length));
      return 0;
    });
  }

  static int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t error_code, void* user_data) {
    Session& self = of(user_data);
    return guarded(self, [&] {
      close_stream(self, id, error_code);
      return 0;
    });
  }

  static void close_stream(Session& self, std::int32_t id, std::uint32_t error_code) {
    auto it = self.streams_.find(id);
    if (it == self.streams_.end()) return;
    const bool announced = it->second.announced;
    self.connection_credit_owed_ += it->second.unconsumed;
    self.streams_.erase(it);
    if (announced) self.events_.on_stream_closed(id, error_code);
  }

  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    Session& self = of(user_data);
    return guarded(self, [&] {
      if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != kNoError &&
          self.our_goaway_code_ != frame->goaway.error_code) {
        // nghttp2 tore the connection down itself: the peer broke the protocol or flooded us.
        self.fail(RpcError::connection("h2: connection error, sent " + describe_goaway(frame->goaway)));
      }
      return 0;
    });
  }

  // A request HEADERS that never went out (the peer's GOAWAY, or our reset before it was sent)
  // opened no nghttp2 stream, so no on_stream_close follows: close ours here.
  static int on_frame_not_send(nghttp2_session* session, const nghttp2_frame* frame, int /*lib_error*/,
                               void* user_data) {
    Session& self = of(user_data);
    return guarded(self, [&] {
      if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
      const std::int32_t id = frame->hd.stream_id;
      auto it = self.streams_.find(id);
      if (it == self.streams_.end() || nghttp2_session_find_stream(session, id) != nullptr) return 0;
      close_stream(self, id, it->second.reset_by_us.value_or(kRefusedStream));
      return 0;
    });
  }

  // The data provider of every stream that sends DATA: hands out queued bytes, defers when the
  // queue is empty, and ends the stream (END_STREAM or trailers) once the queue has drained.
  static ssize_t read_data(nghttp2_session* session, std::int32_t id, std::uint8_t* buffer, std::size_t capacity,
                           std::uint32_t* data_flags, nghttp2_data_source*, void* user_data) {
    Session& self = of(user_data);
    return guarded(self, [&]() -> ssize_t { return read_queued_data(self, session, id, buffer, capacity, data_flags); });
  }

  static ssize_t read_queued_data(Session& self, nghttp2_session* session, std::int32_t id, std::uint8_t* buffer,
                                  std::size_t capacity, std::uint32_t* data_flags) {
    auto it = self.streams_.find(id);
    if (it == self.streams_.end()) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    StreamState& state = it->second;
    const std::size_t copied = self.copy_outbound(state, buffer, capacity);
    if (state.outbound_bytes > 0) return static_cast<ssize_t>(copied);
    if (state.trailers_after_data) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
      const std::vector<nghttp2_nv> nva = to_nv(*state.trailers_after_data);
      const int rv = nghttp2_submit_trailer(session, id, nva.data(), nva.size());
      state.trailers_after_data.reset();
      if (rv != 0) return nghttp2_is_fatal(rv) != 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    } else if (state.end_after_data) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    } else if (copied == 0) {
      state.data_deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    return static_cast<ssize_t>(copied);
  }

  static nghttp2_data_provider data_provider() {
    nghttp2_data_provider provider{};
    provider.read_callback = read_data;
    return provider;
  }

  static std::unique_ptr<nghttp2_session_callbacks, CallbacksDeleter> make() {
    nghttp2_session_callbacks* raw = nullptr;
    if (nghttp2_session_callbacks_new(&raw) != 0) return nullptr;
    std::unique_ptr<nghttp2_session_callbacks, CallbacksDeleter> callbacks(raw);
    nghttp2_session_callbacks_set_on_begin_headers_callback(raw, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(raw, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(raw, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(raw, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(raw, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(raw, on_frame_send);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(raw, on_frame_not_send);
    return callbacks;
  }
};

Session::Session(SessionEvents& events, Role role, const SessionLimits& limits)
    : events_(events), role_(role), limits_(limits) {}

Session::~Session() { nghttp2_session_del(session_); }

Result<std::unique_ptr<Session>> Session::server(SessionEvents& events, SessionLimits limits) {
  return create(events, Role::kServer, limits);
}

Result<std::unique_ptr<Session>> Session::client(SessionEvents& events, SessionLimits limits) {
  return create(events, Role::kClient, limits);
}

Result<std::unique_ptr<Session>> Session::create(SessionEvents& events, Role role, const SessionLimits& limits) {
  RPCNET_TRY(validate_limits(limits));
  std::unique_ptr<Session> session(new Session(events, role, limits));
  RPCNET_TRY(session->start());
  return session;
}

Result<void> Session::start() {
  const auto callbacks = Callbacks::make();
  nghttp2_option* raw_option = nullptr;
  if (!callbacks || nghttp2_option_new(&raw_option) != 0) return RpcError::connection("h2: out of memory");
  const std::unique_ptr<nghttp2_option, OptionDeleter> option(raw_option);
  nghttp2_option_set_no_auto_window_update(raw_option, 1);
  nghttp2_option_set_peer_max_concurrent_streams(raw_option, kAssumedPeerMaxConcurrentStreams);
  nghttp2_option_set_no_closed_streams(raw_option, 1);  // no RFC 7540 priority tree to keep them for
  nghttp2_option_set_max_outbound_ack(raw_option, kMaxOutboundAcks);
  nghttp2_option_set_max_settings(raw_option, kMaxSettingsEntries);
  nghttp2_option_set_max_continuations(raw_option, kMaxContinuations);
  nghttp2_option_set_stream_reset_rate_limit(raw_option, kStreamResetBurst, kStreamResetsPerSecond);

  const int created = role_ == Role::kServer
                          ? nghttp2_session_server_new2(&session_, callbacks.get(), this, raw_option)
                          : nghttp2_session_client_new2(&session_, callbacks.get(), this, raw_option);
  if (created != 0) return nghttp2_failure("cannot create the session", created);

  std::vector<nghttp2_settings_entry> settings = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.stream_window},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, limits_.max_frame_size},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits_.max_header_list_bytes},
  };
  if (role_ == Role::kClient) settings.push_back({NGHTTP2_SETTINGS_ENABLE_PUSH, 0});
  if (const int rv = nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size()); rv != 0) {
    return nghttp2_failure("cannot queue SETTINGS", rv);
  }
  if (const int rv = nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                                           static_cast<std::int32_t>(limits_.connection_window));
      rv != 0) {
    return nghttp2_failure("cannot set the connection window", rv);
  }
  return ok();
}

Result<void> Session::receive(ByteView data) {
  if (inside_nghttp2_) return RpcError::config("h2: receive() called from inside an event handler");
  if (failure_) return *failure_;
  {
    const InsideNghttp2 inside(inside_nghttp2_);
    const ssize_t read = nghttp2_session_mem_recv(session_, data.data(), data.size());
    if (read < 0) {
      const int code = static_cast<int>(read);
      if (code == NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
        fail(RpcError::connection("h2: the peer did not open with the HTTP/2 connection preface "
                                  "(an HTTP/1 client, or not HTTP at all)"));
      } else {
        fail(nghttp2_failure("receive failed", code));
      }
      // Tells the peer why, if nghttp2 has not queued a GOAWAY already (it ignores a second).
      nghttp2_session_terminate_session(session_, code == NGHTTP2_ERR_FLOODED ? kEnhanceYourCalm : kProtocolError);
    }
  }
  drain_output(pending_output_);
  if (failure_) return *failure_;
  return ok();
}

void Session::take_output(Bytes& out) {
  if (inside_nghttp2_) return;
  if (out.empty()) {
    out.swap(pending_output_);
  } else {
    out.insert(out.end(), pending_output_.begin(), pending_output_.end());
    pending_output_.clear();
  }
  drain_output(out);
}

void Session::drain_output(Bytes& out) {
  {
    const InsideNghttp2 inside(inside_nghttp2_);
    for (const auto& [stream, error_code] : std::exchange(closes_to_report_, {})) {
      events_.on_stream_closed(stream, error_code);
    }
    for (;;) {
      // Streams that closed with bytes nobody read owe the peer connection credit. It goes back
      // before the next frame, not once the queue runs dry: with output taken a batch at a time
      // under a steady download, the queue may never run dry, and the peer's uploads would stall
      // on a connection window that only shrinks.
      if (connection_credit_owed_ != 0) {
        const int rv = nghttp2_session_consume_connection(session_, std::exchange(connection_credit_owed_, 0));
        if (rv != 0) {
          fail(nghttp2_failure("cannot return connection window", rv));
          break;
        }
      }
      if (out.size() >= limits_.output_batch_bytes) break;
      const std::uint8_t* chunk = nullptr;
      const ssize_t length = nghttp2_session_mem_send(session_, &chunk);
      if (length < 0) {
        fail(nghttp2_failure("send failed", static_cast<int>(length)));
        failed_output_taken_ = true;  // nothing more will come out
        break;
      }
      if (length == 0 && connection_credit_owed_ == 0) {  // a close while sending may owe some
        if (failure_) failed_output_taken_ = true;
        break;
      }
      out.insert(out.end(), chunk, chunk + length);
    }
  }
  rethrow_escaped_exception();
}

bool Session::wants_io() const {
  if (!pending_output_.empty()) return true;
  // A failed session may still have its GOAWAY to send when the last take_output() stopped at a
  // batch: finished once a take found nothing more.
  if (failure_) return !failed_output_taken_;
  return nghttp2_session_want_read(session_) != 0 || nghttp2_session_want_write(session_) != 0;
}

Result<void> Session::usable() const {
  if (failure_) return *failure_;
  return ok();
}

Result<std::int32_t> Session::submit_request(const HeaderList& headers, bool end_stream) {
  if (role_ != Role::kClient) return RpcError::config("h2: submit_request on a server session");
  RPCNET_TRY(usable());
  RPCNET_TRY(validate_headers(headers));
  const std::vector<nghttp2_nv> nva = to_nv(headers);
  const nghttp2_data_provider provider = Callbacks::data_provider();
  const std::int32_t id =
      nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), end_stream ? nullptr : &provider, nullptr);
  if (id < 0) return nghttp2_failure("cannot open a request stream", id);
  StreamState& state = streams_[id];
  state.announced = true;
  state.headers_submitted = true;
  state.end_submitted = end_stream;
  return id;
}

Result<void> Session::submit_headers(std::int32_t stream, const HeaderList& headers, bool end_stream) {
  if (role_ != Role::kServer) return RpcError::config("h2: submit_headers on a client session (use submit_request)");
  RPCNET_TRY(usable());
  auto it = streams_.find(stream);
  if (it == streams_.end() || !it->second.announced) {
    return RpcError::stream("h2: stream " + std::to_string(stream) + " is not open");
  }
  StreamState& state = it->second;
  if (state.headers_submitted || state.reset_by_us) {
    return RpcError::stream("h2: response headers already sent on stream " + std::to_string(stream),
                            StatusCode::kFailedPrecondition);
  }
  if (end_stream && (state.outbound_bytes > 0 || state.end_after_data)) {
    return RpcError::stream("h2: a trailers-only response after queued DATA on stream " + std::to_string(stream),
                            StatusCode::kFailedPrecondition);
  }
  RPCNET_TRY(validate_headers(headers));
  const std::vector<nghttp2_nv> nva = to_nv(headers);
  const nghttp2_data_provider provider = Callbacks::data_provider();
  const int rv = nghttp2_submit_response(session_, stream, nva.data(), nva.size(), end_stream ? nullptr : &provider);
  if (rv != 0) return nghttp2_failure("cannot queue response headers", rv);
  state.headers_submitted = true;
  state.end_submitted = state.end_submitted || end_stream;
  return ok();
}

Result<Session::StreamState*> Session::stream_for_sending(std::int32_t stream) {
  RPCNET_TRY(usable());
  auto it = streams_.find(stream);
  if (it == streams_.end() || !it->second.announced) {
    return RpcError::stream("h2: stream " + std::to_string(stream) + " is not open");
  }
  if (it->second.end_submitted || it->second.reset_by_us) {
    return RpcError::stream("h2: stream " + std::to_string(stream) + " has already ended its side",
                            StatusCode::kFailedPrecondition);
  }
  return &it->second;
}

Result<void> Session::submit_data(std::int32_t stream, Bytes data, bool end_stream) {
  auto state = stream_for_sending(stream);
  if (!state) return std::move(state).error();
  StreamState& sending = **state;
  if (!data.empty()) {
    sending.outbound_bytes += data.size();
    sending.outbound.push_back(std::move(data));
  }
  sending.end_after_data = end_stream;
  sending.end_submitted = end_stream;
  return wake_data_provider(stream, sending);
}

Result<void> Session::submit_trailers(std::int32_t stream, const HeaderList& trailers) {
  auto state = stream_for_sending(stream);
  if (!state) return std::move(state).error();
  StreamState& sending = **state;
  if (!sending.headers_submitted) {
    return RpcError::stream("h2: trailers before headers on stream " + std::to_string(stream),
                            StatusCode::kFailedPrecondition);
  }
  RPCNET_TRY(validate_headers(trailers));
  sending.trailers_after_data = trailers;
  sending.end_submitted = true;
  return wake_data_provider(stream, sending);
}

Result<void> Session::wake_data_provider(std::int32_t stream, StreamState& state) {
  if (!state.data_deferred) return ok();  // not asked yet, or busy: it will find the new work
  state.data_deferred = false;
  const int rv = nghttp2_session_resume_data(session_, stream);
  if (rv != 0) return nghttp2_failure("cannot resume DATA", rv);
  return ok();
}

std::size_t Session::copy_outbound(StreamState& state, std::uint8_t* buffer, std::size_t capacity) {
  std::size_t copied = 0;
  while (copied < capacity && !state.outbound.empty()) {
    const Bytes& front = state.outbound.front();
    const std::size_t count = std::min(capacity - copied, front.size() - state.outbound_front_offset);
    std::memcpy(buffer + copied, front.data() + state.outbound_front_offset, count);
    copied += count;
    state.outbound_front_offset += count;
    if (state.outbound_front_offset == front.size()) {
      state.outbound.pop_front();
      state.outbound_front_offset = 0;
    }
  }
  state.outbound_bytes -= copied;
  return copied;
}

void Session::reset_stream(std::int32_t stream, std::uint32_t error_code) {
  auto it = streams_.find(stream);
  if (it == streams_.end() || it->second.reset_by_us || failure_) return;
  if (role_ == Role::kClient && nghttp2_session_find_stream(session_, stream) == nullptr) {
    // The request is still queued (waiting for a stream slot): nghttp2 cancels it without a
    // frame, and might only get to it when some other stream closes. Report the close now.
    static_cast<void>(nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream, error_code));
    streams_.erase(it);
    closes_to_report_.emplace_back(stream, error_code);
    return;
  }
  StreamState& state = it->second;
  state.reset_by_us = error_code;
  state.end_submitted = true;
  state.outbound.clear();
  state.outbound_front_offset = 0;
  state.outbound_bytes = 0;
  state.trailers_after_data.reset();
  // Fails only on a fatal condition (out of memory), which the next receive/take_output reports.
  static_cast<void>(nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream, error_code));
}

void Session::consume(std::int32_t stream, std::size_t bytes) {
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  const std::size_t credit = std::min(bytes, it->second.unconsumed);
  it->second.unconsumed -= credit;
  if (credit > 0) static_cast<void>(nghttp2_session_consume(session_, stream, credit));
}

std::size_t Session::queued_bytes(std::int32_t stream) const {
  auto it = streams_.find(stream);
  return it == streams_.end() ? 0 : it->second.outbound_bytes;
}

void Session::goaway(std::uint32_t error_code) {
  if (failure_) return;
  our_goaway_code_ = error_code;
  static_cast<void>(nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                                          nghttp2_session_get_last_proc_stream_id(session_), error_code, nullptr, 0));
}

bool Session::stream_open(std::int32_t stream) const {
  auto it = streams_.find(stream);
  return it != streams_.end() && it->second.announced;
}

void Session::fail(RpcError error) {
  if (!failure_) failure_ = std::move(error);
}

void Session::rethrow_escaped_exception() {
  if (!escaped_exception_) return;
  fail(RpcError::connection("h2: an event handler threw; the session is unusable"));
  std::rethrow_exception(std::exchange(escaped_exception_, nullptr));
}

}  // namespace rpcnet::h2
