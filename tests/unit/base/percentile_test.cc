// percentile(): nearest rank, the convention every reported benchmark number uses.
#include "base/percentile.h"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

namespace rpcnet {
namespace {

TEST(PercentileTest, NoSamplesHaveNoPercentile) {
  EXPECT_EQ(percentile(std::vector<double>{}, 0.5), std::nullopt);
}

TEST(PercentileTest, IsTheSampleAtRankCeilOfFractionTimesCount) {
  const std::vector<int> four{4, 1, 3, 2};  // unsorted on purpose
  EXPECT_EQ(percentile(four, 0.50), 2);     // ceil(2.0) = rank 2, no averaging of 2 and 3
  EXPECT_EQ(percentile(four, 0.51), 3);     // ceil(2.04) = rank 3
  EXPECT_EQ(percentile(four, 0.25), 1);
  EXPECT_EQ(percentile(four, 1.00), 4);
  EXPECT_EQ(percentile(four, 0.00), 1);  // rank 0 is clamped to the minimum
}

TEST(PercentileTest, P99OfAHundredSamplesIsTheNinetyNinthSmallest) {
  std::vector<int> hundred;
  for (int i = 100; i >= 1; --i) hundred.push_back(i);
  // 0.99 * 100 is 98.99999999999999 or 99.00000000000001 in binary: still rank 99.
  EXPECT_EQ(percentile(hundred, 0.99), 99);
  EXPECT_EQ(percentile(hundred, 0.50), 50);
  EXPECT_EQ(percentile(hundred, 0.999), 100);
}

TEST(PercentileTest, HighPercentilesOfFewSamplesAreTheMaximum) {
  EXPECT_EQ(percentile(std::vector<double>{3.0, 9.0, 5.0}, 0.99), 9.0);
  EXPECT_EQ(percentile(std::vector<double>{7.5}, 0.01), 7.5);
}

TEST(PercentileTest, FractionsOutsideZeroToOneAreClamped) {
  const std::vector<int> three{1, 2, 3};
  EXPECT_EQ(percentile(three, -1.0), 1);
  EXPECT_EQ(percentile(three, 2.0), 3);
}

TEST(PercentileTest, WorksOnDurations) {
  using std::chrono::milliseconds;
  const std::vector<milliseconds> samples{milliseconds(30), milliseconds(10), milliseconds(20)};
  EXPECT_EQ(percentile(samples, 0.5), milliseconds(20));
}

}  // namespace
}  // namespace rpcnet
