// Link impairments, virtual time, filters, stats and determinism of the simulator.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "tests/sim/network.h"
#include "tests/sim/sim_test_util.h"

namespace peerlink::sim {
namespace {

using testing::At;
using testing::BindRecorder;
using testing::Delivery;
using testing::Ip;
using testing::Numbered;
using testing::SeqOf;

// Two public hosts; the conditions under test sit on A's access link, B's link is perfect, so the path's
// impairments are exactly `a_link` (in the A -> B direction).
struct TwoHosts {
  explicit TwoHosts(uint64_t seed, const LinkConditions& a_link = {}) : net(seed) {
    a = net.AddPublicHost(Ip(198, 51, 100, 1), a_link);
    b = net.AddPublicHost(Ip(198, 51, 100, 2));
    a_addr = BindRecorder(net, a, 1000, at_a);
    b_addr = BindRecorder(net, b, 2000, at_b);
  }

  // Sends `count` numbered datagrams A -> B, one every `spacing`, then lets everything arrive.
  void SendNumbered(uint32_t count, Duration spacing, size_t size = 4) {
    for (uint32_t i = 0; i < count; ++i) {
      net.Send(a_addr, b_addr, Numbered(i, size));
      net.RunFor(spacing);
    }
    EXPECT_TRUE(net.RunUntilIdle(net.now() + Duration::Seconds(60)));
  }

