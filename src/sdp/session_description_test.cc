#include "src/sdp/session_description.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace peerlink::sdp {
namespace {

std::string ReadSample(const std::string& name) {
  std::ifstream in(std::string(PEERLINK_SDP_CORPUS_DIR) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

SessionDescription MustParse(const std::string& text, SdpType type = SdpType::kOffer) {
  auto r = SessionDescription::Parse(text, type);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().ToString());
  return r.ok() ? *r : SessionDescription{};
}

SdpError MustFail(const std::string& text) {
  auto r = SessionDescription::Parse(text, SdpType::kOffer);
  EXPECT_FALSE(r.ok());
  return r.ok() ? SdpError{} : r.error();
}

void ExpectRoundTrip(const SessionDescription& d) {
  const std::string text = d.ToSdp();
  auto again = SessionDescription::Parse(text, d.type);
  ASSERT_TRUE(again.ok()) << again.error().ToString() << "\n" << text;
  EXPECT_EQ(*again, d) << text;
  EXPECT_EQ(again->ToSdp(), text);
}

// Replaces the first occurrence of `from` (which must exist) in `text`.
std::string Replace(std::string text, const std::string& from, const std::string& to) {
  auto pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) text.replace(pos, from.size(), to);
  return text;
}

constexpr char kFp[] =
    "sha-256 11:8F:98:37:73:B7:7B:57:51:DD:B7:48:45:3A:12:73:1A:26:34:1C:CB:EF:9C:0D:E2:91:7A:C7:21:1E:3F:7F";

// A minimal valid offer with LF line endings; line numbers below refer to it.
std::string MinimalLf() {
  return std::string(
             "v=0\n"                                               // 1
             "o=- 123 1 IN IP4 127.0.0.1\n"                        // 2
             "s=-\n"                                               // 3
             "t=0 0\n"                                             // 4
             "a=group:BUNDLE d\n"                                  // 5
             "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\n"  // 6
             "c=IN IP4 0.0.0.0\n"                                  // 7
             "a=mid:d\n"                                           // 8
             "a=ice-ufrag:abcd\n"                                  // 9
             "a=ice-pwd:abcdefghijklmnopqrstuv\n"                  // 10
             "a=fingerprint:") +
         kFp +
         "\n"                   // 11
         "a=setup:actpass\n"    // 12
         "a=sctp-port:5000\n";  // 13
}

TEST(SdpParse, ChromiumOffer) {
  auto d = MustParse(ReadSample("chromium_offer.sdp"));
  EXPECT_EQ(d.origin_username, "-");
  EXPECT_EQ(d.session_id, "4611731400430051336");
  EXPECT_EQ(d.session_version, 2u);
  EXPECT_EQ(d.bundle_mids, std::vector<std::string>{"0"});
  ASSERT_EQ(d.media.size(), 1u);
  const auto* m = d.FirstDataSection();
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->mid, "0");
  EXPECT_EQ(m->transport, DataTransport::kUdpDtlsSctp);
  EXPECT_EQ(m->ice_ufrag, "khLS");
  EXPECT_EQ(m->ice_pwd, "cxLzteJaJBou3DspNaPsJhlQ");
  EXPECT_TRUE(m->HasIceOption("trickle"));
  EXPECT_EQ(m->setup, SetupRole::kActpass);
  EXPECT_EQ(m->sctp_port, 5000);
  EXPECT_EQ(m->max_message_size, 262144u);
  ASSERT_EQ(m->fingerprints.size(), 1u);
  EXPECT_EQ(m->fingerprints[0].hash, dtls::HashFunction::kSha256);
  // Host, srflx and TCP candidates parse with the ice parser; the mDNS one is kept for resolution.
  ASSERT_EQ(m->candidates.size(), 3u);
  EXPECT_EQ(m->candidates[0].address.ToString(), "192.168.0.196:46243");
  EXPECT_EQ(m->candidates[1].type, ice::CandidateType::kServerReflexive);
  ASSERT_TRUE(m->candidates[1].related.has_value());
  EXPECT_EQ(m->candidates[2].protocol, TransportProtocol::kTcp);
  ASSERT_EQ(m->mdns_candidates.size(), 1u);
  EXPECT_EQ(m->mdns_candidates[0],
            "candidate:2999745851 1 udp 2122194687 4b8e5a1c-3f2d-4e6a-9c1b-7d0e8f9a2b3c.local 54321 typ host "
            "generation 0 network-id 2");
  EXPECT_FALSE(m->end_of_candidates);
  ExpectRoundTrip(d);
}

