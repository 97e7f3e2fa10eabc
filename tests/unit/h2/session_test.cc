// h2::Session, a client and a server wired back to back in memory: what each side's events
// say, in order, and which frames go on the wire for the limits and failures a peer can cause.
#include "h2/session.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/h2_frames.h"

namespace rpcnet::h2 {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using rpcnet::testing::append_frame;
using rpcnet::testing::Frame;
using rpcnet::testing::frames_of;
using rpcnet::testing::kFlagEndHeaders;
using rpcnet::testing::kFlagEndStream;
using rpcnet::testing::kFrameData;
using rpcnet::testing::kFrameGoaway;
using rpcnet::testing::kFrameHeaders;
using rpcnet::testing::kFrameRstStream;
using rpcnet::testing::kFramePing;
using rpcnet::testing::kFrameWindowUpdate;
using rpcnet::testing::read_u32;
constexpr std::size_t kClientMagicBytes = 24;

// Records each event as one line, in order; consecutive DATA of a stream are merged into one
// line, so the log does not depend on how the bytes were framed or chunked.
class Recorder final : public SessionEvents {
 public:
  void on_headers(std::int32_t stream, HeaderList headers, bool is_trailers) override {
    std::string line = (is_trailers ? "trailers " : "headers ") + std::to_string(stream) + " ";
    for (const Header& header : headers) line += header.name + "=" + header.value + ",";
    log.push_back(line);
  }
  void on_data(std::int32_t stream, ByteView data) override {
    Bytes& all = received[stream];
    all.insert(all.end(), data.begin(), data.end());
    const std::string prefix = "data " + std::to_string(stream) + " ";
    if (log.empty() || !log.back().starts_with(prefix)) log.push_back(prefix);
    if (data.size() < 64 && log.back().size() < 256) log.back() += to_string(data);
    if (consume_on_arrival && session != nullptr) session->consume(stream, data.size());
  }
  void on_end_of_stream(std::int32_t stream) override { log.push_back("end " + std::to_string(stream)); }
  void on_stream_closed(std::int32_t stream, std::uint32_t error_code) override {
    log.push_back("closed " + std::to_string(stream) + " " + std::to_string(error_code));
    closed[stream] = error_code;
  }

  std::vector<std::string> log;
  std::map<std::int32_t, Bytes> received;
  std::map<std::int32_t, std::uint32_t> closed;
  Session* session = nullptr;
  bool consume_on_arrival = true;
};

struct Pair {
  explicit Pair(SessionLimits server_limits = {}, SessionLimits client_limits = {})
      : client(Session::client(client_events, client_limits).value()),
        server(Session::server(server_events, server_limits).value()) {
    client_events.session = client.get();
    server_events.session = server.get();
  }

