#include "src/signaling/room_crypto.h"

#include <gtest/gtest.h>

#include "src/base/crypto.h"
#include "src/signaling/lib0_codec.h"

namespace peerlink::signaling {
namespace {

using nlohmann::json;

std::vector<uint8_t> FromHex(std::string_view hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

// Produced by y-webrtc 10.3.0's own src/crypto.js under Node 20 (deriveKey('correct horse',
// 'peerlink-room'), exportKey('raw'); encryptJson of kKatMessage).
constexpr std::string_view kKatKeyHex = "7b055a8985d3c17cf5a0b1477d808ecfb1bdfe31fe684f452eaa3fa4adf59099";
constexpr std::string_view kKatSealed =
    "B0FFUy1HQ00M85Uyv7dADxaWYoCmvgEbkqRPoI4zwydsO68hTD2vKe/yTwvIhBKq6cfBhHS49AIwBHXQjjQDtVpGiZOXgsNPBVidF+KsHUxyuZRPUB"
    "zNOaAInezSytDh1HJ8oWXyE7TDl6tZJmuHtSkriqmGpb6AzVLJ0AOv6V2ARRf8mbNi/PXZv7evvYm7toqjZEV+WiwBhtZczb5ePzv3f8b1ilK+vHAe"
    "JNnO33bILxA4GUAMK72TSIas3iq8GF16qmKOk4/DN/u9fwzQ0hlhHcd7";
const json kKatMessage = json::parse(R"({"type":"signal","from":"a1","to":"b2","token":1700000000123.4567,
  "signal":{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host",
  "sdpMLineIndex":0,"sdpMid":"0"}}})");

RoomKey KatKey() {
  std::array<uint8_t, kRoomKeyBytes> raw{};
  auto bytes = FromHex(kKatKeyHex);
  std::copy(bytes.begin(), bytes.end(), raw.begin());
  return RoomKey(raw);
}

TEST(RoomCryptoTest, DeriveRoomKeyMatchesYWebrtc) {
  RoomKey key = DeriveRoomKey("peerlink-room", "correct horse");
  EXPECT_EQ(crypto::HexEncode(key.raw()), kKatKeyHex);
  // The room name is the salt: another room, another key.
  EXPECT_NE(crypto::HexEncode(DeriveRoomKey("other-room", "correct horse").raw()), kKatKeyHex);
}

TEST(RoomCryptoTest, DecryptsYWebrtcCiphertext) {
  auto msg = DecryptJson(KatKey(), kKatSealed);
  ASSERT_TRUE(msg.ok()) << ToString(msg.error());
  EXPECT_EQ(*msg, kKatMessage);
}

TEST(RoomCryptoTest, RoundTripAndFreshIv) {
  RoomKey key = KatKey();
  SeededRng rng(7);
  auto a = EncryptJson(key, kKatMessage, rng);
  auto b = EncryptJson(key, kKatMessage, rng);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);  // a new IV each time
  auto back = DecryptJson(key, *a);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, kKatMessage);
}

TEST(RoomCryptoTest, WrongPasswordIsAuthFailure) {
  RoomKey wrong = DeriveRoomKey("peerlink-room", "wrong horse");
  auto msg = DecryptJson(wrong, kKatSealed);
  ASSERT_FALSE(msg.ok());
  EXPECT_EQ(msg.error(), RoomCryptoError::kAuthFailed);
}

TEST(RoomCryptoTest, TamperedCiphertextIsAuthFailure) {
  auto sealed = *crypto::Base64Decode(kKatSealed);
  for (size_t i : {size_t{9}, size_t{30}, sealed.size() - 1}) {  // IV byte, body byte, tag byte
    auto copy = sealed;
    copy[i] ^= 0x01;
    auto r = Decrypt(KatKey(), copy);
    ASSERT_FALSE(r.ok()) << i;
    EXPECT_EQ(r.error(), RoomCryptoError::kAuthFailed) << i;
  }
}

