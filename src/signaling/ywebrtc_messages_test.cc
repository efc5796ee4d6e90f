#include "src/signaling/ywebrtc_messages.h"

#include <gtest/gtest.h>

#include <cstring>

namespace peerlink::signaling::ywebrtc {
namespace {

using nlohmann::json;

const char* FieldOf(const json& j) {
  auto r = ParseInnerMessage(j);
  return r.ok() ? "<ok>" : r.error().what;
}

TEST(YWebrtcMessagesTest, ParsesAnnounce) {
  auto m = ParseInnerMessage(json::parse(R"({"type":"announce","from":"3f2b6c1e-8a4d-4c1b-9f7e-2d5a6b7c8d9e"})"));
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(std::holds_alternative<AnnounceMessage>(*m));
  EXPECT_EQ(std::get<AnnounceMessage>(*m).from, "3f2b6c1e-8a4d-4c1b-9f7e-2d5a6b7c8d9e");
}

TEST(YWebrtcMessagesTest, ParsesOfferAsYWebrtcSendsIt) {
  // Shape of y-webrtc.js publishSignalingMessage({to, from, type:'signal', token, signal}).
  json j = json::parse(R"({"to":"b","from":"a","type":"signal","token":1700000000123.456,
                           "signal":{"type":"offer","sdp":"v=0\r\n"}})");
  auto m = ParseInnerMessage(j);
  ASSERT_TRUE(m.ok()) << m.error().what;
  const auto& s = std::get<SignalMessage>(*m);
  EXPECT_EQ(s.from, "a");
  EXPECT_EQ(s.to, "b");
  ASSERT_TRUE(s.token.has_value());
  EXPECT_DOUBLE_EQ(*s.token, 1700000000123.456);
  const auto& d = std::get<SessionDescriptionSignal>(s.signal);
  EXPECT_EQ(d.type, SessionDescriptionSignal::Type::kOffer);
  EXPECT_EQ(d.sdp, "v=0\r\n");
  EXPECT_EQ(ToJson(*m), j);  // round trip
}

TEST(YWebrtcMessagesTest, ParsesSimplePeerCandidateAndOthers) {
  json j = json::parse(R"({"to":"b","from":"a","type":"signal","token":1.5,"signal":{"type":"candidate",
    "candidate":{"candidate":"candidate:1 1 udp 1 192.0.2.1 9 typ host","sdpMLineIndex":0,"sdpMid":"0"}}})");
  auto m = ParseInnerMessage(j);
  ASSERT_TRUE(m.ok());
  const auto& c = std::get<CandidateSignal>(std::get<SignalMessage>(*m).signal);
  EXPECT_EQ(c.candidate, "candidate:1 1 udp 1 192.0.2.1 9 typ host");
  EXPECT_EQ(c.sdp_mid, "0");
  EXPECT_EQ(c.sdp_mline_index, 0u);
  EXPECT_EQ(ToJson(*m), j);

  auto nulls = ParsePeerSignal(
      json::parse(R"({"type":"candidate","candidate":{"candidate":"","sdpMLineIndex":null,"sdpMid":null}})"));
  ASSERT_TRUE(nulls.ok());
  EXPECT_FALSE(std::get<CandidateSignal>(*nulls).sdp_mid.has_value());

  EXPECT_TRUE(std::holds_alternative<RenegotiateSignal>(
      *ParsePeerSignal(json::parse(R"({"type":"renegotiate","renegotiate":true})"))));
  auto tr = ParsePeerSignal(json::parse(R"({"type":"transceiverRequest","transceiverRequest":{"kind":"audio"}})"));
  ASSERT_TRUE(tr.ok());
  EXPECT_EQ(std::get<TransceiverRequestSignal>(*tr).kind, "audio");
}

