// Untrusted input: garbage datagrams and malformed streams get a clear error, the server keeps
// serving and other calls are unaffected. Malformed streams (BadInputTest) run over loopback and
// over the in-memory network; garbage datagrams (GarbageTest) over loopback only.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>

#include "raw_quic.h"
#include "transport_harness.h"
#include "quic/tls.h"
#include "rpc/wire/call_header.h"
#include "rpc/wire/codes.h"
#include "rpc/wire/frame.h"

namespace rpcnet::testing {
namespace {

using namespace std::chrono_literals;
using wire::StreamErrorCode;

asio::awaitable<Result<Bytes>> echo(Bytes request) { co_return request; }

// A normal call still works afterwards.
void expect_still_serving(TransportServer& server) {
  auto result = server.run([&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server.connect();
    co_return co_await client.call("echo", to_bytes("still serving"));
  }());
  ASSERT_TRUE(result) << result.error();
  EXPECT_EQ(to_string(*result), "still serving");
}

class BadInputTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    server_.server().register_method("echo", echo);
    server_.start();
  }

  // Opens a raw QUIC connection (valid TLS and ALPN) and one stream, writes `bytes` (with FIN
  // when `fin`), and reports how the server ended the stream: "reset:<code>" or the frames.
  // `ended_after_write_` is set to the time from the write to the end, on the server's clock.
  std::string exchange(Bytes bytes, bool fin, std::shared_ptr<const quic::TlsCredentials> tls = {}) {
    if (!tls) {
      quic::ClientTlsOptions options;
      options.trust_path = certificates().main.ca_cert;
      options.server_name = "localhost";
      tls = *quic::TlsCredentials::for_client(options);
    }
    return server_.run([&]() -> asio::awaitable<std::string> {
      auto connection = co_await raw_quic_connect(server_, tls);
      if (!connection) co_return "connect: " + connection.error().to_string();
      auto stream = co_await (*connection)->open_stream();
      if (!stream) co_return "open: " + stream.error().to_string();
      if (!co_await (*stream)->write(std::move(bytes), {}, fin)) co_return "write failed";
      const auto written_at = server_.now();
      Bytes received;
      for (;;) {
        auto chunk = co_await (*stream)->read();
        ended_after_write_ = server_.now() - written_at;
        if (chunk.status == quic::StreamChunk::Status::kReset) {
          (*connection)->close(0, "");
          co_return "reset:" + std::to_string(chunk.reset_code);
        }
        if (chunk.status != quic::StreamChunk::Status::kData) co_return "stream broke";
        received.insert(received.end(), chunk.data.begin(), chunk.data.end());
        if (chunk.fin) break;
      }
      (*connection)->close(0, "");
      // Decode the server's frames: expect a trailer.
      wire::FrameDecoder decoder;
      std::vector<wire::Frame> frames;
      if (decoder.feed(received, frames) != wire::FrameError::kNone) co_return "bad frames";
      std::string out;
      for (auto& frame : frames) {
        if (frame.type == wire::FrameType::kTrailer) {
          auto trailer = wire::decode_trailer(frame.payload);
          out += trailer ? "status:" + std::string(status_code_name(trailer->code)) : "bad trailer";
        } else {
          out += "frame;";
        }
      }
      co_return out;
    }());
  }

  void expect_still_serving() { testing::expect_still_serving(server_); }

  TransportServer server_{GetParam()};
  std::chrono::nanoseconds ended_after_write_{};
};

RPCNET_OVER_BOTH_TRANSPORTS(BadInputTest);

Bytes header_frame(const std::string& method, wire::CallKind kind) {
  wire::CallHeader header;
  header.method = method;
  header.kind = kind;
  Bytes out;
  wire::append_frame(out, wire::FrameType::kHeader, wire::encode_call_header(header));
  return out;
}

std::string protocol_error() {
  return "reset:" + std::to_string(static_cast<std::uint64_t>(StreamErrorCode::kProtocolError));
}

// Hostile datagrams, each of a shape whose handling the server's dispatch decides differently.
// Contents are random; only the bytes that pick the path are set.
struct GarbageDatagrams {
  std::mt19937 rng{12345};

