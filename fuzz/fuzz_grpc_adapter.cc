// libFuzzer target: the gRPC <-> rpcnet translation of the HTTP/2 listener and of RpcClient's
// HTTP/2 fallback (src/rpc/grpc/grpc_wire.cc), without sockets, TLS or nghttp2.
//
// Input: byte 0 picks the mode (its value modulo 4); the rest is read by a Reader that hands out
// small integers and byte strings and returns zeros and empty strings once it runs dry. A header
// list is a sequence of fields, each a name (a well-known name when the length byte is 0xe0 or
// above, else that many bytes) and a value (a length byte, then the bytes).
//   0  parse_request_headers on a header list, with a KindOf answering kUnary or kBidiStreaming
//      (chosen by the input). Oracles: an accepted request is a POST with a gRPC content type and
//      a ":path" of "/" + its method, its call header survives encode/decode unchanged, its kind
//      is the named "rpcnet-call-kind" or KindOf's answer, its metadata holds no reserved field
//      and only values the request carried (base64-decoded for "-bin"); a rejection is 405, 415
//      or a trailers-only 200, and KindOf was not asked. Also: a "grpc-timeout" value that parses
//      formats and parses back to no less, within a unit; percent- and base64-encoding of every
//      value round-trip exactly.
//   1  MessageDecoder::feed on gRPC-framed DATA, in chunks whose sizes the next 4 bytes give.
//      Oracles: any chunking gives the bytes and the rejection of a one-shot feed; the output
//      decodes with a limitless wire::FrameDecoder into MESSAGE frames whose payloads are exactly
//      the gRPC messages of the input (a reference parse), a message cut short leaving the frame
//      decoder mid-frame; a compressed message is UNIMPLEMENTED, another flag INTERNAL; a failed
//      decoder stays failed and appends nothing; at_message_boundary() says whether the input
//      ended between messages.
//   2  ResponseDecoder on a sequence of header blocks, DATA and END_STREAM events. Oracles: its
//      output always decodes into MESSAGE frames and at most one TRAILER frame, which comes last,
//      decodes and never follows a MESSAGE frame cut short; nothing is appended once finished();
//      END_STREAM always finishes it.
//   3  An rpcnet frame stream built from the input (well-formed call headers, messages of up to
//      24 KiB, trailers, raw frames and raw bytes), fed in chunks to ResponseEncoder (bit 0x10 of
//      byte 0 clear) or RequestEncoder (set). Neither may crash on any bytes. ResponseEncoder:
//      HEADERS once and first, DATA between, the status last with END_STREAM; its actions fed to
//      ResponseDecoder give back exactly the messages and the status (code, message, details,
//      the metadata HTTP/2 can carry). RequestEncoder: one HEADERS, first; parse_request_headers
//      turns them back into the method, kind, timeout (no shorter) and metadata; its DATA fed to
//      MessageDecoder gives back exactly the messages.
// A failed oracle is __builtin_trap().
#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "rpc/grpc/grpc_wire.h"
#include "rpc/wire/call_header.h"
#include "rpc/wire/frame.h"

namespace {

using rpcnet::Bytes;
using rpcnet::ByteView;
using rpcnet::Metadata;
using rpcnet::StatusCode;
namespace wire = rpcnet::wire;
namespace grpc = rpcnet::grpc_compat;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

constexpr wire::FrameLimits kNoLimits{UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX};
constexpr std::size_t kPrefixBytes = 5;

// Names the translation treats specially, so the fuzzer need not rediscover them byte by byte.
constexpr std::array<std::string_view, 24> kKnownNames = {
    ":method",      ":path",         ":scheme",       ":authority",   ":status",
    "content-type", "te",            "grpc-timeout",  "grpc-status",  "grpc-message",
    "grpc-status-details-bin",       "grpc-encoding", "rpcnet-call-kind", "user-agent",
    "tenant",       "blob-bin",      "host",          "connection",   "content-length",
    "x-Upper",      "grpc-x",        "a.b_c-d",       "bad-bin",      "",
};

// Hands out the input as integers and strings; zeros and empty strings once it runs dry.
class Reader {
 public:
  explicit Reader(ByteView bytes) : bytes_(bytes) {}
  bool empty() const { return at_ >= bytes_.size(); }
  std::uint8_t u8() { return empty() ? 0 : bytes_[at_++]; }
  std::uint16_t u16() { return static_cast<std::uint16_t>((u8() << 8) | u8()); }
  std::uint32_t u32() { return (std::uint32_t{u16()} << 16) | u16(); }
  std::string str(std::size_t size) {
    size = std::min(size, bytes_.size() - std::min(at_, bytes_.size()));
    std::string out(reinterpret_cast<const char*>(bytes_.data() + at_), size);
    at_ += size;
    return out;
  }
  Bytes bytes(std::size_t size) {
    const std::string text = str(size);
    return Bytes(text.begin(), text.end());
  }
  ByteView rest() const { return empty() ? ByteView() : bytes_.subspan(at_); }

