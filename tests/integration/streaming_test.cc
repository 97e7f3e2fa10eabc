// The three streaming patterns over real QUIC, over loopback and over the in-memory network.
#include <gtest/gtest.h>

#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <cctype>
#include <set>
#include <type_traits>

#include "runtime/event.h"
#include "quic/stream.h"
#include "rpc/wire/call_header.h"
#include "rpc/wire/frame.h"
#include "raw_quic.h"
#include "transport_harness.h"
#include "support/error_matchers.h"

namespace rpcnet::testing {
namespace {

using namespace std::chrono_literals;

// A stream borrows the server's call for one handler invocation: it can be moved into the handler
// but neither copied out of it nor forged from a call by user code.
static_assert(!std::is_copy_constructible_v<ServerStream> && !std::is_copy_assignable_v<ServerStream>);
static_assert(std::is_nothrow_move_constructible_v<ServerStream>);
static_assert(!std::is_constructible_v<ServerStream, rpcnet::detail::ServerCall&>);

// Drains a response stream into "a,b,c|<end or error>".
asio::awaitable<std::string> drain(ResponseStream& stream) {
  std::string out;
  for (;;) {
    auto next = co_await stream.next();
    if (!next) co_return out + "|" + next.error().to_string();
    if (!*next) co_return out + "|end";
    if (!out.empty()) out += ",";
    out += to_string(**next);
  }
}

// "<first> then <what the next read gave>": an item, "end", or the error.
std::string first_then(const Bytes& first, const Result<std::optional<Bytes>>& after) {
  if (!after) return to_string(first) + " then " + after.error().to_string();
  return to_string(first) + " then " + (*after ? to_string(**after) : "end");
}

class StreamingTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    auto& server = server_.server();
    // The guide's echo_stream / uppercase.
    server.register_streaming("uppercase", [](ServerStream stream) -> asio::awaitable<Result<void>> {
      for (;;) {
        auto next = co_await stream.read();
        if (!next) co_return next.error();
        if (!*next) co_return ok();
        std::string text = to_string(**next);
        for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (auto written = co_await stream.write(to_bytes(text)); !written) co_return written;
      }
    });
    server.register_streaming("list_items", [](ServerStream stream) -> asio::awaitable<Result<void>> {
      auto request = co_await stream.read();
      if (!request) co_return request.error();
      const int count = std::stoi(to_string(**request));
      for (int i = 0; i < count; ++i) {
        if (auto w = co_await stream.write(to_bytes("item" + std::to_string(i))); !w) co_return w;
      }
      co_return ok();
    });
    server.register_streaming("upload", [](ServerStream stream) -> asio::awaitable<Result<void>> {
      std::size_t chunks = 0;
      std::size_t bytes = 0;
      for (;;) {
        auto next = co_await stream.read();
        if (!next) co_return next.error();
        if (!*next) break;
        ++chunks;
        bytes += (*next)->size();
      }
      co_return co_await stream.write(
          to_bytes(std::to_string(chunks) + " chunks, " + std::to_string(bytes) + " bytes"));
    });
    server.register_streaming("fail_after_two", [](ServerStream stream) -> asio::awaitable<Result<void>> {
      (void)co_await stream.write(to_bytes("one"));
      (void)co_await stream.write(to_bytes("two"));
      co_return RpcError::status(StatusCode::kAborted, "gave up after two", to_bytes("why"));
    });
    server.register_streaming("first_only", [](ServerStream stream) -> asio::awaitable<Result<void>> {
      // Answers after the first message and returns without reading the rest.
      auto first = co_await stream.read();
      if (!first || !*first) co_return RpcError::status(StatusCode::kInvalidArgument, "empty");
      co_return co_await stream.write(std::move(**first));
    });
    // Writes ten items, then signals the test (all_written_).
    server.register_streaming("ten_then_signal", [this](ServerStream stream) -> asio::awaitable<Result<void>> {
      for (int i = 0; i < 10; ++i) {
        if (auto w = co_await stream.write(to_bytes("item" + std::to_string(i))); !w) co_return w;
      }
      all_written_.set();
      co_return ok();
    });
    server_.start();
  }

  TransportServer server_{GetParam()};
  runtime::Event all_written_;
};

RPCNET_OVER_BOTH_TRANSPORTS(StreamingTest);