  Bytes random(std::size_t size) {
    Bytes out(size);
    for (auto& byte : out) byte = static_cast<std::uint8_t>(rng());
    return out;
  }
  // Long header with a random version: the server answers with Version Negotiation when it is
  // the size of a client Initial. The tests use it as a probe: the answer arriving proves every
  // datagram sent before it from the same socket was handled.
  Bytes unknown_version_probe() {
    Bytes out = random(1200);
    out[0] = 0xc0;
    out[1] = 0x1a, out[2] = 0x2a, out[3] = 0x3a, out[4] = 0x4a;  // a reserved (greased) version
    out[5] = 8;                                                 // DCID length; SCID follows
    out[14] = 8;
    return out;
  }
  // Short header for a connection the server does not have: dropped (answered with a
  // stateless reset when large enough).
  Bytes unknown_short_header() {
    Bytes out = random(40 + rng() % 1300);
    out[0] = 0x40 | (out[0] & 0x3f);
    return out;
  }
  // Cut off inside the long header: not decodable as QUIC.
  Bytes truncated_long_header() {
    Bytes out = random(1 + rng() % 5);
    out[0] = 0xc0 | (out[0] & 0x3f);
    return out;
  }
  // QUIC v1 long header, `type` (0 Initial, 2 Handshake), 8-byte connection IDs, empty token,
  // padded with random bytes to `size`.
  Bytes v1_long_header(std::uint8_t type, std::size_t size) {
    Bytes out = random(size);
    out[0] = static_cast<std::uint8_t>(0xc0 | (type << 4) | 0x03);  // 4-byte packet number
    out[1] = 0, out[2] = 0, out[3] = 0, out[4] = 1;
    out[5] = 8;   // DCID length, DCID in 6..13
    out[14] = 8;  // SCID length, SCID in 15..22
    std::size_t at = 23;
    if (type == 0) out[at++] = 0;  // token length
    const std::size_t length = size - at - 2;  // what follows the 2-byte Length field
    out[at++] = static_cast<std::uint8_t>(0x40 | (length >> 8));
    out[at++] = static_cast<std::uint8_t>(length & 0xff);
    return out;
  }
};

