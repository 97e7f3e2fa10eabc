// UdpSocket::receive_ready over real loopback sockets: it says when datagrams may be left
// queued (the caller must read on without waiting: the socket's wait is edge-triggered), and it
// sizes its reads so a turn stays near its byte budget.
#include "runtime/udp_socket.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "rpcnet/address.h"

namespace rpcnet::runtime {
namespace {

class UdpSocketReceive : public ::testing::Test {
 protected:
  void SetUp() override {
    auto receiver = UdpSocket::bind(loop_.get_executor(), *parse_socket_address("127.0.0.1:0"), {});
    ASSERT_TRUE(receiver) << receiver.error().to_string();
    receiver_ = std::move(*receiver);
    auto sender = UdpSocket::connect(loop_.get_executor(), receiver_->local_address(), {});
    ASSERT_TRUE(sender) << sender.error().to_string();
    sender_ = std::move(*sender);
  }

  // Queues `count` datagrams of `size` bytes at the receiver (loopback delivers synchronously).
  void send(int count, std::size_t size) {
    const std::vector<std::uint8_t> payload(size, 0x42);
    for (int i = 0; i < count; ++i) sender_->send(nullptr, 0, payload.data(), payload.size(), payload.size());
  }

  UdpSocket::Received receive(std::vector<std::size_t>& sizes, int max_batches,
                              std::size_t max_bytes = SIZE_MAX) {
    return receiver_->receive_ready([&](const ReceivedDatagram& d) { sizes.push_back(d.data.size()); },
                                    max_batches, max_bytes);
  }

  asio::io_context loop_;
  std::unique_ptr<UdpSocket> receiver_;
  std::unique_ptr<UdpSocket> sender_;
};

TEST_F(UdpSocketReceive, SaysMoreMayBeQueuedWhenItStopsAtItsBatchLimit) {
  send(40, 100);
  std::vector<std::size_t> sizes;
  auto first = receive(sizes, 1);
  EXPECT_EQ(first.delivered, 16u);
  EXPECT_TRUE(first.more_ready);
  auto second = receive(sizes, 1);
  EXPECT_EQ(second.delivered, 16u);
  EXPECT_TRUE(second.more_ready);
  auto third = receive(sizes, 1);
  EXPECT_EQ(third.delivered, 8u);
  EXPECT_FALSE(third.more_ready);  // a short read: the queue was empty
  EXPECT_EQ(sizes, std::vector<std::size_t>(40, 100));
  auto empty = receive(sizes, 1);
  EXPECT_EQ(empty.delivered, 0u);
  EXPECT_FALSE(empty.more_ready);
}

TEST_F(UdpSocketReceive, ExactlyAFullBatchStillSaysMoreMayBeQueued) {
  // The kernel does not say whether anything is left: a full batch must be followed by a read.
  send(16, 100);
  std::vector<std::size_t> sizes;
  EXPECT_TRUE(receive(sizes, 1).more_ready);
  auto after = receive(sizes, 1);
  EXPECT_EQ(after.delivered, 0u);
  EXPECT_FALSE(after.more_ready);
}

TEST_F(UdpSocketReceive, SeveralBatchesInOneCallDrainTheQueue) {
  send(40, 100);
  std::vector<std::size_t> sizes;
  auto all = receive(sizes, 4);
  EXPECT_EQ(all.delivered, 40u);
  EXPECT_FALSE(all.more_ready);
}

TEST_F(UdpSocketReceive, ReadsSizedByTheLargestRecentDatagramKeepATurnNearItsByteBudget) {
  send(30, 9000);
  std::vector<std::size_t> sizes;
  // Nothing read yet: datagrams are assumed to be of a 1500-byte path, so 32 KiB asks for 16.
  auto first = receive(sizes, 4, 32 * 1024);
  EXPECT_EQ(first.delivered, 16u);
  EXPECT_TRUE(first.more_ready);
  // Now 9000-byte datagrams are known: 32 KiB is three of them per read; the turn stops once
  // the budget is spent.
  auto second = receive(sizes, 4, 32 * 1024);
  EXPECT_EQ(second.delivered, 4u);  // 3 (27,000 bytes), then 1 for the remaining 5,768
  EXPECT_TRUE(second.more_ready);
  auto rest = receive(sizes, 8);
  EXPECT_EQ(rest.delivered, 10u);
  EXPECT_FALSE(rest.more_ready);
  EXPECT_EQ(sizes, std::vector<std::size_t>(30, 9000));
}

TEST_F(UdpSocketReceive, ABudgetSmallerThanOneDatagramStillReadsOne) {
  send(3, 9000);
  std::vector<std::size_t> sizes;
  auto first = receive(sizes, 4, 1);
  EXPECT_EQ(first.delivered, 1u);
  EXPECT_TRUE(first.more_ready);
}

}  // namespace
}  // namespace rpcnet::runtime