TEST_P(StreamingTest, BidirectionalEchoesEveryMessageInOrderIncludingEmptyOnes) {
  auto log = server_.run([&]() -> asio::awaitable<std::string> {
    auto client = co_await server_.connect();
    std::vector<Bytes> requests{to_bytes("hello"), Bytes{}, to_bytes("world")};
    auto stream = co_await client.call_streaming("uppercase", std::move(requests));
    if (!stream) co_return stream.error().to_string();
    co_return co_await drain(*stream);
  }());
  EXPECT_EQ(log, "HELLO,,WORLD|end");
}

TEST_P(StreamingTest, BidirectionalDirectionsAreIndependent) {
  // Each response arrives before the next request is written: the server answers while the
  // client is still sending.
  auto log = server_.run([&]() -> asio::awaitable<std::string> {
    auto client = co_await server_.connect();
    auto call = co_await client.open_call("uppercase");
    if (!call) co_return call.error().to_string();
    std::string out;
    for (const char* word : {"a", "b", "c"}) {
      if (auto w = co_await call->write(to_bytes(word)); !w) co_return w.error().to_string();
      auto reply = co_await call->read();
      if (!reply || !*reply) co_return "unexpected end";
      out += to_string(**reply);
    }
    if (auto f = co_await call->finish(); !f) co_return f.error().to_string();
    auto end = co_await call->read();
    co_return out + (end && !*end ? "|end" : "|no clean end");
  }());
  EXPECT_EQ(log, "ABC|end");
}

TEST_P(StreamingTest, ServerStreamingDeliversAllItemsThenEnds) {
  auto log = server_.run([&]() -> asio::awaitable<std::string> {
    auto client = co_await server_.connect();
    auto stream = co_await client.call_server_streaming("list_items", to_bytes("4"));
    if (!stream) co_return stream.error().to_string();
    co_return co_await drain(*stream);
  }());
  EXPECT_EQ(log, "item0,item1,item2,item3|end");
}

// cancel() means stop, even with responses already received and not yet read: they are
// discarded, and the next read fails with kCancelled (it used to hand them out first). The
// handler writes all ten items before the client reads the first, so the first read pulls
// several of them into the client's buffer.
TEST_P(StreamingTest, CancelDiscardsBufferedResponsesOfAServerStream) {
  auto& all_written = all_written_;
  auto log = server_.run([&]() -> asio::awaitable<std::string> {
    auto client = co_await server_.connect();
    auto stream = co_await client.call_server_streaming("ten_then_signal", {});
    if (!stream) co_return stream.error().to_string();
    co_await all_written.wait();
    auto first = co_await stream->next();
    if (!first || !*first) co_return "no first item";
    stream->cancel();
    co_return first_then(**first, co_await stream->next());
  }());
  EXPECT_EQ(log, "item0 then call: call abandoned (CANCELLED)");
}

// The same rule for a bidirectional call: what the server sent before cancel() is not read.
TEST_P(StreamingTest, CancelDiscardsBufferedResponsesOfABidirectionalCall) {
  auto log = server_.run([&]() -> asio::awaitable<std::string> {
    auto client = co_await server_.connect();
    auto call = co_await client.open_call("uppercase");
    if (!call) co_return call.error().to_string();
    for (const char* word : {"a", "b", "c"}) {
      if (auto w = co_await call->write(to_bytes(word)); !w) co_return w.error().to_string();
    }
    if (auto f = co_await call->finish(); !f) co_return f.error().to_string();
    auto first = co_await call->read();  // "A"; "B", "C" and the end are in flight or buffered
    if (!first || !*first) co_return "no first reply";
    call->cancel();
    co_return first_then(**first, co_await call->read());
  }());
  EXPECT_EQ(log, "A then call: call abandoned (CANCELLED)");
}

TEST_P(StreamingTest, ServerStreamingThousandsOfMessagesArriveInOrder) {
  auto result = server_.run([&]() -> asio::awaitable<std::pair<int, bool>> {
    auto client = co_await server_.connect();
    auto stream = co_await client.call_server_streaming("list_items", to_bytes("5000"));
    if (!stream) co_return std::pair{-1, false};
    int count = 0;
    bool in_order = true;
    for (;;) {
      auto next = co_await stream->next();
      if (!next) co_return std::pair{count, false};
      if (!*next) break;
      in_order = in_order && to_string(**next) == "item" + std::to_string(count);
      ++count;
    }
    co_return std::pair{count, in_order};
  }());
  EXPECT_EQ(result.first, 5000);
  EXPECT_TRUE(result.second);
}