TEST(RoomCryptoTest, MalformedBoxes) {
  RoomKey key = KatKey();
  auto sealed = *crypto::Base64Decode(kKatSealed);
  // Truncated anywhere before the end of the ciphertext.
  for (size_t n : {size_t{0}, size_t{1}, size_t{8}, size_t{20}, sealed.size() - 1}) {
    auto r = Decrypt(key, ByteView(sealed.data(), n));
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.error(), RoomCryptoError::kMalformed) << n;
  }
  // Another algorithm name.
  auto other = sealed;
  other[1] = 'B';
  EXPECT_EQ(Decrypt(key, other).error(), RoomCryptoError::kUnknownAlgorithm);
  // Not base64.
  EXPECT_EQ(DecryptJson(key, "!!!!").error(), RoomCryptoError::kMalformed);
  // A ciphertext shorter than the tag.
  lib0::Writer w(1024);
  w.VarString("AES-GCM");
  w.VarUint8Array(std::vector<uint8_t>(12, 0));
  w.VarUint8Array(std::vector<uint8_t>(15, 0));
  EXPECT_EQ(Decrypt(key, w.bytes()).error(), RoomCryptoError::kMalformed);
  // Too large.
  std::string huge(200 * 1024, 'A');
  EXPECT_EQ(DecryptJson(key, huge).error(), RoomCryptoError::kTooLarge);
}

TEST(RoomCryptoTest, AuthenticPlaintextThatIsNotLib0IsRejected) {
  RoomKey key = KatKey();
  SeededRng rng(1);
  const std::string text = R"({"type":"announce"})";  // JSON text, not lib0 any
  auto sealed = Encrypt(key, AsBytes(text), rng);
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(DecryptJson(key, crypto::Base64Encode(*sealed)).error(), RoomCryptoError::kBadPlaintext);
}

TEST(RoomCryptoTest, KeyCacheDerivesOncePerRoomAndPassword) {
  RoomKeyCache cache(2);
  const RoomKey& a = cache.Get("peerlink-room", "correct horse");
  EXPECT_EQ(crypto::HexEncode(a.raw()), kKatKeyHex);
  const RoomKey* first = &a;
  EXPECT_EQ(&cache.Get("peerlink-room", "correct horse"), first);
  (void)cache.Get("peerlink-room", "other");
  (void)cache.Get("room-3", "x");
  EXPECT_EQ(cache.size(), 2u);
}

// ---- lib0 ----

// writeAny of {a:1,b:-1,c:2.5,d:1e300,e:2**40,f:null,g:true,h:false,i:'héllo',j:[1,'x'],k:-0,l:-70000,m:3000000000}
// by lib0 0.2.x under Node 20.
constexpr std::string_view kAnyHex =
    "760d01617d0101627d4101637c4020000001647b7e37e43c8800759c01657c5380000001667e0167780168790169770668c3a96c6c6f016a75"
    "027d01770178016b7d40016c7df0c508016d7c4f32d05e";

TEST(Lib0Test, DecodeAnyMatchesLib0) {
  auto v = lib0::DecodeAny(FromHex(kAnyHex));
  ASSERT_TRUE(v.ok()) << v.error().what;
  EXPECT_EQ((*v)["a"], 1);
  EXPECT_EQ((*v)["b"], -1);
  EXPECT_EQ((*v)["c"], 2.5);
  EXPECT_EQ((*v)["d"], 1e300);
  EXPECT_EQ((*v)["e"], 1099511627776.0);
  EXPECT_TRUE((*v)["f"].is_null());
  EXPECT_EQ((*v)["g"], true);
  EXPECT_EQ((*v)["h"], false);
  EXPECT_EQ((*v)["i"], "h\xc3\xa9llo");
  EXPECT_EQ((*v)["j"], json::parse(R"([1,"x"])"));
  EXPECT_TRUE(std::signbit((*v)["k"].get<double>()));
  EXPECT_EQ((*v)["l"], -70000);
  EXPECT_EQ((*v)["m"], 3000000000.0);
}

