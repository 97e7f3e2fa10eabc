// Stream framing: type (1 byte) | payload length (QUIC varint) | payload, and the incremental
// FrameDecoder with its limits.
#include "rpc/wire/frame.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "rpc/wire/varint.h"

// ---- allocation probe -----------------------------------------------------------------------
// The whole wire_test binary routes operator new through here so a test can assert the largest
// single allocation made while it was watching. Outside a watch window it only forwards.
namespace {
std::atomic<bool> g_watch_allocations{false};
std::atomic<std::size_t> g_largest_allocation{0};
}  // namespace

void* operator new(std::size_t size) {
  if (g_watch_allocations.load(std::memory_order_relaxed)) {
    std::size_t seen = g_largest_allocation.load(std::memory_order_relaxed);
    while (size > seen && !g_largest_allocation.compare_exchange_weak(seen, size)) {
    }
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace rpcnet::wire {
namespace {

class AllocationWatch {
 public:
  AllocationWatch() {
    g_largest_allocation.store(0);
    g_watch_allocations.store(true);
  }
  ~AllocationWatch() { g_watch_allocations.store(false); }
  AllocationWatch(const AllocationWatch&) = delete;
  AllocationWatch& operator=(const AllocationWatch&) = delete;
  std::size_t largest() const { return g_largest_allocation.load(); }
};

Bytes bytes_of(std::string_view text) { return Bytes(text.begin(), text.end()); }

Bytes frame_bytes(FrameType type, ByteView payload) {
  Bytes out;
  append_frame(out, type, payload);
  return out;
}

// A stream of several frames of every type, including empty payloads and a 2-byte length.
Bytes sample_stream() {
  Bytes out;
  append_frame(out, FrameType::kHeader, bytes_of("head"));
  append_frame(out, FrameType::kMessage, bytes_of("hello"));
  append_frame(out, FrameType::kMessage, Bytes{});
  append_frame(out, FrameType::kMessage, Bytes(70, 0xab));
  append_frame(out, FrameType::kTrailer, Bytes{0x01, 0x01, 0x00});
  return out;
}

std::vector<Frame> sample_frames() {
  return {
      Frame{FrameType::kHeader, bytes_of("head")},
      Frame{FrameType::kMessage, bytes_of("hello")},
      Frame{FrameType::kMessage, Bytes{}},
      Frame{FrameType::kMessage, Bytes(70, 0xab)},
      Frame{FrameType::kTrailer, Bytes{0x01, 0x01, 0x00}},
  };
}

void expect_frames_eq(const std::vector<Frame>& actual, const std::vector<Frame>& expected,
                      const std::string& context) {
  ASSERT_EQ(actual.size(), expected.size()) << context;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    EXPECT_EQ(actual[i].type, expected[i].type) << context << ", frame " << i;
    EXPECT_EQ(actual[i].payload, expected[i].payload) << context << ", frame " << i;
  }
}

// ---- wire enum ------------------------------------------------------------------------------

TEST(FrameType, WireValuesArePinned) {
  EXPECT_EQ(static_cast<std::uint8_t>(FrameType::kHeader), 0x01);
  EXPECT_EQ(static_cast<std::uint8_t>(FrameType::kMessage), 0x02);
  EXPECT_EQ(static_cast<std::uint8_t>(FrameType::kTrailer), 0x03);
}

TEST(FrameLimits, DefaultsAreSixteenMebibyteMessagesAndSixteenKibibyteHeaders) {
  const FrameLimits limits;
  EXPECT_EQ(limits.max_message_size, 16u * 1024 * 1024);
  EXPECT_EQ(limits.max_header_size, 16u * 1024);
}

// ---- encoding -------------------------------------------------------------------------------

TEST(AppendFrame, EncodesTypeThenVarintLengthThenPayload) {
  EXPECT_EQ(frame_bytes(FrameType::kMessage, bytes_of("hi")), (Bytes{0x02, 0x02, 'h', 'i'}));
  EXPECT_EQ(frame_bytes(FrameType::kHeader, Bytes{0xff}), (Bytes{0x01, 0x01, 0xff}));
  EXPECT_EQ(frame_bytes(FrameType::kTrailer, Bytes{}), (Bytes{0x03, 0x00}));
}

TEST(AppendFrame, UsesATwoByteLengthFromSixtyFourBytes) {
  const Bytes payload(64, 0x5a);
  const Bytes encoded = frame_bytes(FrameType::kMessage, payload);
  ASSERT_EQ(encoded.size(), 3u + 64u);
  EXPECT_EQ(encoded[0], 0x02);
  EXPECT_EQ(encoded[1], 0x40);
  EXPECT_EQ(encoded[2], 0x40);
  EXPECT_EQ(Bytes(encoded.begin() + 3, encoded.end()), payload);
}

TEST(AppendFrame, AppendsAfterExistingBytes) {
  Bytes out = {0xee};
  append_frame(out, FrameType::kMessage, bytes_of("x"));
  EXPECT_EQ(out, (Bytes{0xee, 0x02, 0x01, 'x'}));
}

TEST(AppendFramePrefix, WritesOnlyTypeAndLength) {
  Bytes out;
  append_frame_prefix(out, FrameType::kMessage, 16384);
  EXPECT_EQ(out, (Bytes{0x02, 0x80, 0x00, 0x40, 0x00}));
}

TEST(FramePrefixSize, IsOneTypeBytePlusTheVarintSize) {
  EXPECT_EQ(frame_prefix_size(0), 2u);
  EXPECT_EQ(frame_prefix_size(63), 2u);
  EXPECT_EQ(frame_prefix_size(64), 3u);
  EXPECT_EQ(frame_prefix_size(16383), 3u);
  EXPECT_EQ(frame_prefix_size(16384), 5u);
  EXPECT_EQ(frame_prefix_size(std::uint64_t{1} << 30), 9u);
}

// ---- decoding -------------------------------------------------------------------------------

TEST(FrameDecoder, DecodesSeveralFramesFromOneChunk) {
  FrameDecoder decoder;
  std::vector<Frame> out;
  EXPECT_EQ(decoder.feed(sample_stream(), out), FrameError::kNone);
  expect_frames_eq(out, sample_frames(), "one chunk");
  EXPECT_TRUE(decoder.at_frame_boundary());
  EXPECT_EQ(decoder.error(), FrameError::kNone);
}

TEST(FrameDecoder, DecodesOneByteAtATime) {
  const Bytes stream = sample_stream();
  FrameDecoder decoder;
  std::vector<Frame> out;
  for (const std::uint8_t byte : stream) {
    ASSERT_EQ(decoder.feed(ByteView(&byte, 1), out), FrameError::kNone);
  }
  expect_frames_eq(out, sample_frames(), "byte at a time");
  EXPECT_TRUE(decoder.at_frame_boundary());
}

TEST(FrameDecoder, ReassemblesAFrameSplitAtEveryByteBoundary) {
  const Bytes stream = sample_stream();
  const ByteView view(stream);
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    FrameDecoder decoder;
    std::vector<Frame> out;
    ASSERT_EQ(decoder.feed(view.first(split), out), FrameError::kNone);
    ASSERT_EQ(decoder.feed(view.subspan(split), out), FrameError::kNone);
    expect_frames_eq(out, sample_frames(), "split at " + std::to_string(split));
    EXPECT_TRUE(decoder.at_frame_boundary());
  }
}

TEST(FrameDecoder, ReassemblesFramesSplitAtEveryPairOfPositions) {
  const Bytes stream = sample_stream();
  const ByteView view(stream);
  for (std::size_t a = 0; a <= stream.size(); ++a) {
    for (std::size_t b = a; b <= stream.size(); ++b) {
      FrameDecoder decoder;
      std::vector<Frame> out;
      ASSERT_EQ(decoder.feed(view.subspan(0, a), out), FrameError::kNone);
      ASSERT_EQ(decoder.feed(view.subspan(a, b - a), out), FrameError::kNone);
      ASSERT_EQ(decoder.feed(view.subspan(b), out), FrameError::kNone);
      ASSERT_NO_FATAL_FAILURE(expect_frames_eq(
          out, sample_frames(), "splits at " + std::to_string(a) + "," + std::to_string(b)));
    }
  }
}

TEST(FrameDecoder, DeliversAFrameOnlyWhenItsLastByteArrives) {
  const Bytes frame = frame_bytes(FrameType::kMessage, bytes_of("abcdef"));
  FrameDecoder decoder;
  std::vector<Frame> out;
  for (std::size_t i = 0; i + 1 < frame.size(); ++i) {
    ASSERT_EQ(decoder.feed(ByteView(&frame[i], 1), out), FrameError::kNone);
    EXPECT_TRUE(out.empty()) << "after byte " << i;
  }
  ASSERT_EQ(decoder.feed(ByteView(&frame.back(), 1), out), FrameError::kNone);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, bytes_of("abcdef"));
}

TEST(FrameDecoder, EmptyPayloadsAreLegalFramesOfEveryType) {
  Bytes stream;
  append_frame(stream, FrameType::kMessage, Bytes{});
  append_frame(stream, FrameType::kMessage, Bytes{});
  append_frame(stream, FrameType::kHeader, Bytes{});
  append_frame(stream, FrameType::kTrailer, Bytes{});
  EXPECT_EQ(stream, (Bytes{0x02, 0x00, 0x02, 0x00, 0x01, 0x00, 0x03, 0x00}));
  FrameDecoder decoder;
  std::vector<Frame> out;
  ASSERT_EQ(decoder.feed(stream, out), FrameError::kNone);
  expect_frames_eq(out,
                   {Frame{FrameType::kMessage, {}}, Frame{FrameType::kMessage, {}},
                    Frame{FrameType::kHeader, {}}, Frame{FrameType::kTrailer, {}}},
                   "empty frames");
  EXPECT_TRUE(decoder.at_frame_boundary());
}

TEST(FrameDecoder, AcceptsANonMinimalLengthEncoding) {
  // RFC 9000 allows any varint length; 0x40 0x02 is a two-byte encoding of 2.
  FrameDecoder decoder;
  std::vector<Frame> out;
  ASSERT_EQ(decoder.feed(Bytes{0x02, 0x40, 0x02, 'o', 'k'}, out), FrameError::kNone);
  expect_frames_eq(out, {Frame{FrameType::kMessage, bytes_of("ok")}}, "non-minimal");
}

TEST(FrameDecoder, AppendsToTheOutputVectorWithoutClearingIt) {
  FrameDecoder decoder;
  std::vector<Frame> out;
  out.push_back(Frame{FrameType::kTrailer, bytes_of("old")});
  ASSERT_EQ(decoder.feed(frame_bytes(FrameType::kMessage, bytes_of("new")), out),
            FrameError::kNone);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].payload, bytes_of("old"));
  EXPECT_EQ(out[1].payload, bytes_of("new"));
}