TEST_P(StreamingTest, ClientStreamingAggregatesTheUpload) {
  auto result = server_.run([&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server_.connect();
    std::vector<Bytes> uploads{to_bytes("chunk-a"), to_bytes("chunk-b"), Bytes(1000)};
    co_return co_await client.call_client_streaming("upload", std::move(uploads));
  }());
  ASSERT_TRUE(result) << result.error();
  EXPECT_EQ(to_string(*result), "3 chunks, 1014 bytes");
}

TEST_P(StreamingTest, ClientStreamingFromAnAsyncSource) {
  auto result = server_.run([&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server_.connect();
    auto remaining = std::make_shared<int>(100);
    RequestSource source = [remaining]() -> asio::awaitable<std::optional<Bytes>> {
      if ((*remaining)-- == 0) co_return std::nullopt;
      co_return Bytes(10);
    };
    co_return co_await client.call_client_streaming("upload", std::move(source));
  }());
  ASSERT_TRUE(result) << result.error();
  EXPECT_EQ(to_string(*result), "100 chunks, 1000 bytes");
}

TEST_P(StreamingTest, HandlerFailingMidStreamEndsWithItsStatus) {
  struct Outcome {
    std::string messages;
    std::optional<RpcError> error;
  };
  auto outcome = server_.run([&]() -> asio::awaitable<Outcome> {
    auto client = co_await server_.connect();
    auto stream = co_await client.call_server_streaming("fail_after_two", {});
    Outcome out;
    if (!stream) {
      out.error = stream.error();
      co_return out;
    }
    for (;;) {
      auto next = co_await stream->next();
      if (!next) {
        out.error = next.error();
        co_return out;
      }
      if (!*next) co_return out;  // a clean end would be a bug
      out.messages += to_string(**next) + ";";
    }
  }());
  EXPECT_EQ(outcome.messages, "one;two;");
  ASSERT_TRUE(outcome.error.has_value());
  EXPECT_THAT(outcome.error, ErrorIs(ErrorKind::kStatus, StatusCode::kAborted));
  EXPECT_EQ(outcome.error->message(), "gave up after two");
  EXPECT_EQ(to_string(outcome.error->details()), "why");
}

TEST_P(StreamingTest, ServerThatEndsEarlyIsSeenByTheClient) {
  auto log = server_.run([&]() -> asio::awaitable<std::string> {
    auto client = co_await server_.connect();
    auto call = co_await client.open_call("first_only");
    if (!call) co_return call.error().to_string();
    (void)co_await call->write(to_bytes("first"));
    auto reply = co_await call->read();
    auto end = co_await call->read();
    std::string out = reply && *reply ? to_string(**reply) : "no reply";
    out += end && !*end ? "|end" : "|not ended";
    // The server stopped reading: later writes fail instead of piling up.
    for (int i = 0; i < 100; ++i) {
      if (!co_await call->write(Bytes(1000))) co_return out + "|write refused";
    }
    co_return out + "|writes accepted";
  }());
  EXPECT_EQ(log, "first|end|write refused");
}

TEST_P(StreamingTest, UnaryMethodCalledAsStreamIsUnimplemented) {
  server_.server().register_method("plain", [](Bytes b) -> asio::awaitable<Result<Bytes>> { co_return b; });
  auto result = server_.run([&]() -> asio::awaitable<std::string> {
    auto client = co_await server_.connect();
    auto stream = co_await client.call_server_streaming("plain", {});
    if (!stream) co_return stream.error().to_string();
    co_return co_await drain(*stream);
  }());
  EXPECT_NE(result.find("UNIMPLEMENTED"), std::string::npos) << result;
}

TEST_P(StreamingTest, ClientStreamingHandlerWithoutResponseIsInternal) {
  server_.server().register_streaming("silent", [](ServerStream) -> asio::awaitable<Result<void>> {
    co_return ok();
  });
  auto result = server_.run([&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server_.connect();
    std::vector<Bytes> none;
    co_return co_await client.call_client_streaming("silent", std::move(none));
  }());
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result, StatusIs(StatusCode::kInternal));
}

