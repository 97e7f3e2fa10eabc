// VerifiedChainCache (src/quic/verified_chain_cache.h): exact chains only, expiry at the chain's
// notAfter or the TTL, failures never stored, bounded with the soonest-expiring entry evicted.
#include "quic/verified_chain_cache.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace rpcnet::quic {
namespace {

using Clock = VerifiedChainCache::Clock;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const Clock::time_point kStart = Clock::from_time_t(1'800'000'000);

TEST(VerifiedChainCache, RemembersExactlyTheChainItWasGiven) {
  VerifiedChainCache cache;
  const std::string chain = VerifiedChainCache::key_of({"leaf-der", "ca-der"});
  EXPECT_FALSE(cache.contains(chain, kStart));
  cache.remember(chain, kStart + hours(24), kStart);
  EXPECT_TRUE(cache.contains(chain, kStart + seconds(1)));
  EXPECT_FALSE(cache.contains(VerifiedChainCache::key_of({"leaf-der"}), kStart));
  EXPECT_FALSE(cache.contains(VerifiedChainCache::key_of({"leaf-deR", "ca-der"}), kStart));
  EXPECT_FALSE(cache.contains(VerifiedChainCache::key_of({"ca-der", "leaf-der"}), kStart));
}

TEST(VerifiedChainCache, KeysOfDifferentChainsDifferEvenWhenTheirBytesConcatenateAlike) {
  EXPECT_NE(VerifiedChainCache::key_of({"ab", "c"}), VerifiedChainCache::key_of({"a", "bc"}));
  EXPECT_NE(VerifiedChainCache::key_of({"abc"}), VerifiedChainCache::key_of({"ab", "c"}));
  EXPECT_EQ(VerifiedChainCache::key_of({"ab", "c"}), std::string("\0\0\0\2ab\0\0\0\1c", 11));
}

TEST(VerifiedChainCache, AnEntryEndsAtTheChainsNotAfter) {
  VerifiedChainCache cache(8, hours(1));
  const std::string chain = VerifiedChainCache::key_of({"leaf"});
  cache.remember(chain, kStart + minutes(5), kStart);
  EXPECT_TRUE(cache.contains(chain, kStart + minutes(5) - seconds(1)));
  EXPECT_FALSE(cache.contains(chain, kStart + minutes(5)));
  EXPECT_EQ(cache.size(), 0u);  // dropped when found expired
}

TEST(VerifiedChainCache, AnEntryEndsAfterTheTtlEvenWhenTheChainIsValidLonger) {
  VerifiedChainCache cache(8, minutes(10));
  const std::string chain = VerifiedChainCache::key_of({"leaf"});
  cache.remember(chain, kStart + hours(24 * 365), kStart);
  EXPECT_TRUE(cache.contains(chain, kStart + minutes(10) - seconds(1)));
  EXPECT_FALSE(cache.contains(chain, kStart + minutes(10)));
}

TEST(VerifiedChainCache, AChainAlreadyExpiredIsNotStored) {
  VerifiedChainCache cache;
  const std::string chain = VerifiedChainCache::key_of({"leaf"});
  cache.remember(chain, kStart, kStart);
  cache.remember(chain, kStart - seconds(1), kStart);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_FALSE(cache.contains(chain, kStart - seconds(2)));
}

TEST(VerifiedChainCache, AnOversizedChainIsNotHeld) {
  VerifiedChainCache cache;
  const std::string padded(VerifiedChainCache::kMaxChainBytes - 4, 'x');
  const std::string at_limit = VerifiedChainCache::key_of({padded});
  const std::string over = VerifiedChainCache::key_of({padded + "y"});
  ASSERT_EQ(at_limit.size(), VerifiedChainCache::kMaxChainBytes);
  cache.remember(at_limit, kStart + hours(1), kStart);
  cache.remember(over, kStart + hours(1), kStart);
  EXPECT_TRUE(cache.contains(at_limit, kStart));
  EXPECT_FALSE(cache.contains(over, kStart));
  EXPECT_EQ(cache.size(), 1u);
}

TEST(VerifiedChainCache, VerifyingAgainExtendsTheEntryWithoutAddingOne) {
  VerifiedChainCache cache(8, minutes(10));
  const std::string chain = VerifiedChainCache::key_of({"leaf"});
  cache.remember(chain, kStart + hours(1), kStart);
  cache.remember(chain, kStart + hours(1), kStart + minutes(9));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_TRUE(cache.contains(chain, kStart + minutes(15)));
}

TEST(VerifiedChainCache, WhenFullTheEntryExpiringFirstGoes) {
  VerifiedChainCache cache(3, hours(10));
  for (int i = 0; i < 3; ++i) {
    cache.remember(VerifiedChainCache::key_of({"chain" + std::to_string(i)}), kStart + hours(5 - i), kStart);
  }
  cache.remember(VerifiedChainCache::key_of({"chain3"}), kStart + hours(9), kStart);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_TRUE(cache.contains(VerifiedChainCache::key_of({"chain0"}), kStart));
  EXPECT_TRUE(cache.contains(VerifiedChainCache::key_of({"chain1"}), kStart));
  EXPECT_FALSE(cache.contains(VerifiedChainCache::key_of({"chain2"}), kStart));  // expired first
  EXPECT_TRUE(cache.contains(VerifiedChainCache::key_of({"chain3"}), kStart));
}

TEST(VerifiedChainCache, ExpiredEntriesMakeRoomBeforeAnyLiveOneIsEvicted) {
  VerifiedChainCache cache(2, hours(10));
  cache.remember(VerifiedChainCache::key_of({"short"}), kStart + minutes(1), kStart);
  cache.remember(VerifiedChainCache::key_of({"long"}), kStart + hours(5), kStart);
  cache.remember(VerifiedChainCache::key_of({"new"}), kStart + hours(1), kStart + minutes(2));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(cache.contains(VerifiedChainCache::key_of({"long"}), kStart + minutes(2)));
  EXPECT_TRUE(cache.contains(VerifiedChainCache::key_of({"new"}), kStart + minutes(2)));
}

}  // namespace
}  // namespace rpcnet::quic
