#include "src/datachannel/dcep.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace peerlink::datachannel {
namespace {

std::vector<uint8_t> Bytes(std::initializer_list<int> v) {
  std::vector<uint8_t> out;
  for (int b : v)
    out.push_back(static_cast<uint8_t>(b));
  return out;
}

TEST(DcepTest, OpenSerializesToTheRfc8832Layout) {
  DataChannelOpen open;
  open.channel_type = ChannelType::kPartialReliableRexmitUnordered;
  open.priority = 512;
  open.reliability_parameter = 0x01020304;
  open.label = "chat";
  open.protocol = "x";
  EXPECT_EQ(open.Serialize(),
            Bytes({0x03, 0x81, 0x02, 0x00, 0x01, 0x02, 0x03, 0x04, 0x00, 0x04, 0x00, 0x01, 'c', 'h', 'a', 't', 'x'}));
}

TEST(DcepTest, AckIsOneByte) {
  EXPECT_EQ(DataChannelAck{}.Serialize(), Bytes({0x02}));
  EXPECT_TRUE(DataChannelAck::Parse(Bytes({0x02})).ok());
}

TEST(DcepTest, EveryChannelTypeRoundTrips) {
  const ChannelType types[] = {ChannelType::kReliable,
                               ChannelType::kReliableUnordered,
                               ChannelType::kPartialReliableRexmit,
                               ChannelType::kPartialReliableRexmitUnordered,
                               ChannelType::kPartialReliableTimed,
                               ChannelType::kPartialReliableTimedUnordered};
  const uint8_t wire[] = {0x00, 0x80, 0x01, 0x81, 0x02, 0x82};
  for (size_t i = 0; i < 6; ++i) {
    DataChannelOpen open;
    open.channel_type = types[i];
    open.priority = static_cast<uint16_t>(128 * (i + 1));
    open.reliability_parameter = static_cast<uint32_t>(i * 1000);
    open.label = "label";
    open.protocol = "proto";
    const std::vector<uint8_t> bytes = open.Serialize();
    ASSERT_EQ(bytes.size(), open.SerializedSize());
    EXPECT_EQ(bytes[1], wire[i]);
    auto parsed = DataChannelOpen::Parse(bytes);
    ASSERT_TRUE(parsed.ok()) << parsed.error().what;
    EXPECT_EQ(*parsed, open);
    auto any = ParseDcep(bytes);
    ASSERT_TRUE(any.ok());
    EXPECT_TRUE(std::holds_alternative<DataChannelOpen>(*any));
  }
}

TEST(DcepTest, ChannelTypeHelpersMatchTheBits) {
  EXPECT_EQ(MakeChannelType(true, false, false), ChannelType::kReliable);
  EXPECT_EQ(MakeChannelType(false, false, false), ChannelType::kReliableUnordered);
  EXPECT_EQ(MakeChannelType(true, true, false), ChannelType::kPartialReliableRexmit);
  EXPECT_EQ(MakeChannelType(false, false, true), ChannelType::kPartialReliableTimedUnordered);
  EXPECT_TRUE(IsUnordered(ChannelType::kPartialReliableRexmitUnordered));
  EXPECT_TRUE(IsRexmit(ChannelType::kPartialReliableRexmitUnordered));
  EXPECT_FALSE(IsTimed(ChannelType::kPartialReliableRexmitUnordered));
  EXPECT_TRUE(IsTimed(ChannelType::kPartialReliableTimed));
}

TEST(DcepTest, ParseKeepsViewsIntoTheBuffer) {
  DataChannelOpen open;
  open.label = "abc";
  open.protocol = "def";
  const std::vector<uint8_t> bytes = open.Serialize();
  auto parsed = DataChannelOpen::Parse(bytes);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(parsed->label.data()), bytes.data() + 12);
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(parsed->protocol.data()), bytes.data() + 15);
}

TEST(DcepTest, EveryTruncationOfAnOpenIsRejected) {
  DataChannelOpen open;
  open.label = "label";
  open.protocol = "protocol";
  const std::vector<uint8_t> bytes = open.Serialize();
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto parsed = DataChannelOpen::Parse(ByteView(bytes.data(), n));
    ASSERT_FALSE(parsed.ok()) << n;
    EXPECT_EQ(parsed.error().code, ParseErrorCode::kTruncated) << n;
    EXPECT_FALSE(ParseDcep(ByteView(bytes.data(), n)).ok()) << n;
  }
}

TEST(DcepTest, PaddedOpenIsRejected) {
  DataChannelOpen open;
  open.label = "abc";
  std::vector<uint8_t> bytes = open.Serialize();
  bytes.push_back(0);  // 4-byte padding the way a chunk would be padded
  auto parsed = DataChannelOpen::Parse(bytes);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, ParseErrorCode::kTrailingBytes);
}

