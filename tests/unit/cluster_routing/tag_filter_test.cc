// TagFilter: the exact accepted and rejected texts, canonical form, and matching.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "rpcnet/cluster/tag_filter.h"
#include "support/error_matchers.h"

namespace rpcnet::cluster {
namespace {

using Tags = std::map<std::string, std::string>;

struct Accepted {
  const char* text;
  const char* canonical;
};

TEST(TagFilter, AcceptsAndCanonicalises) {
  const Accepted cases[] = {
      {"", ""},
      {"   ", ""},
      {"gpu", "gpu"},
      {"role=worker", "role=worker"},
      {"role=worker,gpu", "gpu,role=worker"},
      {"  role = worker ,\tgpu  ", "gpu,role=worker"},
      {"zone=eu-west-1,role=worker,gpu", "gpu,role=worker,zone=eu-west-1"},
      {"key=", "key="},          // present with an empty value
      {"path=/a b/c", "path=/a b/c"},  // inner blanks are part of the value
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto f = TagFilter::parse(c.text);
    ASSERT_TRUE(f.ok()) << f.error();
    EXPECT_EQ(f->to_string(), c.canonical);
    auto again = TagFilter::parse(f->to_string());
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *f);
  }
}

TEST(TagFilter, TermsKeepPresenceAndValueApart) {
  auto f = TagFilter::parse("role=worker,gpu,key=");
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f->terms().size(), 3u);
  EXPECT_EQ(f->terms()[0], (TagFilter::Term{"gpu", std::nullopt}));
  EXPECT_EQ(f->terms()[1], (TagFilter::Term{"key", std::string()}));
  EXPECT_EQ(f->terms()[2], (TagFilter::Term{"role", std::string("worker")}));
}

struct Rejected {
  std::string text;
  const char* message_part;
};

TEST(TagFilter, RejectsWithAConfigErrorNamingThePart) {
  const Rejected cases[] = {
      {"=worker", "'=worker': empty key"},
      {" = worker", "empty key"},
      {"a=b=c", "'a=b=c': more than one '='"},
      {"a==b", "more than one '='"},
      {"a,,b", "empty term"},
      {"a,", "empty term"},
      {",a", "empty term"},
      {"a, ,b", "empty term"},
      {"a,a=1", "'a=1': key named twice"},
      {"role=x,role=y", "key named twice"},
      {std::string(257, 'k'), "key longer than 256 bytes"},
      {"k=" + std::string(257, 'v'), "value longer than 256 bytes"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto f = TagFilter::parse(c.text);
    ASSERT_FALSE(f.ok());
    EXPECT_THAT(f, rpcnet::testing::ErrorIs(ErrorKind::kConfig, StatusCode::kInvalidArgument));
    EXPECT_NE(f.error().message().find(c.message_part), std::string::npos) << f.error().message();
  }
}

TEST(TagFilter, LimitsAreInclusive) {
  EXPECT_TRUE(TagFilter::parse(std::string(256, 'k')).ok());
  EXPECT_TRUE(TagFilter::parse("k=" + std::string(256, 'v')).ok());
  std::string many;
  for (int i = 0; i < 64; ++i) many += (i ? ",t" : "t") + std::to_string(i);
  EXPECT_TRUE(TagFilter::parse(many).ok());
  auto too_many = TagFilter::parse(many + ",t64");
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.error().message().find("more than 64 terms"), std::string::npos);
}

TEST(TagFilter, ErrorMessageQuotesAtMost64BytesOfTheTerm) {
  auto f = TagFilter::parse("=" + std::string(10000, 'x'));
  ASSERT_FALSE(f.ok());
  EXPECT_LT(f.error().message().size(), 200u);
}

TEST(TagFilter, MatchesIsAnAndOfPresenceAndExactValues) {
  const Tags worker_gpu{{"role", "worker"}, {"gpu", "a100"}};
  const Tags worker{{"role", "worker"}};
  const Tags router{{"role", "router"}, {"gpu", ""}};
  const Tags none;

  auto any = TagFilter::parse("");
  auto role = TagFilter::parse("role=worker");
  auto gpu = TagFilter::parse("gpu");
  auto both = TagFilter::parse("role=worker,gpu");
  auto empty_value = TagFilter::parse("gpu=");
  ASSERT_TRUE(any && role && gpu && both && empty_value);

  EXPECT_TRUE(any->matches(none));
  EXPECT_TRUE(any->matches(worker_gpu));
  EXPECT_TRUE(TagFilter().matches(router));

  EXPECT_TRUE(role->matches(worker_gpu));
  EXPECT_TRUE(role->matches(worker));
  EXPECT_FALSE(role->matches(router));
  EXPECT_FALSE(role->matches(none));

  EXPECT_TRUE(gpu->matches(worker_gpu));
  EXPECT_TRUE(gpu->matches(router));  // presence: the empty value counts
  EXPECT_FALSE(gpu->matches(worker));

  EXPECT_TRUE(both->matches(worker_gpu));
  EXPECT_FALSE(both->matches(worker));
  EXPECT_FALSE(both->matches(router));

  EXPECT_TRUE(empty_value->matches(router));
  EXPECT_FALSE(empty_value->matches(worker_gpu));

  // Values are exact: no prefix, case or whitespace folding.
  EXPECT_FALSE(role->matches(Tags{{"role", "worker2"}}));
  EXPECT_FALSE(role->matches(Tags{{"role", "Worker"}}));
  EXPECT_FALSE(role->matches(Tags{{"role", " worker"}}));
  EXPECT_FALSE(role->matches(Tags{{"Role", "worker"}}));
}

}  // namespace
}  // namespace rpcnet::cluster
