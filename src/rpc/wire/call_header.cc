#include "rpc/wire/call_header.h"

#include <bitset>

#include "rpc/wire/frame.h"
#include "rpc/wire/varint.h"

namespace rpcnet::wire {

namespace {

void append_field(Bytes& out, std::uint64_t tag, ByteView value) {
  append_varint(out, tag);
  append_varint(out, value.size());
  out.insert(out.end(), value.begin(), value.end());
}

void append_string_field(Bytes& out, std::uint64_t tag, std::string_view value) {
  append_field(out, tag,
               ByteView(reinterpret_cast<const std::uint8_t*>(value.data()), value.size()));
}

void append_varint_field(Bytes& out, std::uint64_t tag, std::uint64_t value) {
  append_varint(out, tag);
  append_varint(out, varint_size(value));
  append_varint(out, value);
}

void append_metadata_field(Bytes& out, std::uint64_t tag, const std::string& key,
                           const std::string& value) {
  append_varint(out, tag);
  append_varint(out, varint_size(key.size()) + key.size() + value.size());
  append_varint(out, key.size());
  out.insert(out.end(), key.begin(), key.end());
  out.insert(out.end(), value.begin(), value.end());
}

RpcError malformed(std::string what) {
  return RpcError::stream("malformed " + std::move(what), StatusCode::kInternal);
}

struct Field {
  std::uint64_t tag;
  ByteView value;
};

// Walks the tag/length/value fields of a header or trailer payload.
class FieldReader {
 public:
  explicit FieldReader(ByteView in) : in_(in) {}

  // nullopt at the end; sets failed() on truncation.
  std::optional<Field> next() {
    if (in_.empty()) return std::nullopt;
    const auto tag = read_varint(in_);
    if (!tag) return fail();
    in_ = in_.subspan(tag->size);
    const auto length = read_varint(in_);
    if (!length) return fail();
    in_ = in_.subspan(length->size);
    if (length->value > in_.size()) return fail();
    const ByteView value = in_.first(static_cast<std::size_t>(length->value));
    in_ = in_.subspan(value.size());
    return Field{tag->value, value};
  }
  bool failed() const { return failed_; }

 private:
  std::optional<Field> fail() {
    failed_ = true;
    return std::nullopt;
  }
  ByteView in_;
  bool failed_ = false;
};

std::optional<std::uint64_t> varint_value(ByteView value) {
  const auto v = read_varint(value);
  if (!v || v->size != value.size()) return std::nullopt;
  return v->value;
}

std::string as_string(ByteView value) { return std::string(value.begin(), value.end()); }

// Counts metadata against MetadataLimits as entries are decoded.
class MetadataCounter {
 public:
  MetadataCounter(MetadataLimits limits, const char* where) : limits_(limits), where_(where) {}
  // An error once this entry (of `key_and_value` bytes) would pass a limit.
  std::optional<RpcError> admit(std::size_t key_and_value) {
    ++entries_;
    bytes_ += key_and_value;
    if (entries_ > limits_.max_entries) {
      return RpcError::status(StatusCode::kResourceExhausted,
                              std::string(where_) + ": more than " +
                                  std::to_string(limits_.max_entries) + " metadata entries");
    }
    if (bytes_ > limits_.max_bytes) {
      return RpcError::status(StatusCode::kResourceExhausted,
                              std::string(where_) + ": metadata exceeds " +
                                  std::to_string(limits_.max_bytes) + " bytes");
    }
    return std::nullopt;
  }

 private:
  MetadataLimits limits_;
  const char* where_;
  std::uint64_t entries_ = 0;
  std::uint64_t bytes_ = 0;
};

std::optional<std::pair<std::string, std::string>> metadata_entry(ByteView value) {
  const auto key_len = read_varint(value);
  if (!key_len || key_len->value > value.size() - key_len->size) return std::nullopt;
  const ByteView rest = value.subspan(key_len->size);
  const auto key_size = static_cast<std::size_t>(key_len->value);
  return std::pair{as_string(rest.first(key_size)), as_string(rest.subspan(key_size))};
}

// Tracks which singular fields were seen, to reject duplicates.
class SeenFields {
 public:
  // False when `tag` was already seen.
  bool first_time(std::uint64_t tag) {
    if (tag >= seen_.size()) return true;
    if (seen_[tag]) return false;
    seen_[tag] = true;
    return true;
  }