  Recorder client_events;
  Recorder server_events;
  std::unique_ptr<Session> client;
  std::unique_ptr<Session> server;
};

// Feeds `bytes` in chunks of `chunk` bytes (0: all at once).
::testing::AssertionResult deliver(Session& to, const Bytes& bytes, std::size_t chunk) {
  const std::size_t step = chunk == 0 ? std::max<std::size_t>(bytes.size(), 1) : chunk;
  for (std::size_t at = 0; at < bytes.size(); at += step) {
    const auto received = to.receive(ByteView(bytes).subspan(at, std::min(step, bytes.size() - at)));
    if (!received) return ::testing::AssertionFailure() << received.error().to_string();
  }
  return ::testing::AssertionSuccess();
}

// Moves bytes both ways until neither side has anything to send.
::testing::AssertionResult pump(Pair& pair, std::size_t chunk = 0) {
  for (int round = 0; round < 200; ++round) {
    Bytes to_server;
    pair.client->take_output(to_server);
    Bytes to_client;
    pair.server->take_output(to_client);
    if (to_server.empty() && to_client.empty()) return ::testing::AssertionSuccess();
    if (auto delivered = deliver(*pair.server, to_server, chunk); !delivered) return delivered << " (at the server)";
    if (auto delivered = deliver(*pair.client, to_client, chunk); !delivered) return delivered << " (at the client)";
  }
  return ::testing::AssertionFailure() << "the sessions never went quiet";
}

// The error code of the first GOAWAY frame in `bytes`, if there is one.
std::optional<std::uint32_t> goaway_code(ByteView bytes) {
  for (const Frame& frame : frames_of(bytes)) {
    if (frame.type == kFrameGoaway && frame.payload.size() >= 8) return read_u32(frame.payload, 4);
  }
  return std::nullopt;
}

HeaderList grpc_request(std::string path = "/echo.Echo/Say") {
  return {{":method", "POST"},        {":scheme", "http"},
          {":path", std::move(path)}, {":authority", "localhost"},
          {"content-type", "application/grpc"}, {"te", "trailers"}};
}

const std::string kRequestLine =
    "headers 1 :method=POST,:scheme=http,:path=/echo.Echo/Say,:authority=localhost,content-type=application/grpc,"
    "te=trailers,";

Bytes pattern(std::size_t size) {
  Bytes bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::uint8_t>((i * 7 + i / 251) & 0xff);
  return bytes;
}

void request_and_response_in_chunks(std::size_t chunk) {
  Pair pair;
  const auto stream = pair.client->submit_request(grpc_request(), false);
  ASSERT_TRUE(stream.ok());
  ASSERT_EQ(*stream, 1);
  ASSERT_TRUE(pair.client->submit_data(1, to_bytes("hello"), true));
  ASSERT_TRUE(pump(pair, chunk));
  EXPECT_THAT(pair.server_events.log, ElementsAre(kRequestLine, "data 1 hello", "end 1"));
  EXPECT_TRUE(pair.server->stream_open(1));

  ASSERT_TRUE(pair.server->submit_headers(1, {{":status", "200"}, {"content-type", "application/grpc"}}, false));
  ASSERT_TRUE(pair.server->submit_data(1, to_bytes("wor"), false));
  ASSERT_TRUE(pair.server->submit_data(1, to_bytes("ld"), false));
  ASSERT_TRUE(pair.server->submit_trailers(1, {{"grpc-status", "0"}, {"grpc-message", "ok"}}));
  EXPECT_EQ(pair.server->queued_bytes(1), 5u);
  EXPECT_EQ(pair.server_events.log.size(), 3u) << "submit_* must not call back";
  ASSERT_TRUE(pump(pair, chunk));

  EXPECT_THAT(pair.client_events.log,
              ElementsAre("headers 1 :status=200,content-type=application/grpc,", "data 1 world",
                          "trailers 1 grpc-status=0,grpc-message=ok,", "end 1", "closed 1 0"));
  EXPECT_THAT(pair.server_events.log, ElementsAre(kRequestLine, "data 1 hello", "end 1", "closed 1 0"));
  EXPECT_FALSE(pair.server->stream_open(1));
  EXPECT_FALSE(pair.client->stream_open(1));
  EXPECT_EQ(pair.server->queued_bytes(1), 0u);
}

TEST(H2Session, RequestAndResponseCarryHeadersDataAndTrailersInOrder) { request_and_response_in_chunks(0); }

TEST(H2Session, RequestAndResponseSurviveBytesArrivingOneAtATime) { request_and_response_in_chunks(1); }

TEST(H2Session, DataSubmittedAfterTheHeadersWentOutResumesTheStream) {
  Pair pair;
  ASSERT_TRUE(pair.client->submit_request(grpc_request(), true).ok());
  ASSERT_TRUE(pump(pair));
  ASSERT_TRUE(pair.server->submit_headers(1, {{":status", "200"}}, false));
  ASSERT_TRUE(pump(pair));
  EXPECT_THAT(pair.client_events.log, ElementsAre("headers 1 :status=200,"));

  ASSERT_TRUE(pair.server->submit_data(1, to_bytes("one"), false));
  ASSERT_TRUE(pump(pair));
  ASSERT_TRUE(pair.server->submit_data(1, to_bytes("two"), true));
  ASSERT_TRUE(pump(pair));
  EXPECT_THAT(pair.client_events.log, ElementsAre("headers 1 :status=200,", "data 1 onetwo", "end 1", "closed 1 0"));
  EXPECT_THAT(pair.client_events.received[1], ::testing::ElementsAreArray(to_bytes("onetwo")));
}

TEST(H2Session, TrailersOnlyResponseIsOneHeadersFrameWithEndStream) {
  Pair pair;
  ASSERT_TRUE(pair.client->submit_request(grpc_request(), true).ok());
  ASSERT_TRUE(pump(pair));
  ASSERT_TRUE(pair.server->submit_headers(
      1, {{":status", "200"}, {"content-type", "application/grpc"}, {"grpc-status", "12"}}, true));
  EXPECT_FALSE(pair.server->submit_data(1, to_bytes("late"), false).ok());

  Bytes to_client;
  pair.server->take_output(to_client);
  const std::vector<Frame> frames = frames_of(to_client);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].type, kFrameHeaders);
  EXPECT_EQ(frames[0].stream, 1u);
  EXPECT_EQ(frames[0].flags & kFlagEndStream, kFlagEndStream);
  ASSERT_TRUE(deliver(*pair.client, to_client, 0));
  ASSERT_TRUE(pump(pair));
  EXPECT_THAT(pair.client_events.log,
              ElementsAre("headers 1 :status=200,content-type=application/grpc,grpc-status=12,", "end 1",
                          "closed 1 0"));
}

