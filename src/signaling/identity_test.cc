#include "src/signaling/identity.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "src/base/check.h"

namespace peerlink::signaling {
namespace {

constexpr std::string_view kSdp =
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
    "a=fingerprint:sha-256 "
    "ab:cd:ef:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\r\n"
    "a=setup:actpass\r\na=sctp-port:5000\r\n";

// What a man-in-the-middle relay does: replace the fingerprint with its own certificate's.
std::string SwapFingerprint(std::string_view sdp) {
  std::string s(sdp);
  auto at = s.find("ab:cd:ef:01");
  s.replace(at, 11, "66:66:66:66");
  return s;
}

DescriptionBinding Binding() {
  return DescriptionBinding{"room-1", "offer", "alice-peer", "bob-peer"};
}

TEST(IdentityTest, ExtractsCanonicalFingerprints) {
  auto fps = ExtractFingerprints(kSdp);
  ASSERT_EQ(fps.size(), 1u);
  EXPECT_EQ(fps[0],
            "sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89");
  EXPECT_TRUE(ExtractFingerprints("v=0\r\nm=application 9 x\r\n").empty());
}

TEST(IdentityTest, CorrectSignaturePasses) {
  IdentityKey alice = IdentityKey::Generate();
  EXPECT_EQ(alice.id().size(), 43u);
  auto sig = SignDescription(alice, Binding(), kSdp);
  ASSERT_TRUE(sig.ok()) << sig.error().message;
  // Through the JSON form the signal message carries.
  auto parsed = DescriptionSignature::FromJson(sig->ToJson());
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  auto pinned = IdentityPublicKey::FromId(alice.id());
  ASSERT_TRUE(pinned.ok());
  auto v = VerifyDescription(*pinned, Binding(), kSdp, *parsed);
  EXPECT_TRUE(v.ok()) << v.error().message;
}

TEST(IdentityTest, SwappedFingerprintFails) {
  IdentityKey alice = IdentityKey::Generate();
  auto sig = SignDescription(alice, Binding(), kSdp);
  ASSERT_TRUE(sig.ok());
  auto v = VerifyDescription(alice.public_key(), Binding(), SwapFingerprint(kSdp), *sig);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, IdentityErrorCode::kFingerprintMismatch);

  // A relay that also rewrites the signed fingerprint list breaks the signature.
  auto forged = *sig;
  forged.fingerprints = ExtractFingerprints(SwapFingerprint(kSdp));
  auto v2 = VerifyDescription(alice.public_key(), Binding(), SwapFingerprint(kSdp), forged);
  ASSERT_FALSE(v2.ok());
  EXPECT_EQ(v2.error().code, IdentityErrorCode::kBadSignature);
}

TEST(IdentityTest, ReplayToAnotherPeerOrRoomOrTypeFails) {
  IdentityKey alice = IdentityKey::Generate();
  auto sig = SignDescription(alice, Binding(), kSdp);
  ASSERT_TRUE(sig.ok());
  DescriptionBinding other_peer = Binding();
  other_peer.to_peer_id = "carol-peer";
  DescriptionBinding other_room = Binding();
  other_room.room = "room-2";
  DescriptionBinding other_type = Binding();
  other_type.sdp_type = "answer";
  DescriptionBinding other_sender = Binding();
  other_sender.from_peer_id = "mallory-peer";
  for (const auto& b : {other_peer, other_room, other_type, other_sender}) {
    auto v = VerifyDescription(alice.public_key(), b, kSdp, *sig);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.error().code, IdentityErrorCode::kBadSignature);
  }
}

TEST(IdentityTest, UnexpectedSignerIsUnknownIdentity) {
  IdentityKey alice = IdentityKey::Generate();
  IdentityKey mallory = IdentityKey::Generate();
  auto sig = SignDescription(mallory, Binding(), SwapFingerprint(kSdp));
  ASSERT_TRUE(sig.ok());
  auto v = VerifyDescription(alice.public_key(), Binding(), SwapFingerprint(kSdp), *sig);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, IdentityErrorCode::kUnknownIdentity);
  // Claiming alice's id with mallory's signature: bad signature.
  auto claimed = *sig;
  claimed.identity = alice.id();
  EXPECT_EQ(VerifyDescription(alice.public_key(), Binding(), SwapFingerprint(kSdp), claimed).error().code,
            IdentityErrorCode::kBadSignature);
}