TEST(FrameDecoder, AnEmptyFeedDoesNothing) {
  FrameDecoder decoder;
  std::vector<Frame> out;
  EXPECT_EQ(decoder.feed(ByteView(), out), FrameError::kNone);
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(decoder.at_frame_boundary());
}

// ---- errors ---------------------------------------------------------------------------------

TEST(FrameDecoder, RejectsEveryUnknownTypeByte) {
  for (int type = 0; type <= 0xff; ++type) {
    if (type >= 0x01 && type <= 0x03) continue;
    FrameDecoder decoder;
    std::vector<Frame> out;
    const Bytes bytes = {static_cast<std::uint8_t>(type), 0x00};
    EXPECT_EQ(decoder.feed(bytes, out), FrameError::kUnknownType) << "type " << type;
    EXPECT_EQ(decoder.error(), FrameError::kUnknownType);
    EXPECT_TRUE(out.empty());
    EXPECT_FALSE(decoder.at_frame_boundary());
  }
}

TEST(FrameDecoder, StaysFailedAfterAnUnknownType) {
  FrameDecoder decoder;
  std::vector<Frame> out;
  ASSERT_EQ(decoder.feed(Bytes{0x04}, out), FrameError::kUnknownType);
  // A perfectly valid frame afterwards is not decoded: the stream is unusable.
  EXPECT_EQ(decoder.feed(frame_bytes(FrameType::kMessage, bytes_of("x")), out),
            FrameError::kUnknownType);
  EXPECT_EQ(decoder.feed(ByteView(), out), FrameError::kUnknownType);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(decoder.error(), FrameError::kUnknownType);
  EXPECT_FALSE(decoder.at_frame_boundary());
}

