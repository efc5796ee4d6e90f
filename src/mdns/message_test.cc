#include "src/mdns/message.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/util/alloc_counter.h"

namespace peerlink::mdns {
namespace {

using Bytes = std::vector<uint8_t>;

void Append(Bytes& b, std::initializer_list<int> v) {
  for (int x : v)
    b.push_back(static_cast<uint8_t>(x));
}
void AppendName(Bytes& b, std::initializer_list<std::string_view> labels) {
  for (std::string_view l : labels) {
    b.push_back(static_cast<uint8_t>(l.size()));
    b.insert(b.end(), l.begin(), l.end());
  }
  b.push_back(0);
}
Bytes HeaderBytes(int id, int flags, int qd, int an, int ns, int ar) {
  Bytes b;
  Append(b, {id >> 8, id & 0xFF, flags >> 8, flags & 0xFF, 0, qd, 0, an, 0, ns, 0, ar});
  return b;
}

constexpr std::string_view kUuid = "1f6b3c2e-5d8a-4b7e-9c1d-2a3b4c5d6e7f";

// A one-shot query as browsers send it: one question, type A, class IN, QU set.
Bytes BrowserQuery() {
  Bytes b = HeaderBytes(0, 0, 1, 0, 0, 0);
  AppendName(b, {kUuid, "local"});
  Append(b, {0x00, 0x01, 0x80, 0x01});
  return b;
}

TEST(DnsName, FromTextValidatesAndComparesCaseInsensitively) {
  auto a = DnsName::FromText("Abc.LOCAL.");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->ToString(), "Abc.LOCAL");
  EXPECT_TRUE(a->IsLocal());
  EXPECT_EQ(a->wire_length(), 1u + 3 + 1 + 5 + 1);
  auto b = DnsName::FromText("abc.local");
  ASSERT_TRUE(b);
  EXPECT_TRUE(a->EqualsIgnoreCase(*b));
  EXPECT_FALSE(a->EqualsIgnoreCase(*DnsName::FromText("abd.local")));
  EXPECT_FALSE(DnsName::FromText("abc.example")->IsLocal());
  EXPECT_FALSE(DnsName::FromText("localx")->IsLocal());
  EXPECT_FALSE(DnsName::FromText(""));
  EXPECT_FALSE(DnsName::FromText("a..local"));
  EXPECT_FALSE(DnsName::FromText(std::string(64, 'a') + ".local"));
  EXPECT_TRUE(DnsName::FromText(std::string(63, 'a') + ".local"));
  // 4 labels of 63 = 256 bytes + ".local" is over 255.
  std::string big;
  for (int i = 0; i < 4; ++i)
    big += std::string(63, 'x') + ".";
  EXPECT_FALSE(DnsName::FromText(big + "local"));
}

TEST(Message, ParsesABrowserOneShotQuery) {
  auto m = Message::Parse(BrowserQuery());
  ASSERT_TRUE(m.ok()) << m.error().what;
  EXPECT_FALSE(m->header.is_response());
  ASSERT_EQ(m->questions.size(), 1u);
  EXPECT_EQ(m->questions[0].name.ToString(), std::string(kUuid) + ".local");
  EXPECT_EQ(m->questions[0].type, rr::kA);
  EXPECT_EQ(m->questions[0].qclass, kClassIn);
  EXPECT_TRUE(m->questions[0].unicast_response);
  EXPECT_TRUE(m->records.empty());
}

TEST(Message, SerializedQueryMatchesTheWireBytes) {
  const Message q = MakeQuery(*DnsName::FromText(std::string(kUuid) + ".local"), true, false, true);
  EXPECT_EQ(Serialize(q), BrowserQuery());
}

TEST(Message, ParsesACompressedResponseAndSkipsOtherTypes) {
  Bytes b = HeaderBytes(0, 0x8400, 0, 3, 0, 1);
  const size_t name_at = b.size();
  AppendName(b, {"host", "local"});
  Append(b, {0x00, 0x10, 0x80, 0x01, 0, 0, 0x11, 0x94, 0, 3, 2, 'h', 'i'});  // TXT, 3 bytes rdata
  // A, compressed owner name, cache-flush, TTL 120.
  Append(b, {0xC0, static_cast<int>(name_at), 0x00, 0x01, 0x80, 0x01, 0, 0, 0, 120, 0, 4, 192, 168, 1, 7});
  // PTR whose RDATA holds a pointer: skipped by RDLENGTH.
  Append(b, {0xC0, static_cast<int>(name_at), 0x00, 0x0C, 0x00, 0x01, 0, 0, 0, 120, 0, 2, 0xC0,
             static_cast<int>(name_at)});
  // Additional: AAAA with a name that is a label then a pointer to "local".
  Append(b, {2, 'H', 'X', 0xC0, static_cast<int>(name_at + 5), 0x00, 0x1C, 0x00, 0x01, 0, 0, 0, 10, 0, 16});
  Append(b, {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  auto m = Message::Parse(b);
  ASSERT_TRUE(m.ok()) << m.error().what;
  EXPECT_TRUE(m->header.is_response());
  EXPECT_EQ(m->skipped_records, 2);
  ASSERT_EQ(m->records.size(), 2u);
  EXPECT_EQ(m->records[0].name.ToString(), "host.local");
  EXPECT_EQ(m->records[0].address.ToString(), "192.168.1.7");
  EXPECT_TRUE(m->records[0].cache_flush);
  EXPECT_EQ(m->records[0].ttl, 120u);
  EXPECT_EQ(m->records[0].section, Section::kAnswer);
  EXPECT_EQ(m->records[1].name.ToString(), "HX.local");
  EXPECT_EQ(m->records[1].address.ToString(), "fe80::1");
  EXPECT_FALSE(m->records[1].cache_flush);
  EXPECT_EQ(m->records[1].section, Section::kAdditional);
}

TEST(Message, RejectsPointerLoops) {
  // A pointer to itself.
  Bytes self = HeaderBytes(0, 0, 1, 0, 0, 0);
  Append(self, {0xC0, 12, 0, 1, 0, 1});
  auto r = Message::Parse(self);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ParseErrorCode::kBadValue);
  // A forward pointer into a later pointer back to the first: a two-hop loop.
  Bytes two = HeaderBytes(0, 0, 1, 0, 0, 0);
  Append(two, {0xC0, 14, 0xC0, 12, 0, 1, 0, 1});
  EXPECT_FALSE(Message::Parse(two).ok());
  // Label then pointer back to the label (a loop that grows the name).
  Bytes grow = HeaderBytes(0, 0, 1, 0, 0, 0);
  Append(grow, {1, 'a', 0xC0, 12, 0, 1, 0, 1});
  EXPECT_FALSE(Message::Parse(grow).ok());
}

TEST(Message, BoundsPointerHops) {
  // Construct: a question "x.local" at offset 12, followed by N skipped TXT
  // records whose RDATA holds pointers p_i -> p_{i-1}; the last A record's
  // owner name points at p_N.
  auto build = [](int hops) {
    Bytes b = HeaderBytes(0, 0x8400, 1, 2, 0, 0);
    AppendName(b, {"x", "local"});  // offset 12
    Append(b, {0, 1, 0, 1});
    // TXT record with RDATA = the pointer chain.
    AppendName(b, {"t"});
    Append(b, {0, 16, 0, 1, 0, 0, 0, 1});
    const size_t rdlen_at = b.size();
    Append(b, {0, 0});
    size_t prev = 12;
    for (int i = 0; i < hops; ++i) {
      const size_t here = b.size();
      Append(b, {0xC0 | static_cast<int>(prev >> 8), static_cast<int>(prev & 0xFF)});
      prev = here;
    }
    const size_t rdlen = b.size() - rdlen_at - 2;
    b[rdlen_at] = static_cast<uint8_t>(rdlen >> 8);
    b[rdlen_at + 1] = static_cast<uint8_t>(rdlen);
    Append(b, {0xC0 | static_cast<int>(prev >> 8), static_cast<int>(prev & 0xFF)});
    Append(b, {0, 1, 0, 1, 0, 0, 0, 120, 0, 4, 10, 0, 0, 1});
    return b;
  };
  auto ok = Message::Parse(build(kMaxPointerHops - 1));  // plus the owner's own pointer = 128 hops
  ASSERT_TRUE(ok.ok()) << ok.error().what;
  EXPECT_EQ(ok->records[0].name.ToString(), "x.local");
  auto bad = Message::Parse(build(kMaxPointerHops));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ParseErrorCode::kTooLarge);
}

TEST(Message, RejectsNamesOver255Bytes) {
  // Labels of 63: 4 of them are 256 bytes in wire form with the root.
  auto build = [](int labels, int last_len) {
    Bytes b = HeaderBytes(0, 0, 1, 0, 0, 0);
    for (int i = 0; i < labels; ++i) {
      b.push_back(63);
      b.insert(b.end(), 63, 'a');
    }
    b.push_back(static_cast<uint8_t>(last_len));
    b.insert(b.end(), last_len, 'b');
    b.push_back(0);
    Append(b, {0, 1, 0, 1});
    return b;
  };
  EXPECT_TRUE(Message::Parse(build(3, 61)).ok());  // 3*64 + 62 + 1 = 255
  auto r = Message::Parse(build(3, 62));           // 256
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ParseErrorCode::kTooLarge);
}