TEST(SdpParse, ChromiumAudioAndDataKeepsAudioAsNonDataSection) {
  auto d = MustParse(ReadSample("chromium_audio_data_offer.sdp"));
  ASSERT_EQ(d.media.size(), 2u);
  EXPECT_FALSE(d.media[0].is_data);
  EXPECT_EQ(d.media[0].media, "audio");
  EXPECT_EQ(d.media[0].protocol, "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(d.media[0].formats.size(), 8u);
  EXPECT_EQ(d.media[0].mid, "0");
  EXPECT_EQ(d.FirstDataSection(), &d.media[1]);
  EXPECT_EQ(d.media[1].mid, "1");
  EXPECT_EQ(d.bundle_mids, (std::vector<std::string>{"0", "1"}));
  ExpectRoundTrip(d);
}

TEST(SdpParse, FirefoxSessionLevelFingerprintAndIceOptionsAreInherited) {
  auto d = MustParse(ReadSample("firefox_offer.sdp"));
  EXPECT_EQ(d.origin_username, "mozilla...THIS_IS_SDPARTA-115.6.0");
  ASSERT_EQ(d.fingerprints.size(), 1u);
  const auto* m = d.FirstDataSection();
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->fingerprints, d.fingerprints);
  EXPECT_EQ(m->ice_options, std::vector<std::string>{"trickle"});
  EXPECT_EQ(m->ice_ufrag, "5e9a8b7c");
  EXPECT_TRUE(m->end_of_candidates);
  EXPECT_EQ(m->max_message_size, 1073741823u);
  // Upper-case "UDP"/"TCP" transports are accepted.
  EXPECT_EQ(m->candidates.size(), 2u);
  EXPECT_EQ(m->mdns_candidates.size(), 1u);
  ExpectRoundTrip(d);
}

TEST(SdpParse, PionOfferWithoutMaxMessageSize) {
  auto d = MustParse(ReadSample("pion_offer.sdp"));
  const auto* m = d.FirstDataSection();
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->fingerprints, d.fingerprints);
  EXPECT_FALSE(m->max_message_size.has_value());
  EXPECT_EQ(MaxSendMessageSize(*m, 0), kDefaultMaxMessageSize);
  ASSERT_EQ(m->candidates.size(), 3u);
  EXPECT_EQ(m->candidates[2].type, ice::CandidateType::kRelayed);
  EXPECT_TRUE(m->end_of_candidates);
  ExpectRoundTrip(d);
}

TEST(SdpParse, AiortcLegacySctpmapAnswer) {
  auto d = MustParse(ReadSample("aiortc_legacy_answer.sdp"), SdpType::kAnswer);
  EXPECT_EQ(d.type, SdpType::kAnswer);
  const auto* m = d.FirstDataSection();
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->transport, DataTransport::kLegacy);
  EXPECT_EQ(m->port, 45678);
  EXPECT_EQ(m->connection, "IN IP4 192.168.1.20");
  EXPECT_EQ(m->sctp_port, 5000);
  EXPECT_EQ(m->sctpmap_streams, 65535u);
  EXPECT_EQ(m->setup, SetupRole::kActive);
  ASSERT_EQ(m->fingerprints.size(), 2u);
  EXPECT_EQ(m->fingerprints[1].hash, dtls::HashFunction::kSha384);
  ASSERT_EQ(m->candidates.size(), 2u);
  EXPECT_TRUE(m->candidates[1].address.ip().is_v6());
  const std::string text = d.ToSdp();
  EXPECT_NE(text.find("m=application 45678 DTLS/SCTP 5000\r\n"), std::string::npos);
  EXPECT_NE(text.find("a=sctpmap:5000 webrtc-datachannel 65535\r\n"), std::string::npos);
  EXPECT_EQ(text.find("a=sctp-port"), std::string::npos);
  ExpectRoundTrip(d);
}

TEST(SdpParse, WeriftAnswer) {
  auto d = MustParse(ReadSample("werift_answer.sdp"), SdpType::kAnswer);
  const auto* m = d.FirstDataSection();
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->setup, SetupRole::kActive);
  EXPECT_EQ(m->max_message_size, 65536u);
  EXPECT_EQ(m->candidates.size(), 1u);
  ExpectRoundTrip(d);
}

