#include "src/mdns/resolver.h"

#include <gtest/gtest.h>

#include "src/base/rng.h"
#include "src/mdns/responder.h"

namespace peerlink::mdns {
namespace {

const Instant kT0 = Instant::FromNanos(1'000'000'000'000);
const SocketAddress kPeer(IpAddress::V4(192, 168, 1, 20), kMdnsPort);
constexpr std::string_view kName = "0b8f8e38-2f5c-4a55-9d31-5a8f0b1f2c3d.local";

struct Drained {
  std::vector<Transmit> transmits;
  std::vector<ResolverEvent> events;
  Instant deadline;
};
Drained Drain(Resolver& r, Instant now) {
  Drained d;
  for (int i = 0; i < 1000; ++i) {
    ResolverOutput out = r.PollOutput(now);
    if (auto* t = std::get_if<Transmit>(&out)) {
      d.transmits.push_back(std::move(*t));
    } else if (auto* e = std::get_if<ResolverEvent>(&out)) {
      d.events.push_back(std::move(*e));
    } else {
      d.deadline = std::get<Deadline>(out).at;
      break;
    }
  }
  EXPECT_TRUE(r.IsConsistent());
  return d;
}

std::vector<uint8_t> Answer(std::string_view name, const IpAddress& ip, uint32_t ttl) {
  Message m = MakeResponse();
  EXPECT_TRUE(AddAnswer(m, *DnsName::FromText(name), ip, ttl, true));
  return Serialize(m);
}

TEST(Resolver, QueriesWithQuThenRetransmitsQmAndFailsAfterTimeout) {
  Resolver r;
  r.Resolve(kT0, kName);
  Drained d = Drain(r, kT0);
  ASSERT_EQ(d.transmits.size(), 1u);
  EXPECT_EQ(d.transmits[0].destination.ToString(), "224.0.0.251:5353");
  auto q = Message::Parse(d.transmits[0].data);
  ASSERT_TRUE(q.ok());
  EXPECT_FALSE(q->header.is_response());
  ASSERT_EQ(q->questions.size(), 2u);  // A and AAAA
  EXPECT_EQ(q->questions[0].type, rr::kA);
  EXPECT_EQ(q->questions[1].type, rr::kAaaa);
  EXPECT_TRUE(q->questions[0].unicast_response);
  EXPECT_EQ(q->questions[0].name.ToString(), kName);
  EXPECT_EQ(d.deadline, kT0 + Duration::Seconds(1));

  d = Drain(r, kT0 + Duration::Millis(999));
  EXPECT_TRUE(d.transmits.empty());
  d = Drain(r, kT0 + Duration::Seconds(1));
  ASSERT_EQ(d.transmits.size(), 1u);
  EXPECT_FALSE(Message::Parse(d.transmits[0].data)->questions[0].unicast_response);
  EXPECT_EQ(d.deadline, kT0 + Duration::Seconds(3));
  d = Drain(r, kT0 + Duration::Seconds(3));
  ASSERT_EQ(d.transmits.size(), 1u);
  EXPECT_EQ(d.deadline, kT0 + Duration::Seconds(5));  // no 4th attempt: only the timeout
  d = Drain(r, kT0 + Duration::Millis(4999));
  EXPECT_TRUE(d.transmits.empty());
  EXPECT_TRUE(d.events.empty());
  d = Drain(r, kT0 + Duration::Seconds(5));
  ASSERT_EQ(d.events.size(), 1u);
  auto* f = std::get_if<Failed>(&d.events[0]);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->name, kName);
  EXPECT_EQ(f->reason, FailureReason::kTimeout);
  EXPECT_EQ(d.deadline, Instant::Max());
  EXPECT_EQ(r.stats().queries_sent, 3u);
}

TEST(Resolver, ResolvesFromAMatchingAnswerCaseInsensitively) {
  Resolver r;
  r.Resolve(kT0, kName);
  (void)Drain(r, kT0);
  std::string upper(kName);
  for (char& c : upper)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  r.HandleDatagram(kT0 + Duration::Millis(5), kPeer, Answer(upper, IpAddress::V4(192, 168, 1, 20), 120));
  Drained d = Drain(r, kT0 + Duration::Millis(5));
  ASSERT_EQ(d.events.size(), 1u);
  auto* res = std::get_if<Resolved>(&d.events[0]);
  ASSERT_NE(res, nullptr);
  EXPECT_EQ(res->name, kName);
  ASSERT_EQ(res->addresses.size(), 1u);
  EXPECT_EQ(res->addresses[0].ToString(), "192.168.1.20");
  EXPECT_EQ(d.deadline, Instant::Max());
  EXPECT_EQ(r.pending_count(), 0u);
}

TEST(Resolver, IgnoresAnswersFromOtherPortsOtherNamesQueriesAndErrors) {
  Resolver r;
  r.Resolve(kT0, kName);
  (void)Drain(r, kT0);
  const auto good = Answer(kName, IpAddress::V4(10, 0, 0, 1), 120);
  r.HandleDatagram(kT0, SocketAddress(kPeer.ip(), 40000), good);  // RFC 6762 section 11
  r.HandleDatagram(kT0, kPeer, Answer("other.local", IpAddress::V4(10, 0, 0, 2), 120));
  auto as_query = good;
  as_query[2] &= 0x7F;  // clear QR
  r.HandleDatagram(kT0, kPeer, as_query);
  auto with_rcode = good;
  with_rcode[3] |= 0x03;
  r.HandleDatagram(kT0, kPeer, with_rcode);
  r.HandleDatagram(kT0, kPeer, Answer(kName, IpAddress::V4(10, 0, 0, 3), 0));  // goodbye is no answer
  r.HandleDatagram(kT0, kPeer, std::vector<uint8_t>{1, 2, 3});
  Drained d = Drain(r, kT0);
  EXPECT_TRUE(d.events.empty());
  EXPECT_EQ(r.pending_count(), 1u);
  EXPECT_EQ(r.stats().malformed, 1u);
  EXPECT_EQ(r.stats().ignored, 5u);
  r.HandleDatagram(kT0, kPeer, good);
  d = Drain(r, kT0);
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(std::get<Resolved>(d.events[0]).addresses[0], IpAddress::V4(10, 0, 0, 1));
}

TEST(Resolver, CachesForTheTtlAndForgetsOnGoodbye) {
  Resolver r;
  r.Resolve(kT0, kName);
  (void)Drain(r, kT0);
  r.HandleDatagram(kT0, kPeer, Answer(kName, IpAddress::V4(10, 0, 0, 1), 120));
  (void)Drain(r, kT0);
  EXPECT_EQ(r.cache_size(), 1u);

  r.Resolve(kT0 + Duration::Seconds(119), kName);
  Drained d = Drain(r, kT0 + Duration::Seconds(119));
  EXPECT_TRUE(d.transmits.empty());
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<Resolved>(d.events[0]));
  EXPECT_EQ(r.stats().cache_hits, 1u);

