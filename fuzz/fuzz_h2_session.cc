// libFuzzer target: h2::Session as a server, the side a gRPC client on the Internet talks to.
//
// Input: byte 0 chooses how the rest arrives. Its low bit: 0, the rest is all the peer sends;
// 1, a valid client preface and an empty SETTINGS frame go first (so the fuzzer spends its
// bytes on frames, not on rediscovering the 24-byte magic). The other seven bits: the chunk size
// receive() is fed in (0: all at once); an odd chunk size also makes output come in batches of
// 64 bytes (SessionLimits::output_batch_bytes), as the TCP connection takes it. Between chunks
// the harness takes the output (one batch), as the connection does. The event sink answers every request with headers, DATA and trailers from
// inside on_headers, and consumes all DATA as it arrives.
//
// Oracles: besides the sanitizers, the events describe a consistent stream life (headers
// first, nothing after on_stream_closed, one close per stream, only client-initiated ids), no
// more streams are open at once than advertised, no delivered header block exceeds the limit,
// and a failed session stays failed and, once its last bytes are taken (batch after batch),
// wants no more I/O.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <set>
#include <string_view>

#include "h2/session.h"

namespace {

using rpcnet::Bytes;
using rpcnet::ByteView;
namespace h2 = rpcnet::h2;

constexpr std::uint32_t kMaxStreams = 4;
constexpr std::uint32_t kMaxHeaderListBytes = 2048;
constexpr std::string_view kClientMagic = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr std::uint8_t kEmptySettingsFrame[] = {0, 0, 0, 0x4, 0, 0, 0, 0, 0};

void check(bool condition) {
  if (!condition) __builtin_trap();
}

class RespondingSink final : public h2::SessionEvents {
 public:
  void on_headers(std::int32_t stream, h2::HeaderList headers, bool is_trailers) override {
    check(stream > 0 && stream % 2 == 1);
    check(closed_.count(stream) == 0);
    std::size_t list_bytes = 0;
    for (const h2::Header& header : headers) list_bytes += header.name.size() + header.value.size() + 32;
    check(list_bytes <= kMaxHeaderListBytes);
    if (is_trailers) {
      check(open_.count(stream) == 1);
      return;
    }
    check(open_.insert(stream).second);
    check(open_.size() <= kMaxStreams);
    respond(stream);
  }
  void on_data(std::int32_t stream, ByteView data) override {
    check(open_.count(stream) == 1);
    session->consume(stream, data.size());
  }
  void on_end_of_stream(std::int32_t stream) override { check(open_.count(stream) == 1); }
  void on_stream_closed(std::int32_t stream, std::uint32_t) override {
    check(open_.erase(stream) == 1);
    check(closed_.insert(stream).second);
    check(!session->stream_open(stream));
  }

  h2::Session* session = nullptr;

 private:
  // Errors are expected here (the stream may already be reset, the session failed): ignored.
  void respond(std::int32_t stream) {
    static_cast<void>(session->submit_headers(stream, {{":status", "200"}, {"content-type", "application/grpc"}}, false));
    static_cast<void>(session->submit_data(stream, Bytes{0, 0, 0, 0, 2, 0x08, 0x01}, false));
    static_cast<void>(session->submit_trailers(stream, {{"grpc-status", "0"}}));
  }

  std::set<std::int32_t> open_;
  std::set<std::int32_t> closed_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool with_preface = (data[0] & 1) != 0;
  const std::size_t chunk = data[0] >> 1;
  Bytes input;
  if (with_preface) {
    input.insert(input.end(), kClientMagic.begin(), kClientMagic.end());
    input.insert(input.end(), std::begin(kEmptySettingsFrame), std::end(kEmptySettingsFrame));
  }
  input.insert(input.end(), data + 1, data + size);

  RespondingSink sink;
  h2::SessionLimits limits;
  limits.max_concurrent_streams = kMaxStreams;
  limits.max_header_list_bytes = kMaxHeaderListBytes;
  limits.stream_window = 4096;
  limits.connection_window = 8192;
  if (chunk % 2 == 1) limits.output_batch_bytes = 64;
  auto created = h2::Session::server(sink, limits);
  check(created.ok());
  h2::Session& session = **created;
  sink.session = &session;

  Bytes output;
  bool failed = false;
  const std::size_t step = chunk == 0 ? input.size() : chunk;
  for (std::size_t at = 0; at < input.size(); at += step) {
    const std::size_t length = std::min(step, input.size() - at);
    const bool received = session.receive(ByteView(input).subspan(at, length)).ok();
    check(!failed || !received);  // a failed session stays failed
    failed = failed || !received;
    output.clear();
    session.take_output(output);
  }
  if (failed) {
    // Every take yields at least one whole frame while any is left, so this ends.
    for (int take = 0; take < 100000 && session.wants_io(); ++take) {
      output.clear();
      session.take_output(output);
    }
    check(!session.wants_io());
  }
  return 0;
}
