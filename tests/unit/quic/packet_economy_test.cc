// How many packets a call costs, in virtual time over a link with latency (QuicPipe, every
// datagram delivered by hand after its one-way delay). A sequential unary call should cost one
// packet each way once the connection is warm: the request carries the ACK of the previous
// response and the response the ACK of the request before it. Each extra packet is a system call
// on both sides and a wake-up of the receiver; on loopback they were a third of a call's latency.
#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <algorithm>
#include <chrono>
#include <functional>
#include <string>

#include "support/quic_pipe.h"

namespace rpcnet::testing {
namespace {

using namespace std::chrono_literals;

// One-way delay of the simulated link, the server's time to answer and the client's pause
// between calls. ngtcp2 holds an ACK back for an eighth of the smoothed RTT (here about 15 us)
// and puts it in a packet only once that has passed: the server's processing and the client's
// pause are longer, as the time to run a handler and a caller is on a real machine, so every
// request and every response carries the ACK of the packet before it.
constexpr auto kOneWay = 40us;
constexpr auto kProcessing = 30us;
constexpr auto kThinkTime = 30us;

// The server echoes every stream it accepts, kProcessing after the request's FIN arrived.
void echo_after_processing(QuicPipe& pipe) {
  pipe.on_server_connection = [&pipe](const std::shared_ptr<quic::Connection>& connection) {
    connection->set_stream_acceptor([&pipe](std::shared_ptr<quic::Stream> stream) {
      asio::co_spawn(pipe.io, [&pipe, stream]() -> asio::awaitable<void> {
        Bytes all;
        for (int i = 0; i < 100; ++i) {
          auto chunk = co_await stream->read();
          if (chunk.status != quic::StreamChunk::Status::kData) co_return;
          all.insert(all.end(), chunk.data.begin(), chunk.data.end());
          if (chunk.fin) break;
        }
        runtime::Timer processing(pipe.io.get_executor(), pipe.clock());
        processing.expires_after(kProcessing);
        (void)co_await processing.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
        (void)co_await stream->write(std::move(all), {}, true);
      }, asio::detached);
    });
  };
}

// Lets every queued datagram cross the link: time moves on by the one-way delay (firing the
// timers due on the way, whose packets then cross too), then both queues are delivered and what
// that makes ready runs. Packets sent in reaction stay queued for the next crossing.
void cross(QuicPipe& pipe) {
  pipe.advance(kOneWay);
  pipe.pump(1);
}

// The echo server and one client, its handshake done (check is_open()). pump() only delivers:
// timers fire when advance() passes them.
QuicPipe::Client& connect_client(QuicPipe& pipe) {
  pipe.settle_window = 0us;
  echo_after_processing(pipe);
  auto& client = pipe.add_client();
  for (int hop = 0; hop < 20 && !client.connection->is_open(); ++hop) cross(pipe);
  return client;
}

// `calls` sequential echo calls from one coroutine, each sent as soon as the previous reply is
// in, as the bench's sequential client does; `before_call(i)` runs before call i. Every call
// must echo `fill` back.
void back_to_back_calls(QuicPipe& pipe, QuicPipe::Client& client, int calls, char fill,
                        const std::function<void(int)>& before_call) {
  int done = 0;
  std::string failure;
  asio::co_spawn(pipe.io, [&]() -> asio::awaitable<void> {
    for (int call = 0; call < calls; ++call) {
      before_call(call);
      const std::string echoed = co_await echo_call(client.connection, Bytes(64, fill));
      if (echoed != std::string(64, fill)) {
        failure = "call " + std::to_string(call) + ": " + echoed;
        co_return;
      }
      ++done;
    }
  }, asio::detached);
  pipe.io.poll();
  for (int hop = 0; hop < 10 * calls && done < calls && failure.empty(); ++hop) cross(pipe);
  EXPECT_EQ(done, calls) << failure;
}

struct Sent {
  std::uint64_t client = 0;
  std::uint64_t server = 0;
};

// `calls` sequential echo calls of 64 bytes; returns the packets each side sent meanwhile.
Sent sequential_calls(QuicPipe& pipe, QuicPipe::Client& client, int calls) {
  const Sent before{client.sender->datagrams_sent, pipe.server_sender().datagrams_sent};
  for (int call = 0; call < calls; ++call) {
    std::string out;
    start_echo_call(pipe, client.connection, Bytes(64, 'q'), out);
    pipe.io.poll();
    for (int hop = 0; hop < 10 && out.empty(); ++hop) cross(pipe);
    EXPECT_EQ(out, std::string(64, 'q')) << "call " << call;
    pipe.advance(kThinkTime);
  }
  return {client.sender->datagrams_sent - before.client,
          pipe.server_sender().datagrams_sent - before.server};
}

TEST(PacketEconomy, AWarmSequentialCallCostsOnePacketEachWay) {
  QuicPipe pipe;
  auto& client = connect_client(pipe);
  ASSERT_TRUE(client.connection->is_open());
  // Warm-up: the handshake's last packets, session tickets, and RTT samples of this link.
  (void)sequential_calls(pipe, client, 20);

  const Sent sent = sequential_calls(pipe, client, 50);
  // Without the timer slack both sides sent an ACK of their own an eighth of an RTT after each
  // packet (ngtcp2's ACK delay), and the stream credit of every finished call went back in a
  // MAX_STREAMS packet of its own once a call's last ACK arrived alone.
  EXPECT_EQ(sent.client, 50u);
  EXPECT_EQ(sent.server, 50u);
}

// Reading a reply takes longer than ngtcp2's ACK delay (an eighth of the RTT, about 15 us
// here; reading takes 20), and the caller sends its next request as soon as it has the reply,
// as the bench's sequential client does: the ACK of the reply still goes in that request. A
// flush after a read wrote at the clock's time, found the ACK due and sent it alone, just
// before the request that would have carried it (two packets per call, and a second wake-up
// of the server).
TEST(PacketEconomy, AReplySlowerToReadThanTheAckDelayIsAcknowledgedByTheNextRequest) {
  QuicPipe pipe;
  auto& client = connect_client(pipe);
  ASSERT_TRUE(client.connection->is_open());
  pipe.client_read_time = 20us;

  constexpr int kWarmUp = 20;
  constexpr int kCalls = 70;
  std::uint64_t client_before = 0;
  std::uint64_t server_before = 0;
  back_to_back_calls(pipe, client, kCalls, 'r', [&](int call) {
    if (call != kWarmUp) return;
    client_before = client.sender->datagrams_sent;
    server_before = pipe.server_sender().datagrams_sent;
  });
  // A request per call, each with the ACK of the reply before it; then the ACK of the last
  // reply, which no request follows, alone.
  EXPECT_EQ(client.sender->datagrams_sent - client_before, std::uint64_t{kCalls - kWarmUp + 1});
  EXPECT_EQ(pipe.server_sender().datagrams_sent - server_before, std::uint64_t{kCalls - kWarmUp});
}

// The reply wakes the caller, whose next request must leave in the same turn of the loop: the
// flush a read posts behind the wake-ups it posted. Posted by the caller's write instead, the
// flush ran behind whatever was queued after the wake-ups, and on a real loop that is the
// reactor's next poll: one more epoll_wait per call and side. A handler posted right after each
// read stands for that poll here; it must find the next request already sent.
TEST(PacketEconomy, TheCallersNextRequestLeavesBeforeTheLoopPollsAgain) {
  QuicPipe pipe;
  auto& client = connect_client(pipe);
  ASSERT_TRUE(client.connection->is_open());

  // Past the first calls, whose packets ngtcp2 may pace while its RTT estimate settles.
  constexpr int kWarmUp = 20;
  constexpr int kCalls = 50;
  bool counting = false;
  int replies_read = 0;
  int requests_sent_before_the_poll = 0;
  pipe.after_client_read = [&] {
    if (!counting) return;
    ++replies_read;
    const std::uint64_t sent_at_read = client.sender->datagrams_sent;
    asio::post(pipe.io, [&, sent_at_read] {
      if (client.sender->datagrams_sent > sent_at_read) ++requests_sent_before_the_poll;
    });
  };
  back_to_back_calls(pipe, client, kCalls, 't', [&](int call) { counting = call >= kWarmUp; });
  // One reply per call read after the warm-up; every one but the last is followed by a request.
  EXPECT_EQ(replies_read, kCalls - kWarmUp);
  EXPECT_EQ(requests_sent_before_the_poll, kCalls - kWarmUp - 1);
}

// Stream credit goes back in batches (once the client has fewer than half of max_streams_bidi
// left to open), never so late that a client wanting the whole limit at once is stuck: after
// sequential calls that leave credit owed, the full limit of concurrent calls still completes.
TEST(PacketEconomy, BatchedStreamCreditStillLetsTheClientUseTheWholeLimit) {
  quic::TransportSettings settings;
  settings.max_streams_bidi = 4;
  QuicPipe pipe(settings);
  auto& client = connect_client(pipe);
  ASSERT_TRUE(client.connection->is_open());
  for (int round = 0; round < 5; ++round) {
    (void)sequential_calls(pipe, client, 3);
    std::string out[4];
    for (auto& o : out) start_echo_call(pipe, client.connection, Bytes(64, 'c'), o);
    pipe.io.poll();
    const auto all_done = [&] {
      return std::all_of(std::begin(out), std::end(out), [](const std::string& o) { return !o.empty(); });
    };
    for (int hop = 0; hop < 20 && !all_done(); ++hop) cross(pipe);
    for (const auto& o : out) EXPECT_EQ(o, std::string(64, 'c')) << "round " << round;
  }
}

}  // namespace
}  // namespace rpcnet::testing
