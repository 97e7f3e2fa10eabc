// rpc::read_single_message: the message is returned only after the end that follows it; an end
// before any message, and an error from either read, are reported as such.
#include "rpc/read_single.h"
#include "support/error_matchers.h"

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <deque>
#include <optional>

namespace rpcnet::rpc {
namespace {

using Read = Result<std::optional<Bytes>>;

// Replays scripted reads and counts them.
struct ScriptedReads {
  std::deque<Read> script;
  int reads = 0;
  asio::awaitable<Read> operator()() {
    ++reads;
    Read next = std::move(script.front());
    script.pop_front();
    co_return next;
  }
};

Result<Bytes> run(ScriptedReads& reads) {
  asio::io_context io;
  auto future = asio::co_spawn(io, read_single_message(reads, "nothing came"), asio::use_future);
  io.run();
  return future.get();
}

TEST(ReadSingleMessageTest, ReturnsTheMessageAfterReadingTheEndThatFollowsIt) {
  ScriptedReads reads{{Read(std::optional<Bytes>(to_bytes("one"))), Read(std::optional<Bytes>())}};
  auto result = run(reads);
  ASSERT_TRUE(result);
  EXPECT_EQ(to_string(*result), "one");
  EXPECT_EQ(reads.reads, 2) << "the message must not be returned before its end was read";
}

TEST(ReadSingleMessageTest, AnEndBeforeAnyMessageIsAnInternalStreamError) {
  ScriptedReads reads{{Read(std::optional<Bytes>())}};
  auto result = run(reads);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind(), ErrorKind::kStream);
  EXPECT_EQ(result.error().code(), StatusCode::kInternal);
  EXPECT_NE(result.error().to_string().find("nothing came"), std::string::npos);
  EXPECT_EQ(reads.reads, 1);
}

TEST(ReadSingleMessageTest, AnErrorInPlaceOfTheMessageIsReturnedAsIs) {
  ScriptedReads reads{{Read(RpcError::timeout("late"))}};
  auto result = run(reads);
  ASSERT_FALSE(result);
  EXPECT_THAT(result, rpcnet::testing::ErrorIs(ErrorKind::kCall, StatusCode::kDeadlineExceeded));
  EXPECT_EQ(reads.reads, 1);
}

TEST(ReadSingleMessageTest, AnErrorInPlaceOfTheEndWinsOverTheMessage) {
  ScriptedReads reads{{Read(std::optional<Bytes>(to_bytes("one"))),
                       Read(RpcError::status(StatusCode::kDataLoss, "trailer broken"))}};
  auto result = run(reads);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), StatusCode::kDataLoss);
  EXPECT_EQ(reads.reads, 2);
}

}  // namespace
}  // namespace rpcnet::rpc