TEST(DcepTest, LengthFieldsPastTheEndAreTruncation) {
  // Label length 0xffff with 2 bytes of label.
  const auto bytes = Bytes({0x03, 0x00, 0x01, 0x00, 0, 0, 0, 0, 0xff, 0xff, 0x00, 0x00, 'a', 'b'});
  auto parsed = DataChannelOpen::Parse(bytes);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, ParseErrorCode::kTruncated);
}

TEST(DcepTest, UnknownChannelTypesAreRejected) {
  for (int type : {0x03, 0x7f, 0x83, 0xff, 0x40}) {
    const auto bytes = Bytes({0x03, type, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0});
    auto parsed = DataChannelOpen::Parse(bytes);
    ASSERT_FALSE(parsed.ok()) << type;
    EXPECT_EQ(parsed.error().code, ParseErrorCode::kBadValue) << type;
  }
}

TEST(DcepTest, UnknownMessageTypesAreUnsupported) {
  for (int type : {0x00, 0x01, 0x04, 0xfe, 0xff}) {
    auto parsed = ParseDcep(Bytes({type, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
    ASSERT_FALSE(parsed.ok()) << type;
    EXPECT_EQ(parsed.error().code, ParseErrorCode::kUnsupported) << type;
  }
  auto empty = ParseDcep({});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, ParseErrorCode::kTruncated);
}

TEST(DcepTest, AckWithWrongTypeIsRejectedAndPionsFourByteAckAccepted) {
  EXPECT_EQ(DataChannelAck::Parse({}).error().code, ParseErrorCode::kTruncated);
  EXPECT_EQ(DataChannelAck::Parse(Bytes({0x03})).error().code, ParseErrorCode::kBadValue);
  // Pion 3.1 sends a 4-byte ACK; treating it as malformed reset every channel we opened.
  EXPECT_TRUE(DataChannelAck::Parse(Bytes({0x02, 0x00})).ok());
  EXPECT_TRUE(ParseDcep(Bytes({0x02, 0x00, 0x00, 0x00})).ok());
}

TEST(DcepTest, LabelAndProtocolLimitsAreEnforcedWhileParsing) {
  DataChannelOpen open;
  const std::string label(100, 'l');
  const std::string protocol(50, 'p');
  open.label = label;
  open.protocol = protocol;
  const auto bytes = open.Serialize();
  DcepLimits limits;
  limits.max_label_length = 99;
  auto parsed = DataChannelOpen::Parse(bytes, limits);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, ParseErrorCode::kTooLarge);
  limits.max_label_length = 100;
  limits.max_protocol_length = 49;
  EXPECT_EQ(DataChannelOpen::Parse(bytes, limits).error().code, ParseErrorCode::kTooLarge);
  limits.max_protocol_length = 50;
  EXPECT_TRUE(DataChannelOpen::Parse(bytes, limits).ok());
}

TEST(DcepTest, LongestLabelAndProtocolRoundTrip) {
  const std::string label(0xffff, 'L');
  const std::string protocol(0xffff, 'P');
  DataChannelOpen open;
  open.label = label;
  open.protocol = protocol;
  const auto bytes = open.Serialize();
  ASSERT_EQ(bytes.size(), 12u + 2 * 0xffff);
  auto parsed = DataChannelOpen::Parse(bytes);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->label.size(), 0xffffu);
  EXPECT_EQ(parsed->protocol, protocol);
}

TEST(DcepTest, OversizedLabelCannotBeSerialized) {
  const std::string label(0x10000, 'L');
  DataChannelOpen open;
  open.label = label;
  EXPECT_TRUE(open.Serialize().empty());
  std::vector<uint8_t> buf(0x20000);
  ByteWriter w(buf);
  open.SerializeTo(w);
  EXPECT_FALSE(w.ok());
}

TEST(DcepTest, SerializeIntoASmallBufferFails) {
  DataChannelOpen open;
  open.label = "label";
  std::vector<uint8_t> buf(open.SerializedSize() - 1);
  ByteWriter w(buf);
  open.SerializeTo(w);
  EXPECT_FALSE(w.ok());
}

TEST(DcepTest, ToStringNamesTheFieldsAndEscapesTheLabel) {
  DataChannelOpen open;
  open.channel_type = ChannelType::kPartialReliableTimed;
  open.reliability_parameter = 3000;
  open.label = std::string_view("a\"\x01", 3);
  const std::string s = open.ToString();
  EXPECT_NE(s.find("DATA_CHANNEL_PARTIAL_RELIABLE_TIMED"), std::string::npos) << s;
  EXPECT_NE(s.find("reliability=3000"), std::string::npos) << s;
  EXPECT_NE(s.find("a\\x22\\x01"), std::string::npos) << s;
  EXPECT_EQ(ToString(DcepMessage(DataChannelAck{})), "DATA_CHANNEL_ACK{}");
}

}  // namespace
}  // namespace peerlink::datachannel