  Network net;
  HostId a, b;
  SocketAddress a_addr, b_addr;
  std::vector<Delivery> at_a, at_b;
};

// Send time of datagram `seq` when sent by SendNumbered from t=0.
Instant SentAt(uint32_t seq, Duration spacing) {
  return At(spacing * seq);
}

TEST(SimLinkTest, PerfectLinkDeliversImmediatelyWithAddresses) {
  TwoHosts t(1);
  t.net.Send(t.a_addr, t.b_addr, AsBytes("hello"));
  EXPECT_TRUE(t.at_b.empty());  // nothing happens outside Run*()
  EXPECT_TRUE(t.net.RunUntilIdle(At(Duration::Seconds(1))));
  ASSERT_EQ(t.at_b.size(), 1u);
  EXPECT_EQ(t.at_b[0].at, Instant::Zero());
  EXPECT_EQ(t.at_b[0].from, t.a_addr);
  EXPECT_EQ(t.at_b[0].to, t.b_addr);
  EXPECT_EQ(AsString(t.at_b[0].payload), "hello");
  EXPECT_EQ(t.net.stats().sent, 1u);
  EXPECT_EQ(t.net.stats().delivered, 1u);
  EXPECT_EQ(t.net.stats().total_dropped(), 0u);
}

TEST(SimLinkTest, OneWayDelayIsTheSumOfTheLinksOnThePath) {
  Network net(1);
  LinkConditions a_link, b_link;
  a_link.latency = Duration::Millis(30);
  b_link.latency = Duration::Millis(20);
  HostId a = net.AddPublicHost(Ip(198, 51, 100, 1), a_link);
  HostId b = net.AddPublicHost(Ip(198, 51, 100, 2), b_link);
  std::vector<Delivery> at_a, at_b;
  SocketAddress a_addr = BindRecorder(net, a, 1, at_a);
  SocketAddress b_addr = BindRecorder(net, b, 2, at_b);
  net.Send(a_addr, b_addr, Numbered(0));
  net.RunUntil(At(Duration::Millis(49)));
  EXPECT_TRUE(at_b.empty());
  net.RunUntil(At(Duration::Millis(50)));
  ASSERT_EQ(at_b.size(), 1u);
  EXPECT_EQ(at_b[0].at, At(Duration::Millis(50)));
}

TEST(SimLinkTest, JitterStaysWithinBoundsAndKeepsOrder) {
  LinkConditions c;
  c.latency = Duration::Millis(50);
  c.jitter = Duration::Millis(10);
  TwoHosts t(7, c);
  const Duration spacing = Duration::Millis(2);
  t.SendNumbered(1000, spacing);
  ASSERT_EQ(t.at_b.size(), 1000u);
  Duration min_delay = Duration::Infinite(), max_delay = Duration::Zero();
  for (size_t i = 0; i < t.at_b.size(); ++i) {
    const uint32_t seq = SeqOf(t.at_b[i].payload);
    EXPECT_EQ(seq, i) << "jitter must not reorder";
    const Duration delay = t.at_b[i].at - SentAt(seq, spacing);
    EXPECT_GE(delay, Duration::Millis(50));
    EXPECT_LE(delay, Duration::Millis(60));
    min_delay = std::min(min_delay, delay);
    max_delay = std::max(max_delay, delay);
  }
  // The delay actually varies across the whole range.
  EXPECT_LT(min_delay, Duration::Millis(51));
  EXPECT_GT(max_delay, Duration::Millis(59));
}

TEST(SimLinkTest, UniformLossRateIsWithinTolerance) {
  LinkConditions c;
  c.loss = 0.1;
  TwoHosts t(42, c);
  constexpr uint32_t kCount = 20000;
  t.SendNumbered(kCount, Duration::Millis(1));
  const double delivered = static_cast<double>(t.at_b.size()) / kCount;
  // sigma = sqrt(0.1 * 0.9 / 20000) ~ 0.0021; 5 sigma.
  EXPECT_NEAR(delivered, 0.9, 0.011);
  EXPECT_EQ(t.net.stats().drops(DropReason::kLoss), kCount - t.at_b.size());
  EXPECT_EQ(t.net.stats().total_dropped(), t.net.stats().drops(DropReason::kLoss));
}

// Mean length of runs of consecutive lost sequence numbers among 0..count-1.
double MeanLossRun(const std::vector<Delivery>& got, uint32_t count, double* loss_rate) {
  std::vector<bool> arrived(count, false);
  for (const Delivery& d : got)
    arrived[SeqOf(d.payload)] = true;
  uint64_t lost = 0, runs = 0;
  for (uint32_t i = 0; i < count; ++i) {
    if (arrived[i]) continue;
    ++lost;
    if (i == 0 || arrived[i - 1]) ++runs;
  }
  *loss_rate = static_cast<double>(lost) / count;
  return runs == 0 ? 0 : static_cast<double>(lost) / static_cast<double>(runs);
}

TEST(SimLinkTest, GilbertElliottLossComesInBurstsUniformLossDoesNot) {
  constexpr uint32_t kCount = 20000;
  LinkConditions bursty;
  bursty.burst_p_good_to_bad = 0.02;
  bursty.burst_p_bad_to_good = 0.2;  // mean burst 5 datagrams
  bursty.burst_loss_in_bad = 1.0;
  TwoHosts b(3, bursty);
  b.SendNumbered(kCount, Duration::Millis(1));
  double bursty_rate = 0;
  const double bursty_run = MeanLossRun(b.at_b, kCount, &bursty_rate);
  // Stationary bad fraction: 0.02 / 0.22 ~ 0.091.
  EXPECT_NEAR(bursty_rate, 0.091, 0.03);
  EXPECT_GT(bursty_run, 3.5);
  EXPECT_LT(bursty_run, 7.0);

  LinkConditions uniform;
  uniform.loss = bursty_rate;
  TwoHosts u(3, uniform);
  u.SendNumbered(kCount, Duration::Millis(1));
  double uniform_rate = 0;
  const double uniform_run = MeanLossRun(u.at_b, kCount, &uniform_rate);
  EXPECT_NEAR(uniform_rate, bursty_rate, 0.02);
  EXPECT_LT(uniform_run, 1.3);  // geometric with p ~ 0.09: mean ~ 1.1
}

TEST(SimLinkTest, DuplicationDeliversExtraCopies) {
  LinkConditions c;
  c.duplicate = 0.2;
  c.latency = Duration::Millis(5);
  TwoHosts t(11, c);
  constexpr uint32_t kCount = 10000;
  t.SendNumbered(kCount, Duration::Millis(1));
  const Stats& s = t.net.stats();
  EXPECT_EQ(s.delivered, t.at_b.size());
  EXPECT_EQ(s.duplicated, s.delivered - kCount);
  EXPECT_NEAR(static_cast<double>(s.duplicated) / kCount, 0.2, 0.02);
  std::map<uint32_t, int> copies;
  for (const Delivery& d : t.at_b)
    ++copies[SeqOf(d.payload)];
  EXPECT_EQ(copies.size(), kCount);  // every datagram arrives, none more than twice
  for (const auto& [seq, n] : copies)
    ASSERT_LE(n, 2) << seq;
}

// Fraction of deliveries that arrive after a higher sequence number already arrived.
double LateFraction(const std::vector<Delivery>& got) {
  int64_t highest = -1;
  size_t late = 0;
  for (const Delivery& d : got) {
    const int64_t seq = SeqOf(d.payload);
    if (seq < highest) ++late;
    highest = std::max(highest, seq);
  }
  return got.empty() ? 0 : static_cast<double>(late) / static_cast<double>(got.size());
}

TEST(SimLinkTest, ReorderingLetsLaterDatagramsOvertake) {
  LinkConditions c;
  c.latency = Duration::Millis(10);
  c.reorder = 0.1;
  c.reorder_delay = Duration::Millis(20);
  TwoHosts t(5, c);
  constexpr uint32_t kCount = 5000;
  t.SendNumbered(kCount, Duration::Millis(1));
  ASSERT_EQ(t.at_b.size(), kCount);
  EXPECT_NEAR(LateFraction(t.at_b), 0.1, 0.02);
  EXPECT_NEAR(static_cast<double>(t.net.stats().reordered) / kCount, 0.1, 0.02);
  for (const Delivery& d : t.at_b) {
    const Duration delay = d.at - SentAt(SeqOf(d.payload), Duration::Millis(1));
    EXPECT_TRUE(delay == Duration::Millis(10) || delay == Duration::Millis(30)) << delay.ToString();
  }
}

TEST(SimLinkTest, JitterAloneNeverReorders) {
  LinkConditions c;
  c.jitter = Duration::Millis(50);  // far larger than the 1 ms spacing
  TwoHosts t(5, c);
  t.SendNumbered(2000, Duration::Millis(1));
  ASSERT_EQ(t.at_b.size(), 2000u);
  EXPECT_EQ(LateFraction(t.at_b), 0.0);
}

TEST(SimLinkTest, RateLimitSerialisesAtTheConfiguredRate) {
  LinkConditions c;
  c.rate_bytes_per_sec = 10000;
  c.latency = Duration::Millis(5);
  TwoHosts t(1, c);
  // 972 payload + 28 IPv4/UDP header bytes = 1000 bytes = 100 ms at 10 kB/s.
  for (uint32_t i = 0; i < 5; ++i)
    t.net.Send(t.a_addr, t.b_addr, Numbered(i, 972));
  EXPECT_TRUE(t.net.RunUntilIdle(At(Duration::Seconds(10))));
  ASSERT_EQ(t.at_b.size(), 5u);
  for (uint32_t i = 0; i < 5; ++i) {
    EXPECT_EQ(SeqOf(t.at_b[i].payload), i);
    EXPECT_EQ(t.at_b[i].at, At(Duration::Millis(100) * (i + 1) + Duration::Millis(5)));
  }
}

TEST(SimLinkTest, RateLimitTailDropsWhenTheQueueIsFull) {
  LinkConditions c;
  c.rate_bytes_per_sec = 10000;
  c.queue_bytes = 3000;
  TwoHosts t(1, c);
  for (uint32_t i = 0; i < 10; ++i)
    t.net.Send(t.a_addr, t.b_addr, Numbered(i, 972));  // 1000 bytes each
  t.net.RunUntil(At(Duration::Millis(300)));
  ASSERT_EQ(t.at_b.size(), 3u);
  EXPECT_EQ(SeqOf(t.at_b[2].payload), 2u);  // the head is kept, the tail dropped
  EXPECT_EQ(t.net.stats().drops(DropReason::kQueue), 7u);
  // The queue has drained: a new burst of three fits again.
  for (uint32_t i = 10; i < 13; ++i)
    t.net.Send(t.a_addr, t.b_addr, Numbered(i, 972));
  EXPECT_TRUE(t.net.RunUntilIdle(At(Duration::Seconds(10))));
  EXPECT_EQ(t.at_b.size(), 6u);
  EXPECT_EQ(t.net.stats().drops(DropReason::kQueue), 7u);
  EXPECT_EQ(t.at_b.back().at, At(Duration::Millis(600)));
}

TEST(SimLinkTest, MtuDropsOversizedDatagramsAndCountsThem) {
  TwoHosts t(1);                                      // default MTU 1500
  t.net.Send(t.a_addr, t.b_addr, Numbered(0, 1472));  // 1500 bytes with IPv4 + UDP headers
  t.net.Send(t.a_addr, t.b_addr, Numbered(1, 1473));
  EXPECT_TRUE(t.net.RunUntilIdle(At(Duration::Seconds(1))));
  ASSERT_EQ(t.at_b.size(), 1u);
  EXPECT_EQ(SeqOf(t.at_b[0].payload), 0u);
  EXPECT_EQ(t.net.stats().drops(DropReason::kMtu), 1u);

  // IPv6 headers are 20 bytes larger; a smaller MTU on the far link applies too.
  Network net(1);
  LinkConditions small;
  small.mtu = 1280;
  auto v6 = [](uint8_t last) {
    std::array<uint8_t, 16> b{0x20, 0x01, 0x0d, 0xb8};
    b[15] = last;
    return IpAddress::V6(b);
  };
  HostId a = net.AddPublicHost(v6(1));
  HostId b = net.AddPublicHost(v6(2), small);
  std::vector<Delivery> at_a, at_b;
  SocketAddress a_addr = BindRecorder(net, a, 1, at_a);
  SocketAddress b_addr = BindRecorder(net, b, 2, at_b);
  net.Send(a_addr, b_addr, Numbered(0, 1232));  // 1280 with IPv6 + UDP headers
  net.Send(a_addr, b_addr, Numbered(1, 1233));
  EXPECT_TRUE(net.RunUntilIdle(At(Duration::Seconds(1))));
  ASSERT_EQ(at_b.size(), 1u);
  EXPECT_EQ(SeqOf(at_b[0].payload), 0u);
  EXPECT_EQ(net.stats().drops(DropReason::kMtu), 1u);
}

// Every impairment at once; returns the full trace.
std::vector<std::string> ImpairedRunTrace(uint64_t seed) {
  LinkConditions c;
  c.latency = Duration::Millis(20);
  c.jitter = Duration::Millis(15);
  c.loss = 0.05;
  c.burst_p_good_to_bad = 0.01;
  c.burst_p_bad_to_good = 0.3;
  c.duplicate = 0.05;
  c.reorder = 0.05;
  c.reorder_delay = Duration::Millis(25);
  c.rate_bytes_per_sec = 200'000;
  c.queue_bytes = 8000;
  TwoHosts t(seed, c);
  std::vector<std::string> trace;
  t.net.SetTracer([&trace](const TraceRecord& r) { trace.push_back(r.ToString()); });
  // B echoes everything, so both directions and re-entrant sends are exercised.
  t.net.Unbind(t.b_addr);
  t.net.Bind(t.b, 2000, [&t](Instant, const SocketAddress& from, const SocketAddress& to, ByteView p) {
    t.net.Send(to, from, p);
  });
  t.SendNumbered(500, Duration::Millis(1), 600);
  return trace;
}

TEST(SimDeterminismTest, SameSeedGivesAnIdenticalTrace) {
  const std::vector<std::string> first = ImpairedRunTrace(1234);
  const std::vector<std::string> second = ImpairedRunTrace(1234);
  ASSERT_GT(first.size(), 1000u);
  EXPECT_EQ(first, second);
}

TEST(SimDeterminismTest, DifferentSeedGivesADifferentTrace) {
  EXPECT_NE(ImpairedRunTrace(1234), ImpairedRunTrace(1235));
}

bool IsStunBindingRequest(ByteView p) {
  // RFC 8489 section 5: message type 0x0001 in the first two bytes.
  return p.size() >= 20 && p[0] == 0x00 && p[1] == 0x01;
}

TEST(SimFilterTest, GlobalDropFilterDropsByPacketType) {
  TwoHosts t(1);
  t.net.SetDropFilter([](const SocketAddress&, const SocketAddress&, ByteView p) { return IsStunBindingRequest(p); });
  std::vector<uint8_t> request(20, 0), response(20, 0);
  request[1] = 0x01;
  response[0] = 0x01;
  response[1] = 0x01;
  t.net.Send(t.a_addr, t.b_addr, request);
  t.net.Send(t.a_addr, t.b_addr, response);
  EXPECT_TRUE(t.net.RunUntilIdle(At(Duration::Seconds(1))));
  ASSERT_EQ(t.at_b.size(), 1u);
  EXPECT_EQ(t.at_b[0].payload, response);
  EXPECT_EQ(t.net.stats().drops(DropReason::kFilter), 1u);

  t.net.SetDropFilter(nullptr);  // cleared
  t.net.Send(t.a_addr, t.b_addr, request);
  EXPECT_TRUE(t.net.RunUntilIdle(At(Duration::Seconds(2))));
  EXPECT_EQ(t.at_b.size(), 2u);
}

TEST(SimFilterTest, LinkDropFilterAffectsOnlyItsLinkAndSeesBothDirections) {
  TwoHosts t(1);
  HostId c = t.net.AddPublicHost(Ip(198, 51, 100, 3));
  std::vector<Delivery> at_c;
  SocketAddress c_addr = BindRecorder(t.net, c, 3000, at_c);
  std::vector<std::pair<SocketAddress, SocketAddress>> seen;
  t.net.SetLinkDropFilter(t.net.HostLink(c), [&seen](const SocketAddress& from, const SocketAddress& to, ByteView) {
    seen.emplace_back(from, to);
    return true;
  });
  t.net.Send(t.a_addr, t.b_addr, Numbered(0));
  t.net.Send(t.a_addr, c_addr, Numbered(1));
  t.net.Send(c_addr, t.a_addr, Numbered(2));
  EXPECT_TRUE(t.net.RunUntilIdle(At(Duration::Seconds(1))));
  EXPECT_EQ(t.at_b.size(), 1u);
  EXPECT_TRUE(at_c.empty());
  EXPECT_TRUE(t.at_a.empty());
  EXPECT_EQ(t.net.stats().drops(DropReason::kFilter), 2u);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], std::make_pair(c_addr, t.a_addr));  // C's up direction, at send time
  EXPECT_EQ(seen[1], std::make_pair(t.a_addr, c_addr));  // C's down direction, after A's link
}

