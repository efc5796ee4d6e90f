#include "src/mdns/responder.h"

#include <gtest/gtest.h>

#include <regex>

namespace peerlink::mdns {
namespace {

const Instant kT0 = Instant::FromNanos(5'000'000'000'000);
const SocketAddress kQuerier(IpAddress::V4(192, 168, 1, 30), kMdnsPort);

struct Drained {
  std::vector<Transmit> transmits;
  Instant deadline;
};
Drained Drain(Responder& r, Instant now) {
  Drained d;
  for (int i = 0; i < 1000; ++i) {
    ResponderOutput out = r.PollOutput(now);
    if (auto* t = std::get_if<Transmit>(&out)) {
      d.transmits.push_back(std::move(*t));
    } else {
      d.deadline = std::get<Deadline>(out).at;
      break;
    }
  }
  EXPECT_TRUE(r.IsConsistent());
  return d;
}

std::vector<uint8_t> Query(std::string_view name, uint16_t type, bool qu, uint16_t id = 0) {
  Message m;
  m.header.id = id;
  Question q;
  q.name = *DnsName::FromText(name);
  q.type = type;
  q.unicast_response = qu;
  EXPECT_TRUE(m.questions.push_back(q));
  return Serialize(m);
}

TEST(Responder, MakesVersion4Uuids) {
  SeededRng rng(1);
  const std::regex uuid("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  for (int i = 0; i < 100; ++i)
    EXPECT_TRUE(std::regex_match(MakeUuidV4(rng), uuid));
}

TEST(Responder, PublishesAndAnnouncesTwiceOneSecondApart) {
  SeededRng rng(2);
  Responder r({}, rng);
  auto name = r.Publish(kT0, IpAddress::V4(10, 1, 2, 3));
  ASSERT_TRUE(name);
  EXPECT_EQ(name->size(), 36u + 6);
  EXPECT_TRUE(name->ends_with(".local"));
  EXPECT_EQ(r.Publish(kT0, IpAddress::V4(10, 1, 2, 3)), name);  // same address, same name
  Drained d = Drain(r, kT0);
  ASSERT_EQ(d.transmits.size(), 1u);
  EXPECT_EQ(d.transmits[0].destination, SocketAddress(IpAddress::V4(224, 0, 0, 251), 5353));
  auto m = Message::Parse(d.transmits[0].data);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->header.flags, Header::kQr | Header::kAa);
  ASSERT_EQ(m->records.size(), 1u);
  EXPECT_EQ(m->records[0].name.ToString(), *name);
  EXPECT_EQ(m->records[0].address, IpAddress::V4(10, 1, 2, 3));
  EXPECT_EQ(m->records[0].ttl, kHostRecordTtl);
  EXPECT_TRUE(m->records[0].cache_flush);
  EXPECT_EQ(d.deadline, kT0 + Duration::Seconds(1));
  d = Drain(r, kT0 + Duration::Seconds(1));
  EXPECT_EQ(d.transmits.size(), 1u);
  EXPECT_EQ(d.deadline, Instant::Max());
}

TEST(Responder, AnswersMatchingQuestionsOnlyAndRespectsTheOneSecondRule) {
  SeededRng rng(3);
  ResponderOptions o;
  o.announcements = 0;
  Responder r(o, rng);
  const std::string name = *r.Publish(kT0, *IpAddress::Parse("fe80::1234"));
  EXPECT_TRUE(Drain(r, kT0).transmits.empty());

  r.HandleDatagram(kT0, kQuerier, Query(name, rr::kA, true));  // wrong type: AAAA only
  r.HandleDatagram(kT0, kQuerier, Query("other.local", rr::kAaaa, true));
  EXPECT_TRUE(Drain(r, kT0).transmits.empty());
  EXPECT_EQ(r.stats().ignored, 2u);

  r.HandleDatagram(kT0, kQuerier, Query(name, rr::kAaaa, true));
  Drained d = Drain(r, kT0);
  ASSERT_EQ(d.transmits.size(), 1u);
  EXPECT_EQ(d.transmits[0].destination.port(), kMdnsPort);
  EXPECT_EQ(d.transmits[0].destination.ip(), IpAddress::V4(224, 0, 0, 251));  // multicast even for QU
  auto m = Message::Parse(d.transmits[0].data);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->records[0].address.ToString(), "fe80::1234");

