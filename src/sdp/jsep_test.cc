#include "src/sdp/jsep.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace peerlink::sdp {
namespace {

using S = SignalingState;

std::string ReadSample(const std::string& name) {
  std::ifstream in(std::string(PEERLINK_SDP_CORPUS_DIR) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

SessionDescription Sample(const std::string& name, SdpType type = SdpType::kOffer) {
  auto r = SessionDescription::Parse(ReadSample(name), type);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().ToString());
  return r.ok() ? *r : SessionDescription{};
}

LocalParams Local() {
  LocalParams p;
  p.session_id = "8123456789012345678";
  p.session_version = 1;
  p.ice_ufrag = "pl0u";
  p.ice_pwd = "peerlinkpasswordpeerlink";
  auto fp = dtls::Fingerprint::Parse(
      "sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99");
  EXPECT_TRUE(fp.ok());
  p.fingerprints = {*fp};
  p.max_message_size = 262144;
  return p;
}

// Brings a fresh machine into `target` through valid operations.
SignalingStateMachine MachineIn(S target) {
  SignalingStateMachine m;
  auto ok = [](auto r) { EXPECT_TRUE(r.ok()); };
  switch (target) {
    case S::kStable: break;
    case S::kHaveLocalOffer: ok(m.SetLocal(SdpType::kOffer)); break;
    case S::kHaveRemoteOffer: ok(m.SetRemote(SdpType::kOffer)); break;
    case S::kHaveLocalPranswer:
      ok(m.SetRemote(SdpType::kOffer));
      ok(m.SetLocal(SdpType::kPranswer));
      break;
    case S::kHaveRemotePranswer:
      ok(m.SetLocal(SdpType::kOffer));
      ok(m.SetRemote(SdpType::kPranswer));
      break;
    case S::kClosed: m.Close(); break;
  }
  EXPECT_EQ(m.state(), target);
  return m;
}

TEST(SignalingStateMachine, EveryTransitionMatchesJsep) {
  struct Row {
    S from;
    bool local;
    SdpType type;
    std::optional<S> to;  // nullopt: refused
  };
  const S states[] = {
      S::kStable, S::kHaveLocalOffer, S::kHaveRemoteOffer, S::kHaveLocalPranswer, S::kHaveRemotePranswer, S::kClosed};
  const SdpType types[] = {SdpType::kOffer, SdpType::kPranswer, SdpType::kAnswer, SdpType::kRollback};
  // The allowed transitions (RFC 8829 section 3.2 figure, webrtc-pc rollback rules); all else is refused.
  const Row allowed[] = {
      {S::kStable, true, SdpType::kOffer, S::kHaveLocalOffer},
      {S::kStable, false, SdpType::kOffer, S::kHaveRemoteOffer},
      {S::kHaveLocalOffer, true, SdpType::kOffer, S::kHaveLocalOffer},
      {S::kHaveLocalOffer, false, SdpType::kPranswer, S::kHaveRemotePranswer},
      {S::kHaveLocalOffer, false, SdpType::kAnswer, S::kStable},
      {S::kHaveLocalOffer, true, SdpType::kRollback, S::kStable},
      {S::kHaveLocalOffer, false, SdpType::kRollback, S::kStable},
      {S::kHaveRemoteOffer, false, SdpType::kOffer, S::kHaveRemoteOffer},
      {S::kHaveRemoteOffer, true, SdpType::kPranswer, S::kHaveLocalPranswer},
      {S::kHaveRemoteOffer, true, SdpType::kAnswer, S::kStable},
      {S::kHaveRemoteOffer, true, SdpType::kRollback, S::kStable},
      {S::kHaveRemoteOffer, false, SdpType::kRollback, S::kStable},
      {S::kHaveLocalPranswer, true, SdpType::kPranswer, S::kHaveLocalPranswer},
      {S::kHaveLocalPranswer, true, SdpType::kAnswer, S::kStable},
      {S::kHaveRemotePranswer, false, SdpType::kPranswer, S::kHaveRemotePranswer},
      {S::kHaveRemotePranswer, false, SdpType::kAnswer, S::kStable},
  };
  int checked = 0;
  for (S from : states) {
    for (bool local : {true, false}) {
      for (SdpType type : types) {
        std::optional<S> expected;
        for (const auto& r : allowed) {
          if (r.from == from && r.local == local && r.type == type) expected = r.to;
        }
        SignalingStateMachine m = MachineIn(from);
        auto r = local ? m.SetLocal(type) : m.SetRemote(type);
        const std::string what =
            std::string(ToString(from)) + (local ? " SetLocal " : " SetRemote ") + std::string(ToString(type));
        if (expected) {
          ASSERT_TRUE(r.ok()) << what;
          EXPECT_EQ(*r, *expected) << what;
          EXPECT_EQ(m.state(), *expected) << what;
        } else {
          ASSERT_FALSE(r.ok()) << what;
          EXPECT_EQ(m.state(), from) << what << ": state changed on error";
          EXPECT_NE(r.error().what.find(std::string(ToString(from))), std::string::npos) << r.error().what;
        }
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 6 * 2 * 4);
}

TEST(SignalingStateMachine, ErrorMessageIsClear) {
  SignalingStateMachine m;
  auto r = m.SetRemote(SdpType::kAnswer);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().what, "cannot set remote answer in signaling state stable");
  EXPECT_EQ(r.error().ToString(), "SDP: cannot set remote answer in signaling state stable");
}

TEST(Jsep, CreateOfferIsMinimalAndParsesBack) {
  auto offer = CreateOffer(Local());
  ASSERT_TRUE(offer.ok()) << offer.error().ToString();
  const std::string text = offer->ToSdp();
  EXPECT_EQ(text.rfind("v=0\r\no=- 8123456789012345678 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n", 0),
            0u)
      << text;
  for (const char* line : {"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n", "c=IN IP4 0.0.0.0\r\n",
                           "a=mid:0\r\n", "a=ice-ufrag:pl0u\r\n", "a=ice-options:trickle\r\n", "a=setup:actpass\r\n",
                           "a=sctp-port:5000\r\n", "a=max-message-size:262144\r\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
  auto parsed = SessionDescription::Parse(text, SdpType::kOffer);
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  EXPECT_EQ(*parsed, *offer);
}

TEST(Jsep, CreateOfferRejectsBadParams) {
  auto p = Local();
  p.ice_pwd = "short";
  EXPECT_FALSE(CreateOffer(p).ok());
  p = Local();
  p.fingerprints.clear();
  EXPECT_FALSE(CreateOffer(p).ok());
  p = Local();
  p.session_id = "abc";
  EXPECT_FALSE(CreateOffer(p).ok());
}

TEST(Jsep, ASubsequentOfferStatesTheRunningRoleAndTheAnswerKeepsIt) {
  auto p = Local();
  p.offer_setup = SetupRole::kPassive;  // we are the DTLS server of the running association
  auto offer = CreateOffer(p);
  ASSERT_TRUE(offer.ok()) << offer.error().ToString();
  EXPECT_NE(offer->ToSdp().find("a=setup:passive\r\n"), std::string::npos);
  auto answer = NegotiateAnswer(*offer, Local());  // Local().answer_setup is active either way
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->media[0].setup, SetupRole::kActive);
  p.offer_setup = SetupRole::kActive;
  offer = CreateOffer(p);
  ASSERT_TRUE(offer.ok());
  answer = NegotiateAnswer(*offer, Local());
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->media[0].setup, SetupRole::kPassive);
  p.offer_setup = SetupRole::kHoldconn;
  EXPECT_FALSE(CreateOffer(p).ok());
}

TEST(Jsep, AnswerToChromiumAudioAndDataRejectsAudio) {
  auto offer = Sample("chromium_audio_data_offer.sdp");
  auto answer = NegotiateAnswer(offer, Local());
  ASSERT_TRUE(answer.ok()) << answer.error().ToString();
  EXPECT_EQ(answer->type, SdpType::kAnswer);
  ASSERT_EQ(answer->media.size(), 2u);
  EXPECT_EQ(answer->media[0].mid, "0");
  EXPECT_EQ(answer->media[0].port, 0);
  EXPECT_TRUE(answer->media[0].rejected());
  EXPECT_EQ(answer->media[0].media, "audio");
  const MediaSection& data = answer->media[1];
  EXPECT_EQ(data.mid, "1");
  EXPECT_EQ(data.port, 9);
  EXPECT_EQ(data.setup, SetupRole::kActive);
  EXPECT_EQ(data.sctp_port, 5000);
  EXPECT_EQ(data.max_message_size, 262144u);
  EXPECT_EQ(answer->bundle_mids, std::vector<std::string>{"1"});
  EXPECT_TRUE(ValidateAnswer(offer, *answer).ok());
  // The generated answer parses back as the same answer, and still validates.
  auto reparsed = SessionDescription::Parse(answer->ToSdp(), SdpType::kAnswer);
  ASSERT_TRUE(reparsed.ok()) << reparsed.error().ToString() << answer->ToSdp();
  EXPECT_EQ(*reparsed, *answer);
  EXPECT_NE(answer->ToSdp().find("m=audio 0 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"), std::string::npos);
}

TEST(Jsep, AnswerMirrorsLegacySctpmapForm) {
  auto offer = Sample("aiortc_legacy_answer.sdp");  // its m-section is in the legacy form
  offer.type = SdpType::kOffer;
  offer.media[0].setup = SetupRole::kActpass;
  auto local = Local();
  local.answer_setup = SetupRole::kPassive;
  auto answer = NegotiateAnswer(offer, local);
  ASSERT_TRUE(answer.ok()) << answer.error().ToString();
  EXPECT_EQ(answer->media[0].transport, DataTransport::kLegacy);
  EXPECT_EQ(answer->media[0].sctpmap_streams, 65535u);
  EXPECT_EQ(answer->media[0].setup, SetupRole::kPassive);
  EXPECT_NE(answer->ToSdp().find("a=sctpmap:5000 webrtc-datachannel 65535\r\n"), std::string::npos);
  EXPECT_TRUE(ValidateAnswer(offer, *answer).ok());
}

TEST(Jsep, AnswerRoleIsOppositeOfANonActpassOffer) {
  auto offer = Sample("pion_offer.sdp");
  offer.media[0].setup = SetupRole::kActive;
  auto answer = NegotiateAnswer(offer, Local());
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->media[0].setup, SetupRole::kPassive);
  offer.media[0].setup = SetupRole::kPassive;
  answer = NegotiateAnswer(offer, Local());
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->media[0].setup, SetupRole::kActive);
  offer.media[0].setup = SetupRole::kHoldconn;
  EXPECT_FALSE(NegotiateAnswer(offer, Local()).ok());
}

TEST(Jsep, AnswerFailsWithoutDataSectionOrForNonOffer) {
  auto offer = Sample("chromium_audio_data_offer.sdp");
  offer.media.pop_back();
  auto r = NegotiateAnswer(offer, Local());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().what.find("no data m-section"), std::string::npos);
  auto answer = Sample("werift_answer.sdp", SdpType::kAnswer);
  EXPECT_FALSE(NegotiateAnswer(answer, Local()).ok());
}