TEST(SimStatsTest, NoListenerAndNoRouteAreCounted) {
  TwoHosts t(1);
  std::vector<TraceRecord> drops;
  t.net.SetTracer([&drops](const TraceRecord& r) {
    if (r.kind == TraceRecord::Kind::kDrop) drops.push_back(r);
  });
  t.net.Send(t.a_addr, SocketAddress(t.b_addr.ip(), 9), Numbered(0));      // nothing bound on port 9
  t.net.Send(t.a_addr, SocketAddress(Ip(192, 0, 2, 99), 9), Numbered(1));  // nobody has that IP
  EXPECT_TRUE(t.net.Unbind(t.b_addr));
  EXPECT_FALSE(t.net.Unbind(t.b_addr));
  t.net.Send(t.a_addr, t.b_addr, Numbered(2));  // unbound before arrival
  EXPECT_TRUE(t.net.RunUntilIdle(At(Duration::Seconds(1))));
  EXPECT_EQ(t.net.stats().drops(DropReason::kNoListener), 2u);
  EXPECT_EQ(t.net.stats().drops(DropReason::kNoRoute), 1u);
  EXPECT_EQ(t.net.stats().delivered, 0u);
  ASSERT_EQ(drops.size(), 3u);
  auto no_route =
      std::find_if(drops.begin(), drops.end(), [](const TraceRecord& r) { return r.reason == DropReason::kNoRoute; });
  ASSERT_NE(no_route, drops.end());
  EXPECT_EQ(no_route->to, SocketAddress(Ip(192, 0, 2, 99), 9));
}