// Loopback only: the attacker is a kernel UDP socket that sends raw datagrams and polls for the
// server's answers.
class GarbageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.server().register_method("echo", echo);
    server_.start();
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override { ::close(fd_); }
  void expect_still_serving() { testing::expect_still_serving(server_); }

  void send(const Bytes& datagram) {
    ASSERT_EQ(::sendto(fd_, datagram.data(), datagram.size(), 0, server_.address().data(),
                       static_cast<socklen_t>(server_.address().size())),
              static_cast<ssize_t>(datagram.size()));
  }
  // Sends the probe and waits (bounded) for its Version Negotiation: the server has then handled
  // everything sent before it. Other answers (stateless resets) are skipped.
  bool settle(GarbageDatagrams& garbage) {
    send(garbage.unknown_version_probe());
    for (;;) {
      pollfd waiting{fd_, POLLIN, 0};
      if (::poll(&waiting, 1, 10'000) != 1) return false;
      std::uint8_t answer[2048];
      const auto n = ::recv(fd_, answer, sizeof answer, 0);
      const bool version_negotiation = n >= 5 && (answer[0] & 0x80) != 0 && answer[1] == 0 &&
                                       answer[2] == 0 && answer[3] == 0 && answer[4] == 0;
      if (version_negotiation) return true;
    }
  }

  TransportServer server_{Transport::kLoopback};
  int fd_ = -1;
};

TEST_F(GarbageTest, EveryGarbageDatagramIsDroppedAndNoneLeavesState) {
  GarbageDatagrams garbage;
  const auto before = server_.server().stats();
  // Batches small enough that the kernel's receive buffer never overflows: every datagram
  // reaches the server, so the counts below are exact.
  constexpr int kBatches = 10;
  constexpr int kPerBatch = 40;
  for (int batch = 0; batch < kBatches; ++batch) {
    for (int i = 0; i < kPerBatch; ++i) {
      switch (i % 4) {
        case 0: send(garbage.unknown_short_header()); break;
        case 1: send(garbage.truncated_long_header()); break;
        case 2: send(garbage.v1_long_header(0, 600 + garbage.rng() % 599)); break;  // Initial < 1200
        case 3: send(garbage.v1_long_header(2, 1200)); break;  // Handshake of no connection
      }
    }
    ASSERT_TRUE(settle(garbage)) << "no answer to the probe after batch " << batch;
  }
  const auto after = server_.server().stats();
  EXPECT_EQ(after.datagrams_dropped - before.datagrams_dropped,
            static_cast<std::uint64_t>(kBatches * kPerBatch));
  EXPECT_EQ(after.connections_accepted, before.connections_accepted);
  EXPECT_EQ(after.handshakes_in_progress, 0u);
  expect_still_serving();
}

TEST_F(GarbageTest, WellFormedInitialsWithUndecryptablePayloadLeaveNoConnection) {
  // Initials of full size (>= 1200 bytes, so a server must consider them) that pass every header
  // check but whose payload does not decrypt: the server may start a connection for each, and
  // must drop it at once instead of holding a handshake slot until the handshake timeout.
  GarbageDatagrams garbage;
  const auto before = server_.server().stats();
  constexpr int kInitials = 20;  // under the Retry threshold: each reaches a Connection
  for (int i = 0; i < kInitials; ++i) send(garbage.v1_long_header(0, 1200 + garbage.rng() % 200));
  // Twice: a closed connection reports its close in a handler posted to its loop, which has run
  // once that loop handles the second probe.
  ASSERT_TRUE(settle(garbage));
  ASSERT_TRUE(settle(garbage));
  const auto after = server_.server().stats();
  EXPECT_EQ(after.connections_accepted - before.connections_accepted,
            static_cast<std::uint64_t>(kInitials));
  EXPECT_EQ(after.connections_open, before.connections_open);
  EXPECT_EQ(after.handshakes_in_progress, 0u);
  expect_still_serving();
}

TEST_P(BadInputTest, StreamNotStartingWithAHeaderIsResetWithProtocolError) {
  Bytes bytes;
  wire::append_frame(bytes, wire::FrameType::kMessage, to_bytes("no header first"));
  EXPECT_EQ(exchange(std::move(bytes), true), protocol_error());
  expect_still_serving();
}

TEST_P(BadInputTest, MalformedCallHeaderIsResetWithProtocolError) {
  Bytes bytes;
  wire::append_frame(bytes, wire::FrameType::kHeader, Bytes{0x01, 0x7f});  // length past the end
  EXPECT_EQ(exchange(std::move(bytes), true), protocol_error());
  expect_still_serving();
}

TEST_P(BadInputTest, UnknownFrameTypeIsResetWithProtocolError) {
  Bytes bytes = header_frame("echo", wire::CallKind::kUnary);
  bytes.push_back(0x7e);  // not a frame type
  bytes.push_back(0x00);
  EXPECT_EQ(exchange(std::move(bytes), true), protocol_error());
  expect_still_serving();
}

TEST_P(BadInputTest, StreamEndingInsideAFrameIsResetWithProtocolError) {
  Bytes bytes = header_frame("echo", wire::CallKind::kUnary);
  wire::append_frame_prefix(bytes, wire::FrameType::kMessage, 100);
  bytes.push_back(1);  // 1 of 100 bytes, then FIN
  EXPECT_EQ(exchange(std::move(bytes), true), protocol_error());
  expect_still_serving();
}

TEST_P(BadInputTest, UnaryCallWithTwoRequestsIsResetWithProtocolError) {
  Bytes bytes = header_frame("echo", wire::CallKind::kUnary);
  wire::append_frame(bytes, wire::FrameType::kMessage, to_bytes("one"));
  wire::append_frame(bytes, wire::FrameType::kMessage, to_bytes("two"));
  EXPECT_EQ(exchange(std::move(bytes), true), protocol_error());
  expect_still_serving();
}

TEST_P(BadInputTest, OversizedHeaderIsResourceExhausted) {
  Bytes bytes;
  wire::append_frame_prefix(bytes, wire::FrameType::kHeader, 1u << 20);
  EXPECT_EQ(exchange(std::move(bytes), false), "status:RESOURCE_EXHAUSTED");
  expect_still_serving();
}

TEST_P(BadInputTest, OversizedMessageAnnouncementIsResourceExhaustedBeforeAnyPayload) {
  Bytes bytes = header_frame("echo", wire::CallKind::kUnary);
  wire::append_frame_prefix(bytes, wire::FrameType::kMessage, std::uint64_t{1} << 40);
  EXPECT_EQ(exchange(std::move(bytes), false), "status:RESOURCE_EXHAUSTED");
  expect_still_serving();
}

TEST_P(BadInputTest, WellFormedRawCallIsAnswered) {
  // The raw client itself is right: a correct call gets its message and an OK status.
  Bytes bytes = header_frame("echo", wire::CallKind::kUnary);
  wire::append_frame(bytes, wire::FrameType::kMessage, to_bytes("raw"));
  EXPECT_EQ(exchange(std::move(bytes), true), "frame;status:OK");
}

TEST_P(BadInputTest, ServerEnforcesTheDeadlineFromTheHeader) {
  // No client-side timer here: the server alone resets the stream when the header's timeout
  // passes.
  server_.server().register_method("park", [](Bytes) -> asio::awaitable<Result<Bytes>> {
    // Never expires (virtual time ignores it): only the call's cancellation ends the wait.
    asio::steady_timer timer(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
    co_await timer.async_wait(asio::use_awaitable);
    co_return Bytes{};
  });
  wire::CallHeader header;
  header.method = "park";
  header.kind = wire::CallKind::kUnary;
  header.timeout = std::chrono::milliseconds(100);
  Bytes bytes;
  wire::append_frame(bytes, wire::FrameType::kHeader, wire::encode_call_header(header));
  wire::append_frame(bytes, wire::FrameType::kMessage, Bytes{});
  EXPECT_EQ(exchange(std::move(bytes), true),
            "reset:" + std::to_string(static_cast<std::uint64_t>(StreamErrorCode::kDeadlineExceeded)));
  EXPECT_GE(ended_after_write_, 100ms) << "reset before the header's deadline";
  if (GetParam() == Transport::kInMemory) {
    // The header reaches the server microseconds after the write (ngtcp2 paces packets); the
    // reset comes back at once: within 1 ms of the deadline.
    EXPECT_LT(ended_after_write_, 101ms);
  }
  expect_still_serving();
}

}  // namespace
}  // namespace rpcnet::testing
