#include "src/stun/message.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "src/base/crypto.h"
#include "src/stun/binding_server.h"
#include "src/stun/credentials.h"
#include "src/stun/framing.h"
#include "tests/util/alloc_counter.h"

namespace peerlink::stun {
namespace {

std::vector<uint8_t> Hex(std::string_view hex) {
  std::vector<uint8_t> out;
  int hi = -1;
  for (char c : hex) {
    int v;
    if (c >= '0' && c <= '9')
      v = c - '0';
    else if (c >= 'a' && c <= 'f')
      v = c - 'a' + 10;
    else
      continue;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi * 16 + v));
      hi = -1;
    }
  }
  return out;
}

// RFC 5769 section 2.1: sample request (short-term credentials).
const std::vector<uint8_t> kSampleRequest =
    Hex("00010058 2112a442 b7e7a701 bc34d686 fa87dfae 80220010 5354554e 20746573 7420636c 69656e74"
        "00240004 6e0001ff 80290008 932ff9b1 51263b36 00060009 6576746a 3a683676 59202020"
        "00080014 9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2 80280004 e57a3bcf");
// RFC 5769 section 2.2: sample IPv4 response.
const std::vector<uint8_t> kSampleIpv4Response =
    Hex("0101003c 2112a442 b7e7a701 bc34d686 fa87dfae 8022000b 74657374 20766563 746f7220"
        "00200008 0001a147 e112a643 00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7"
        "80280004 c07d4c96");
// RFC 5769 section 2.3: sample IPv6 response.
const std::vector<uint8_t> kSampleIpv6Response =
    Hex("01010048 2112a442 b7e7a701 bc34d686 fa87dfae 8022000b 74657374 20766563 746f7220"
        "00200014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9 00080014 a382954e 4be67bf1"
        "1784c97c 8292c275 bfe3ed41 80280004 c8fb0b4c");
// RFC 5769 section 2.4: sample request with long-term authentication.
const std::vector<uint8_t> kSampleLongTermRequest =
    Hex("00010060 2112a442 78ad3433 c6ad72c0 29da412e 00060012 e3839ee3 8388e383 aae38383"
        "e382afe3 82b90000 0015001c 662f2f34 39396b39 35346436 4f4c3334 6f4c3946 53547679"
        "36347341 0014000b 6578616d 706c652e 6f726700 00080014 f6702465 6dd64a3e 02b8e071"
        "2e85c9a2 8ca89666");

constexpr std::string_view kPassword = "VOkJxbRl1RmTxUk/WvJxBt";

TEST(StunRfc5769, SampleRequestParsesAndVerifies) {
  auto m = StunMessage::Parse(kSampleRequest);
  ASSERT_TRUE(m.ok()) << ToString(m.error().code);
  EXPECT_EQ(m->method(), Method::kBinding);
  EXPECT_EQ(m->cls(), StunClass::kRequest);
  EXPECT_EQ(m->GetString(attr::kSoftware), "STUN test client");
  EXPECT_EQ(m->GetU32(attr::kPriority), 0x6e0001ffu);
  EXPECT_EQ(m->GetU64(attr::kIceControlled), 0x932ff9b151263b36ull);
  EXPECT_EQ(m->GetString(attr::kUsername), "evtj:h6vY");
  EXPECT_TRUE(m->VerifyFingerprint());
  EXPECT_TRUE(m->VerifyMessageIntegrity(ShortTermKey(kPassword)));
  EXPECT_FALSE(m->VerifyMessageIntegrity(ShortTermKey("wrong")));
}

TEST(StunRfc5769, Ipv4ResponseDecodesXorMappedAddress) {
  auto m = StunMessage::Parse(kSampleIpv4Response);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->cls(), StunClass::kSuccessResponse);
  EXPECT_EQ(m->GetXorAddress(attr::kXorMappedAddress), SocketAddress::Parse("192.0.2.1:32853"));
  EXPECT_TRUE(m->VerifyFingerprint());
  EXPECT_TRUE(m->VerifyMessageIntegrity(ShortTermKey(kPassword)));
}