TEST(SimStatsTest, ChangingLinkConditionsMidRunTakesEffectForNewDatagrams) {
  TwoHosts t(1);
  LinkConditions down;
  down.loss = 1.0;
  t.net.SetLinkConditions(t.net.HostLink(t.b), down, LinkDirection::kDown);
  EXPECT_EQ(t.net.link_conditions(t.net.HostLink(t.b), LinkDirection::kUp).loss, 0.0);
  t.net.Send(t.a_addr, t.b_addr, Numbered(0));
  t.net.Send(t.b_addr, t.a_addr, Numbered(1));  // B's up direction still works
  EXPECT_TRUE(t.net.RunUntilIdle(At(Duration::Seconds(1))));
  EXPECT_TRUE(t.at_b.empty());
  EXPECT_EQ(t.at_a.size(), 1u);
  t.net.SetLinkConditions(t.net.HostLink(t.b), LinkConditions());
  t.net.Send(t.a_addr, t.b_addr, Numbered(2));
  EXPECT_TRUE(t.net.RunUntilIdle(At(Duration::Seconds(2))));
  EXPECT_EQ(t.at_b.size(), 1u);
  EXPECT_EQ(t.net.stats().drops(DropReason::kLoss), 1u);
}

TEST(SimEndpointTest, EphemeralBindsPickDistinctPortsAndReceiversCanReply) {
  Network net(1);
  LinkConditions c;
  c.latency = Duration::Millis(10);
  HostId a = net.AddPublicHost(Ip(198, 51, 100, 1), c);
  HostId b = net.AddPublicHost(Ip(198, 51, 100, 2), c);
  std::vector<Delivery> at_a;
  SocketAddress a1 = BindRecorder(net, a, 0, at_a);
  SocketAddress a2 = BindRecorder(net, a, 0, at_a);
  EXPECT_EQ(a1.port(), Network::kFirstEphemeralPort);
  EXPECT_EQ(a2.port(), Network::kFirstEphemeralPort + 1);
  SocketAddress echo = net.Bind(
      b, 7, [&net](Instant, const SocketAddress& from, const SocketAddress& to, ByteView p) { net.Send(to, from, p); });
  net.Send(a1, echo, AsBytes("ping"));
  EXPECT_TRUE(net.RunUntilIdle(At(Duration::Seconds(1))));
  ASSERT_EQ(at_a.size(), 1u);
  EXPECT_EQ(at_a[0].at, At(Duration::Millis(40)));  // two links each way
  EXPECT_EQ(at_a[0].from, echo);
  EXPECT_EQ(at_a[0].to, a1);
}