TEST(FrameDecoder, KeepsTheFramesCompletedBeforeAnError) {
  Bytes stream = frame_bytes(FrameType::kMessage, bytes_of("one"));
  append_frame(stream, FrameType::kMessage, bytes_of("two"));
  stream.push_back(0x7f);  // unknown type
  append_frame(stream, FrameType::kMessage, bytes_of("three"));
  FrameDecoder decoder;
  std::vector<Frame> out;
  EXPECT_EQ(decoder.feed(stream, out), FrameError::kUnknownType);
  expect_frames_eq(out,
                   {Frame{FrameType::kMessage, bytes_of("one")},
                    Frame{FrameType::kMessage, bytes_of("two")}},
                   "before the error");
}

TEST(FrameDecoder, RejectsAMessageOneByteOverTheLimitBeforeAnyPayloadArrives) {
  FrameDecoder decoder(FrameLimits{.max_message_size = 100, .max_header_size = 50});
  std::vector<Frame> out;
  // Only type + length (101): the decoder must refuse without waiting for payload bytes.
  EXPECT_EQ(decoder.feed(Bytes{0x02, 0x40, 101}, out), FrameError::kMessageTooLarge);
  EXPECT_EQ(decoder.error(), FrameError::kMessageTooLarge);
  EXPECT_EQ(decoder.rejected_length(), 101u);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(decoder.at_frame_boundary());
  // The payload arriving later changes nothing.
  EXPECT_EQ(decoder.feed(Bytes(101, 0x00), out), FrameError::kMessageTooLarge);
  EXPECT_TRUE(out.empty());
}