TEST(Message, RejectsBadAddressLengthsAndExtendedLabels) {
  Bytes a5 = HeaderBytes(0, 0x8400, 0, 1, 0, 0);
  AppendName(a5, {"h", "local"});
  Append(a5, {0, 1, 0, 1, 0, 0, 0, 120, 0, 5, 1, 2, 3, 4, 5});
  auto r = Message::Parse(a5);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ParseErrorCode::kBadLength);

  Bytes ext = HeaderBytes(0, 0, 1, 0, 0, 0);
  Append(ext, {0x41, 0, 0, 1, 0, 1});
  r = Message::Parse(ext);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ParseErrorCode::kUnsupported);
}

TEST(Message, EveryTruncationFailsCleanly) {
  Message m = MakeResponse();
  ASSERT_TRUE(AddAnswer(m, *DnsName::FromText("a.local"), IpAddress::V4(10, 0, 0, 1), 120, true));
  ASSERT_TRUE(AddAnswer(m, *DnsName::FromText("a.local"), *IpAddress::Parse("2001:db8::1"), 120, true));
  const Bytes full = Serialize(m);
  ASSERT_FALSE(full.empty());
  for (size_t n = 0; n < full.size(); ++n) {
    auto r = Message::Parse(ByteView(full.data(), n));
    EXPECT_FALSE(r.ok()) << n;
  }
  EXPECT_TRUE(Message::Parse(full).ok());
}

