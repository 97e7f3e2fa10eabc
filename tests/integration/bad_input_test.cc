// Untrusted input over real sockets: garbage datagrams and malformed streams get a clear error,
// the server keeps serving and other calls are unaffected.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>

#include "harness.h"
#include "quic/connection.h"
#include "quic/tls.h"
#include "rpc/wire/call_header.h"
#include "rpc/wire/codes.h"
#include "rpc/wire/frame.h"

namespace rpcnet::testing {
namespace {

using namespace std::chrono_literals;
using wire::StreamErrorCode;

asio::awaitable<Result<Bytes>> echo(Bytes request) { co_return request; }

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.server().register_method("echo", echo);
    server_.start();
  }

  // Opens a raw QUIC connection (valid TLS and ALPN) and one stream, writes `bytes` (with FIN
  // when `fin`), and reports how the server ended the stream: "reset:<code>" or the frames.
  std::string exchange(Bytes bytes, bool fin, std::shared_ptr<const quic::TlsCredentials> tls = {}) {
    if (!tls) {
      quic::ClientTlsOptions options;
      options.trust_path = certificates().main.ca_cert;
      options.server_name = "localhost";
      tls = *quic::TlsCredentials::for_client(options);
    }
    return run_bounded(server_.runtime(), [&]() -> asio::awaitable<std::string> {
      auto connection = co_await quic::Connection::connect(server_.address(), tls, quic::TransportSettings{});
      if (!connection) co_return "connect: " + connection.error().to_string();
      auto stream = co_await (*connection)->open_stream();
      if (!stream) co_return "open: " + stream.error().to_string();
      if (!co_await (*stream)->write(std::move(bytes), {}, fin)) co_return "write failed";
      Bytes received;
      for (;;) {
        auto chunk = co_await (*stream)->read();
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

  // A normal call still works afterwards.
  void expect_still_serving() {
    auto result = run_bounded(server_.runtime(), [&]() -> asio::awaitable<Result<Bytes>> {
      auto client = co_await server_.connect();
      co_return co_await client.call("echo", to_bytes("still serving"));
    }());
    ASSERT_TRUE(result) << result.error();
    EXPECT_EQ(to_string(*result), "still serving");
  }

  LoopbackServer server_;
};

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

TEST_F(BadInputTest, GarbageDatagramsAreIgnored) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  std::mt19937 rng(12345);
  const auto before = server_.server().stats().datagrams_dropped;
  for (int i = 0; i < 500; ++i) {
    Bytes junk(1 + rng() % 1400);
    for (auto& byte : junk) byte = static_cast<std::uint8_t>(rng());
    if (i % 5 == 0) junk[0] = 0x40 | (junk[0] & 0x3f);  // short-header shaped
    if (i % 7 == 0) junk[0] = 0xc0 | (junk[0] & 0x3f);  // long-header shaped
    ASSERT_GE(::sendto(fd, junk.data(), junk.size(), 0, server_.address().data(),
                       static_cast<socklen_t>(server_.address().size())),
              0);
  }
  ::close(fd);
  expect_still_serving();
  EXPECT_GT(server_.server().stats().datagrams_dropped, before);
}

TEST_F(BadInputTest, StreamNotStartingWithAHeaderIsResetWithProtocolError) {
  Bytes bytes;
  wire::append_frame(bytes, wire::FrameType::kMessage, to_bytes("no header first"));
  EXPECT_EQ(exchange(std::move(bytes), true), protocol_error());
  expect_still_serving();
}

TEST_F(BadInputTest, MalformedCallHeaderIsResetWithProtocolError) {
  Bytes bytes;
  wire::append_frame(bytes, wire::FrameType::kHeader, Bytes{0x01, 0x7f});  // length past the end
  EXPECT_EQ(exchange(std::move(bytes), true), protocol_error());
  expect_still_serving();
}

TEST_F(BadInputTest, UnknownFrameTypeIsResetWithProtocolError) {
  Bytes bytes = header_frame("echo", wire::CallKind::kUnary);
  bytes.push_back(0x7e);  // not a frame type
  bytes.push_back(0x00);
  EXPECT_EQ(exchange(std::move(bytes), true), protocol_error());
  expect_still_serving();
}

TEST_F(BadInputTest, StreamEndingInsideAFrameIsResetWithProtocolError) {
  Bytes bytes = header_frame("echo", wire::CallKind::kUnary);
  wire::append_frame_prefix(bytes, wire::FrameType::kMessage, 100);
  bytes.push_back(1);  // 1 of 100 bytes, then FIN
  EXPECT_EQ(exchange(std::move(bytes), true), protocol_error());
  expect_still_serving();
}

TEST_F(BadInputTest, UnaryCallWithTwoRequestsIsResetWithProtocolError) {
  Bytes bytes = header_frame("echo", wire::CallKind::kUnary);
  wire::append_frame(bytes, wire::FrameType::kMessage, to_bytes("one"));
  wire::append_frame(bytes, wire::FrameType::kMessage, to_bytes("two"));
  EXPECT_EQ(exchange(std::move(bytes), true), protocol_error());
  expect_still_serving();
}

TEST_F(BadInputTest, OversizedHeaderIsResourceExhausted) {
  Bytes bytes;
  wire::append_frame_prefix(bytes, wire::FrameType::kHeader, 1u << 20);
  EXPECT_EQ(exchange(std::move(bytes), false), "status:RESOURCE_EXHAUSTED");
  expect_still_serving();
}

TEST_F(BadInputTest, OversizedMessageAnnouncementIsResourceExhaustedBeforeAnyPayload) {
  Bytes bytes = header_frame("echo", wire::CallKind::kUnary);
  wire::append_frame_prefix(bytes, wire::FrameType::kMessage, std::uint64_t{1} << 40);
  EXPECT_EQ(exchange(std::move(bytes), false), "status:RESOURCE_EXHAUSTED");
  expect_still_serving();
}

TEST_F(BadInputTest, WellFormedRawCallIsAnswered) {
  // The raw client itself is right: a correct call gets its message and an OK status.
  Bytes bytes = header_frame("echo", wire::CallKind::kUnary);
  wire::append_frame(bytes, wire::FrameType::kMessage, to_bytes("raw"));
  EXPECT_EQ(exchange(std::move(bytes), true), "frame;status:OK");
}

TEST_F(BadInputTest, ServerEnforcesTheDeadlineFromTheHeader) {
  // No client-side timer here: the server alone resets the stream when the header's timeout
  // passes.
  server_.server().register_method("park", [](Bytes) -> asio::awaitable<Result<Bytes>> {
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::seconds(60));
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
}

}  // namespace
}  // namespace rpcnet::testing