TEST(FrameDecoder, AcceptsAMessageExactlyAtTheLimit) {
  FrameDecoder decoder(FrameLimits{.max_message_size = 100, .max_header_size = 50});
  std::vector<Frame> out;
  const Bytes payload(100, 0x11);
  EXPECT_EQ(decoder.feed(frame_bytes(FrameType::kMessage, payload), out), FrameError::kNone);
  expect_frames_eq(out, {Frame{FrameType::kMessage, payload}}, "at the limit");
}

TEST(FrameDecoder, RejectsAMessageOverTheDefaultSixteenMebibyteLimit) {
  FrameDecoder decoder;
  std::vector<Frame> out;
  Bytes prefix;
  append_frame_prefix(prefix, FrameType::kMessage, (16u << 20) + 1);
  EXPECT_EQ(decoder.feed(prefix, out), FrameError::kMessageTooLarge);
  EXPECT_EQ(decoder.rejected_length(), (16u << 20) + 1);
}

TEST(FrameDecoder, RejectsTheLargestVarintLengthWithoutOverflow) {
  FrameDecoder decoder;
  std::vector<Frame> out;
  Bytes prefix;
  append_frame_prefix(prefix, FrameType::kMessage, kMaxVarint);
  EXPECT_EQ(decoder.feed(prefix, out), FrameError::kMessageTooLarge);
  EXPECT_EQ(decoder.rejected_length(), kMaxVarint);
}