TEST(Lib0Test, EncodeAnyMatchesLib0ByteForByte) {
  json v = json::object();
  v["a"] = 1;
  v["b"] = -1;
  v["c"] = 2.5;
  v["d"] = 1e300;
  v["e"] = int64_t{1} << 40;
  v["f"] = nullptr;
  v["g"] = true;
  v["h"] = false;
  v["i"] = "h\xc3\xa9llo";
  v["j"] = json::parse(R"([1,"x"])");
  v["k"] = -0.0;
  v["l"] = -70000;
  v["m"] = 3000000000LL;
  auto bytes = lib0::EncodeAny(v, 4096);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(crypto::HexEncode(*bytes), kAnyHex);
}

TEST(Lib0Test, VarUintBoundsAndLimits) {
  lib0::Writer w(64);
  w.VarUint(0);
  w.VarUint(127);
  w.VarUint(128);
  w.VarUint(lib0::kMaxSafeInteger);
  lib0::Reader r(w.bytes());
  EXPECT_EQ(r.VarUint(), 0u);
  EXPECT_EQ(r.VarUint(), 127u);
  EXPECT_EQ(r.VarUint(), 128u);
  EXPECT_EQ(r.VarUint(), lib0::kMaxSafeInteger);
  EXPECT_TRUE(r.ok() && r.empty());

  const uint8_t too_big[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};  // 2^56 - 1
  lib0::Reader r2(too_big);
  (void)r2.VarUint();
  EXPECT_FALSE(r2.ok());
  const uint8_t unterminated[] = {0x80, 0x80};
  lib0::Reader r3(unterminated);
  (void)r3.VarUint();
  EXPECT_FALSE(r3.ok());
  EXPECT_EQ(r3.error().code, ParseErrorCode::kTruncated);

  // A length that promises more than is there.
  const uint8_t short_array[] = {0x05, 1, 2};
  lib0::Reader r4(short_array);
  EXPECT_TRUE(r4.VarUint8Array().empty());
  EXPECT_FALSE(r4.ok());

  lib0::Writer small(2);
  small.VarString("abc");
  EXPECT_FALSE(small.ok());
}

TEST(Lib0Test, DecodeAnyRejectsHostileInput) {
  // Deep nesting: arrays of one array.
  std::vector<uint8_t> deep;
  for (int i = 0; i < 100; ++i) {
    deep.push_back(117);
    deep.push_back(1);
  }
  deep.push_back(126);
  EXPECT_EQ(lib0::DecodeAny(deep).error().code, ParseErrorCode::kTooLarge);
  // An object claiming a billion entries.
  const uint8_t huge_obj[] = {118, 0x80, 0x94, 0xeb, 0xdc, 0x03};
  EXPECT_EQ(lib0::DecodeAny(huge_obj).error().code, ParseErrorCode::kBadLength);
  // Invalid UTF-8 string.
  const uint8_t bad_utf8[] = {119, 2, 0xc3, 0x28};
  EXPECT_EQ(lib0::DecodeAny(bad_utf8).error().code, ParseErrorCode::kBadValue);
  // Unknown tag, bigint, trailing bytes.
  const uint8_t unknown[] = {50};
  EXPECT_EQ(lib0::DecodeAny(unknown).error().code, ParseErrorCode::kBadValue);
  const uint8_t bigint[] = {122, 0, 0, 0, 0, 0, 0, 0, 1};
  EXPECT_EQ(lib0::DecodeAny(bigint).error().code, ParseErrorCode::kUnsupported);
  const uint8_t trailing[] = {126, 126};
  EXPECT_EQ(lib0::DecodeAny(trailing).error().code, ParseErrorCode::kTrailingBytes);
  // `undefined` members vanish, as with JSON.stringify.
  const uint8_t undef_member[] = {118, 1, 1, 'u', 127};
  auto v = lib0::DecodeAny(undef_member);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, json::object());
}

}  // namespace
}  // namespace peerlink::signaling
