// Code rpcnet-gen generated from .proto files that import others, compiled and called over QUIC
// on loopback: the well-known types (found with no -I, their code from libprotobuf) and a file
// that imports one the build never named as an input (its message code generated too).
#include <gtest/gtest.h>

#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>

#include <memory>
#include <string>

#include "clock/clock.hpp"
#include "integration/harness.h"
#include "labeler/labeler.hpp"

namespace rpcnet::testing {
namespace {

using codegen::common::Tag;
using codegen::wkt::Event;
using google::protobuf::Empty;
using google::protobuf::Timestamp;

constexpr std::int64_t kNowSeconds = 1'700'000'000;

class FixedClock final : public codegen::wkt::ClockHandler {
 public:
  asio::awaitable<Result<Timestamp>> Now(const Empty&, CallContext&) override {
    Timestamp now;
    now.set_seconds(kNowSeconds);
    now.set_nanos(5);
    co_return now;
  }
  asio::awaitable<Result<Event>> Echo(const Event& request, CallContext&) override {
    co_return request;
  }
  asio::awaitable<Result<Empty>> Reset(const Empty&, CallContext&) override {
    ++resets;
    co_return Empty();
  }
  std::atomic<int> resets{0};
};

class CountingLabeler final : public codegen::importing::LabelerHandler {
 public:
  asio::awaitable<Result<codegen::importing::Labeled>> Label(const Tag& request,
                                                            CallContext&) override {
    codegen::importing::Labeled labeled;
    *labeled.mutable_tag() = request;
    labeled.set_count(static_cast<int>(request.label().size()));
    co_return labeled;
  }
};

Tag red_tag(std::string label) {
  Tag tag;
  tag.set_label(std::move(label));
  tag.set_color(codegen::common::COLOR_RED);
  tag.mutable_unit()->set_symbol("ms");
  tag.mutable_note()->set_text("nested");
  return tag;
}

class CodegenImportsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    codegen::wkt::ClockServer::register_with(server_.server(), clock_);
    codegen::importing::LabelerServer::register_with(server_.server(),
                                                     std::make_shared<CountingLabeler>());
    server_.start();
  }
  std::shared_ptr<FixedClock> clock_ = std::make_shared<FixedClock>();
  LoopbackServer server_;
};

TEST_F(CodegenImportsTest, WellKnownTypesAreRequestsAndResponses) {
  auto result = run_bounded(server_.runtime(), [&]() -> asio::awaitable<std::string> {
    codegen::wkt::ClockClient clock(co_await server_.connect());
    auto now = co_await clock.Now(Empty());
    if (!now) co_return now.error().to_string();
    auto reset = co_await clock.Reset(Empty());
    if (!reset) co_return reset.error().to_string();
    co_return google::protobuf::util::TimeUtil::ToString(*now);
  }());
  EXPECT_EQ(result, "2023-11-14T22:13:20.000000005Z");
  EXPECT_EQ(clock_->resets, 1);
}

TEST_F(CodegenImportsTest, EveryWellKnownFieldRoundTrips) {
  Event sent;
  sent.mutable_at()->set_seconds(kNowSeconds);
  sent.mutable_took()->set_seconds(3);
  sent.mutable_took()->set_nanos(250'000'000);
  ASSERT_TRUE(sent.mutable_payload()->PackFrom(red_tag("packed")));
  (*sent.mutable_attributes()->mutable_fields())["region"].set_string_value("eu-west");
  (*sent.mutable_attributes()->mutable_fields())["replicas"].set_number_value(3);
  *sent.mutable_tag() = red_tag("direct");

  auto echoed = run_bounded(server_.runtime(), [&]() -> asio::awaitable<Result<Event>> {
    codegen::wkt::ClockClient clock(co_await server_.connect());
    co_return co_await clock.Echo(sent);
  }());
  ASSERT_TRUE(echoed) << echoed.error();
  EXPECT_EQ(echoed->at().seconds(), kNowSeconds);
  EXPECT_EQ(google::protobuf::util::TimeUtil::ToString(echoed->took()), "3.250s");
  Tag unpacked;
  ASSERT_TRUE(echoed->payload().UnpackTo(&unpacked));
  EXPECT_EQ(unpacked.label(), "packed");
  EXPECT_EQ(unpacked.unit().symbol(), "ms");
  EXPECT_EQ(echoed->attributes().fields().at("region").string_value(), "eu-west");
  EXPECT_EQ(echoed->attributes().fields().at("replicas").number_value(), 3);
  EXPECT_EQ(echoed->tag().note().text(), "nested");
  // Struct is a map: compared field by field, since its serialized order is unspecified.
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*echoed, sent));
}

// common.proto (and units/unit.proto, which it imports) is no input of rpcnet_generate():
// importing.proto's messages and common.proto's are both usable here.
TEST_F(CodegenImportsTest, MessagesOfAFileThatWasNoInputRoundTrip) {
  auto labeled = run_bounded(server_.runtime(),
                             [&]() -> asio::awaitable<Result<codegen::importing::Labeled>> {
                               codegen::importing::LabelerClient labeler(co_await server_.connect());
                               co_return co_await labeler.Label(red_tag("fragile"));
                             }());
  ASSERT_TRUE(labeled) << labeled.error();
  EXPECT_EQ(labeled->count(), 7);
  EXPECT_EQ(labeled->tag().label(), "fragile");
  EXPECT_EQ(labeled->tag().color(), codegen::common::COLOR_RED);
  EXPECT_EQ(labeled->tag().unit().symbol(), "ms");
  EXPECT_EQ(labeled->tag().note().text(), "nested");
  // The imported file's descriptor was registered once, by the code generated for it.
  EXPECT_EQ(Tag::descriptor()->file()->name(), "common.proto");
  EXPECT_EQ(codegen::importing::Labeled::descriptor()->file()->dependency(0), Tag::descriptor()->file());
}

}  // namespace
}  // namespace rpcnet::testing