TEST(H2Session, LargeRequestStallsAtTheStreamWindowUntilTheServerConsumes) {
  constexpr std::uint32_t kWindow = 32768;
  constexpr std::size_t kTotal = 1u << 20;
  SessionLimits server_limits;
  server_limits.stream_window = kWindow;
  Pair pair(server_limits);
  pair.server_events.consume_on_arrival = false;
  ASSERT_TRUE(pump(pair));  // SETTINGS exchanged: the client knows the window

  ASSERT_TRUE(pair.client->submit_request(grpc_request(), false).ok());
  const Bytes payload = pattern(kTotal);
  ASSERT_TRUE(pair.client->submit_data(1, payload, true));
  std::size_t consumed = 0;
  for (int round = 0; round < 64 && consumed < kTotal; ++round) {
    ASSERT_TRUE(pump(pair));
    const std::size_t received = pair.server_events.received[1].size();
    ASSERT_EQ(received, std::min(kTotal, consumed + kWindow)) << "round " << round;
    ASSERT_EQ(pair.client->queued_bytes(1), kTotal - received) << "round " << round;
    ASSERT_TRUE(pump(pair));  // nothing moves while the server holds the bytes
    ASSERT_EQ(pair.server_events.received[1].size(), received);
    pair.server->consume(1, received - consumed);
    consumed = received;
  }
  ASSERT_EQ(consumed, kTotal);
  EXPECT_TRUE(pair.server_events.received[1] == payload);
  EXPECT_EQ(pair.server_events.log.back(), "end 1");
}

TEST(H2Session, OutputComesInBatchesOfWholeFramesWhenABatchSizeIsSet) {
  constexpr std::size_t kBatch = 40000;  // two 16 KiB DATA frames fit, the third crosses it
  constexpr std::size_t kTotal = 200000;
  SessionLimits client_limits;
  client_limits.output_batch_bytes = kBatch;
  Pair pair({}, client_limits);
  ASSERT_TRUE(pump(pair));  // SETTINGS exchanged: the 1 MiB stream window is known
  ASSERT_TRUE(pair.client->submit_request(grpc_request(), false).ok());
  const Bytes payload = pattern(kTotal);
  ASSERT_TRUE(pair.client->submit_data(1, payload, true));

  std::size_t batches = 0;
  std::size_t data_bytes = 0;
  for (int round = 0; round < 32; ++round) {
    Bytes batch;
    pair.client->take_output(batch);
    if (batch.empty()) break;
    ++batches;
    ASSERT_LT(batch.size(), kBatch + 16384 + 9) << "one frame past the batch at most";
    for (const Frame& frame : frames_of(batch)) {
      if (frame.type == 0x0) data_bytes += frame.payload.size();
    }
    ASSERT_TRUE(deliver(*pair.server, batch, 0));
  }
  EXPECT_EQ(data_bytes, kTotal);
  EXPECT_GE(batches, kTotal / kBatch);  // not one take_output for everything
  ASSERT_TRUE(pump(pair));
  EXPECT_TRUE(pair.server_events.received[1] == payload);
  EXPECT_EQ(pair.server_events.log.back(), "end 1");
}