TEST_P(StreamingTest, EightMebibyteMessagesStreamBothWays) {
  Bytes big(8u << 20);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i % 251);
  auto ok_count = server_.run([&]() -> asio::awaitable<int> {
    auto client = co_await server_.connect();
    std::vector<Bytes> requests{to_bytes(std::string(big.begin(), big.end())), big};
    auto stream = co_await client.call_streaming("uppercase", std::move(requests));
    if (!stream) co_return -1;
    int matches = 0;
    for (;;) {
      auto next = co_await stream->next();
      if (!next || !*next) break;
      // uppercase() leaves non-letters alone; letters are shifted, so compare sizes and a sample.
      if ((*next)->size() == big.size() && (**next)[1] == big[1]) ++matches;
    }
    co_return matches;
  }());
  EXPECT_EQ(ok_count, 2);
}

// Registers `method` ("bulk"): writes `count` messages of `size` bytes each, then ends.
void register_bulk(RpcServer& server, int count, std::size_t size, const std::string& method = "bulk") {
  server.register_streaming(method, [count, size](ServerStream stream) -> asio::awaitable<Result<void>> {
    for (int i = 0; i < count; ++i) {
      if (auto w = co_await stream.write(Bytes(size, static_cast<unsigned char>('a' + i))); !w) co_return w;
    }
    co_return ok();
  });
}

// A reader that finds all of its stream's data already received still lets its loop run other
// work every quic::kReadFairShareBytes: a handler posted before it starts reading runs before it
// has read its second message (without the yield it would run after all four). Virtual time:
// the wait lets the whole response arrive first.
TEST(StreamReaderFairnessTest, AReaderOfBufferedDataYieldsToItsLoop) {
  if (over_http2()) GTEST_SKIP() << "QUIC streams only (an in-memory network)";
  TransportServer server(Transport::kInMemory);
  constexpr int kMessages = 4;
  constexpr std::size_t kSize = 192u << 10;  // 768 KiB in all: within the initial stream window
  register_bulk(server.server(), kMessages, kSize);
  server.start();
  auto order = server.run([&]() -> asio::awaitable<std::string> {
    auto client = co_await server.connect();
    auto stream = co_await client.call_server_streaming("bulk", {});
    if (!stream) co_return stream.error().to_string();
    co_await server.sleep(50ms);  // every response byte is in the client's stream now
    std::string out;
    asio::post(co_await asio::this_coro::executor, [&out] { out += "posted,"; });
    for (;;) {
      auto next = co_await stream->next();
      if (!next) co_return out + next.error().to_string();
      if (!*next) co_return out + "end";
      if ((*next)->size() != kSize) co_return out + "wrong size";
      out += std::string(1, static_cast<char>((**next)[0])) + ",";
    }
  }());
  EXPECT_EQ(order, "a,posted,b,c,d,end");
}

// A raw QUIC connection to `server` with its "bulk" server stream requested: what the reader
// tests below read from, chunk by chunk.
struct RawBulkCall {
  std::shared_ptr<quic::Connection> connection;
  std::shared_ptr<quic::Stream> stream;
};
// `end_request` false leaves our side of the stream open, so the stream outlives the response.
asio::awaitable<Result<std::shared_ptr<quic::Stream>>> open_raw_bulk_stream(quic::Connection& connection,
                                                                            const std::string& method,
                                                                            bool end_request = true) {
  auto stream = co_await connection.open_stream();
  if (!stream) co_return stream.error();
  wire::CallHeader header;
  header.method = method;
  header.kind = wire::CallKind::kServerStreaming;
  Bytes request;
  wire::append_frame(request, wire::FrameType::kHeader, wire::encode_call_header(header));
  wire::append_frame(request, wire::FrameType::kMessage, {});
  if (auto written = co_await (*stream)->write(std::move(request), {}, end_request); !written) {
    co_return written.error();
  }
  co_return std::move(*stream);
}
// A raw QUIC connection to `server`, trusting the test CA.
asio::awaitable<Result<std::shared_ptr<quic::Connection>>> raw_test_connect(TransportServer& server,
                                                                           quic::TransportSettings settings) {
  quic::ClientTlsOptions tls_options;
  tls_options.trust_path = certificates().main.ca_cert;
  tls_options.server_name = "localhost";
  auto tls = quic::TlsCredentials::for_client(tls_options);
  if (!tls) co_return tls.error();
  co_return co_await raw_quic_connect(server, *tls, settings);
}
asio::awaitable<Result<RawBulkCall>> open_raw_bulk_call(TransportServer& server,
                                                        quic::TransportSettings settings = {}) {
  auto connection = co_await raw_test_connect(server, settings);
  if (!connection) co_return connection.error();
  auto stream = co_await open_raw_bulk_stream(**connection, "bulk");
  if (!stream) co_return stream.error();
  RawBulkCall call;
  call.connection = std::move(*connection);
  call.stream = std::move(*stream);
  co_return call;
}

