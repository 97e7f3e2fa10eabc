// The server endpoint against an attacker with exact control of the network: one ServerEndpoint
// and its clients in memory (QuicPipe), datagrams delivered, dropped, replayed or re-addressed
// at will, no timers running unless asked. Each test states the bound it checks.
#include <gtest/gtest.h>
#include <ngtcp2/ngtcp2.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <algorithm>
#include <string>

#include "support/quic_pipe.h"
#include "support/error_matchers.h"

namespace rpcnet::testing {
namespace {

using quic::AdmissionLimits;
using quic::Connection;

std::uint64_t count(const std::atomic<std::uint64_t>& counter) { return counter.load(); }
const quic::EndpointCounters& counters(QuicPipe& pipe) { return pipe.server().counters(); }

Bytes short_header_packet(const Bytes& dcid, std::size_t size) {
  Bytes packet(size, 0x5a);
  packet[0] = 0x40 | 0x01;  // short header, fixed bit
  std::copy(dcid.begin(), dcid.end(), packet.begin() + 1);
  return packet;
}

TEST(HostileEndpoint, AHandshakeCompletesThroughThePipe) {
  QuicPipe pipe;
  auto& client = pipe.add_client();
  pipe.pump();
  EXPECT_TRUE(client.connection->is_open());
  ASSERT_EQ(pipe.server_connections.size(), 1u);
  EXPECT_TRUE(pipe.server_connections[0]->is_open());
  EXPECT_EQ(pipe.shared().admission.handshakes(), 0u);
  EXPECT_EQ(pipe.shared().admission.connections(), 1u);
}

TEST(HostileEndpoint, RetryMakesAClientProveItsAddressBeforeAnyTlsWork) {
  AdmissionLimits limits;
  limits.retry_threshold = 0;  // always
  QuicPipe pipe({}, limits);
  auto& client = pipe.add_client();
  // Only the first Initial: the answer is a Retry, and no connection state exists.
  ASSERT_EQ(client.sender->queue.size(), 1u);
  const PipeDatagram first = client.sender->queue.front();
  client.sender->queue.pop_front();
  pipe.deliver_to_server(first);
  EXPECT_EQ(count(counters(pipe).retries_sent), 1u);
  EXPECT_TRUE(pipe.server_connections.empty());
  EXPECT_EQ(pipe.shared().admission.handshakes(), 0u);
  ASSERT_EQ(pipe.server_sender().queue.size(), 1u);
  EXPECT_LT(pipe.server_sender().queue.front().data.size(), first.data.size())
      << "a Retry must be smaller than the Initial that caused it (no amplification)";
  // The client follows the Retry by itself and gets its connection.
  pipe.pump();
  EXPECT_TRUE(client.connection->is_open());
  EXPECT_EQ(count(counters(pipe).connections_accepted), 1u);
}

TEST(HostileEndpoint, ARetryTokenReplayedFromAnotherAddressIsDropped) {
  AdmissionLimits limits;
  limits.retry_threshold = 0;
  QuicPipe pipe({}, limits);
  auto& client = pipe.add_client();
  // The client gets its Retry; its Initial with the token is captured on the way, not delivered.
  client.drop_outgoing = [&](const PipeDatagram&) { return client.sent_log.size() > 1; };
  pipe.pump();
  ASSERT_EQ(client.sent_log.size(), 2u);
  const PipeDatagram with_token = client.sent_log[1];
  // From another address the token is worthless: dropped, nothing sent there.
  pipe.inject(with_token.data, "127.0.0.66", 6666);
  EXPECT_EQ(count(counters(pipe).invalid_tokens), 1u);
  EXPECT_TRUE(pipe.server_connections.empty());
  EXPECT_EQ(pipe.server_datagrams_to("127.0.0.66", 6666), 0u);
  // From the address it was minted for, the same bytes open the connection.
  pipe.deliver_to_server(with_token);
  EXPECT_EQ(pipe.server_connections.size(), 1u);
  EXPECT_EQ(count(counters(pipe).connections_accepted), 1u);
}

TEST(HostileEndpoint, PastMaxConnectionsAClientIsRefusedWithTheLimitNamed) {
  AdmissionLimits limits;
  limits.max_connections = 2;
  QuicPipe pipe({}, limits);
  auto& a = pipe.add_client();
  auto& b = pipe.add_client();
  pipe.pump();
  auto& c = pipe.add_client();
  pipe.pump();
  EXPECT_TRUE(a.connection->is_open());
  EXPECT_TRUE(b.connection->is_open());
  ASSERT_TRUE(c.connection->close_error().has_value());
  EXPECT_THAT(c.connection->close_error(), ErrorIs(ErrorKind::kConnection, StatusCode::kUnavailable));
  EXPECT_NE(c.connection->close_error()->message().find(
                "refused the connection: the server has its maximum of 2 connections"),
            std::string::npos)
      << c.connection->close_error()->message();
  EXPECT_EQ(count(counters(pipe).refused_connection_limit), 1u);
  EXPECT_EQ(pipe.shared().admission.connections(), 2u);
}

TEST(HostileEndpoint, PastMaxHandshakesInProgressAClientIsRefused) {
  AdmissionLimits limits;
  limits.max_handshakes = 2;
  limits.retry_threshold = 1000;
  QuicPipe pipe({}, limits);
  // Three first Initials arrive before any handshake can finish.
  std::vector<QuicPipe::Client*> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(&pipe.add_client());
  for (auto* client : clients) {
    pipe.deliver_to_server(client->sender->queue.front());
    client->sender->queue.pop_front();
  }
  EXPECT_EQ(pipe.shared().admission.handshakes(), 2u);
  EXPECT_EQ(count(counters(pipe).refused_handshake_limit), 1u);
  pipe.pump();
  EXPECT_TRUE(clients[0]->connection->is_open());
  EXPECT_TRUE(clients[1]->connection->is_open());
  ASSERT_TRUE(clients[2]->connection->close_error().has_value());
  EXPECT_NE(clients[2]->connection->close_error()->message().find(
                "the server has its maximum of 2 handshakes in progress"),
            std::string::npos)
      << clients[2]->connection->close_error()->message();
  EXPECT_EQ(pipe.shared().admission.handshakes(), 0u) << "completed handshakes are counted out";
}

TEST(HostileEndpoint, OneSourceAddressGetsItsBurstOfHandshakesThenIsRefused) {
  AdmissionLimits limits;
  limits.retry_threshold = 0;  // under pressure: every client proves its address, then is counted
  limits.handshakes_per_source_per_second = 0.001;  // nothing refills during the test
  limits.handshake_burst_per_source = 3;
  QuicPipe pipe({}, limits);
  std::vector<QuicPipe::Client*> clients;
  for (int i = 0; i < 5; ++i) clients.push_back(&pipe.add_client());  // all from 127.0.0.2
  pipe.pump();
  int open = 0;
  int refused = 0;
  for (auto* client : clients) {
    if (client->connection->is_open()) ++open;
    const auto& error = client->connection->close_error();
    if (error && error->message().find("too many new connections from this address") != std::string::npos) {
      ++refused;
    }
  }
  EXPECT_EQ(open, 3);
  EXPECT_EQ(refused, 2);
  EXPECT_EQ(count(counters(pipe).refused_source_rate), 2u);
}

TEST(HostileEndpoint, AnUnknownShortHeaderGetsAStatelessResetSmallerThanItWithTheRightToken) {
  QuicPipe pipe;
  const Bytes dcid(16, 0x07);
  pipe.inject(short_header_packet(dcid, 100));
  ASSERT_EQ(pipe.server_sender().queue.size(), 1u);
  const Bytes reset = pipe.server_sender().queue.front().data;
  EXPECT_EQ(reset.size(), 99u) << "smaller than the trigger, so two endpoints cannot ping-pong";
  std::uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN];
  pipe.server().stateless_reset_token(dcid.data(), dcid.size(), token);
  EXPECT_TRUE(std::equal(token, token + sizeof token, reset.end() - sizeof token));
  EXPECT_EQ(reset[0] & 0xc0, 0x40) << "it looks like a short-header packet";
  // Too small to answer without risking a loop: nothing.
  pipe.inject(short_header_packet(dcid, 40));
  EXPECT_EQ(pipe.server_sender().queue.size(), 1u);
}

TEST(HostileEndpoint, StatelessResetsAreRateLimited) {
  AdmissionLimits limits;
  limits.stateless_resets_per_second = 5;
  QuicPipe pipe({}, limits);
  for (int i = 0; i < 200; ++i) {
    pipe.inject(short_header_packet(Bytes(16, static_cast<std::uint8_t>(i)), 200));
  }
  const auto sent = count(counters(pipe).stateless_resets_sent);
  EXPECT_EQ(sent, 5u) << "a burst of 5; no virtual time passes, so nothing refills";
  EXPECT_EQ(sent + count(counters(pipe).stateless_resets_suppressed), 200u);
}

TEST(HostileEndpoint, AClientOfARestartedServerLearnsAtOnceFromTheStatelessReset) {
  QuicPipe pipe;
  auto& client = pipe.add_client();
  pipe.pump();
  ASSERT_TRUE(client.connection->is_open());
  // A new server process with the same key: same reset secret, no connection state.
  QuicPipe restarted({}, {}, pipe.certificates());
  std::string out;
  start_echo_call(pipe, client.connection, to_bytes("anyone there?"), out);
  pipe.io.poll();
  ASSERT_FALSE(client.sender->queue.empty());
  while (!client.sender->queue.empty()) {
    restarted.deliver_to_server(client.sender->queue.front());
    client.sender->queue.pop_front();
  }
  ASSERT_GE(count(restarted.server().counters().stateless_resets_sent), 1u);
  // The reset reaches the client, which gives up on the spot.
  for (auto& d : restarted.server_sender().queue) {
    client.connection->on_datagram(runtime::ReceivedDatagram{std::span<const std::uint8_t>(d.data),
                                                             reinterpret_cast<const sockaddr*>(&d.from),
                                                             d.from_len},
                                   pipe.now_ns());
  }
  ASSERT_TRUE(client.connection->close_error().has_value());
  EXPECT_THAT(client.connection->close_error(), ErrorIs(ErrorKind::kConnection, StatusCode::kUnavailable));
  EXPECT_NE(client.connection->close_error()->message().find("stateless reset"), std::string::npos)
      << client.connection->close_error()->message();
}

TEST(HostileEndpoint, AClosingConnectionAnswersReplaysAtADecayingRate) {
  QuicPipe pipe;
  auto& client = pipe.add_client();
  pipe.pump();
  ASSERT_TRUE(client.connection->is_open());
  const Bytes replayed = client.sent_log.back().data;  // a 1-RTT packet of this connection
  pipe.server().close_all(0, "bye");
  EXPECT_EQ(count(counters(pipe).close_packets_sent), 1u);
  // 1000 replays while the connection lingers in its closing period (no timer runs here).
  for (int i = 0; i < 1000; ++i) {
    pipe.deliver_to_server(PipeDatagram{replayed, client.sent_log.back().from,
                                        client.sent_log.back().from_len, {}, 0});
  }
  // Answers go to the 1st, 2nd, 4th, ... 512th: 10 of 1000, plus the first close.
  EXPECT_EQ(count(counters(pipe).close_packets_sent), 11u);
  EXPECT_EQ(count(counters(pipe).close_packets_suppressed), 990u);
}

TEST(HostileEndpoint, AnUnvalidatedAddressNeverGetsMoreThanThreeTimesWhatItSent) {
  QuicPipe pipe;
  auto& client = pipe.add_client();
  // Only the client's first Initial reaches the server: the address stays unvalidated.
  const PipeDatagram initial = client.sender->queue.front();
  client.sender->queue.clear();
  pipe.deliver_to_server(initial);
  std::uint64_t received = initial.data.size();
  const auto sent_to_client = [&] {
    std::uint64_t bytes = 0;
    for (const auto& d : pipe.server_sender().queue) bytes += d.data.size();
    return bytes;
  };
  EXPECT_LE(sent_to_client(), 3 * received);
  // The server shuts down mid-handshake (what RpcServer::shutdown does), then the "client" (a
  // spoofed source, say) keeps poking with small packets.
  pipe.server().close_all(1, "server shutting down");
  ngtcp2_version_cid vc;
  ASSERT_EQ(ngtcp2_pkt_decode_version_cid(&vc, initial.data.data(), initial.data.size(), 16), 0);
  Bytes poke(60, 0);
  std::copy(initial.data.begin(), initial.data.begin() + 6 + vc.dcidlen, poke.begin());  // same DCID
  for (int i = 0; i < 2000; ++i) {
    pipe.deliver_to_server(PipeDatagram{poke, initial.from, initial.from_len, {}, 0});
    received += poke.size();
    ASSERT_LE(sent_to_client(), 3 * received) << "after poke " << i;
  }
  EXPECT_GT(count(counters(pipe).close_packets_suppressed), 0u);
}

// Two loops of one server: a packet for loop 0's connection that reaches loop 1's socket is
// forwarded (the client's address changed, so the kernel picked another socket); junk that only
// looks like loop 0's is not; and the queue to a loop is bounded.
TEST(HostileEndpoint, OnlyExistingConnectionIdsAreForwardedAndTheQueueIsBounded) {
  AdmissionLimits limits;
  limits.max_forward_queue = 4;
  QuicPipe pipe({}, limits);
  CaptureSender loop1_sender("127.0.0.1", 4433);
  quic::ServerEndpoint& loop1 = pipe.add_loop(loop1_sender);
  auto& client = pipe.add_client();
  pipe.pump();
  ASSERT_TRUE(client.connection->is_open());
  // The client's last 1-RTT datagram (short header) to loop 0's connection. Which datagram came
  // last depends on the ACK timers, and a coalesced Handshake packet would make the made-up ID
  // below look like a new connection rather than a stray short-header packet.
  const auto last_short = std::find_if(client.sent_log.rbegin(), client.sent_log.rend(),
                                       [](const PipeDatagram& d) { return (d.data[0] & 0x80) == 0; });
  ASSERT_NE(last_short, client.sent_log.rend());
  const PipeDatagram real = *last_short;
  const auto at_loop1 = [&](const Bytes& data) {
    loop1.receive(runtime::ReceivedDatagram{std::span<const std::uint8_t>(data),
                                            reinterpret_cast<const sockaddr*>(&real.from),
                                            real.from_len},
                  pipe.now_ns());
  };
  at_loop1(real.data);
  EXPECT_EQ(count(loop1.counters().datagrams_forwarded), 1u);
  pipe.io.poll();  // loop 0 takes it
  // A made-up ID that starts with loop 0's index: not forwarded, answered by a reset here.
  Bytes fake = real.data;
  for (std::size_t i = 2; i < 17 && i < fake.size(); ++i) fake[i] ^= 0x5a;
  fake.resize(std::max<std::size_t>(fake.size(), 100), 0);  // an ACK alone is too small to answer
  at_loop1(fake);
  EXPECT_EQ(count(loop1.counters().datagrams_forwarded), 1u);
  EXPECT_EQ(count(loop1.counters().stateless_resets_sent), 1u);
  // Ten real ones before loop 0 runs: four wait in its queue, six are dropped.
  for (int i = 0; i < 10; ++i) at_loop1(real.data);
  EXPECT_EQ(count(loop1.counters().datagrams_forwarded), 5u);
  EXPECT_EQ(count(loop1.counters().forwards_dropped), 6u);
  pipe.pump();
  EXPECT_TRUE(client.connection->is_open()) << "replayed duplicates do no harm";
}

TEST(HostileEndpoint, NatRebindingMovesTheConnectionAndTheCallInFlightCompletes) {
  QuicPipe pipe;
  pipe.echo_streams();
  auto& client = pipe.add_client();
  pipe.pump();
  ASSERT_TRUE(client.connection->is_open());
  std::string out;
  start_echo_call(pipe, client.connection, Bytes(5000, 'x'), out);
  pipe.io.poll();  // the request is queued at the client, not yet delivered
  pipe.rebind_nat(client, 50000);
  pipe.pump();
  EXPECT_EQ(out, std::string(5000, 'x'));
  EXPECT_GT(pipe.server_datagrams_to("127.0.0.3", 50000), 0u) << "replies follow the new path";
  EXPECT_TRUE(client.connection->is_open());
  EXPECT_EQ(pipe.server_connections.size(), 1u) << "the same connection, not a new one";
}

}  // namespace
}  // namespace rpcnet::testing