 private:
  std::bitset<16> seen_;
};

}  // namespace

static void encode_call_header_into(Bytes& out, const CallHeader& header);

void append_call_header_frame(Bytes& out, const CallHeader& header) {
  // Encoded once per call: reuse one scratch buffer per thread instead of allocating.
  thread_local Bytes payload;
  payload.clear();
  encode_call_header_into(payload, header);
  append_frame(out, FrameType::kHeader, payload);
}

Bytes encode_call_header(const CallHeader& header) {
  Bytes out;
  encode_call_header_into(out, header);
  return out;
}

static void encode_call_header_into(Bytes& out, const CallHeader& header) {
  out.reserve(out.size() + 16 + header.method.size());
  append_string_field(out, static_cast<std::uint64_t>(HeaderTag::kMethod), header.method);
  append_varint_field(out, static_cast<std::uint64_t>(HeaderTag::kCallKind),
                      static_cast<std::uint64_t>(header.kind));
  if (header.timeout) {
    const auto micros = header.timeout->count() < 0 ? 0 : header.timeout->count();
    append_varint_field(out, static_cast<std::uint64_t>(HeaderTag::kTimeoutMicros),
                        std::min<std::uint64_t>(static_cast<std::uint64_t>(micros), kMaxVarint));
  }
  if (header.request_id != 0) {
    append_varint_field(out, static_cast<std::uint64_t>(HeaderTag::kRequestId),
                        header.request_id & kMaxVarint);
  }
  for (const auto& [key, value] : header.metadata) {
    append_metadata_field(out, static_cast<std::uint64_t>(HeaderTag::kMetadata), key, value);
  }
}

Result<CallHeader> decode_call_header(ByteView payload, MetadataLimits limits) {
  CallHeader header;
  bool have_method = false;
  bool have_kind = false;
  SeenFields seen;
  MetadataCounter metadata(limits, "call header");
  FieldReader reader(payload);
  while (const auto field = reader.next()) {
    // Only known singular fields are checked: unknown tags (possibly repeatable in a later
    // version) are skipped however often they appear.
    if (field->tag >= static_cast<std::uint64_t>(HeaderTag::kMethod) &&
        field->tag <= static_cast<std::uint64_t>(HeaderTag::kRequestId) &&
        !seen.first_time(field->tag)) {
      return malformed("call header: duplicate field " + std::to_string(field->tag));
    }
    switch (static_cast<HeaderTag>(field->tag)) {
      case HeaderTag::kMethod:
        if (field->value.empty()) return malformed("call header: empty method");
        header.method = as_string(field->value);
        have_method = true;
        break;
      case HeaderTag::kCallKind: {
        const auto kind = varint_value(field->value);
        if (!kind || *kind > kMaxCallKind) return malformed("call header: unknown call kind");
        header.kind = static_cast<CallKind>(*kind);
        have_kind = true;
        break;
      }
      case HeaderTag::kTimeoutMicros: {
        const auto micros = varint_value(field->value);
        if (!micros) return malformed("call header: bad timeout");
        // Clamped here, before anyone adds it to a time point.
        header.timeout = std::chrono::microseconds(static_cast<std::int64_t>(
            std::min<std::uint64_t>(*micros, static_cast<std::uint64_t>(kMaxTimeout.count()))));
        break;
      }
      case HeaderTag::kRequestId: {
        const auto id = varint_value(field->value);
        if (!id) return malformed("call header: bad request id");
        header.request_id = *id;
        break;
      }
      case HeaderTag::kMetadata: {
        auto entry = metadata_entry(field->value);
        if (!entry) return malformed("call header: bad metadata entry");
        if (auto over = metadata.admit(entry->first.size() + entry->second.size())) {
          return std::move(*over);
        }
        header.metadata.push_back(std::move(*entry));
        break;
      }
      default:
        break;  // unknown field: skipped for forward compatibility
    }
  }
  if (reader.failed()) return malformed("call header: truncated field");
  if (!have_method) return malformed("call header: missing method");
  if (!have_kind) return malformed("call header: missing call kind");
  return header;
}

Bytes encode_trailer(const Trailer& trailer) {
  Bytes out;
  append_varint_field(out, static_cast<std::uint64_t>(TrailerTag::kStatusCode),
                      static_cast<std::uint64_t>(trailer.code));
  if (!trailer.message.empty()) {
    append_string_field(out, static_cast<std::uint64_t>(TrailerTag::kMessage), trailer.message);
  }
  if (!trailer.details.empty()) {
    append_field(out, static_cast<std::uint64_t>(TrailerTag::kDetails), trailer.details);
  }
  for (const auto& [key, value] : trailer.metadata) {
    append_metadata_field(out, static_cast<std::uint64_t>(TrailerTag::kMetadata), key, value);
  }
  return out;
}

Result<Trailer> decode_trailer(ByteView payload, MetadataLimits limits) {
  Trailer trailer;
  bool have_code = false;
  SeenFields seen;
  MetadataCounter metadata(limits, "trailer");
  FieldReader reader(payload);
  while (const auto field = reader.next()) {
    if (field->tag >= static_cast<std::uint64_t>(TrailerTag::kStatusCode) &&
        field->tag <= static_cast<std::uint64_t>(TrailerTag::kDetails) &&
        !seen.first_time(field->tag)) {
      return malformed("trailer: duplicate field " + std::to_string(field->tag));
    }
    switch (static_cast<TrailerTag>(field->tag)) {
      case TrailerTag::kStatusCode: {
        const auto code = varint_value(field->value);
        if (!code) return malformed("trailer: bad status code");
        trailer.code = status_code_from_wire(*code);
        have_code = true;
        break;
      }
      case TrailerTag::kMessage:
        trailer.message = as_string(field->value);
        break;
      case TrailerTag::kDetails:
        trailer.details.assign(field->value.begin(), field->value.end());
        break;
      case TrailerTag::kMetadata: {
        auto entry = metadata_entry(field->value);
        if (!entry) return malformed("trailer: bad metadata entry");
        if (auto over = metadata.admit(entry->first.size() + entry->second.size())) {
          return std::move(*over);
        }
        trailer.metadata.push_back(std::move(*entry));
        break;
      }
      default:
        break;
    }
  }
  if (reader.failed()) return malformed("trailer: truncated field");
  if (!have_code) return malformed("trailer: missing status code");
  return trailer;
}

}  // namespace rpcnet::wire