TEST(H2Session, AFailedSessionWantsIoUntilItsGoawayIsTakenInBatches) {
  SessionLimits limits;
  limits.output_batch_bytes = 1;  // one frame per take
  Recorder events;
  auto server = Session::server(events, limits).value();
  ASSERT_FALSE(server->receive(to_bytes("not the HTTP/2 connection preface")).ok());
  std::optional<std::uint32_t> code;
  for (int take = 0; take < 8 && server->wants_io(); ++take) {
    Bytes out;
    server->take_output(out);
    if (!code) code = goaway_code(out);
  }
  EXPECT_EQ(code, kProtocolError);
  EXPECT_FALSE(server->wants_io());
}

TEST(H2Session, ZeroOutputBatchIsRejected) {
  Recorder events;
  SessionLimits limits;
  limits.output_batch_bytes = 0;
  const auto session = Session::server(events, limits);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.error().kind(), ErrorKind::kConfig);
}

TEST(H2Session, UnconsumedBytesOfAClosedStreamGoBackToTheConnectionWindow) {
  SessionLimits server_limits;
  server_limits.stream_window = 65535;
  server_limits.connection_window = 65535;  // the whole connection window fits one stream
  Pair pair(server_limits);
  pair.server_events.consume_on_arrival = false;
  ASSERT_TRUE(pump(pair));
  ASSERT_TRUE(pair.client->submit_request(grpc_request(), false).ok());
  ASSERT_TRUE(pair.client->submit_data(1, pattern(100000), false));
  ASSERT_TRUE(pump(pair));
  ASSERT_EQ(pair.server_events.received[1].size(), 65535u);

  pair.server->reset_stream(1, kCancel);  // never consumed by the application
  ASSERT_TRUE(pump(pair));
  EXPECT_EQ(pair.client_events.closed.at(1), kCancel);
  EXPECT_EQ(pair.client->queued_bytes(1), 0u);

  ASSERT_TRUE(pair.client->submit_request(grpc_request(), false).ok());
  ASSERT_TRUE(pair.client->submit_data(3, pattern(1000), true));
  ASSERT_TRUE(pump(pair));
  EXPECT_EQ(pair.server_events.received[3].size(), 1000u);
  EXPECT_EQ(pair.server_events.log.back(), "end 3");
}

TEST(H2Session, ConnectionCreditGoesBackWhileADownloadKeepsEveryBatchFull) {
  SessionLimits server_limits;
  server_limits.stream_window = 65535;
  server_limits.connection_window = 65535;  // one upload fills it
  server_limits.output_batch_bytes = 20000;
  Pair pair(server_limits);
  pair.server_events.consume_on_arrival = false;
  ASSERT_TRUE(pump(pair));
  ASSERT_TRUE(pair.client->submit_request(grpc_request(), true).ok());  // 1: the download
  ASSERT_TRUE(pair.client->submit_request(grpc_request(), false).ok());  // 3: an upload nobody reads
  ASSERT_TRUE(pair.client->submit_data(3, pattern(65535), false));
  ASSERT_TRUE(pump(pair));
  ASSERT_EQ(pair.server_events.received[3].size(), 65535u);

  ASSERT_TRUE(pair.server->submit_headers(1, {{":status", "200"}}, false));
  ASSERT_TRUE(pair.server->submit_data(1, pattern(1u << 20), false));
  pair.server->reset_stream(3, kCancel);  // its 65,535 bytes are owed back to the connection
  bool credit_returned = false;
  for (int batch_number = 0; batch_number < 3 && !credit_returned; ++batch_number) {
    Bytes batch;
    pair.server->take_output(batch);
    for (const Frame& frame : frames_of(batch)) {
      if (frame.type == kFrameWindowUpdate && frame.stream == 0) credit_returned = true;
    }
    ASSERT_TRUE(deliver(*pair.client, batch, 0));
  }
  EXPECT_TRUE(credit_returned) << "the WINDOW_UPDATE waited behind the download";
  EXPECT_GT(pair.server->queued_bytes(1), 0u);  // the download was still going
}