TEST(FrameDecoder, RejectsAHeaderOrTrailerOverTheHeaderLimit) {
  for (const FrameType type : {FrameType::kHeader, FrameType::kTrailer}) {
    FrameDecoder decoder(FrameLimits{.max_message_size = 100, .max_header_size = 50});
    std::vector<Frame> out;
    Bytes prefix;
    append_frame_prefix(prefix, type, 51);
    EXPECT_EQ(decoder.feed(prefix, out), FrameError::kHeaderTooLarge);
    EXPECT_EQ(decoder.error(), FrameError::kHeaderTooLarge);
    EXPECT_EQ(decoder.rejected_length(), 51u);
    EXPECT_TRUE(out.empty());
  }
}

TEST(FrameDecoder, AppliesTheHeaderLimitOnlyToHeadersAndTrailers) {
  // A 60-byte message passes a 50-byte header limit; a 60-byte header does not, even though it
  // is under the message limit.
  const FrameLimits limits{.max_message_size = 100, .max_header_size = 50};
  {
    FrameDecoder decoder(limits);
    std::vector<Frame> out;
    EXPECT_EQ(decoder.feed(frame_bytes(FrameType::kMessage, Bytes(60, 1)), out),
              FrameError::kNone);
    EXPECT_EQ(out.size(), 1u);
  }
  {
    FrameDecoder decoder(limits);
    std::vector<Frame> out;
    EXPECT_EQ(decoder.feed(frame_bytes(FrameType::kHeader, Bytes(60, 1)), out),
              FrameError::kHeaderTooLarge);
    EXPECT_EQ(decoder.rejected_length(), 60u);
  }
  {
    FrameDecoder decoder(limits);
    std::vector<Frame> out;
    EXPECT_EQ(decoder.feed(frame_bytes(FrameType::kTrailer, Bytes(50, 1)), out),
              FrameError::kNone);
    EXPECT_EQ(out.size(), 1u);
  }
}

TEST(AllocationProbe, SeesAllocationsMadeWhileWatching) {
  // Guards the two tests below against passing vacuously if operator new were not replaced.
  std::size_t largest = 0;
  {
    const AllocationWatch watch;
    const Bytes big(std::size_t{1} << 20);
    largest = watch.largest();
    EXPECT_EQ(big.size(), std::size_t{1} << 20);
  }
  EXPECT_GE(largest, std::size_t{1} << 20);
}

TEST(FrameDecoder, AHugeAnnouncedLengthDoesNotAllocateItUpFront) {
  // 16 MiB announced (exactly the default limit, so accepted), 10 bytes sent.
  Bytes bytes;
  append_frame_prefix(bytes, FrameType::kMessage, 16u << 20);
  bytes.insert(bytes.end(), 10, 0x42);
  FrameDecoder decoder;
  std::vector<Frame> out;
  out.reserve(4);
  std::size_t largest = 0;
  {
    const AllocationWatch watch;
    ASSERT_EQ(decoder.feed(bytes, out), FrameError::kNone);
    largest = watch.largest();
  }
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(decoder.at_frame_boundary());
  EXPECT_EQ(decoder.error(), FrameError::kNone);
  EXPECT_LE(largest, std::size_t{256} << 10) << "the decoder allocated for bytes never sent";
}