TEST(SdpParse, LfLineEndingsAndBlankLinesAreAccepted) {
  auto d = MustParse(MinimalLf() + "\n\n");
  ASSERT_EQ(d.media.size(), 1u);
  EXPECT_EQ(d.media[0].mid, "d");
  ExpectRoundTrip(d);
}

TEST(SdpParse, MissingSctpPortDefaultsTo5000) {
  auto d = MustParse(Replace(MinimalLf(), "a=sctp-port:5000\n", ""));
  EXPECT_EQ(d.media[0].sctp_port, 5000);
}

TEST(SdpParse, BundledSectionInheritsTransportFromTaggedSection) {
  // A subsequent offer (RFC 8843 section 7.2) carries transport attributes only in the tagged section.
  std::string text = Replace(MinimalLf(), "a=group:BUNDLE d", "a=group:BUNDLE a d");
  text = Replace(text, "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\nc=IN IP4 0.0.0.0\na=mid:d\n",
                 "m=audio 9 UDP/TLS/RTP/SAVPF 111\nc=IN IP4 0.0.0.0\na=mid:a\n");
  text += "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\nc=IN IP4 0.0.0.0\na=mid:d\na=bundle-only\n";
  auto d = MustParse(text);
  ASSERT_EQ(d.media.size(), 2u);
  const MediaSection& data = d.media[1];
  EXPECT_TRUE(data.bundle_only);
  EXPECT_FALSE(data.rejected());
  EXPECT_EQ(d.FirstDataSection(), &data);
  EXPECT_EQ(data.ice_ufrag, "abcd");
  EXPECT_EQ(data.setup, SetupRole::kActpass);
  EXPECT_EQ(data.fingerprints.size(), 1u);
  ExpectRoundTrip(d);
}

TEST(SdpParse, UnknownLinesAndAttributesAreIgnored) {
  std::string text = Replace(MinimalLf(), "t=0 0\n", "t=0 0\nb=AS:30\nz=0 0\nx=whatever\na=unknown-session-attr:1\n");
  text += "a=rtcp-mux\na=sendrecv\na=some-future-thing:with value\n";
  auto d = MustParse(text);
  EXPECT_EQ(d.media.size(), 1u);
}

TEST(SdpParse, IceOptionsFromSeveralLinesMergeAndAreBounded) {
  auto d = MustParse(MinimalLf() + "a=ice-options:trickle ice2\na=ice-options:trickle renomination\n");
  EXPECT_EQ(d.media[0].ice_options, (std::vector<std::string>{"trickle", "ice2", "renomination"}));
  ExpectRoundTrip(d);
  // Found by the sdp_parse fuzzer: options spread over many lines must survive being written on one.
  std::string many = MinimalLf();
  for (int i = 0; i < 17; ++i)
    many += "a=ice-options:opt" + std::to_string(i) + "\n";
  auto e = MustFail(many);
  EXPECT_EQ(e.line, 14u + 16u);
  EXPECT_NE(e.what.find("ice-options"), std::string::npos);
}

TEST(SdpParse, UnknownFingerprintHashIsSkippedWhenAnotherIsUsable) {
  auto d = MustParse(MinimalLf() + "a=fingerprint:sha-3000 AA:BB\n");
  EXPECT_EQ(d.media[0].fingerprints.size(), 1u);
}

TEST(SdpParse, RejectedDataSectionNeedsNoTransportAttributes) {
  auto d = MustParse(
      "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
      "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n");
  ASSERT_EQ(d.media.size(), 1u);
  EXPECT_TRUE(d.media[0].rejected());
  EXPECT_EQ(d.FirstDataSection(), nullptr);
  ExpectRoundTrip(d);
}

TEST(SdpError, MissingIceUfragNamesTheMediaLine) {
  auto e = MustFail(Replace(MinimalLf(), "a=ice-ufrag:abcd\n", ""));
  EXPECT_EQ(e.line, 6u);
  EXPECT_EQ(e.line_text, "m=application 9 UDP/DTLS/SCTP webrtc-datachannel");
  EXPECT_NE(e.what.find("ice-ufrag"), std::string::npos);
  EXPECT_EQ(e.ToString().rfind("SDP line 6 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel': ", 0), 0u)
      << e.ToString();
}

