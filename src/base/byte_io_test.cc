#include "src/base/byte_io.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace peerlink {
namespace {

TEST(ByteReader, ReadsBigEndianFields) {
  const uint8_t data[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a};
  ByteReader r(data);
  EXPECT_EQ(r.U8(), 0x01);
  EXPECT_EQ(r.U16(), 0x0203);
  EXPECT_EQ(r.U24(), 0x040506u);
  EXPECT_EQ(r.U32(), 0x0708090au);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.empty());
}

TEST(ByteReader, FailedReadIsStickyAndEmptiesReader) {
  const uint8_t data[] = {0x01, 0x02, 0x03};
  ByteReader r(data);
  EXPECT_EQ(r.U32(), 0u);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_EQ(r.U8(), 0);  // further reads also fail
  EXPECT_TRUE(r.Bytes(1).empty());
  EXPECT_FALSE(r.ok());
}

TEST(ByteReader, BytesIsAViewIntoInput) {
  const uint8_t data[] = {1, 2, 3, 4};
  ByteReader r(data);
  r.Skip(1);
  auto v = r.Bytes(2);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v.data(), data + 1);
}

TEST(ByteWriter, WritesAndBackPatchesLength) {
  std::array<uint8_t, 8> buf{};
  ByteWriter w(buf);
  size_t at = w.Reserve16();
  w.U32(0xdeadbeef);
  w.Patch16(at, static_cast<uint16_t>(w.size() - 2));
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w.size(), 6u);
  EXPECT_EQ(buf[0], 0);
  EXPECT_EQ(buf[1], 4);
  EXPECT_EQ(buf[2], 0xde);
}

TEST(ByteWriter, OverflowIsStickyAndWritesNothingPastEnd) {
  std::array<uint8_t, 3> buf{};
  ByteWriter w(buf);
  w.U16(0x1122);
  w.U16(0x3344);  // does not fit
  EXPECT_FALSE(w.ok());
  EXPECT_EQ(w.size(), 2u);
  w.U8(1);
  EXPECT_EQ(w.size(), 2u);
}

}  // namespace
}  // namespace peerlink
