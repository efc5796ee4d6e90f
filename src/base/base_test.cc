#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>

#include "src/base/crypto.h"
#include "src/base/fifo.h"
#include "src/base/result.h"
#include "src/base/rng.h"
#include "src/base/socket_address.h"
#include "src/base/strong_id.h"
#include "src/base/time.h"

namespace peerlink {
namespace {

TEST(Time, InstantAndDurationArithmetic) {
  Instant t0 = Instant::FromNanos(1000);
  Instant t1 = t0 + Duration::Millis(5);
  EXPECT_EQ((t1 - t0), Duration::Micros(5000));
  EXPECT_LT(t0, t1);
  EXPECT_EQ(Duration::Seconds(2).millis(), 2000);
  EXPECT_EQ(Duration::Millis(250).ToString(), "250ms");
}

TEST(Result, HoldsValueOrError) {
  Result<int, std::string> ok = 5;
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 5);
  Result<int, std::string> bad = MakeUnexpected(std::string("nope"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), "nope");
}

TEST(StrongId, SerialArithmeticWraps) {
  EXPECT_TRUE(SerialLess<uint32_t>(0xfffffff0u, 5u));
  EXPECT_FALSE(SerialLess<uint32_t>(5u, 0xfffffff0u));
  EXPECT_TRUE(SerialLess<uint16_t>(1, 2));
  EXPECT_FALSE(SerialLess<uint16_t>(2, 2));
}

TEST(Rng, SeededRngIsReproducible) {
  SeededRng a(42), b(42), c(43);
  EXPECT_EQ(a.U64(), b.U64());
  EXPECT_NE(a.U64(), c.U64());
}

TEST(Rng, IceCharsUsesIceAlphabet) {
  SeededRng r(1);
  std::string s = r.IceChars(256);
  ASSERT_EQ(s.size(), 256u);
  for (char ch : s)
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(ch)) || ch == '+' || ch == '/');
}

// Every ICE char comes out, about equally often, and the string costs one Fill per 64
// characters (each Fill of the production CryptoRng is a RAND_bytes call).
TEST(Rng, IceCharsIsUniformAndDrawsInBulk) {
  class CountingRng final : public Rng {
   public:
    void Fill(std::span<uint8_t> out) override {
      ++fills;
      inner.Fill(out);
    }
    SeededRng inner{9};
    int fills = 0;
  } r;
  const std::string s = r.IceChars(64 * 200);
  EXPECT_EQ(r.fills, 200);
  std::map<char, int> counts;
  for (char ch : s)
    ++counts[ch];
  EXPECT_EQ(counts.size(), 64u);
  for (const auto& [ch, n] : counts) {
    EXPECT_GT(n, 120) << ch;  // expected 200 each
    EXPECT_LT(n, 280) << ch;
  }
  r.fills = 0;
  EXPECT_EQ(r.IceChars(24).size(), 24u);
  EXPECT_EQ(r.fills, 1);
  EXPECT_EQ(r.IceChars(0), "");
  EXPECT_EQ(r.fills, 1);
}

TEST(Rng, CryptoRngProducesDistinctValues) {
  CryptoRng r;
  std::set<uint64_t> seen;
  for (int i = 0; i < 64; ++i)
    seen.insert(r.U64());
  EXPECT_EQ(seen.size(), 64u);
  for (int i = 0; i < 1000; ++i)
    EXPECT_LT(r.Below(7), 7u);
}

TEST(SocketAddress, ParsesAndPrintsV4AndV6) {
  auto a = SocketAddress::Parse("192.0.2.1:3478");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->ip().is_v4());
  EXPECT_EQ(a->port(), 3478);
  EXPECT_EQ(a->ToString(), "192.0.2.1:3478");
  auto b = SocketAddress::Parse("[2001:db8::1]:443");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->ip().is_v6());
  EXPECT_EQ(b->ToString(), "[2001:db8::1]:443");
  EXPECT_FALSE(SocketAddress::Parse("1.2.3.4"));
  EXPECT_FALSE(SocketAddress::Parse("1.2.3.4:70000"));
  EXPECT_FALSE(SocketAddress::Parse("[::1]"));
  EXPECT_FALSE(SocketAddress::Parse("::1:80"));
}