TEST(StunRfc5769, Ipv6ResponseDecodesXorMappedAddress) {
  auto m = StunMessage::Parse(kSampleIpv6Response);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->GetXorAddress(attr::kXorMappedAddress),
            SocketAddress::Parse("[2001:db8:1234:5678:11:2233:4455:6677]:32853"));
  EXPECT_TRUE(m->VerifyFingerprint());
  EXPECT_TRUE(m->VerifyMessageIntegrity(ShortTermKey(kPassword)));
}

TEST(StunRfc5769, LongTermRequestVerifiesWithLongTermKey) {
  auto m = StunMessage::Parse(kSampleLongTermRequest);
  ASSERT_TRUE(m.ok());
  const std::string username = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";
  EXPECT_EQ(m->GetString(attr::kUsername), username);
  EXPECT_EQ(m->GetString(attr::kRealm), "example.org");
  EXPECT_EQ(m->GetString(attr::kNonce), "f//499k954d6OL34oL9FSTvy64sA");
  EXPECT_FALSE(m->HasFingerprint());
  EXPECT_TRUE(m->VerifyMessageIntegrity(LongTermKey(username, "example.org", "TheMatrIX")));
  EXPECT_FALSE(m->VerifyMessageIntegrity(LongTermKey(username, "example.org", "thematrix")));
}

TEST(StunCodec, BuilderOutputRoundTripsWithAllIntegrityAttributes) {
  SeededRng rng(7);
  const auto tid = RandomTransactionId(rng);
  StunMessageBuilder b(Method::kAllocate, StunClass::kRequest, tid);
  b.AddString(attr::kUsername, "user")
      .AddString(attr::kRealm, "realm.example")
      .AddString(attr::kNonce, "nonce123")
      .AddRequestedTransport(17)
      .AddU32(attr::kLifetime, 600)
      .AddFlag(attr::kDontFragment)
      .AddRequestedAddressFamily(IpFamily::kV6)
      .AddXorAddress(attr::kXorPeerAddress, *SocketAddress::Parse("[2001:db8::7]:9"))
      .AddChannelNumber(0x4001);
  const auto key = LongTermKey("user", "realm.example", "pass");
  b.AddMessageIntegrity(key).AddMessageIntegritySha256(key).AddFingerprint();
  auto bytes = std::move(b).Finish();
  auto m = StunMessage::Parse(bytes);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->method(), Method::kAllocate);
  EXPECT_EQ(m->transaction_id(), tid);
  EXPECT_EQ(m->GetRequestedTransport(), 17);
  EXPECT_EQ(m->GetU32(attr::kLifetime), 600u);
  EXPECT_TRUE(m->Has(attr::kDontFragment));
  EXPECT_EQ(m->GetXorAddress(attr::kXorPeerAddress), SocketAddress::Parse("[2001:db8::7]:9"));
  EXPECT_EQ(m->GetChannelNumber(), 0x4001);
  EXPECT_TRUE(m->VerifyMessageIntegrity(key));
  EXPECT_TRUE(m->VerifyMessageIntegritySha256(key));
  EXPECT_TRUE(m->VerifyFingerprint());
  // Flipping any byte before FINGERPRINT breaks the fingerprint.
  bytes[25] ^= 1;  // inside the USERNAME value
  auto m2 = StunMessage::Parse(bytes);
  ASSERT_TRUE(m2.ok());
  EXPECT_FALSE(m2->VerifyFingerprint());
  EXPECT_FALSE(m2->VerifyMessageIntegrity(key));
}

TEST(StunCodec, ErrorCodeAndUnknownAttributes) {
  SeededRng rng(1);
  StunMessageBuilder b(Method::kBinding, StunClass::kErrorResponse, RandomTransactionId(rng));
  const uint16_t unknown[] = {0x0031, 0x7777};
  b.AddErrorCode(420, "Unknown Attribute").AddUnknownAttributes(unknown);
  auto bytes = std::move(b).Finish();
  auto m = StunMessage::Parse(bytes);
  ASSERT_TRUE(m.ok());
  auto ec = m->GetErrorCode();
  ASSERT_TRUE(ec);
  EXPECT_EQ(ec->code, 420);
  EXPECT_EQ(ec->reason, "Unknown Attribute");
  EXPECT_EQ(m->GetUnknownAttributes(), (std::vector<uint16_t>{0x0031, 0x7777}));
}

