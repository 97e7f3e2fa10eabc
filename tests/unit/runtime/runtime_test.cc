// Runtime: its loops, and next_executor's round-robin order.
#include "rpcnet/runtime.h"

#include <gtest/gtest.h>

namespace rpcnet {
namespace {

TEST(Runtime, NextExecutorVisitsEveryLoopInTurn) {
  Runtime runtime(3);
  ASSERT_EQ(runtime.size(), 3u);
  for (int round = 0; round < 2; ++round) {
    for (std::size_t i = 0; i < runtime.size(); ++i) {
      EXPECT_TRUE(runtime.next_executor() == runtime.executor(i)) << "round " << round << ", loop " << i;
    }
  }
}

}  // namespace
}  // namespace rpcnet
