// When ClusterClient's pooled connection to a worker may carry the next call: only a closed
// connection, a new address or a new boot time in the worker's incarnation replace it.
#include <gtest/gtest.h>

#include "cluster/pooled_connection.h"

namespace rpcnet::cluster {
namespace {

constexpr std::uint64_t kBoot = 1'780'000'000;  // Unix seconds

WorkerInfo worker(const char* address, std::uint64_t incarnation) {
  WorkerInfo info;
  info.id = "w1";
  info.address = *parse_socket_address(address);
  info.incarnation = incarnation;
  return info;
}

TEST(PooledConnection, ReusedWhileOpenAndTheWorkerIsTheSameProcess) {
  const WorkerInfo made_for = worker("10.0.0.1:4000", first_incarnation(kBoot));
  EXPECT_EQ(judge_pooled_connection(true, made_for, made_for), PooledVerdict::kReuse);
}

TEST(PooledConnection, RefutationsAndTagChangesOfTheSameBootKeepIt) {
  const WorkerInfo made_for = worker("10.0.0.1:4000", first_incarnation(kBoot) + 2);
  EXPECT_EQ(judge_pooled_connection(true, made_for, worker("10.0.0.1:4000", first_incarnation(kBoot) + 9)),
            PooledVerdict::kReuse);
  // Incarnations from before boot times were carried (all boot 0) never mean a restart.
  EXPECT_EQ(judge_pooled_connection(true, worker("10.0.0.1:4000", 3), worker("10.0.0.1:4000", 7)),
            PooledVerdict::kReuse);
}

TEST(PooledConnection, ANewBootTimeDropsIt) {
  const WorkerInfo made_for = worker("10.0.0.1:4000", first_incarnation(kBoot) + 5);
  EXPECT_EQ(judge_pooled_connection(true, made_for, worker("10.0.0.1:4000", first_incarnation(kBoot + 30))),
            PooledVerdict::kRestarted);
  EXPECT_EQ(judge_pooled_connection(true, worker("10.0.0.1:4000", 4), worker("10.0.0.1:4000", first_incarnation(kBoot))),
            PooledVerdict::kRestarted);
}

TEST(PooledConnection, AClosedConnectionOrANewAddressDropsIt) {
  const WorkerInfo made_for = worker("10.0.0.1:4000", first_incarnation(kBoot));
  EXPECT_EQ(judge_pooled_connection(false, made_for, made_for), PooledVerdict::kClosed);
  EXPECT_EQ(judge_pooled_connection(true, made_for, worker("10.0.0.1:4001", first_incarnation(kBoot))),
            PooledVerdict::kMoved);
}

}  // namespace
}  // namespace rpcnet::cluster
