#include "src/dtls/fingerprint.h"

#include <gtest/gtest.h>

#include <string>

#include "src/dtls/demux.h"

namespace peerlink::dtls {
namespace {

std::string Repeat(std::string_view byte, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    if (i) s += ':';
    s += byte;
  }
  return s;
}

TEST(Fingerprint, ParsesEveryHashFunctionCaseInsensitively) {
  struct Case {
    const char* name;
    HashFunction hash;
    size_t len;
  };
  for (const Case& c : {Case{"sha-1", HashFunction::kSha1, 20}, Case{"SHA-224", HashFunction::kSha224, 28},
                        Case{"Sha-256", HashFunction::kSha256, 32}, Case{"sha-384", HashFunction::kSha384, 48},
                        Case{"SHA-512", HashFunction::kSha512, 64}}) {
    auto fp = Fingerprint::Parse(std::string(c.name) + " " + Repeat("aB", c.len));
    ASSERT_TRUE(fp.ok()) << c.name << ": " << fp.error().what;
    EXPECT_EQ(fp->hash, c.hash);
    ASSERT_EQ(fp->digest.size(), c.len);
    EXPECT_EQ(fp->digest[0], 0xab);
    // Output is the canonical form: lower-case name, upper-case hex.
    EXPECT_EQ(fp->ToString(), std::string(ToString(c.hash)) + " " + Repeat("AB", c.len));
  }
}

TEST(Fingerprint, RoundTripsAndCompares) {
  const std::string text =
      "sha-256 19:E2:1C:3B:4B:9F:81:E6:B8:5C:F4:A5:A8:D8:73:04:BB:05:2F:70:9F:04:A9:0E:05:E9:26:33:E8:70:88:A2";
  auto a = Fingerprint::Parse(text);
  auto b = Fingerprint::Parse("  SHA-256\t" + text.substr(8) + "\r\n");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->ToString(), text);
  EXPECT_EQ(*a, *b);
  auto c = *a;
  c.digest[31] ^= 1;
  EXPECT_NE(*a, c);
  auto d = *a;
  d.hash = HashFunction::kSha1;
  EXPECT_NE(*a, d);
}

TEST(Fingerprint, RejectsBadInputNamingTheProblem) {
  struct Case {
    std::string input;
    std::string what;
  };
  const std::string ok32 = Repeat("AB", 32);
  for (const Case& c : {
           Case{"", "empty fingerprint"},
           Case{"sha-256", "missing space between hash function and fingerprint"},
           Case{"sha-257 " + ok32, "unknown hash function"},
           Case{"md5 " + Repeat("AB", 16), "md2/md5 is forbidden"},
           Case{"sha-256 " + Repeat("AB", 31), "shorter than the hash's digest"},
           Case{"sha-256 " + Repeat("AB", 33), "longer than the hash's digest"},
           Case{"sha-256 " + ok32.substr(0, ok32.size() - 2) + "AG", "non-hex digit"},
           Case{"sha-256 " + ok32.substr(0, ok32.size() - 1), "two hex digits expected"},
           Case{"sha-256 AB-CD", "':' expected between bytes"},
           Case{"sha-256 " + ok32 + ":", "two hex digits expected"},
       }) {
    auto fp = Fingerprint::Parse(c.input);
    ASSERT_FALSE(fp.ok()) << c.input;
    EXPECT_NE(std::string(fp.error().what).find(c.what), std::string::npos)
        << "input '" << c.input << "' gave '" << fp.error().what << "'";
  }
}

TEST(Fingerprint, OfDerMatchesKnownSha256) {
  // SHA-256("abc"), FIPS 180-2 appendix B.1.
  const uint8_t abc[] = {'a', 'b', 'c'};
  EXPECT_EQ(Fingerprint::OfDer(HashFunction::kSha256, abc).ToString(),
            "sha-256 BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD");
}

TEST(Demux, ClassifiesByFirstByteAsRfc7983) {
  auto kind = [](int b) {
    const uint8_t byte = static_cast<uint8_t>(b);
    return ClassifyDatagram(ByteView(&byte, 1));
  };
  EXPECT_EQ(ClassifyDatagram({}), DatagramKind::kDrop);
  // Both ends of every range, and the gaps between them.
  const std::pair<int, DatagramKind> cases[] = {
      {0, DatagramKind::kStun},
      {3, DatagramKind::kStun},
      {15, DatagramKind::kDrop},
      {16, DatagramKind::kZrtp},
      {19, DatagramKind::kZrtp},
      {20, DatagramKind::kDtls},
      {22, DatagramKind::kDtls},
      {63, DatagramKind::kDtls},
      {64, DatagramKind::kTurnChannelData},
      {79, DatagramKind::kTurnChannelData},
      {127, DatagramKind::kDrop},
      {128, DatagramKind::kRtp},
      {191, DatagramKind::kRtp},
      {255, DatagramKind::kDrop},
  };
  for (const auto& [b, want] : cases)
    EXPECT_EQ(kind(b), want) << b;
  EXPECT_EQ(kind(4), DatagramKind::kDrop);
  EXPECT_EQ(kind(80), DatagramKind::kDrop);
  EXPECT_EQ(kind(192), DatagramKind::kDrop);
  EXPECT_EQ(ToString(DatagramKind::kDtls), "dtls");
}

}  // namespace
}  // namespace peerlink::dtls