// What a reader test saw of the chunks, or why it could not read them.
struct ChunksSeen {
  std::string error;
  std::size_t chunks = 0;
  std::size_t largest = 0;
  std::size_t into_recycled = 0;  // chunks whose buffer was one handed back before
  Bytes received;
};
ChunksSeen chunks_failed(std::string why) {
  ChunksSeen out;
  out.error = std::move(why);
  return out;
}

// What a QUIC stream hands its reader: chunks of at most kReceiveChunkBytes, in order, however
// much has arrived (here a whole 1 MiB response before the first read).
TEST(StreamReaderFairnessTest, AStreamHandsOutBoundedChunksInOrder) {
  if (over_http2()) GTEST_SKIP() << "QUIC streams only (an in-memory network)";
  TransportServer server(Transport::kInMemory);
  constexpr std::size_t kSize = 1u << 20;
  register_bulk(server.server(), 1, kSize);
  server.start();
  const ChunksSeen seen = server.run([&]() -> asio::awaitable<ChunksSeen> {
    ChunksSeen out;
    auto call = co_await open_raw_bulk_call(server);
    if (!call) co_return chunks_failed("call: " + call.error().to_string());
    co_await server.sleep(50ms);
    for (;;) {
      auto chunk = co_await call->stream->read();
      if (chunk.status != quic::StreamChunk::Status::kData) co_return chunks_failed("stream broke");
      ++out.chunks;
      out.largest = std::max(out.largest, chunk.data.size());
      out.received.insert(out.received.end(), chunk.data.begin(), chunk.data.end());
      if (chunk.fin) break;
    }
    call->connection->close(0, "");
    co_return out;
  }());
  ASSERT_EQ(seen.error, "");
  EXPECT_LE(seen.largest, quic::kReceiveChunkBytes);
  EXPECT_GE(seen.chunks, kSize / quic::kReceiveChunkBytes);
  wire::FrameDecoder decoder;
  std::vector<wire::Frame> frames;
  ASSERT_EQ(decoder.feed(seen.received, frames), wire::FrameError::kNone);
  ASSERT_GE(frames.size(), 2u);  // the message, then the trailer
  EXPECT_EQ(frames[0].type, wire::FrameType::kMessage);
  EXPECT_EQ(frames[0].payload, Bytes(kSize, 'a'));
  EXPECT_EQ(frames.back().type, wire::FrameType::kTrailer);
}

// A reader that hands its buffers back (CallStream::recycle) gets them again for the data that
// arrives later, with the bytes intact: 3 MiB through a 1 MiB window, so most of it arrives after
// buffers came back. Reuse is what keeps a fast reader's heap from being trimmed and faulted in
// again for every 64 KiB (quic/stream.h).
TEST(StreamReaderFairnessTest, RecycledReceiveBuffersCarryLaterDataIntact) {
  if (over_http2()) GTEST_SKIP() << "QUIC streams only (an in-memory network)";
  TransportServer server(Transport::kInMemory);
  constexpr int kMessages = 3;
  constexpr std::size_t kSize = 1u << 20;
  register_bulk(server.server(), kMessages, kSize);
  server.start();
  const ChunksSeen seen = server.run([&]() -> asio::awaitable<ChunksSeen> {
    ChunksSeen out;
    auto call = co_await open_raw_bulk_call(server);
    if (!call) co_return chunks_failed("call: " + call.error().to_string());
    std::set<const std::uint8_t*> handed_back;
    for (;;) {
      auto chunk = co_await call->stream->read();
      if (chunk.status != quic::StreamChunk::Status::kData) co_return chunks_failed("stream broke");
      ++out.chunks;
      if (handed_back.count(chunk.data.data()) != 0) ++out.into_recycled;
      out.received.insert(out.received.end(), chunk.data.begin(), chunk.data.end());
      const bool fin = chunk.fin;
      handed_back.insert(chunk.data.data());
      call->stream->recycle(std::move(chunk.data));
      if (fin) break;
    }
    call->connection->close(0, "");
    co_return out;
  }());
  ASSERT_EQ(seen.error, "");
  // Past the first window (16 chunks) every new buffer could be a recycled one.
  EXPECT_GE(seen.into_recycled, seen.chunks / 2) << seen.chunks << " chunks";
  wire::FrameDecoder decoder;
  std::vector<wire::Frame> frames;
  ASSERT_EQ(decoder.feed(seen.received, frames), wire::FrameError::kNone);
  ASSERT_EQ(frames.size(), kMessages + 1u);  // the messages, then the trailer
  for (int i = 0; i < kMessages; ++i) {
    EXPECT_EQ(frames[static_cast<std::size_t>(i)].payload, Bytes(kSize, static_cast<unsigned char>('a' + i))) << i;
  }
  EXPECT_EQ(frames.back().type, wire::FrameType::kTrailer);
}