  r.Resolve(kT0 + Duration::Seconds(120), kName);  // expired: a fresh query
  d = Drain(r, kT0 + Duration::Seconds(120));
  EXPECT_EQ(d.transmits.size(), 1u);
  EXPECT_TRUE(d.events.empty());
  r.HandleDatagram(kT0 + Duration::Seconds(121), kPeer, Answer(kName, IpAddress::V4(10, 0, 0, 1), 120));
  (void)Drain(r, kT0 + Duration::Seconds(121));
  EXPECT_EQ(r.cache_size(), 1u);
  r.HandleDatagram(kT0 + Duration::Seconds(122), kPeer, Answer(kName, IpAddress::V4(10, 0, 0, 1), 0));
  EXPECT_EQ(r.cache_size(), 0u);
}

TEST(Resolver, RejectsInvalidNamesAndBoundsPendingLookups) {
  ResolverOptions o;
  o.max_pending = 2;
  Resolver r(o);
  r.Resolve(kT0, "example.com");
  r.Resolve(kT0, "a..local");
  r.Resolve(kT0, "a.local");
  r.Resolve(kT0, "A.local");  // joins
  r.Resolve(kT0, "b.local");
  r.Resolve(kT0, "c.local");
  Drained d = Drain(r, kT0);
  EXPECT_EQ(d.transmits.size(), 2u);
  ASSERT_EQ(d.events.size(), 3u);
  EXPECT_EQ(std::get<Failed>(d.events[0]).reason, FailureReason::kInvalidName);
  EXPECT_EQ(std::get<Failed>(d.events[1]).reason, FailureReason::kInvalidName);
  EXPECT_EQ(std::get<Failed>(d.events[2]).reason, FailureReason::kTooManyPending);
  EXPECT_EQ(std::get<Failed>(d.events[2]).name, "c.local");
  r.Cancel("a.local");
  EXPECT_EQ(r.pending_count(), 1u);
}