TEST(StunCodec, PasswordAlgorithmsRoundTrip) {
  SeededRng rng(2);
  StunMessageBuilder b(Method::kAllocate, StunClass::kErrorResponse, RandomTransactionId(rng));
  const PasswordAlgorithm algs[] = {PasswordAlgorithm::kSha256, PasswordAlgorithm::kMd5};
  b.AddPasswordAlgorithms(algs);
  auto bytes = std::move(b).Finish();
  auto m = StunMessage::Parse(bytes);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->GetPasswordAlgorithms(), (std::vector<PasswordAlgorithm>{algs[0], algs[1]}));
}

TEST(StunCodec, RejectsTruncatedAndPaddedAndMalformed) {
  auto good = kSampleIpv4Response;
  for (size_t n = 0; n < good.size(); ++n) {
    auto r = StunMessage::Parse(ByteView(good.data(), n));
    EXPECT_FALSE(r.ok()) << "prefix of " << n << " bytes parsed";
  }
  auto padded = good;
  padded.push_back(0);
  padded.push_back(0);
  padded.push_back(0);
  padded.push_back(0);
  auto r = StunMessage::Parse(padded);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ParseErrorCode::kTrailingBytes);

  auto bad_cookie = good;
  bad_cookie[4] = 0;
  EXPECT_EQ(StunMessage::Parse(bad_cookie).error().code, ParseErrorCode::kBadMagic);

  auto bad_len = good;
  bad_len[3] = 0x3d;  // not a multiple of 4
  EXPECT_EQ(StunMessage::Parse(bad_len).error().code, ParseErrorCode::kBadLength);

  auto top_bits = good;
  top_bits[0] = 0x41;
  EXPECT_FALSE(StunMessage::Parse(top_bits).ok());

  // An attribute whose length runs past the end of the message.
  auto overrun = good;
  overrun[22] = 0x00;
  overrun[23] = 0xff;
  EXPECT_EQ(StunMessage::Parse(overrun).error().code, ParseErrorCode::kTruncated);
}

TEST(StunCodec, RejectsAttributeAfterFingerprint) {
  SeededRng rng(3);
  StunMessageBuilder b(Method::kBinding, StunClass::kRequest, RandomTransactionId(rng));
  b.AddFingerprint().AddString(attr::kSoftware, "x");
  auto bytes = std::move(b).Finish();
  EXPECT_FALSE(StunMessage::Parse(bytes).ok());
}

TEST(StunCodec, AttributesAfterMessageIntegrityAreIgnored) {
  SeededRng rng(4);
  StunMessageBuilder b(Method::kBinding, StunClass::kRequest, RandomTransactionId(rng));
  b.AddMessageIntegrity(ShortTermKey("k")).AddString(attr::kUsername, "smuggled");
  auto bytes = std::move(b).Finish();
  auto m = StunMessage::Parse(bytes);
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(m->GetString(attr::kUsername));
}

TEST(StunCodec, ParsingAllocatesNothing) {
  const uint64_t before = testing::AllocationCount();
  for (int i = 0; i < 100; ++i) {
    auto m = StunMessage::Parse(kSampleIpv6Response);
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE(m->GetXorAddress(attr::kXorMappedAddress));
    ASSERT_TRUE(m->VerifyFingerprint());
  }
  EXPECT_EQ(testing::AllocationCount(), before);
}

TEST(StunCodec, TooManyAttributesIsRejected) {
  SeededRng rng(5);
  StunMessageBuilder b(Method::kBinding, StunClass::kRequest, RandomTransactionId(rng));
  for (size_t i = 0; i < kMaxAttributes + 1; ++i)
    b.AddFlag(attr::kUseCandidate);
  auto bytes = std::move(b).Finish();
  EXPECT_EQ(StunMessage::Parse(bytes).error().code, ParseErrorCode::kTooLarge);
}

