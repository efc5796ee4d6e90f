#include "src/signaling/token.h"

#include <gtest/gtest.h>

namespace peerlink::signaling {
namespace {

constexpr int64_t kNow = 1'700'000'000;

TEST(Token, RoundTrip) {
  const std::string t = MintToken("k", {"a", "b c/é"}, kNow + 60);
  auto claims = VerifyToken("k", t, kNow);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->rooms, (std::vector<std::string>{"a", "b c/é"}));
  EXPECT_EQ(claims->expires_unix, kNow + 60);
  // URL- and HTTP-token-safe.
  EXPECT_EQ(t.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."),
            std::string::npos);
}

TEST(Token, WrongSecretIsBadSignature) {
  auto r = VerifyToken("other", MintToken("k", {"a"}, kNow + 60), kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), TokenError::kBadSignature);
}

TEST(Token, TamperedPayloadIsBadSignature) {
  std::string t = MintToken("k", {"a"}, kNow + 60);
  std::string other = MintToken("k", {"b"}, kNow + 60);
  // Splice b's payload with a's signature.
  t = other.substr(0, other.rfind('.')) + t.substr(t.rfind('.'));
  auto r = VerifyToken("k", t, kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), TokenError::kBadSignature);
}

TEST(Token, Expired) {
  auto r = VerifyToken("k", MintToken("k", {"a"}, kNow), kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), TokenError::kExpired);
}

TEST(Token, Malformed) {
  for (std::string_view t : {"", "v1.", "v1..", "v2.abc.def", "garbage", "v1.%%%.x"}) {
    auto r = VerifyToken("k", t, kNow);
    EXPECT_FALSE(r) << t;
  }
}

TEST(Token, InspectMapsExpiryToMonotonicTime) {
  const Instant now = Instant::FromNanos(5'000'000'000);
  auto info = InspectToken("k", MintToken("k", {"r"}, kNow + 30), kNow, now);
  EXPECT_EQ(info.status, TokenInfo::Status::kValid);
  EXPECT_EQ(info.expires, now + Duration::Seconds(30));
  EXPECT_TRUE(info.Covers("r"));
  EXPECT_FALSE(info.Covers("s"));
  EXPECT_EQ(InspectToken("k", std::nullopt, kNow, now).status, TokenInfo::Status::kAbsent);
  auto bad = InspectToken("k", "v1.x.y", kNow, now);
  EXPECT_EQ(bad.status, TokenInfo::Status::kRejected);
  EXPECT_EQ(bad.error, "token signature invalid");
}

TEST(Token, Base64Url) {
  for (const std::string& s : std::vector<std::string>{"", "f", "fo", "foo", "foob", std::string("\xff\xfe\x00", 3)}) {
    auto d = Base64UrlDecode(Base64UrlEncode(s));
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, s);
  }
  EXPECT_FALSE(Base64UrlDecode("a"));
  EXPECT_FALSE(Base64UrlDecode("ab+/"));
}

}  // namespace
}  // namespace peerlink::signaling