TEST(YWebrtcMessagesTest, ErrorsNameTheField) {
  EXPECT_STREQ(FieldOf(json::parse(R"({"from":"a"})")), "type");
  EXPECT_STREQ(FieldOf(json::parse(R"({"type":"announce"})")), "from");
  EXPECT_STREQ(FieldOf(json::parse(R"({"type":"announce","from":7})")), "from");
  EXPECT_STREQ(FieldOf(json::parse(R"({"type":"signal","from":"a","signal":{}})")), "to");
  EXPECT_STREQ(FieldOf(json::parse(R"({"type":"signal","from":"a","to":"b"})")), "signal");
  EXPECT_STREQ(FieldOf(json::parse(R"({"type":"signal","from":"a","to":"b","token":"x","signal":{}})")), "token");
  EXPECT_STREQ(FieldOf(json::parse(R"({"type":"signal","from":"a","to":"b","signal":{"type":"offer"}})")),
               "signal.sdp");
  EXPECT_STREQ(FieldOf(json::parse(R"({"type":"signal","from":"a","to":"b","signal":{"type":"pranswer","sdp":""}})")),
               "signal.type");
  EXPECT_STREQ(
      FieldOf(json::parse(
          R"({"type":"signal","from":"a","to":"b","signal":{"type":"candidate","candidate":{"sdpMid":"0"}}})")),
      "signal.candidate.candidate");
  EXPECT_STREQ(
      FieldOf(json::parse(
          R"({"type":"signal","from":"a","to":"b","signal":{"type":"candidate","candidate":{"candidate":"","sdpMLineIndex":-1}}})")),
      "signal.candidate.sdpMLineIndex");
  EXPECT_STREQ(FieldOf(json::parse(R"({"type":"bye","from":"a"})")), "type");
  json big = {{"type", "announce"}, {"from", std::string(kMaxPeerIdBytes + 1, 'x')}};
  EXPECT_STREQ(FieldOf(big), "from");
}

TEST(YWebrtcMessagesTest, PublishPlainAndEncrypted) {
  auto plain = ParsePublishMessage(R"({"type":"publish","topic":"room","data":{"type":"announce","from":"a"}})");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->encrypted());
  EXPECT_EQ(plain->topic, "room");
  EXPECT_TRUE(ParseInnerMessage(std::get<json>(plain->data)).ok());

  // As relayed by the server, which appends "clients".
  auto enc = ParsePublishMessage(R"({"type":"publish","topic":"room","data":"B0FFUy1HQ00=","clients":2})");
  ASSERT_TRUE(enc.ok());
  EXPECT_TRUE(enc->encrypted());
  EXPECT_EQ(std::get<std::string>(enc->data), "B0FFUy1HQ00=");
  EXPECT_EQ(ToJson(*enc), json::parse(R"({"type":"publish","topic":"room","data":"B0FFUy1HQ00="})"));

  EXPECT_STREQ(ParsePublishMessage("{").error().what, "message (not JSON)");
  EXPECT_STREQ(ParsePublishMessage(R"({"type":"subscribe","topics":[]})").error().what, "type");
  EXPECT_STREQ(ParsePublishMessage(R"({"type":"publish","data":{}})").error().what, "topic");
  EXPECT_STREQ(ParsePublishMessage(R"({"type":"publish","topic":"r"})").error().what, "data");
  EXPECT_STREQ(ParsePublishMessage(R"({"type":"publish","topic":"r","data":5})").error().what, "data");
}

TEST(YWebrtcMessagesTest, HostileJsonIsBounded) {
  std::string deep(10000, '[');
  EXPECT_EQ(ParseJson(deep).error().code, ParseErrorCode::kTooLarge);
  std::string nested_in_string = "[\"" + std::string(100, '[') + "\"]";
  EXPECT_TRUE(ParseJson(nested_in_string).ok());
  EXPECT_EQ(ParseJson(std::string(kMaxMessageTextBytes + 1, ' ')).error().code, ParseErrorCode::kTooLarge);
}

}  // namespace
}  // namespace peerlink::signaling::ywebrtc