TEST(Jsep, AnswerWithoutOfferedBundleHasNoBundle) {
  auto offer = Sample("pion_offer.sdp");
  offer.bundle_mids.clear();
  auto answer = NegotiateAnswer(offer, Local());
  ASSERT_TRUE(answer.ok());
  EXPECT_TRUE(answer->bundle_mids.empty());
}

TEST(Jsep, ValidateAnswerCatchesMismatches) {
  auto offer = Sample("chromium_audio_data_offer.sdp");
  auto good = NegotiateAnswer(offer, Local());
  ASSERT_TRUE(good.ok());
  auto expect_error = [&](SessionDescription bad, const char* needle) {
    auto st = ValidateAnswer(offer, bad);
    ASSERT_FALSE(st.ok()) << needle;
    EXPECT_NE(st.error().what.find(needle), std::string::npos) << st.error().what;
  };
  {
    auto bad = *good;
    bad.media[1].setup = SetupRole::kActpass;
    expect_error(bad, "actpass");
  }
  {
    auto bad = *good;
    bad.media[1].mid = "x";
    expect_error(bad, "mid 'x'");
  }
  {
    auto bad = *good;
    std::swap(bad.media[0], bad.media[1]);
    expect_error(bad, "mid");
  }
  {
    auto bad = *good;
    bad.media.pop_back();
    expect_error(bad, "m-sections");
  }
  {
    auto bad = *good;
    bad.bundle_mids = {"0"};
    expect_error(bad, "rejects");
  }
  {
    auto bad = *good;
    bad.media[1].transport = DataTransport::kLegacy;
    expect_error(bad, "transport");
  }
  {
    auto bad = *good;
    bad.type = SdpType::kOffer;
    expect_error(bad, "answer or pranswer");
  }
  {
    auto off = offer;
    off.media[1].setup = SetupRole::kActive;
    auto ans = *good;
    ans.media[1].setup = SetupRole::kActive;
    auto st = ValidateAnswer(off, ans);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().what.find("active"), std::string::npos);
  }
  {
    auto off = offer;
    off.media[0].port = 0;  // offer rejected audio; the answer may not accept it
    auto ans = *good;
    ans.media[0].port = 9;
    auto st = ValidateAnswer(off, ans);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().what.find("offer rejected"), std::string::npos);
  }
  {
    auto pr = *good;
    pr.type = SdpType::kPranswer;
    EXPECT_TRUE(ValidateAnswer(offer, pr).ok());
  }
}

