// Built from rpcnet_generate(PROTOS imports/importing.proto PROTO_PATHS ${Protobuf_INCLUDE_DIRS}):
// an -I that holds none of the inputs keeps the input's own directory as an import root (it used
// to fail with "not under any proto path"), and common.proto, imported but never an input, gets
// its message code generated and compiled. That this test links is most of the test.
#include <gtest/gtest.h>

#include "labeler/labeler.hpp"

namespace {

TEST(CodegenProtoPathsTest, BothFilesMessagesAreCompiledAndRoundTrip) {
  codegen::importing::Labeled labeled;
  labeled.set_count(2);
  labeled.mutable_tag()->set_label("eu");
  labeled.mutable_tag()->mutable_unit()->set_symbol("km");
  codegen::importing::Labeled parsed;
  ASSERT_TRUE(parsed.ParseFromString(labeled.SerializeAsString()));
  EXPECT_EQ(parsed.count(), 2);
  EXPECT_EQ(parsed.tag().label(), "eu");
  EXPECT_EQ(parsed.tag().unit().symbol(), "km");
  EXPECT_EQ(codegen::common::Tag::descriptor()->full_name(), "codegen.common.Tag");
}

}  // namespace