TEST(IpAddress, Classification) {
  EXPECT_TRUE(IpAddress::Parse("127.0.0.1")->IsLoopback());
  EXPECT_TRUE(IpAddress::Parse("::1")->IsLoopback());
  EXPECT_TRUE(IpAddress::Parse("169.254.1.1")->IsLinkLocal());
  EXPECT_TRUE(IpAddress::Parse("fe80::1")->IsLinkLocal());
  EXPECT_TRUE(IpAddress::Parse("10.1.2.3")->IsPrivate());
  EXPECT_TRUE(IpAddress::Parse("172.20.0.1")->IsPrivate());
  EXPECT_FALSE(IpAddress::Parse("172.32.0.1")->IsPrivate());
  EXPECT_TRUE(IpAddress::Parse("0.0.0.0")->IsUnspecified());
}

TEST(Crypto, KnownDigests) {
  // RFC 2202 test case 2 for HMAC-SHA1.
  auto mac = crypto::HmacSha1(AsBytes("Jefe"), AsBytes("what do ya want for nothing?"));
  EXPECT_EQ(crypto::HexEncode(mac), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  EXPECT_EQ(crypto::HexEncode(crypto::Md5(AsBytes("abc"))), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(crypto::Crc32(AsBytes("123456789")), 0xCBF43926u);
}

TEST(Crypto, Sha256StreamEqualsOneShotOverAnySplit) {
  // FIPS 180-2 example: SHA-256("abc").
  crypto::Sha256Stream abc;
  abc.Update(AsBytes("a"));
  abc.Update(AsBytes(""));
  abc.Update(AsBytes("bc"));
  EXPECT_EQ(crypto::HexEncode(abc.Finish()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::vector<uint8_t> data(100000);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<uint8_t>(i * 131 + (i >> 8));
  const auto whole = crypto::Sha256(data);
  for (size_t piece : {1u, 63u, 64u, 65u, 4096u, 99999u}) {
    crypto::Sha256Stream s;
    for (size_t at = 0; at < data.size(); at += piece)
      s.Update(ByteView(data).subspan(at, std::min(piece, data.size() - at)));
    EXPECT_EQ(s.Finish(), whole) << "piece " << piece;
  }
}

TEST(Crypto, Base64RoundTrip) {
  EXPECT_EQ(crypto::Base64Encode(AsBytes("foob")), "Zm9vYg==");
  auto d = crypto::Base64Decode("Zm9vYg==");
  ASSERT_TRUE(d);
  EXPECT_EQ(std::string(d->begin(), d->end()), "foob");
  EXPECT_FALSE(crypto::Base64Decode("abc"));
}

}  // namespace
TEST(Fifo, FirstInFirstOutWithoutAllocatingWhenEmpty) {
  Fifo<std::string> q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.capacity(), 0u);  // std::deque would have allocated here
  for (int i = 0; i < 1000; ++i) {
    q.push_back(std::to_string(i));
    if (i % 3 == 2) {  // pop one for every three pushed: the head index grows, compaction runs
      q.pop_front();
    }
  }
  ASSERT_EQ(q.size(), 1000u - 333u);
  int expect = 333;
  for (const std::string& s : q)
    EXPECT_EQ(s, std::to_string(expect++));
  EXPECT_EQ(q[0], "333");
  EXPECT_EQ(q.back(), "999");
  // Compaction kept the popped prefix from outgrowing the live part.
  EXPECT_LE(q.capacity(), 2048u);
  while (!q.empty()) {
    EXPECT_EQ(q.front(), std::to_string(expect - static_cast<int>(q.size())));
    q.pop_front();
  }
  // Drained after a large burst: the storage (above 256 bytes) was given back.
  EXPECT_EQ(q.capacity(), 0u);
  q.emplace_back("x");
  q.pop_front();
  EXPECT_GT(q.capacity(), 0u);  // a small one is kept for the next burst
  q.clear();
  EXPECT_EQ(q.capacity(), 0u);
}

TEST(Fifo, PopReleasesWhatTheElementOwns) {
  auto owned = std::make_shared<int>(7);
  Fifo<std::shared_ptr<int>> q;
  q.push_back(owned);
  q.push_back(std::make_shared<int>(8));
  EXPECT_EQ(owned.use_count(), 2);
  q.pop_front();  // not drained (one left), yet the popped element is gone
  EXPECT_EQ(owned.use_count(), 1);
  EXPECT_EQ(*q.front(), 8);
}

}  // namespace peerlink