TEST(H2Session, ClientResetReachesTheServerWithItsCode) {
  Pair pair;
  ASSERT_TRUE(pair.client->submit_request(grpc_request(), false).ok());
  ASSERT_TRUE(pair.client->submit_data(1, to_bytes("partial"), false));
  ASSERT_TRUE(pump(pair));
  ASSERT_TRUE(pair.server->stream_open(1));

  pair.client->reset_stream(1, kCancel);
  EXPECT_THAT(pair.client_events.log, IsEmpty()) << "reset_stream must not call back";
  ASSERT_TRUE(pump(pair));
  EXPECT_THAT(pair.server_events.log, ElementsAre(kRequestLine, "data 1 partial", "closed 1 8"));
  EXPECT_THAT(pair.client_events.log, ElementsAre("closed 1 8"));
  EXPECT_FALSE(pair.server->stream_open(1));
  EXPECT_FALSE(pair.server->submit_headers(1, {{":status", "200"}}, false).ok());
}

TEST(H2Session, ResetOfARequestStillWaitingForAStreamSlotClosesAtTheNextTakeOutput) {
  SessionLimits server_limits;
  server_limits.max_concurrent_streams = 1;
  Pair pair(server_limits);
  ASSERT_TRUE(pump(pair));  // the client now knows the limit of one
  ASSERT_TRUE(pair.client->submit_request(grpc_request(), true).ok());
  const auto waiting = pair.client->submit_request(grpc_request(), true);
  ASSERT_TRUE(waiting.ok());
  ASSERT_TRUE(pump(pair));
  ASSERT_THAT(pair.server_events.log, ElementsAre(kRequestLine, "end 1"));

  pair.client->reset_stream(*waiting, kCancel);
  EXPECT_THAT(pair.client_events.log, IsEmpty()) << "reset_stream must not call back";
  Bytes out;
  pair.client->take_output(out);
  EXPECT_THAT(pair.client_events.log, ElementsAre("closed 3 8"));
  EXPECT_TRUE(out.empty()) << "a request never sent needs no RST_STREAM";

  ASSERT_TRUE(pair.server->submit_headers(1, {{":status", "200"}, {"grpc-status", "0"}}, true));
  ASSERT_TRUE(pump(pair));
  EXPECT_THAT(pair.client_events.log,
              ElementsAre("closed 3 8", "headers 1 :status=200,grpc-status=0,", "end 1", "closed 1 0"));
  EXPECT_THAT(pair.server_events.log, ElementsAre(kRequestLine, "end 1", "closed 1 0"));
}

TEST(H2Session, ServerResetReachesTheClientWithItsCode) {
  Pair pair;
  ASSERT_TRUE(pair.client->submit_request(grpc_request(), true).ok());
  ASSERT_TRUE(pump(pair));
  pair.server->reset_stream(1, kRefusedStream);
  ASSERT_TRUE(pump(pair));
  EXPECT_THAT(pair.client_events.log, ElementsAre("closed 1 7"));
  EXPECT_EQ(pair.server_events.log.back(), "closed 1 7");
}

TEST(H2Session, StreamBeyondTheConcurrencyLimitIsRefusedWhileTheOthersComplete) {
  SessionLimits server_limits;
  server_limits.max_concurrent_streams = 2;
  Pair pair(server_limits);
  // Sent before the server's SETTINGS arrive, as clients do: the client cannot know the limit.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pair.client->submit_request(grpc_request(), true).ok());
  ASSERT_TRUE(pump(pair));

  EXPECT_THAT(pair.client_events.log, ElementsAre("closed 5 7"));
  ASSERT_EQ(pair.server_events.log.size(), 4u);
  EXPECT_EQ(pair.server_events.log[0], kRequestLine);
  EXPECT_EQ(pair.server_events.log[2].substr(0, 10), "headers 3 ");
  EXPECT_FALSE(pair.server->stream_open(5));

  for (std::int32_t stream : {1, 3}) {
    ASSERT_TRUE(pair.server->submit_headers(stream, {{":status", "200"}, {"grpc-status", "0"}}, true));
  }
  ASSERT_TRUE(pump(pair));
  EXPECT_THAT(pair.client_events.log,
              ElementsAre("closed 5 7", "headers 1 :status=200,grpc-status=0,", "end 1", "closed 1 0",
                          "headers 3 :status=200,grpc-status=0,", "end 3", "closed 3 0"));
  const auto retried = pair.client->submit_request(grpc_request(), true);
  ASSERT_TRUE(retried.ok());
  ASSERT_TRUE(pump(pair));
  EXPECT_TRUE(pair.server->stream_open(*retried));
}

