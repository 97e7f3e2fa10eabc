// find_metadata: the first value under a key (keys are compared exactly).
#include "rpcnet/metadata.h"

#include <gtest/gtest.h>

namespace rpcnet {
namespace {

TEST(FindMetadata, ReturnsTheFirstValueUnderAnExactKey) {
  const Metadata metadata{{"trace-id", "abc"}, {"tenant", "t1"}, {"trace-id", "second"}, {"empty", ""}};
  EXPECT_EQ(find_metadata(metadata, "trace-id"), std::optional<std::string_view>("abc"));
  EXPECT_EQ(find_metadata(metadata, "tenant"), std::optional<std::string_view>("t1"));
  EXPECT_EQ(find_metadata(metadata, "empty"), std::optional<std::string_view>(""));
  EXPECT_EQ(find_metadata(metadata, "Tenant"), std::nullopt) << "keys are exact";
  EXPECT_EQ(find_metadata(metadata, "trace"), std::nullopt);
  EXPECT_EQ(find_metadata(Metadata{}, "trace-id"), std::nullopt);
}

}  // namespace
}  // namespace rpcnet