 private:
  ByteView bytes_;
  std::size_t at_ = 0;
};

std::string field_name(Reader& in) {
  const std::uint8_t length = in.u8();
  if (length >= 0xe0) return std::string(kKnownNames[(length - 0xe0) % kKnownNames.size()]);
  return in.str(length);
}

grpc::HeaderFields header_list(Reader& in, std::size_t max_fields) {
  grpc::HeaderFields fields;
  while (!in.empty() && fields.size() < max_fields) {
    std::string name = field_name(in);
    std::string value = in.str(in.u8());
    fields.emplace_back(std::move(name), std::move(value));
  }
  return fields;
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}
bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// The fields the translation keeps for itself in a request (grpc_wire.cc), never metadata.
bool reserved(std::string_view name) {
  return name.empty() || name.front() == ':' || starts_with(name, "grpc-") || name == "rpcnet-call-kind" ||
         name == "content-type" || name == "te" || name == "content-length" || name == "connection" ||
         name == "host";
}

// Metadata HTTP/2 can carry as gRPC metadata: a lowercase token key, and a printable value
// unless the key ends in "-bin" (then any bytes, base64-encoded on the wire).
bool carried(const std::pair<std::string, std::string>& entry) {
  const auto& [key, value] = entry;
  if (key.empty() || starts_with(key, "grpc-") || key.front() == ':') return false;
  for (const char c : key) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')) return false;
  }
  if (ends_with(key, "-bin")) return true;
  return std::all_of(value.begin(), value.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

// What of `metadata` the other side must see after a trip through HTTP/2 header fields.
// Reserved names ("te", "content-type", ...) are left out: a peer reads them as the transport's.
Metadata expected_metadata(const Metadata& metadata) {
  Metadata out;
  for (const auto& entry : metadata) {
    if (carried(entry) && !reserved(entry.first)) out.push_back(entry);
  }
  return out;
}

std::vector<wire::Frame> decode_all(ByteView bytes, bool* at_boundary = nullptr) {
  wire::FrameDecoder decoder(kNoLimits);
  std::vector<wire::Frame> frames;
  check(decoder.feed(bytes, frames) == wire::FrameError::kNone);
  if (at_boundary != nullptr) *at_boundary = decoder.at_frame_boundary();
  return frames;
}

bool same_rejection(const std::optional<grpc::Rejection>& a, const std::optional<grpc::Rejection>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->http_status == b->http_status && a->code == b->code && a->message == b->message);
}

// ---- mode 0: request headers ------------------------------------------------------------------

void check_timeout_round_trip(std::string_view value) {
  const auto parsed = grpc::parse_timeout(value);
  if (!parsed) return;
  check(parsed->count() >= 0 && *parsed <= wire::kMaxTimeout);
  const std::string formatted = grpc::format_timeout(*parsed);
  check(formatted.size() >= 2 && formatted.size() <= 9);
  const auto again = grpc::parse_timeout(formatted);
  check(again.has_value());
  // Rounded up to the unit chosen, which is at most a 1/99'999th of the value.
  check(*again >= *parsed);
  check(again->count() - parsed->count() <= parsed->count() / 99'999 + 1);
}

void request_headers(Reader& in) {
  const bool streaming_methods = (in.u8() & 1) != 0;
  const std::uint64_t request_id = in.u32();
  const grpc::HeaderFields fields = header_list(in, 64);
  int kind_of_calls = 0;
  const grpc::KindOf kind_of = [&](std::string_view method) -> std::optional<wire::CallKind> {
    ++kind_of_calls;
    check(!method.empty());
    return streaming_methods ? wire::CallKind::kBidiStreaming : wire::CallKind::kUnary;
  };

  for (const auto& [name, value] : fields) {
    check(grpc::percent_decode(grpc::percent_encode(value)) == value);
    const std::string encoded = grpc::percent_encode(value);
    check(std::all_of(encoded.begin(), encoded.end(), [](char c) { return c >= 0x20 && c <= 0x7e; }));
    check(grpc::base64_decode(grpc::base64_encode(value)) == value);
    if (const auto decoded = grpc::base64_decode(value)) {
      check(grpc::base64_decode(grpc::base64_encode(*decoded)) == *decoded);
    }
    (void)grpc::percent_decode(value);
    if (name == "grpc-timeout") check_timeout_round_trip(value);
  }

  // What the last of each field says (later fields override earlier ones).
  std::optional<std::string> method_field;
  std::optional<std::string> path;
  std::optional<std::string> content_type;
  std::optional<wire::CallKind> named_kind;
  for (const auto& [name, value] : fields) {
    if (name == ":method") method_field = value;
    if (name == ":path") path = value;
    if (name == "content-type") content_type = value;
    if (name == "rpcnet-call-kind" && value.size() == 1 && value[0] >= '0' && value[0] <= '3') {
      named_kind = static_cast<wire::CallKind>(value[0] - '0');
    }
  }

  const auto result = grpc::parse_request_headers(fields, kind_of, request_id);
  if (const auto* rejection = std::get_if<grpc::Rejection>(&result)) {
    check(rejection->http_status == 200 || rejection->http_status == 405 || rejection->http_status == 415);
    check(!rejection->message.empty());
    if (rejection->http_status == 405) check(method_field != "POST");
    check(kind_of_calls == 0);
    return;
  }
  const auto& call = std::get<wire::CallHeader>(result);
  check(method_field == "POST");
  check(content_type.has_value() && starts_with(*content_type, "application/grpc"));
  check(path.has_value() && *path == "/" + call.method);
  check(!call.method.empty());
  check(call.request_id == request_id);
  if (named_kind) {
    check(call.kind == *named_kind && kind_of_calls == 0);
  } else {
    check(kind_of_calls == 1);
    check(call.kind == (streaming_methods ? wire::CallKind::kBidiStreaming : wire::CallKind::kUnary));
  }
  if (call.timeout) check(call.timeout->count() >= 0 && *call.timeout <= wire::kMaxTimeout);
  for (const auto& [key, value] : call.metadata) {
    check(!reserved(key));
    bool found = false;
    for (const auto& [name, field_value] : fields) {
      if (name != key) continue;
      if (ends_with(key, "-bin")) {
        found = found || grpc::base64_decode(field_value) == value;
      } else {
        found = found || field_value == value;
      }
    }
    check(found);
  }
  // The call header the listener builds survives rpcnet's own encoding.
  const auto decoded = wire::decode_call_header(wire::encode_call_header(call));
  check(decoded.ok());
  check(*decoded == call);
}

// ---- mode 1: gRPC-framed DATA -> rpcnet MESSAGE frames ------------------------------------------

struct Reference {
  std::vector<Bytes> messages;           // complete messages, in order
  std::optional<Bytes> partial;          // the payload bytes of a message cut short
  bool partial_prefix = false;           // the input ended inside a 5-byte prefix
  std::optional<StatusCode> rejection;   // a prefix with a flag other than 0
};

Reference parse_grpc_messages(ByteView stream) {
  Reference reference;
  std::size_t at = 0;
  while (at < stream.size()) {
    if (stream.size() - at < kPrefixBytes) {
      reference.partial_prefix = true;
      break;
    }
    const std::uint8_t flag = stream[at];
    if (flag != 0) {
      reference.rejection = flag == 1 ? StatusCode::kUnimplemented : StatusCode::kInternal;
      break;
    }
    std::uint64_t length = 0;
    for (std::size_t i = 1; i < kPrefixBytes; ++i) length = (length << 8) | stream[at + i];
    at += kPrefixBytes;
    const std::size_t available = std::min<std::uint64_t>(length, stream.size() - at);
    Bytes payload(stream.begin() + static_cast<std::ptrdiff_t>(at),
                  stream.begin() + static_cast<std::ptrdiff_t>(at + available));
    at += available;
    if (available == length) {
      reference.messages.push_back(std::move(payload));
    } else {
      reference.partial = std::move(payload);
    }
  }
  return reference;
}

void message_decoder(Reader& in) {
  std::array<std::uint8_t, 4> chunking{};
  for (auto& b : chunking) b = in.u8();
  const ByteView stream = in.rest();

  grpc::MessageDecoder whole;
  Bytes whole_out;
  const auto whole_rejection = whole.feed(stream, whole_out);

  grpc::MessageDecoder chunked;
  Bytes chunked_out;
  std::optional<grpc::Rejection> chunked_rejection;
  std::size_t at = 0;
  for (std::size_t i = 0; at < stream.size(); ++i) {
    const std::uint8_t b = chunking[i % chunking.size()];
    const std::size_t n = std::min<std::size_t>(1 + (b & 0x3f), stream.size() - at);
    const std::size_t before = chunked_out.size();
    const auto rejection = chunked.feed(stream.subspan(at, n), chunked_out);
    if (chunked_rejection) {
      // A failed decoder stays failed, with the same rejection, and appends nothing.
      check(same_rejection(rejection, chunked_rejection));
      check(chunked_out.size() == before);
    }
    chunked_rejection = rejection;
    at += n;
  }
  check(same_rejection(chunked_rejection, whole_rejection));
  check(chunked_out == whole_out);
  check(chunked.at_message_boundary() == whole.at_message_boundary());

  const Reference reference = parse_grpc_messages(stream);
  bool frames_end_on_boundary = false;
  const std::vector<wire::Frame> frames = decode_all(whole_out, &frames_end_on_boundary);
  check(frames.size() == reference.messages.size());
  for (std::size_t i = 0; i < frames.size(); ++i) {
    check(frames[i].type == wire::FrameType::kMessage);
    check(frames[i].payload == reference.messages[i]);
  }
  if (reference.rejection) {
    check(whole_rejection.has_value());
    check(whole_rejection->http_status == 200 && whole_rejection->code == *reference.rejection);
    Bytes more;
    check(same_rejection(whole.feed(stream, more), whole_rejection));
    check(more.empty());
    return;
  }
  check(!whole_rejection.has_value());
  check(whole.at_message_boundary() == (!reference.partial && !reference.partial_prefix));
  // A message cut short: its frame prefix and the bytes so far went out; the frame decoder
  // waits for the rest.
  check(frames_end_on_boundary == !reference.partial.has_value());
}

// ---- mode 2: ResponseDecoder on arbitrary events --------------------------------------------------

void response_decoder(Reader& in) {
  grpc::ResponseDecoder decoder;
  Bytes out;
  bool ended = false;
  for (int event = 0; event < 64 && !in.empty(); ++event) {
    const std::uint8_t op = in.u8();
    const bool was_finished = decoder.finished();
    const std::size_t before = out.size();
    switch (op % 4) {
      case 0:
      case 1: {  // a header block: its length, then its fields
        const Bytes block = in.bytes(in.u16() % 1024);
        Reader fields(block);
        decoder.on_headers(header_list(fields, 32), op % 4 == 1, out);
        break;
      }
      case 2: {
        const Bytes data = in.bytes(in.u16() % 2048);
        decoder.on_data(data, out);
        break;
      }
      case 3:
        decoder.on_end_of_stream(out);
        check(decoder.finished());
        ended = true;
        break;
    }
    if (was_finished) check(out.size() == before && decoder.finished());
    if (!was_finished && decoder.finished()) {
      wire::FrameDecoder so_far(kNoLimits);
      std::vector<wire::Frame> ignored;
      check(so_far.feed(ByteView(out).first(before), ignored) == wire::FrameError::kNone);
      if (!so_far.at_frame_boundary()) {
        // Finished inside a MESSAGE frame: anything appended now would be read as its rest.
        check(out.size() == before);
      }
    }
    if (ended) break;
  }
  // MESSAGE frames (the last possibly partial), then at most one TRAILER, last and decodable.
  wire::FrameDecoder frames_decoder(kNoLimits);
  std::vector<wire::Frame> frames;
  check(frames_decoder.feed(out, frames) == wire::FrameError::kNone);
  std::size_t trailers = 0;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    check(frames[i].type != wire::FrameType::kHeader);
    if (frames[i].type == wire::FrameType::kTrailer) {
      ++trailers;
      check(i + 1 == frames.size());
      check(wire::decode_trailer(frames[i].payload).ok());
    }
  }
  // A status once finished, unless the response was cut inside a message (then the call fails
  // on the missing status or the incomplete frame).
  check(trailers <= (decoder.finished() ? 1u : 0u));
}

// ---- mode 3: ResponseEncoder / RequestEncoder on rpcnet frames ----------------------------------

Metadata metadata_from(Reader& in) {
  Metadata metadata;
  const std::size_t entries = in.u8() % 4;
  for (std::size_t i = 0; i < entries; ++i) {
    std::string key = field_name(in);
    std::string value = in.str(in.u8() % 64);
    metadata.emplace_back(std::move(key), std::move(value));
  }
  return metadata;
}

// A frame the encoders cannot translate (an undecodable header or trailer), or raw bytes that
// shift every later frame: the reference knows nothing from here on.
struct Broken {};
using Item = std::variant<wire::CallHeader, wire::Trailer, Bytes, Broken>;

// The encoders' input, and what it holds as the reference for the round trips.
struct Built {
  Bytes stream;
  std::vector<Item> items;  // up to the first Broken, which ends it
  bool well_formed() const { return items.empty() || !std::holds_alternative<Broken>(items.back()); }
};

Built build_rpcnet_stream(Reader& in) {
  Built built;
  const auto add = [&built](Item item) {
    if (built.well_formed()) built.items.push_back(std::move(item));
  };
  int big_messages = 0;
  for (int op_count = 0; op_count < 16 && !in.empty(); ++op_count) {
    const std::uint8_t op = in.u8();
    switch (op % 7) {
      case 0: {  // a call header
        wire::CallHeader header;
        header.method = in.str(in.u8() % 48);
        if (header.method.empty()) header.method = "pkg.Service/Method";
        header.kind = static_cast<wire::CallKind>(in.u8() % 4);
        const std::uint8_t flags = in.u8();
        if ((flags & 1) != 0) {
          header.timeout = std::min(std::chrono::microseconds(std::int64_t{in.u32()} << (flags >> 3)),
                                    std::chrono::microseconds(wire::kMaxTimeout));
        }
        header.request_id = in.u8();
        header.metadata = metadata_from(in);
        wire::append_call_header_frame(built.stream, header);
        add(std::move(header));
        break;
      }
      case 1: {  // a small message
        Bytes payload = in.bytes(in.u8());
        wire::append_frame(built.stream, wire::FrameType::kMessage, payload);
        add(std::move(payload));
        break;
      }
      case 2: {  // a message of up to 24 KiB, past the 16 KiB the encoders coalesce (two at most)
        Bytes payload(big_messages++ < 2 ? in.u16() % 24577 : in.u8());
        const std::uint8_t fill = in.u8();
        for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(fill + i);
        wire::append_frame(built.stream, wire::FrameType::kMessage, payload);
        add(std::move(payload));
        break;
      }
      case 3: {  // a status trailer
        wire::Trailer trailer;
        trailer.code = rpcnet::status_code_from_wire(in.u8() % 20);
        trailer.message = in.str(in.u8() % 64);
        trailer.details = in.bytes(in.u8() % 32);
        trailer.metadata = metadata_from(in);
        wire::append_frame(built.stream, wire::FrameType::kTrailer, wire::encode_trailer(trailer));
        add(std::move(trailer));
        break;
      }
      case 4: {  // a HEADER frame with raw bytes for a payload
        const Bytes payload = in.bytes(in.u8() % 64);
        wire::append_frame(built.stream, wire::FrameType::kHeader, payload);
        auto header = wire::decode_call_header(payload);
        add(header ? Item(std::move(*header)) : Item(Broken{}));
        break;
      }
      case 5: {  // a TRAILER frame with raw bytes for a payload
        const Bytes payload = in.bytes(in.u8() % 64);
        wire::append_frame(built.stream, wire::FrameType::kTrailer, payload);
        auto trailer = wire::decode_trailer(payload);
        add(trailer ? Item(std::move(*trailer)) : Item(Broken{}));
        break;
      }
      case 6: {  // raw bytes: anything at all
        const Bytes raw = in.bytes(in.u8() % 32);
        built.stream.insert(built.stream.end(), raw.begin(), raw.end());
        if (!raw.empty()) add(Broken{});
        break;
      }
    }
  }
  return built;
}

// Feeds `stream` in chunks of the sizes `chunking` cycles over (0: all the rest), until `feed`
// fails. False when it did.
template <class Feed>
bool feed_in_chunks(ByteView stream, const std::array<std::uint8_t, 2>& chunking, Feed&& feed) {
  std::size_t at = 0;
  for (std::size_t i = 0; at < stream.size(); ++i) {
    const std::uint8_t b = chunking[i % chunking.size()];
    const std::size_t n = b == 0 ? stream.size() - at : std::min<std::size_t>(b * 16u, stream.size() - at);
    if (!feed(stream.subspan(at, n))) return false;
    at += n;
  }
  return true;
}

void response_encoder(const Built& built, const std::array<std::uint8_t, 2>& chunking, Reader& in) {
  grpc::ResponseEncoder encoder(kNoLimits);
  std::vector<grpc::ResponseAction> actions;
  (void)feed_in_chunks(built.stream, chunking, [&](ByteView chunk) { return encoder.feed(chunk, actions).ok(); });
  // Without a status of its own the call ends with one the server chose.
  const StatusCode fail_code = rpcnet::status_code_from_wire(in.u8() % 17);
  const std::string fail_message = in.str(in.u8() % 32);
  const bool had_finished = encoder.finished();
  const std::size_t before_fail = actions.size();
  encoder.fail(fail_code, fail_message, actions);
  check(encoder.finished() && encoder.headers_sent());
  if (had_finished) check(actions.size() == before_fail);

  // HEADERS first and once, DATA after it, the status last with END_STREAM.
  check(!actions.empty());
  check(actions.front().kind == grpc::ResponseAction::Kind::kHeaders);
  for (std::size_t i = 0; i < actions.size(); ++i) {
    const auto& action = actions[i];
    const bool last = i + 1 == actions.size();
    check(action.end_stream == last);
    if (i > 0) check(action.kind != grpc::ResponseAction::Kind::kHeaders);
    if (action.kind == grpc::ResponseAction::Kind::kTrailers) check(last);
    if (action.kind == grpc::ResponseAction::Kind::kData) check(!last);
  }

  // Through the client's decoder.
  grpc::ResponseDecoder decoder;
  Bytes out;
  bool first = true;
  for (const auto& action : actions) {
    switch (action.kind) {
      case grpc::ResponseAction::Kind::kHeaders: decoder.on_headers(action.headers, !first, out); break;
      case grpc::ResponseAction::Kind::kData: decoder.on_data(action.data, out); break;
      case grpc::ResponseAction::Kind::kTrailers: decoder.on_headers(action.headers, true, out); break;
    }
    first = false;
    if (action.end_stream) decoder.on_end_of_stream(out);
  }
  check(decoder.finished());
  const std::vector<wire::Frame> frames = decode_all(out);
  check(!frames.empty() && frames.back().type == wire::FrameType::kTrailer);
  const auto trailer = wire::decode_trailer(frames.back().payload);
  check(trailer.ok());

  // The reference: messages until the status, a call header (which the encoder refuses) or
  // what it cannot know.
  std::vector<Bytes> messages;
  const wire::Trailer* status = nullptr;
  for (const Item& item : built.items) {
    if (const auto* message = std::get_if<Bytes>(&item)) {
      messages.push_back(*message);
      continue;
    }
    status = std::get_if<wire::Trailer>(&item);
    break;
  }
  // With broken input, how far the encoder got depends on the chunking (a frame it cannot
  // decode fails the whole chunk it arrived in) and raw bytes may decode as further messages;
  // what the reference knows must match. Without, the trip is exact.
  const std::size_t translated = frames.size() - 1;
  for (std::size_t i = 0; i < translated; ++i) check(frames[i].type == wire::FrameType::kMessage);
  for (std::size_t i = 0; i < std::min(translated, messages.size()); ++i) check(frames[i].payload == messages[i]);
  if (!built.well_formed()) return;
  check(translated == messages.size());
  wire::Trailer expected;
  if (status != nullptr) {
    expected = *status;
  } else {
    expected.code = fail_code;
    expected.message = fail_message;
  }
  check(trailer->code == expected.code);
  check(trailer->message == expected.message);
  check(trailer->details == expected.details);
  check(trailer->metadata == expected_metadata(expected.metadata));
}

void request_encoder(const Built& built, const std::array<std::uint8_t, 2>& chunking) {
  grpc::RequestEncoder encoder("localhost:443", kNoLimits);
  std::vector<grpc::RequestAction> actions;
  (void)feed_in_chunks(built.stream, chunking, [&](ByteView chunk) { return encoder.feed(chunk, actions).ok(); });
  // One HEADERS, first; then DATA.
  for (std::size_t i = 0; i < actions.size(); ++i) {
    check((actions[i].kind == grpc::RequestAction::Kind::kHeaders) == (i == 0));
  }
  // The reference: a call header first, then messages, until anything else.
  const wire::CallHeader* header = built.items.empty() ? nullptr : std::get_if<wire::CallHeader>(&built.items.front());
  std::vector<Bytes> messages;
  for (std::size_t i = 1; header != nullptr && i < built.items.size(); ++i) {
    const auto* message = std::get_if<Bytes>(&built.items[i]);
    if (message == nullptr) break;
    messages.push_back(*message);
  }
  if (built.items.empty()) {  // nothing at all
    check(actions.empty());
    return;
  }
  if (std::holds_alternative<Broken>(built.items.front())) return;  // raw bytes may be anything
  if (header == nullptr) {  // a message or a trailer first: never a request
    check(actions.empty());
    return;
  }
  if (actions.empty()) {
    // The header's chunk held a frame that does not decode: the whole chunk failed.
    check(!built.well_formed());
    return;
  }

  // The server's parse of the HEADERS gives back the call.
  const auto parsed = grpc::parse_request_headers(
      actions.front().headers, [](std::string_view) { return wire::CallKind::kUnary; }, 7);
  const auto* call = std::get_if<wire::CallHeader>(&parsed);
  {
    check(call != nullptr);
    check(call->method == header->method);
    check(call->kind == header->kind);
    check(call->request_id == 7);
    check(call->timeout.has_value() == header->timeout.has_value());
    if (header->timeout) {
      check(*call->timeout >= *header->timeout);
      check(call->timeout->count() - header->timeout->count() <= header->timeout->count() / 99'999 + 1);
    }
    // The request's "user-agent" reaches the server as metadata, as in gRPC.
    Metadata expected = {{"user-agent", "rpcnet"}};
    for (auto& entry : expected_metadata(header->metadata)) expected.push_back(std::move(entry));
    check(call->metadata == expected);
  }

  // Its DATA through the server's MessageDecoder: the same messages.
  grpc::MessageDecoder decoder;
  Bytes out;
  for (std::size_t i = 1; i < actions.size(); ++i) check(!decoder.feed(actions[i].data, out).has_value());
  check(decoder.at_message_boundary());
  const std::vector<wire::Frame> frames = decode_all(out);
  for (const wire::Frame& frame : frames) check(frame.type == wire::FrameType::kMessage);
  for (std::size_t i = 0; i < std::min(frames.size(), messages.size()); ++i) check(frames[i].payload == messages[i]);
  if (built.well_formed()) check(frames.size() == messages.size());
}

void encoders(Reader& in, bool request) {
  const std::array<std::uint8_t, 2> chunking = {in.u8(), in.u8()};
  const Built built = build_rpcnet_stream(in);
  if (request) {
    request_encoder(built, chunking);
  } else {
    response_encoder(built, chunking, in);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Reader in(ByteView(data + 1, size - 1));
  switch (data[0] % 4) {
    case 0: request_headers(in); break;
    case 1: message_decoder(in); break;
    case 2: response_decoder(in); break;
    case 3: encoders(in, (data[0] & 0x10) != 0); break;
  }
  return 0;
}