  // Again 300 ms later: held back until one second after the last multicast.
  r.HandleDatagram(kT0 + Duration::Millis(300), kQuerier, Query(name, rr::kAny, false));
  d = Drain(r, kT0 + Duration::Millis(300));
  EXPECT_TRUE(d.transmits.empty());
  EXPECT_EQ(d.deadline, kT0 + Duration::Seconds(1));
  d = Drain(r, kT0 + Duration::Seconds(1));
  EXPECT_EQ(d.transmits.size(), 1u);
}

TEST(Responder, KnownAnswerSuppression) {
  SeededRng rng(4);
  ResponderOptions o;
  o.announcements = 0;
  Responder r(o, rng);
  const std::string name = *r.Publish(kT0, IpAddress::V4(10, 0, 0, 5));
  Message q;
  Question question;
  question.name = *DnsName::FromText(name);
  ASSERT_TRUE(q.questions.push_back(question));
  ASSERT_TRUE(AddAnswer(q, question.name, IpAddress::V4(10, 0, 0, 5), 100, false));
  r.HandleDatagram(kT0, kQuerier, Serialize(q));
  EXPECT_TRUE(Drain(r, kT0).transmits.empty());
  Message q2 = q;
  q2.records.clear();
  ASSERT_TRUE(AddAnswer(q2, question.name, IpAddress::V4(10, 0, 0, 5), 30, false));  // under half the TTL
  r.HandleDatagram(kT0, kQuerier, Serialize(q2));
  EXPECT_EQ(Drain(r, kT0).transmits.size(), 1u);
}

TEST(Responder, LegacyUnicastQueriesGetAUnicastReply) {
  SeededRng rng(5);
  ResponderOptions o;
  o.announcements = 0;
  Responder r(o, rng);
  const std::string name = *r.Publish(kT0, IpAddress::V4(10, 0, 0, 6));
  const SocketAddress legacy(IpAddress::V4(192, 168, 1, 31), 49152);
  r.HandleDatagram(kT0, legacy, Query(name, rr::kA, false, 0x1234));
  Drained d = Drain(r, kT0);
  ASSERT_EQ(d.transmits.size(), 1u);
  EXPECT_EQ(d.transmits[0].destination, legacy);
  auto m = Message::Parse(d.transmits[0].data);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->header.id, 0x1234);
  ASSERT_EQ(m->questions.size(), 1u);
  EXPECT_EQ(m->records[0].ttl, kLegacyUnicastTtl);
  EXPECT_FALSE(m->records[0].cache_flush);
}

TEST(Responder, UnpublishSendsAGoodbyeAndStopsAnswering) {
  SeededRng rng(6);
  ResponderOptions o;
  o.announcements = 0;
  Responder r(o, rng);
  const std::string name = *r.Publish(kT0, IpAddress::V4(10, 0, 0, 7));
  EXPECT_FALSE(r.Unpublish(kT0, "nope.local"));
  EXPECT_TRUE(r.Unpublish(kT0, name));
  Drained d = Drain(r, kT0);
  ASSERT_EQ(d.transmits.size(), 1u);
  auto m = Message::Parse(d.transmits[0].data);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->records[0].ttl, 0u);
  r.HandleDatagram(kT0 + Duration::Seconds(2), kQuerier, Query(name, rr::kA, false));
  EXPECT_TRUE(Drain(r, kT0 + Duration::Seconds(2)).transmits.empty());
  EXPECT_FALSE(r.Lookup(name));
}

TEST(Responder, IgnoresResponsesAndBoundsNames) {
  SeededRng rng(8);
  ResponderOptions o;
  o.announcements = 0;
  o.max_names = 2;
  Responder r(o, rng);
  const std::string name = *r.Publish(kT0, IpAddress::V4(10, 0, 0, 1));
  EXPECT_TRUE(r.Publish(kT0, IpAddress::V4(10, 0, 0, 2)));
  EXPECT_FALSE(r.Publish(kT0, IpAddress::V4(10, 0, 0, 3)));
  auto response = Query(name, rr::kA, false);
  response[2] |= 0x80;  // QR: a response carrying our question is not a query
  r.HandleDatagram(kT0, kQuerier, response);
  EXPECT_TRUE(Drain(r, kT0).transmits.empty());
}

}  // namespace
}  // namespace peerlink::mdns