TEST(FrameDecoder, OnceAnEighthHasArrivedTheWholePayloadIsReservedOnce) {
  // A 1 MiB message in 1200-byte pieces (STREAM frames of 1500-byte-MTU packets): the buffer is
  // 64 KiB, then 128 KiB, then the whole MiB, instead of a doubling series whose every step is
  // fresh memory to fault in.
  constexpr std::size_t kLength = std::size_t{1} << 20;
  Bytes encoded;
  append_frame(encoded, FrameType::kMessage, Bytes(kLength, 0x5a));
  FrameDecoder decoder;
  std::vector<Frame> out;
  std::vector<std::size_t> capacities;
  for (std::size_t offset = 0; offset < encoded.size(); offset += 1200) {
    const std::size_t n = std::min<std::size_t>(1200, encoded.size() - offset);
    ASSERT_EQ(decoder.feed(ByteView(encoded.data() + offset, n), out), FrameError::kNone);
    if (out.empty() && (capacities.empty() || capacities.back() != decoder.buffered_bytes())) {
      capacities.push_back(decoder.buffered_bytes());
    }
  }
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, Bytes(kLength, 0x5a));
  EXPECT_EQ(capacities, (std::vector<std::size_t>{64u << 10, 128u << 10, kLength}));
}

TEST(FrameDecoder, BuffersGrowOnlyWithTheBytesThatArrive) {
  Bytes prefix;
  append_frame_prefix(prefix, FrameType::kMessage, 16u << 20);
  FrameDecoder decoder;
  std::vector<Frame> out;
  ASSERT_EQ(decoder.feed(prefix, out), FrameError::kNone);
  const Bytes chunk(1000, 0x42);
  std::size_t largest = 0;
  {
    const AllocationWatch watch;
    for (int i = 0; i < 100; ++i) ASSERT_EQ(decoder.feed(chunk, out), FrameError::kNone);
    largest = watch.largest();
  }
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(decoder.at_frame_boundary());
  // 100 kB arrived; growth is geometric over what arrived, never the announced 16 MiB.
  EXPECT_LE(largest, std::size_t{512} << 10);
}

TEST(FrameDecoder, AtFrameBoundaryIsTrueOnlyBetweenFrames) {
  const Bytes frame = frame_bytes(FrameType::kMessage, Bytes(70, 0x01));  // 1 + 2 + 70 bytes
  FrameDecoder decoder;
  std::vector<Frame> out;
  EXPECT_TRUE(decoder.at_frame_boundary()) << "fresh decoder";
  for (std::size_t i = 0; i + 1 < frame.size(); ++i) {
    ASSERT_EQ(decoder.feed(ByteView(&frame[i], 1), out), FrameError::kNone);
    EXPECT_FALSE(decoder.at_frame_boundary()) << "after byte " << i;
  }
  ASSERT_EQ(decoder.feed(ByteView(&frame.back(), 1), out), FrameError::kNone);
  EXPECT_TRUE(decoder.at_frame_boundary()) << "after the last byte";
  // An empty frame is complete as soon as its length byte arrives.
  ASSERT_EQ(decoder.feed(Bytes{0x02}, out), FrameError::kNone);
  EXPECT_FALSE(decoder.at_frame_boundary());
  ASSERT_EQ(decoder.feed(Bytes{0x00}, out), FrameError::kNone);
  EXPECT_TRUE(decoder.at_frame_boundary());
  EXPECT_EQ(out.size(), 2u);
}

TEST(FrameDecoder, AtFrameBoundaryIsFalseAfterAnError) {
  FrameDecoder decoder;
  std::vector<Frame> out;
  ASSERT_EQ(decoder.feed(frame_bytes(FrameType::kMessage, Bytes{}), out), FrameError::kNone);
  ASSERT_TRUE(decoder.at_frame_boundary());
  ASSERT_EQ(decoder.feed(Bytes{0x00}, out), FrameError::kUnknownType);
  EXPECT_FALSE(decoder.at_frame_boundary());
}

TEST(FrameDecoder, ReportsItsLimits) {
  const FrameDecoder decoder(FrameLimits{.max_message_size = 7, .max_header_size = 3});
  EXPECT_EQ(decoder.limits().max_message_size, 7u);
  EXPECT_EQ(decoder.limits().max_header_size, 3u);
}

}  // namespace
}  // namespace rpcnet::wire