// A request whose header list is exactly `list_bytes` long, counted as RFC 9113 6.5.2 says
// (name + value + 32 per field): pseudo-headers, then an "x-pad" field making up the rest.
HeaderList request_of_list_size(std::size_t list_bytes) {
  HeaderList headers = {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "h"}};
  std::size_t size = 0;
  for (const Header& header : headers) size += header.name.size() + header.value.size() + 32;
  const std::string name = "x-pad";
  headers.push_back({name, std::string(list_bytes - size - name.size() - 32, 'p')});
  return headers;
}

TEST(H2Session, HeaderListOverTheLimitResetsOnlyItsStream) {
  SessionLimits server_limits;
  server_limits.max_header_list_bytes = 1000;
  Pair pair(server_limits);
  ASSERT_TRUE(pair.client->submit_request(request_of_list_size(1000), true).ok());
  ASSERT_TRUE(pair.client->submit_request(request_of_list_size(1001), true).ok());
  ASSERT_TRUE(pair.client->submit_request(request_of_list_size(1000), true).ok());
  ASSERT_TRUE(pump(pair));

  EXPECT_THAT(pair.client_events.log, ElementsAre("closed 3 11"));
  ASSERT_EQ(pair.server_events.log.size(), 4u);
  EXPECT_EQ(pair.server_events.log[0].substr(0, 10), "headers 1 ");
  EXPECT_EQ(pair.server_events.log[2].substr(0, 10), "headers 5 ");
  EXPECT_TRUE(pair.server->stream_open(1));
  EXPECT_FALSE(pair.server->stream_open(3));
  EXPECT_TRUE(pair.server->stream_open(5));
  ASSERT_TRUE(pair.server->submit_headers(5, {{":status", "204"}}, true));
  ASSERT_TRUE(pump(pair));
  EXPECT_EQ(pair.client_events.closed.at(5), kNoError);
}

TEST(H2Session, GarbageInsteadOfThePrefaceFailsWithAGoaway) {
  Recorder events;
  auto server = Session::server(events).value();
  const auto received = server->receive(to_bytes("this is not the HTTP/2 connection preface at all"));
  ASSERT_FALSE(received.ok());
  EXPECT_EQ(received.error().kind(), ErrorKind::kConnection);
  EXPECT_THAT(received.error().message(), HasSubstr("preface"));

  Bytes out;
  server->take_output(out);
  EXPECT_EQ(goaway_code(out), kProtocolError);
  EXPECT_FALSE(server->wants_io());
  EXPECT_FALSE(server->receive(to_bytes("more")).ok());
  EXPECT_THAT(events.log, IsEmpty());
}

TEST(H2Session, Http1RequestFailsWithAGoaway) {
  Recorder events;
  auto server = Session::server(events).value();
  const auto received = server->receive(to_bytes("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"));
  ASSERT_FALSE(received.ok());
  EXPECT_EQ(received.error().kind(), ErrorKind::kConnection);
  Bytes out;
  server->take_output(out);
  EXPECT_EQ(goaway_code(out), kProtocolError);
  EXPECT_FALSE(server->wants_io());
}