TEST(StunCodec, LooksLikeStunFollowsRfc7983) {
  EXPECT_TRUE(LooksLikeStun(kSampleRequest));
  std::vector<uint8_t> dtls(kSampleRequest);
  dtls[0] = 22;  // DTLS handshake content type
  EXPECT_FALSE(LooksLikeStun(dtls));
}

TEST(BindingServer, AnswersWithXorMappedAddressAndFingerprint) {
  BindingServer server("test");
  SeededRng rng(9);
  StunMessageBuilder b(Method::kBinding, StunClass::kRequest, RandomTransactionId(rng));
  b.AddFingerprint();
  auto req = std::move(b).Finish();
  const auto from = *SocketAddress::Parse("198.51.100.7:4242");
  auto resp = server.HandleDatagram(from, req);
  ASSERT_TRUE(resp);
  auto m = StunMessage::Parse(*resp);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->cls(), StunClass::kSuccessResponse);
  EXPECT_EQ(m->GetXorAddress(attr::kXorMappedAddress), from);
  EXPECT_TRUE(m->VerifyFingerprint());
  EXPECT_EQ(server.stats().responses, 1u);
}

TEST(BindingServer, UnknownComprehensionRequiredAttributeGets420) {
  BindingServer server;
  SeededRng rng(10);
  StunMessageBuilder b(Method::kBinding, StunClass::kRequest, RandomTransactionId(rng));
  b.AddU32(0x0031, 1).AddU32(0xC0FF, 2);  // one unknown required, one unknown optional
  auto req = std::move(b).Finish();
  auto resp = server.HandleDatagram(*SocketAddress::Parse("127.0.0.1:1"), req);
  ASSERT_TRUE(resp);
  auto m = StunMessage::Parse(*resp);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->cls(), StunClass::kErrorResponse);
  EXPECT_EQ(m->GetErrorCode()->code, 420);
  EXPECT_EQ(m->GetUnknownAttributes(), std::vector<uint16_t>{0x0031});
}

TEST(BindingServer, DropsGarbageAndResponses) {
  BindingServer server;
  const uint8_t garbage[] = {1, 2, 3};
  EXPECT_FALSE(server.HandleDatagram({}, garbage));
  EXPECT_FALSE(server.HandleDatagram({}, kSampleIpv4Response));
  EXPECT_EQ(server.stats().dropped, 2u);
}

TEST(Credentials, TurnRestCredentialsMatchHmacScheme) {
  auto c = MakeTurnRestCredentials("s3cret", "alice", 1700000000);
  EXPECT_EQ(c.username, "1700000000:alice");
  EXPECT_EQ(c.password, crypto::Base64Encode(crypto::HmacSha1(AsBytes("s3cret"), AsBytes(c.username))));
  EXPECT_EQ(c.password.size(), 28u);
}

TEST(StreamFramer, SplitsStunAndPaddedChannelData) {
  StreamFramer f;
  std::vector<uint8_t> stream = kSampleIpv4Response;
  const uint8_t channel_data[] = {0x40, 0x01, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o', 0, 0, 0};
  stream.insert(stream.end(), std::begin(channel_data), std::end(channel_data));
  stream.insert(stream.end(), kSampleIpv6Response.begin(), kSampleIpv6Response.end());
  // Feed one byte at a time.
  std::vector<size_t> sizes;
  for (uint8_t byte : stream) {
    ASSERT_TRUE(f.Append(ByteView(&byte, 1)));
    while (auto frame = f.Next())
      sizes.push_back(frame->size());
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{kSampleIpv4Response.size(), 9, kSampleIpv6Response.size()}));
  EXPECT_EQ(f.buffered(), 0u);
}

TEST(StreamFramer, FailsOnGarbageAndOnUnboundedFrame) {
  StreamFramer f;
  const uint8_t junk[] = {0xff, 0, 0, 0};
  ASSERT_TRUE(f.Append(junk));
  EXPECT_FALSE(f.Next());
  EXPECT_TRUE(f.failed());

  StreamFramer small(64);
  std::vector<uint8_t> big(100, 0);
  EXPECT_FALSE(small.Append(big));
}

}  // namespace
}  // namespace peerlink::stun