TEST(Resolver, SendsToBothGroupsWhenAskedAndBoundsTheCache) {
  ResolverOptions o;
  o.use_ipv6 = true;
  o.max_cache = 2;
  Resolver r(o);
  for (std::string_view n : {"a.local", "b.local", "c.local"}) {
    r.Resolve(kT0, n);
    Drained d = Drain(r, kT0);
    ASSERT_EQ(d.transmits.size(), 2u);
    EXPECT_EQ(d.transmits[1].destination.ToString(), "[ff02::fb]:5353");
    r.HandleDatagram(kT0, kPeer, Answer(n, IpAddress::V4(10, 0, 0, 9), 100));
    (void)Drain(r, kT0);
  }
  EXPECT_EQ(r.cache_size(), 2u);
}

TEST(Resolver, ResolvesANamePublishedByTheResponderCore) {
  SeededRng rng(7);
  Responder responder({}, rng);
  auto name = responder.Publish(kT0, IpAddress::V4(127, 0, 0, 1));
  ASSERT_TRUE(name);
  // Drain the announcements first (a resolver ignores unsolicited answers).
  Resolver resolver;
  for (int i = 0; i < 10; ++i) {
    if (std::holds_alternative<Deadline>(responder.PollOutput(kT0))) break;
  }
  EXPECT_EQ(resolver.pending_count(), 0u);
  const Instant t = kT0 + Duration::Seconds(2);
  resolver.Resolve(t, *name);
  Drained d = Drain(resolver, t);
  ASSERT_EQ(d.transmits.size(), 1u);
  responder.HandleDatagram(t, SocketAddress(IpAddress::V4(127, 0, 0, 1), kMdnsPort), d.transmits[0].data);
  std::vector<Transmit> answers;
  for (int i = 0; i < 10; ++i) {
    ResponderOutput out = responder.PollOutput(t);
    if (auto* tx = std::get_if<Transmit>(&out)) {
      answers.push_back(std::move(*tx));
    } else {
      break;
    }
  }
  ASSERT_EQ(answers.size(), 1u);
  resolver.HandleDatagram(t, SocketAddress(IpAddress::V4(127, 0, 0, 1), kMdnsPort), answers[0].data);
  d = Drain(resolver, t);
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(std::get<Resolved>(d.events[0]).addresses, std::vector<IpAddress>{IpAddress::V4(127, 0, 0, 1)});
}

TEST(Resolver, TakesAdditionalSectionRecordsButNotAuthorityProposals) {
  Resolver r;
  r.Resolve(kT0, kName);
  (void)Drain(r, kT0);
  const DnsName name = *DnsName::FromText(kName);
  Message probe;  // a probe: question plus the proposed record in the authority section
  Question q;
  q.name = name;
  q.type = rr::kAny;
  ASSERT_TRUE(probe.questions.push_back(q));
  ASSERT_TRUE(AddAnswer(probe, name, IpAddress::V4(10, 9, 9, 9), 120, false));
  AddressRecord rec = probe.records[0];
  probe.records.clear();
  rec.section = Section::kAuthority;
  ASSERT_TRUE(probe.records.push_back(rec));
  probe.header.flags = Header::kQr;  // even flagged as a response, authority records are no answer
  r.HandleDatagram(kT0, kPeer, Serialize(probe));
  EXPECT_TRUE(Drain(r, kT0).events.empty());

  Message additional = MakeResponse();
  rec.section = Section::kAdditional;
  rec.address = *IpAddress::Parse("fe80::9");
  ASSERT_TRUE(additional.records.push_back(rec));
  r.HandleDatagram(kT0, kPeer, Serialize(additional));
  Drained d = Drain(r, kT0);
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(std::get<Resolved>(d.events[0]).addresses, std::vector<IpAddress>{*IpAddress::Parse("fe80::9")});
}

}  // namespace
}  // namespace peerlink::mdns