TEST(Message, ResponseRoundTripsWithCompression) {
  Message m = MakeResponse();
  const DnsName name = *DnsName::FromText(std::string(kUuid) + ".local");
  ASSERT_TRUE(AddAnswer(m, name, IpAddress::V4(127, 0, 0, 1), 120, true));
  ASSERT_TRUE(AddAnswer(m, name, *IpAddress::Parse("::1"), 0, false));
  const Bytes bytes = Serialize(m);
  // Header 12 + name 44 + 10 + 4 + pointer 2 + 10 + 16.
  EXPECT_EQ(bytes.size(), 12u + 44 + 10 + 4 + 2 + 10 + 16);
  auto p = Message::Parse(bytes);
  ASSERT_TRUE(p.ok()) << p.error().what;
  EXPECT_EQ(p->header.flags, Header::kQr | Header::kAa);
  EXPECT_EQ(p->answer_count, 2);
  ASSERT_EQ(p->records.size(), 2u);
  EXPECT_TRUE(p->records[0].name.EqualsIgnoreCase(name));
  EXPECT_TRUE(p->records[1].name.EqualsIgnoreCase(name));
  EXPECT_EQ(p->records[0].address, IpAddress::V4(127, 0, 0, 1));
  EXPECT_TRUE(p->records[0].cache_flush);
  EXPECT_EQ(p->records[0].ttl, 120u);
  EXPECT_FALSE(p->records[1].cache_flush);
  EXPECT_EQ(p->records[1].ttl, 0u);
  EXPECT_EQ(p->records[1].address.ToString(), "::1");
}

TEST(Message, ParseAllocatesNothing) {
  Message m = MakeResponse();
  ASSERT_TRUE(AddAnswer(m, *DnsName::FromText(std::string(kUuid) + ".local"), IpAddress::V4(10, 0, 0, 1), 120, true));
  ASSERT_TRUE(AddAnswer(m, *DnsName::FromText(std::string(kUuid) + ".local"), *IpAddress::Parse("::1"), 120, true));
  const Bytes good = Serialize(m);
  const Bytes query = BrowserQuery();
  Bytes loop = HeaderBytes(0, 0, 1, 0, 0, 0);
  Append(loop, {0xC0, 12, 0, 1, 0, 1});
  const uint64_t before = testing::AllocationCount();
  for (int i = 0; i < 10; ++i) {
    auto a = Message::Parse(good);
    auto b = Message::Parse(query);
    auto c = Message::Parse(loop);
    PL_CHECK(a.ok() && b.ok() && !c.ok());
  }
  EXPECT_EQ(testing::AllocationCount(), before);
}

TEST(Message, RejectsTooManyQuestionsAndOversizedMessages) {
  Bytes b = HeaderBytes(0, 0, kMaxQuestions + 1, 0, 0, 0);
  for (size_t i = 0; i <= kMaxQuestions; ++i) {
    AppendName(b, {"q"});
    Append(b, {0, 1, 0, 1});
  }
  auto r = Message::Parse(b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ParseErrorCode::kTooLarge);
  EXPECT_FALSE(Message::Parse(Bytes(kMaxMessageSize + 1, 0)).ok());
  // A header promising records that are not there.
  EXPECT_EQ(Message::Parse(HeaderBytes(0, 0x8400, 0, 65535, 0, 0)).error().code, ParseErrorCode::kTruncated);
}

}  // namespace
}  // namespace peerlink::mdns