TEST(H2Session, OversizedFrameAfterThePrefaceFailsWithFrameSizeError) {
  Recorder client_events;
  Recorder server_events;
  auto client = Session::client(client_events).value();
  auto server = Session::server(server_events).value();
  Bytes preface;
  client->take_output(preface);
  ASSERT_GT(preface.size(), kClientMagicBytes);
  ASSERT_TRUE(server->receive(preface));
  // DATA on stream 1 announcing 16385 bytes, one more than SETTINGS_MAX_FRAME_SIZE.
  const Bytes oversized = {0x00, 0x40, 0x01, kFrameData, 0x00, 0x00, 0x00, 0x00, 0x01};
  const auto received = server->receive(oversized);
  ASSERT_FALSE(received.ok());
  EXPECT_THAT(received.error().message(), HasSubstr("FRAME_SIZE_ERROR"));
  Bytes out;
  server->take_output(out);
  EXPECT_EQ(goaway_code(out), kFrameSizeError);
  EXPECT_FALSE(server->wants_io());
}

// A server that has read a real client's preface and SETTINGS.
std::unique_ptr<Session> server_after_preface(Recorder& events) {
  Recorder client_events;
  auto client = Session::client(client_events).value();
  auto server = Session::server(events).value();
  Bytes preface;
  client->take_output(preface);
  EXPECT_TRUE(server->receive(preface));
  Bytes ignored;
  server->take_output(ignored);
  return server;
}

TEST(H2Session, PingFloodFailsTheConnectionWithEnhanceYourCalm) {
  Recorder events;
  auto server = server_after_preface(events);
  Bytes pings;
  for (int i = 0; i < 1001; ++i) append_frame(pings, kFramePing, 0x0, 0, Bytes(8, 0x5a));
  const auto received = server->receive(pings);
  ASSERT_FALSE(received.ok());
  Bytes out;
  server->take_output(out);
  EXPECT_EQ(goaway_code(out), kEnhanceYourCalm);
  EXPECT_FALSE(server->wants_io());
}

TEST(H2Session, RapidResetFloodFailsTheConnection) {
  Recorder events;
  auto server = server_after_preface(events);
  // GET / on :authority "h" from HPACK's static table, then RST_STREAM CANCEL, 1200 times:
  // beyond nghttp2's burst of 1000 resets however slowly this runs (33 more per second).
  const Bytes request_block = {0x82, 0x86, 0x84, 0x01, 0x01, 'h'};
  const Bytes cancel = {0, 0, 0, 0x8};
  Bytes frames;
  for (std::uint32_t i = 0; i < 1200; ++i) {
    append_frame(frames, kFrameHeaders, kFlagEndHeaders, 2 * i + 1, request_block);
    append_frame(frames, kFrameRstStream, 0x0, 2 * i + 1, cancel);
  }
  const auto received = server->receive(frames);
  ASSERT_FALSE(received.ok());
  EXPECT_THAT(received.error().message(), HasSubstr("GOAWAY INTERNAL_ERROR"));
  Bytes out;
  server->take_output(out);
  EXPECT_EQ(goaway_code(out), kInternalError);
  EXPECT_FALSE(server->wants_io());
}

TEST(H2Session, GracefulGoawayLetsTheOpenStreamFinishThenEndsTheConnection) {
  Pair pair;
  ASSERT_TRUE(pair.client->submit_request(grpc_request(), true).ok());
  ASSERT_TRUE(pump(pair));
  pair.server->goaway(kNoError);
  ASSERT_TRUE(pump(pair));
  EXPECT_TRUE(pair.server->wants_io());
  EXPECT_TRUE(pair.client->wants_io());

  ASSERT_TRUE(pair.server->submit_headers(1, {{":status", "200"}, {"grpc-status", "0"}}, true));
  ASSERT_TRUE(pump(pair));
  EXPECT_EQ(pair.client_events.closed.at(1), kNoError);
  EXPECT_FALSE(pair.server->wants_io());
  EXPECT_FALSE(pair.client->wants_io());
}

TEST(H2Session, InvalidHeaderNamesAreRejectedBeforeSending) {
  Pair pair;
  const auto uppercase = pair.client->submit_request({{":method", "GET"}, {"X-Upper", "1"}}, true);
  ASSERT_FALSE(uppercase.ok());
  EXPECT_EQ(uppercase.error().kind(), ErrorKind::kConfig);
  EXPECT_FALSE(pair.client->submit_request({{"bad-value", "a\r\nb"}}, true).ok());
  EXPECT_FALSE(pair.server->submit_request(grpc_request(), true).ok()) << "servers do not open streams";
}

}  // namespace
}  // namespace rpcnet::h2