// Spare buffers a reader handed back are a cache, not a claim on the connection's memory budget:
// data arriving for another stream when the budget is short frees them instead of being refused.
// Under a 1 MiB budget (so 512 KiB receive windows), one stream's reader hands back 15 full-size
// buffers (960 KiB) and leaves its stream open (our side never ends it); a second stream's
// 448 KiB response then arrives in full before its reader starts. Spares and response together
// exceed the budget: without the freeing the second stream would be reset.
TEST(StreamReaderFairnessTest, SpareBuffersAreFreedBeforeAnotherStreamsDataIsRefused) {
  if (over_http2()) GTEST_SKIP() << "QUIC streams only (an in-memory network)";
  TransportServer server(Transport::kInMemory);
  constexpr std::size_t kSpares = quic::kSpareReceiveBuffers - 1;
  constexpr std::size_t kLastSize = 448u << 10;
  register_bulk(server.server(), 1, kLastSize, "bulk");
  // Answers with one small message, then reads requests until they end, which they never do.
  server.server().register_streaming("hold", [](ServerStream stream) -> asio::awaitable<Result<void>> {
    if (auto w = co_await stream.write(Bytes(1024, 'h')); !w) co_return w;
    for (;;) {
      auto request = co_await stream.read();
      if (!request) co_return request.error();
      if (!*request) co_return ok();
    }
  });
  server.start();
  quic::TransportSettings settings;
  settings.connection_memory = 1u << 20;
  struct Seen {
    std::string error;
    std::size_t held_with_spares = 0;  // the budget used once the spares were handed back
    std::size_t held_at_end = 0;
    Bytes last;
  };
  const auto failed = [](std::string why) {
    Seen out;
    out.error = std::move(why);
    return out;
  };
  const Seen seen = server.run([&]() -> asio::awaitable<Seen> {
    Seen out;
    auto connection = co_await raw_test_connect(server, settings);
    if (!connection) co_return failed("connect: " + connection.error().to_string());
    auto held = co_await open_raw_bulk_stream(**connection, "hold", false);
    if (!held) co_return failed("held call: " + held.error().to_string());
    co_await server.sleep(50ms);  // virtual time: the small responses arrive, and stay unread
    for (std::size_t i = 0; i < kSpares; ++i) {
      Bytes spare;
      spare.reserve(quic::kReceiveChunkBytes);
      (*held)->recycle(std::move(spare));
    }
    out.held_with_spares = (*connection)->stats().memory_used;
    auto last = co_await open_raw_bulk_stream(**connection, "bulk");
    if (!last) co_return failed("last call: " + last.error().to_string());
    co_await server.sleep(50ms);  // the whole last response is buffered
    for (;;) {
      auto chunk = co_await (*last)->read();
      if (chunk.status != quic::StreamChunk::Status::kData) co_return failed("the last stream was reset");
      out.last.insert(out.last.end(), chunk.data.begin(), chunk.data.end());
      if (chunk.fin) break;
    }
    out.held_at_end = (*connection)->stats().memory_used;
    (*connection)->close(0, "");
    co_return out;
  }());
  ASSERT_EQ(seen.error, "");
  // The precondition: the spares were charged (and the first stream's response is held too).
  EXPECT_GT(seen.held_with_spares, kSpares * quic::kReceiveChunkBytes);
  EXPECT_LT(seen.held_at_end, seen.held_with_spares - kSpares * quic::kReceiveChunkBytes / 2);
  wire::FrameDecoder decoder;
  std::vector<wire::Frame> frames;
  ASSERT_EQ(decoder.feed(seen.last, frames), wire::FrameError::kNone);
  ASSERT_EQ(frames.size(), 2u);  // the message, then the trailer
  EXPECT_EQ(frames[0].payload, Bytes(kLastSize, 'a'));
  EXPECT_EQ(frames[1].type, wire::FrameType::kTrailer);
}

}  // namespace
}  // namespace rpcnet::testing