TEST(SimTimeTest, TimersFireInTimeThenSchedulingOrderAndCanBeCancelled) {
  Network net(1);
  std::vector<std::string> fired;
  auto record = [&fired](std::string name) {
    return [&fired, name](Instant now) { fired.push_back(name + "@" + std::to_string(now.nanos() / 1000000)); };
  };
  net.ScheduleAt(At(Duration::Millis(20)), record("b"));
  net.ScheduleAt(At(Duration::Millis(10)), record("a"));
  net.ScheduleAt(At(Duration::Millis(20)), record("c"));
  TimerId cancelled = net.ScheduleAt(At(Duration::Millis(15)), record("x"));
  EXPECT_TRUE(net.Cancel(cancelled));
  EXPECT_FALSE(net.Cancel(cancelled));
  EXPECT_EQ(net.pending_events(), 3u);
  net.RunUntil(At(Duration::Millis(20)));
  EXPECT_EQ(fired, (std::vector<std::string>{"a@10", "b@20", "c@20"}));
  EXPECT_EQ(net.now(), At(Duration::Millis(20)));
  // A timer in the past fires at now; one scheduled from a timer for now runs in the same RunUntil.
  net.ScheduleAt(Instant::Zero(), [&](Instant now) {
    fired.push_back("late@" + std::to_string(now.nanos() / 1000000));
    net.ScheduleAfter(Duration::Zero(), record("chained"));
  });
  net.RunUntil(At(Duration::Millis(20)));
  EXPECT_EQ(fired.back(), "chained@20");
  EXPECT_EQ(fired[fired.size() - 2], "late@20");
  EXPECT_TRUE(net.RunUntilIdle(At(Duration::Seconds(1))));
}