TEST(IdentityTest, SdpWithoutFingerprintCannotBeSigned) {
  IdentityKey alice = IdentityKey::Generate();
  auto sig = SignDescription(alice, Binding(), "v=0\r\n");
  ASSERT_FALSE(sig.ok());
  EXPECT_EQ(sig.error().code, IdentityErrorCode::kMalformed);
}

TEST(IdentityTest, PemRoundTripAndFile) {
  IdentityKey alice = IdentityKey::Generate();
  auto back = IdentityKey::FromPem(alice.ToPem());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->id(), alice.id());
  auto pub = IdentityPublicKey::FromPem(alice.public_key().ToPem());
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(pub->id(), alice.id());

  char dir_template[] = "/tmp/peerlink-identity-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  std::string path = std::string(dir_template) + "/id.pem";
  ASSERT_TRUE(alice.WritePemFile(path).ok());
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(alice.WritePemFile(path).ok());  // never overwrites
  auto loaded = IdentityKey::ReadPemFile(path);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->id(), alice.id());
  unlink(path.c_str());
  rmdir(dir_template);
  EXPECT_EQ(IdentityKey::ReadPemFile(path).error().code, IdentityErrorCode::kIo);
}

TEST(IdentityTest, RejectsMalformedKeysAndSignatures) {
  EXPECT_EQ(IdentityPublicKey::FromId("not-a-key").error().code, IdentityErrorCode::kMalformed);
  EXPECT_EQ(IdentityPublicKey::FromId(std::string(43, '+')).error().code, IdentityErrorCode::kMalformed);
  EXPECT_EQ(IdentityKey::FromPem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").error().code,
            IdentityErrorCode::kMalformed);
  EXPECT_FALSE(
      DescriptionSignature::FromJson(nlohmann::json::parse(R"({"id":"x","fingerprints":[],"sig":"AA"})")).ok());
  EXPECT_FALSE(DescriptionSignature::FromJson(nlohmann::json::parse(R"({"id":"x","sig":"AA"})")).ok());
  EXPECT_FALSE(DescriptionSignature::FromJson(nlohmann::json::array()).ok());
}

// The path the client takes: sign into a y-webrtc signal message, send it through a relay as
// JSON, parse and verify on the other side.
TEST(IdentityTest, SignalMessageThroughARelay) {
  IdentityKey alice = IdentityKey::Generate();
  ywebrtc::SignalMessage offer;
  offer.from = "alice-peer";
  offer.to = "bob-peer";
  offer.token = 12.5;
  offer.signal = ywebrtc::SessionDescriptionSignal{ywebrtc::SessionDescriptionSignal::Type::kOffer, std::string(kSdp)};
  ASSERT_TRUE(AttachIdentity(offer, alice, "room-1").ok());

  auto relay = [](const ywebrtc::SignalMessage& m, auto&& mutate) {
    nlohmann::json j = ywebrtc::ToJson(ywebrtc::InnerMessage(m));
    mutate(j);
    auto parsed = ywebrtc::ParseInnerMessage(j);
    PL_CHECK(parsed.ok());
    return std::get<ywebrtc::SignalMessage>(*parsed);
  };
  auto honest = relay(offer, [](nlohmann::json&) {});
  EXPECT_TRUE(VerifySignalIdentity(honest, "room-1", "bob-peer", alice.public_key()).ok());
  // Bob checks against his own id, so a relay redirecting the offer to carol fails at carol.
  auto redirected = relay(offer, [](nlohmann::json& j) { j["to"] = "carol-peer"; });
  EXPECT_EQ(VerifySignalIdentity(redirected, "room-1", "carol-peer", alice.public_key()).error().code,
            IdentityErrorCode::kBadSignature);
  auto swapped = relay(offer, [](nlohmann::json& j) { j["signal"]["sdp"] = SwapFingerprint(kSdp); });
  EXPECT_EQ(VerifySignalIdentity(swapped, "room-1", "bob-peer", alice.public_key()).error().code,
            IdentityErrorCode::kFingerprintMismatch);
  auto stripped = relay(offer, [](nlohmann::json& j) { j.erase("identity"); });
  EXPECT_EQ(VerifySignalIdentity(stripped, "room-1", "bob-peer", alice.public_key()).error().code,
            IdentityErrorCode::kMissingSignature);

  ywebrtc::SignalMessage candidate = offer;
  candidate.signal = ywebrtc::CandidateSignal{"candidate:1 1 udp 1 192.0.2.1 9 typ host", "0", 0};
  EXPECT_EQ(AttachIdentity(candidate, alice, "room-1").error().code, IdentityErrorCode::kMalformed);
}

}  // namespace
}  // namespace peerlink::signaling