TEST(Jsep, DtlsRoleFromSetup) {
  MediaSection a, b;
  a.setup = SetupRole::kActive;
  b.setup = SetupRole::kActpass;
  EXPECT_TRUE(IsDtlsClient(a, b).value());
  EXPECT_FALSE(IsDtlsClient(b, a).value());
  a.setup = SetupRole::kPassive;
  EXPECT_FALSE(IsDtlsClient(a, b).value());
  EXPECT_TRUE(IsDtlsClient(b, a).value());
  b.setup = SetupRole::kPassive;
  EXPECT_FALSE(IsDtlsClient(a, b).ok());
}

TEST(Jsep, FullOfferAnswerExchangeBetweenTwoPeers) {
  SignalingStateMachine alice, bob;
  auto offer = CreateOffer(Local());
  ASSERT_TRUE(offer.ok());
  ASSERT_TRUE(alice.SetLocal(SdpType::kOffer).ok());
  auto remote_offer = SessionDescription::Parse(offer->ToSdp(), SdpType::kOffer);
  ASSERT_TRUE(remote_offer.ok());
  ASSERT_TRUE(bob.SetRemote(SdpType::kOffer).ok());
  auto bob_params = Local();
  bob_params.ice_ufrag = "bobU";
  auto answer = NegotiateAnswer(*remote_offer, bob_params);
  ASSERT_TRUE(answer.ok());
  ASSERT_TRUE(bob.SetLocal(SdpType::kAnswer).ok());
  auto remote_answer = SessionDescription::Parse(answer->ToSdp(), SdpType::kAnswer);
  ASSERT_TRUE(remote_answer.ok());
  ASSERT_TRUE(ValidateAnswer(*offer, *remote_answer).ok());
  ASSERT_TRUE(alice.SetRemote(SdpType::kAnswer).ok());
  EXPECT_EQ(alice.state(), S::kStable);
  EXPECT_EQ(bob.state(), S::kStable);
  // Alice offered actpass, Bob answered active: Bob is the DTLS client.
  EXPECT_FALSE(IsDtlsClient(*offer->FirstDataSection(), *remote_answer->FirstDataSection()).value());
  EXPECT_TRUE(IsDtlsClient(*answer->FirstDataSection(), *remote_offer->FirstDataSection()).value());
  EXPECT_EQ(remote_answer->FirstDataSection()->ice_ufrag, "bobU");
}

}  // namespace
}  // namespace peerlink::sdp