TEST(SdpError, MissingPwdFingerprintOrSetupAreErrors) {
  EXPECT_NE(MustFail(Replace(MinimalLf(), "a=ice-pwd:abcdefghijklmnopqrstuv\n", "")).what.find("ice-pwd"),
            std::string::npos);
  EXPECT_NE(MustFail(Replace(MinimalLf(), std::string("a=fingerprint:") + kFp + "\n", "")).what.find("fingerprint"),
            std::string::npos);
  auto e = MustFail(Replace(MinimalLf(), "a=setup:actpass\n", ""));
  EXPECT_EQ(e.line, 6u);
  EXPECT_NE(e.what.find("setup"), std::string::npos);
}

TEST(SdpError, InvalidValuesNameTheirLine) {
  struct Case {
    std::string from, to;
    size_t line;
    const char* what;
  };
  const Case cases[] = {
      {"a=setup:actpass", "a=setup:sideways", 12, "a=setup"},
      {"a=ice-ufrag:abcd", "a=ice-ufrag:ab", 9, "ice-ufrag"},
      {"a=ice-ufrag:abcd", "a=ice-ufrag:ab-cd", 9, "ice-ufrag"},
      {"a=ice-pwd:abcdefghijklmnopqrstuv", "a=ice-pwd:short", 10, "ice-pwd"},
      {"a=fingerprint:sha-256 11:8F", "a=fingerprint:sha-256 ZZ:8F", 11, "fingerprint"},
      {"a=sctp-port:5000", "a=sctp-port:70000", 13, "sctp-port"},
      {"a=sctp-port:5000", "a=sctp-port:0", 13, "sctp-port"},
      {"a=mid:d", "a=mid:", 8, "a=mid"},
      {"c=IN IP4 0.0.0.0", "c=IN", 7, "c="},
      {"o=- 123 1 IN IP4 127.0.0.1", "o=- 123 IN IP4 127.0.0.1", 2, "o="},
      {"o=- 123 1 IN", "o=- 12x 1 IN", 2, "sess-id"},
      {"m=application 9 UDP", "m=application 99999 UDP", 6, "port"},
      {"webrtc-datachannel\n", "5000\n", 6, "webrtc-datachannel"},
      {"t=0 0", "T=0 0", 4, "<letter>=<value>"},
      {"t=0 0", "t=0\x01 0", 4, "control character"},
      {"a=group:BUNDLE d", "a=group:BUNDLE d x", 5, "'x'"},
  };
  for (const auto& c : cases) {
    auto e = MustFail(Replace(MinimalLf(), c.from, c.to));
    EXPECT_EQ(e.line, c.line) << c.to << ": " << e.ToString();
    EXPECT_NE(e.what.find(c.what), std::string::npos) << c.to << ": " << e.ToString();
  }
}

TEST(SdpError, BadCandidateNamesItsLine) {
  auto e = MustFail(MinimalLf() + "a=candidate:1 1 udp 2130706431 10.0.0.1 99999 typ host\n");
  EXPECT_EQ(e.line, 14u);
  EXPECT_NE(e.what.find("candidate port"), std::string::npos) << e.ToString();
  auto mdns = MustFail(MinimalLf() + "a=candidate:1 1 udp 2130706431 abc.local 5 type host\n");
  EXPECT_EQ(mdns.line, 14u);
  // An unsupported transport is ignored, not an error.
  auto d = MustParse(MinimalLf() + "a=candidate:1 1 ssltcp 2130706431 10.0.0.1 443 typ host\n");
  EXPECT_TRUE(d.media[0].candidates.empty());
}

TEST(SdpError, StructuralErrors) {
  EXPECT_EQ(MustFail(Replace(MinimalLf(), "v=0", "v=1")).line, 1u);
  EXPECT_EQ(MustFail("").what, "SDP is empty");
  EXPECT_NE(MustFail(Replace(MinimalLf(), "o=- 123 1 IN IP4 127.0.0.1\n", "")).what.find("o="), std::string::npos);
  auto dup = MustFail(MinimalLf() + "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\na=mid:d\n");
  EXPECT_EQ(dup.line, 14u);
  EXPECT_NE(dup.what.find("two media sections"), std::string::npos);
  EXPECT_EQ(MustFail(MinimalLf() + "a=mid:e\n").line, 14u);
  EXPECT_EQ(MustFail(MinimalLf() + "a=setup:passive\n").line, 14u);
}