TEST(SimTimeTest, ManyCancelledTimersAreCompactedAway) {
  Network net(1);
  for (int i = 0; i < 10000; ++i)
    EXPECT_TRUE(net.Cancel(net.ScheduleAt(At(Duration::Seconds(100 + i)), [](Instant) {})));
  EXPECT_EQ(net.pending_events(), 0u);
  EXPECT_TRUE(net.RunUntilIdle(At(Duration::Seconds(1))));
  EXPECT_EQ(net.now(), Instant::Zero());  // idle: time does not jump to the limit
}

TEST(SimTimeTest, RunUntilConditionStopsAtTheEventThatSatisfiesIt) {
  LinkConditions c;
  c.latency = Duration::Millis(25);
  TwoHosts t(1, c);
  t.net.Send(t.a_addr, t.b_addr, Numbered(0));
  EXPECT_TRUE(t.net.RunUntilCondition([&] { return !t.at_b.empty(); }, At(Duration::Seconds(1))));
  EXPECT_EQ(t.net.now(), At(Duration::Millis(25)));
  // Never satisfied: stops at the limit.
  EXPECT_FALSE(t.net.RunUntilCondition([&] { return t.at_b.size() > 1; }, At(Duration::Millis(500))));
  EXPECT_EQ(t.net.now(), At(Duration::Millis(500)));
  // RunUntilIdle with pending work beyond the limit reports not idle.
  t.net.ScheduleAfter(Duration::Seconds(10), [](Instant) {});
  EXPECT_FALSE(t.net.RunUntilIdle(At(Duration::Seconds(1))));
  EXPECT_EQ(t.net.now(), At(Duration::Seconds(1)));
}

}  // namespace
}  // namespace peerlink::sim