TEST(SdpError, Limits) {
  std::string big = MinimalLf() + std::string(kMaxSdpBytes, 'x');
  EXPECT_NE(MustFail(big).what.find("bytes"), std::string::npos);

  std::string many_lines = MinimalLf();
  for (size_t i = 0; i < kMaxSdpLines; ++i)
    many_lines += "a=x\n";
  auto e = MustFail(many_lines);
  EXPECT_EQ(e.line, kMaxSdpLines + 1);
  EXPECT_NE(e.what.find("lines"), std::string::npos);

  std::string many_media = MinimalLf();
  for (size_t i = 0; i < kMaxMediaSections; ++i)
    many_media += "m=audio 0 RTP/AVP 0\n";
  auto m = MustFail(many_media);
  EXPECT_EQ(m.line, 13 + kMaxMediaSections);
  EXPECT_NE(m.what.find("media sections"), std::string::npos);

  std::string many_candidates = MinimalLf();
  for (size_t i = 0; i <= kMaxCandidates; ++i) {
    many_candidates += "a=candidate:1 1 udp 1 10.0.0.1 " + std::to_string(1000 + i) + " typ host\n";
  }
  auto c = MustFail(many_candidates);
  EXPECT_EQ(c.line, 13 + kMaxCandidates + 1);
  EXPECT_NE(c.what.find("candidate"), std::string::npos);

  // Exactly at the limits is fine.
  std::string at_limit = MinimalLf();
  for (size_t i = 0; i < kMaxCandidates; ++i) {
    at_limit += "a=candidate:1 1 udp 1 10.0.0.1 " + std::to_string(1000 + i) + " typ host\n";
  }
  EXPECT_EQ(MustParse(at_limit).media[0].candidates.size(), kMaxCandidates);
}

TEST(SdpError, LongLineIsTruncatedInTheError) {
  auto e = MustFail(Replace(MinimalLf(), "a=setup:actpass", "a=setup:" + std::string(1000, 'q')));
  EXPECT_EQ(e.line, 12u);
  EXPECT_EQ(e.line_text.size(), 200u);
}

TEST(SdpGenerate, WritesMinimalDataChannelSdpWithCrlf) {
  auto d = MustParse(ReadSample("chromium_offer.sdp"));
  d.media[0].mdns_candidates.clear();
  d.media[0].candidates.resize(1);
  d.media[0].end_of_candidates = true;
  const std::string expected = std::string(
                                   "v=0\r\n"
                                   "o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
                                   "s=-\r\n"
                                   "t=0 0\r\n"
                                   "a=group:BUNDLE 0\r\n"
                                   "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
                                   "c=IN IP4 0.0.0.0\r\n"
                                   "a=mid:0\r\n"
                                   "a=ice-ufrag:khLS\r\n"
                                   "a=ice-pwd:cxLzteJaJBou3DspNaPsJhlQ\r\n"
                                   "a=ice-options:trickle\r\n"
                                   "a=fingerprint:") +
                               kFp +
                               "\r\n"
                               "a=setup:actpass\r\n"
                               "a=sctp-port:5000\r\n"
                               "a=max-message-size:262144\r\n"
                               "a=candidate:1467250027 1 udp 2122260223 192.168.0.196 46243 typ host\r\n"
                               "a=end-of-candidates\r\n";
  EXPECT_EQ(d.ToSdp(), expected);
}

TEST(SdpModel, MaxSendMessageSize) {
  MediaSection m;
  EXPECT_EQ(MaxSendMessageSize(m, 0), 65536u);        // absent: 64 KiB (RFC 8841 section 6)
  EXPECT_EQ(MaxSendMessageSize(m, 1000), 1000u);      // our own cap is lower
  m.max_message_size = 0;                             // peer: any size
  EXPECT_EQ(MaxSendMessageSize(m, 0), 0u);            // neither limits
  EXPECT_EQ(MaxSendMessageSize(m, 300000), 300000u);  // only ours limits
  m.max_message_size = 262144;
  EXPECT_EQ(MaxSendMessageSize(m, 1u << 30), 262144u);
}

TEST(SdpModel, TypeAndSetupStrings) {
  for (auto t : {SdpType::kOffer, SdpType::kPranswer, SdpType::kAnswer, SdpType::kRollback}) {
    EXPECT_EQ(SdpTypeFromString(ToString(t)), t);
  }
  EXPECT_FALSE(SdpTypeFromString("Offer").has_value());
  for (auto r : {SetupRole::kActpass, SetupRole::kActive, SetupRole::kPassive, SetupRole::kHoldconn}) {
    EXPECT_EQ(SetupRoleFromString(ToString(r)), r);
  }
}

}  // namespace
}  // namespace peerlink::sdp
