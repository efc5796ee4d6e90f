// RFC 4787 NAT behaviour of the simulator: the 3 x 3 mapping x filtering table, port assignment, timeouts,
// hairpinning and LAN traffic.
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "tests/sim/network.h"
#include "tests/sim/sim_test_util.h"

namespace peerlink::sim {
namespace {

using testing::At;
using testing::BindRecorder;
using testing::Delivery;
using testing::Ip;

const IpAddress kNatIp = Ip(203, 0, 113, 1);

// One NAT (203.0.113.1) with private host A (10.0.0.2:5000) behind it; public servers S1 (198.51.100.1, ports
// 3478 and 3479) and S2 (198.51.100.2:3478).
struct NatWorld {
  explicit NatWorld(const NatConfig& config, uint64_t seed = 1) : net(seed) {
    nat = net.AddNat(kNatIp, config);
    a = net.AddPrivateHost(nat, Ip(10, 0, 0, 2));
    s1 = net.AddPublicHost(Ip(198, 51, 100, 1));
    s2 = net.AddPublicHost(Ip(198, 51, 100, 2));
    a_addr = BindRecorder(net, a, 5000, at_a);
    s1_port1 = BindRecorder(net, s1, 3478, at_servers);
    s1_port2 = BindRecorder(net, s1, 3479, at_servers);
    s2_port1 = BindRecorder(net, s2, 3478, at_servers);
  }

  // A sends to `server`; returns A's source address as the server saw it (A's mapping toward it).
  SocketAddress MappedToward(const SocketAddress& server) {
    const size_t before = at_servers.size();
    net.Send(a_addr, server, AsBytes("out"));
    EXPECT_TRUE(net.RunUntilIdle(net.now() + Duration::Seconds(1)));
    EXPECT_EQ(at_servers.size(), before + 1);
    return at_servers.empty() ? SocketAddress() : at_servers.back().from;
  }

  // `server` sends to `target` (a NAT address); true if the datagram reached A.
  bool ReachesA(const SocketAddress& server, const SocketAddress& target) {
    const size_t before = at_a.size();
    net.Send(server, target, AsBytes("in"));
    EXPECT_TRUE(net.RunUntilIdle(net.now() + Duration::Seconds(1)));
    if (at_a.size() == before) return false;
    EXPECT_EQ(at_a.back().from, server);  // inbound keeps the external source
    EXPECT_EQ(at_a.back().to, a_addr);    // and is rewritten to A's private address
    return true;
  }

  Network net;
  NatId nat;
  HostId a, s1, s2;
  SocketAddress a_addr, s1_port1, s1_port2, s2_port1;
  std::vector<Delivery> at_a, at_servers;
};

// The expected behaviour, written out per RFC 4787 sections 4.1 and 5 rather than derived from the code.
struct NatCase {
  NatMapping mapping;
  NatFiltering filtering;
  bool same_mapping_other_ip;    // A -> S2:3478 reuses the mapping made by A -> S1:3478
  bool same_mapping_other_port;  // A -> S1:3479 reuses it
  bool admits_other_port;        // after A -> S1:3478 only, S1:3479 may send to that mapping
  bool admits_other_ip;          // ... and S2:3478 may
};

constexpr NatMapping kEim = NatMapping::kEndpointIndependent;
constexpr NatMapping kAdm = NatMapping::kAddressDependent;
constexpr NatMapping kApdm = NatMapping::kAddressAndPortDependent;
constexpr NatFiltering kEif = NatFiltering::kEndpointIndependent;
constexpr NatFiltering kAdf = NatFiltering::kAddressDependent;
constexpr NatFiltering kApdf = NatFiltering::kAddressAndPortDependent;

constexpr NatCase kNatTable[] = {
    {kEim, kEif, true, true, true, true},        // "full cone"
    {kEim, kAdf, true, true, true, false},       // "restricted cone"
    {kEim, kApdf, true, true, false, false},     // "port-restricted cone"
    {kAdm, kEif, false, true, true, true},       //
    {kAdm, kAdf, false, true, true, false},      //
    {kAdm, kApdf, false, true, false, false},    //
    {kApdm, kEif, false, false, true, true},     //
    {kApdm, kAdf, false, false, true, false},    //
    {kApdm, kApdf, false, false, false, false},  // "symmetric"
};

void PrintTo(const NatCase& c, std::ostream* os) {
  *os << ToString(c.mapping) << "+" << ToString(c.filtering);
}

class NatBehaviourTableTest : public ::testing::TestWithParam<std::tuple<NatCase, bool>> {
 protected:
  const NatCase& expected() const { return std::get<0>(GetParam()); }
  NatConfig config() const {
    NatConfig c;
    c.mapping = expected().mapping;
    c.filtering = expected().filtering;
    c.random_ports = std::get<1>(GetParam());
    return c;
  }
};

TEST_P(NatBehaviourTableTest, MappingReuseFollowsTheMappingBehaviour) {
  NatWorld w(config());
  const SocketAddress m1 = w.MappedToward(w.s1_port1);
  const SocketAddress m2 = w.MappedToward(w.s2_port1);
  const SocketAddress m3 = w.MappedToward(w.s1_port2);
  EXPECT_EQ(m1.ip(), kNatIp);
  EXPECT_EQ(m2.ip(), kNatIp);
  EXPECT_EQ(m3.ip(), kNatIp);
  EXPECT_EQ(m1 == m2, expected().same_mapping_other_ip) << m1.ToString() << " vs " << m2.ToString();
  EXPECT_EQ(m1 == m3, expected().same_mapping_other_port) << m1.ToString() << " vs " << m3.ToString();
  EXPECT_EQ(w.MappedToward(w.s1_port1), m1);  // the same destination always reuses its mapping
  if (!config().random_ports) {
    EXPECT_EQ(m1.port(), 5000);  // port preservation for the first mapping
  } else {
    EXPECT_NE(m1.port(), 5000);
  }
  EXPECT_GE(m1.port(), 1024);
}

TEST_P(NatBehaviourTableTest, UnsolicitedInboundPassesPerTheFilteringBehaviour) {
  NatWorld w(config());
  const SocketAddress m1 = w.MappedToward(w.s1_port1);  // the only outbound datagram
  EXPECT_TRUE(w.ReachesA(w.s1_port1, m1));              // the reply always passes
  EXPECT_EQ(w.ReachesA(w.s1_port2, m1), expected().admits_other_port);
  EXPECT_EQ(w.ReachesA(w.s2_port1, m1), expected().admits_other_ip);
  const uint64_t rejected = (expected().admits_other_port ? 0 : 1) + (expected().admits_other_ip ? 0 : 1);
  EXPECT_EQ(w.net.stats().drops(DropReason::kNatFiltered), rejected);
  // A port with no mapping admits nobody, whatever the filtering.
  EXPECT_FALSE(w.ReachesA(w.s1_port1, SocketAddress(kNatIp, static_cast<uint16_t>(m1.port() + 1))));
  EXPECT_EQ(w.net.stats().drops(DropReason::kNatNoMapping), 1u);
}

std::string CaseName(const ::testing::TestParamInfo<std::tuple<NatCase, bool>>& info) {
  const NatCase& c = std::get<0>(info.param);
  return std::string(ToString(c.mapping)) + "_" + std::string(ToString(c.filtering)) +
         (std::get<1>(info.param) ? "_RandomPorts" : "_PreservedPorts");
}

INSTANTIATE_TEST_SUITE_P(Rfc4787,
                         NatBehaviourTableTest,
                         ::testing::Combine(::testing::ValuesIn(kNatTable), ::testing::Bool()),
                         CaseName);

TEST(SimNatTest, PresetsMatchTheirClassicNames) {
  EXPECT_EQ(SymmetricNat().mapping, NatMapping::kAddressAndPortDependent);
  EXPECT_EQ(SymmetricNat().filtering, NatFiltering::kAddressAndPortDependent);
  EXPECT_EQ(PortRestrictedConeNat().mapping, NatMapping::kEndpointIndependent);
  EXPECT_EQ(PortRestrictedConeNat().filtering, NatFiltering::kAddressAndPortDependent);
  EXPECT_EQ(RestrictedConeNat().filtering, NatFiltering::kAddressDependent);
  EXPECT_EQ(FullConeNat().filtering, NatFiltering::kEndpointIndependent);
}

TEST(SimNatTest, PortPreservationFallsBackToAnotherPortWhenTaken) {
  NatWorld w(FullConeNat());
  HostId b = w.net.AddPrivateHost(w.nat, Ip(10, 0, 0, 3));
  std::vector<Delivery> at_b;
  SocketAddress b_addr = BindRecorder(w.net, b, 5000, at_b);  // same internal port as A
  SocketAddress b_low = BindRecorder(w.net, b, 53, at_b);     // a well-known port is never preserved
  const SocketAddress ma = w.MappedToward(w.s1_port1);
  w.net.Send(b_addr, w.s1_port1, AsBytes("b"));
  w.net.Send(b_low, w.s1_port1, AsBytes("b53"));
  EXPECT_TRUE(w.net.RunUntilIdle(At(Duration::Seconds(1))));
  ASSERT_EQ(w.at_servers.size(), 3u);
  const SocketAddress mb = w.at_servers[1].from;
  const SocketAddress mb_low = w.at_servers[2].from;
  EXPECT_EQ(ma.port(), 5000);
  EXPECT_NE(mb.port(), 5000);
  EXPECT_GE(mb.port(), 1024);
  EXPECT_GE(mb_low.port(), 1024);
  EXPECT_EQ(w.net.nat_table(w.nat).MappingCount(w.net.now()), 3u);
}

TEST(SimNatTest, MappingTimesOutUnlessRefreshedByOutboundTraffic) {
  NatConfig c = FullConeNat();
  c.mapping_timeout = Duration::Seconds(30);
  NatWorld w(c);
  const SocketAddress m1 = w.MappedToward(w.s1_port1);  // t = 0, expires at 30 s

  w.net.RunUntil(At(Duration::Seconds(20)));
  EXPECT_TRUE(w.ReachesA(w.s1_port1, m1));
  w.net.RunUntil(At(Duration::Seconds(25)));
  EXPECT_EQ(w.MappedToward(w.s1_port1), m1);  // outbound refresh: now expires at 55 s
  w.net.RunUntil(At(Duration::Seconds(50)));
  EXPECT_TRUE(w.ReachesA(w.s1_port1, m1));  // past the original 30 s; inbound does not refresh
  w.net.RunUntil(At(Duration::Seconds(56)));
  EXPECT_FALSE(w.ReachesA(w.s1_port1, m1));
  EXPECT_EQ(w.net.stats().drops(DropReason::kNatNoMapping), 1u);
  EXPECT_EQ(w.net.nat_table(w.nat).MappingCount(w.net.now()), 0u);

  // New outbound traffic creates a fresh mapping that works again.
  const SocketAddress m2 = w.MappedToward(w.s1_port1);
  EXPECT_TRUE(w.ReachesA(w.s1_port1, m2));
  EXPECT_EQ(w.net.nat_table(w.nat).MappingCount(w.net.now()), 1u);
}

TEST(SimNatTest, FilteringPermissionsExpirePerDestination) {
  NatConfig c = PortRestrictedConeNat();
  c.mapping_timeout = Duration::Seconds(30);
  NatWorld w(c);
  const SocketAddress m1 = w.MappedToward(w.s1_port1);
  EXPECT_EQ(w.MappedToward(w.s1_port2), m1);  // EIM: one mapping, two permissions
  w.net.RunUntil(At(Duration::Seconds(25)));
  w.MappedToward(w.s1_port1);  // refreshes the mapping and only S1:3478's permission
  w.net.RunUntil(At(Duration::Seconds(40)));
  EXPECT_TRUE(w.ReachesA(w.s1_port1, m1));
  EXPECT_FALSE(w.ReachesA(w.s1_port2, m1));
  EXPECT_EQ(w.net.stats().drops(DropReason::kNatFiltered), 1u);
}

// Two hosts behind the same NAT learn their mappings from S1, then A sends to B's mapped address.
struct HairpinResult {
  std::vector<Delivery> at_b;
  SocketAddress a_mapped;
  Stats stats;
};
HairpinResult RunHairpin(bool hairpin) {
  NatConfig c = FullConeNat();
  c.hairpin = hairpin;
  NatWorld w(c);
  HostId b = w.net.AddPrivateHost(w.nat, Ip(10, 0, 0, 3));
  HairpinResult r;
  SocketAddress b_addr = BindRecorder(w.net, b, 6000, r.at_b);
  r.a_mapped = w.MappedToward(w.s1_port1);
  w.net.Send(b_addr, w.s1_port1, AsBytes("learn"));
  EXPECT_TRUE(w.net.RunUntilIdle(At(Duration::Seconds(1))));
  const SocketAddress b_mapped = w.at_servers.back().from;
  EXPECT_EQ(b_mapped.ip(), kNatIp);
  w.net.Send(w.a_addr, b_mapped, AsBytes("hairpin"));
  EXPECT_TRUE(w.net.RunUntilIdle(At(Duration::Seconds(2))));
  r.stats = w.net.stats();
  return r;
}

TEST(SimNatTest, HairpinningDeliversWithTheExternalSourceAddress) {
  HairpinResult r = RunHairpin(true);
  ASSERT_EQ(r.at_b.size(), 1u);
  EXPECT_EQ(AsString(r.at_b[0].payload), "hairpin");
  EXPECT_EQ(r.at_b[0].from, r.a_mapped);  // RFC 4787 REQ-9: B sees A's external address, not 10.0.0.2
}

TEST(SimNatTest, WithoutHairpinningTheDatagramIsDropped) {
  HairpinResult r = RunHairpin(false);
  EXPECT_TRUE(r.at_b.empty());
  EXPECT_EQ(r.stats.drops(DropReason::kNatFiltered), 1u);
}

TEST(SimNatTest, HostsBehindTheSameNatTalkDirectlyOnTheLan) {
  NatConfig c = SymmetricNat();
  NatWorld w(c);
  LinkConditions lan;
  lan.latency = Duration::Millis(1);
  HostId b = w.net.AddPrivateHost(w.nat, Ip(10, 0, 0, 3), lan);
  std::vector<Delivery> at_b;
  SocketAddress b_addr = BindRecorder(w.net, b, 6000, at_b);
  w.net.Send(w.a_addr, b_addr, AsBytes("lan"));
  EXPECT_TRUE(w.net.RunUntilIdle(At(Duration::Seconds(1))));
  ASSERT_EQ(at_b.size(), 1u);
  EXPECT_EQ(at_b[0].from, w.a_addr);  // no translation
  EXPECT_EQ(at_b[0].at, At(Duration::Millis(1)));
  EXPECT_EQ(w.net.nat_table(w.nat).MappingCount(w.net.now()), 0u);
}

TEST(SimNatTest, PathThroughANatCrossesLanWanAndAccessLinks) {
  Network net(1);
  LinkConditions lan, wan, access;
  lan.latency = Duration::Millis(5);
  wan.latency = Duration::Millis(10);
  access.latency = Duration::Millis(20);
  NatId nat = net.AddNat(kNatIp, FullConeNat(), wan);
  HostId a = net.AddPrivateHost(nat, Ip(10, 0, 0, 2), lan);
  HostId s = net.AddPublicHost(Ip(198, 51, 100, 1), access);
  std::vector<Delivery> at_a, at_s;
  SocketAddress a_addr = BindRecorder(net, a, 5000, at_a);
  SocketAddress s_addr =
      net.Bind(s, 3478, [&](Instant, const SocketAddress& from, const SocketAddress& to, ByteView p) {
        net.Send(to, from, p);  // echo to the mapped address
      });
  net.Send(a_addr, s_addr, AsBytes("x"));
  EXPECT_TRUE(net.RunUntilIdle(At(Duration::Seconds(1))));
  ASSERT_EQ(at_a.size(), 1u);
  EXPECT_EQ(at_a[0].at, At(Duration::Millis(70)));  // (5 + 10 + 20) each way
  EXPECT_EQ(at_a[0].from, s_addr);
}

// Each peer sits behind its own NAT and learns its mapping from a public server. Then A sends to B's learned
// address (dropped at B's NAT, but it opens A's side), 40 ms later B sends to A's, 40 ms later A again. Returns the
// number of datagrams each peer received from the other.
std::pair<size_t, size_t> PunchHoles(const NatConfig& config, Stats* stats) {
  Network net(9);
  LinkConditions wan;
  wan.latency = Duration::Millis(15);
  NatId nat_a = net.AddNat(Ip(203, 0, 113, 1), config, wan);
  NatId nat_b = net.AddNat(Ip(203, 0, 113, 2), config, wan);
  HostId a = net.AddPrivateHost(nat_a, Ip(10, 0, 0, 2));
  HostId b = net.AddPrivateHost(nat_b, Ip(10, 1, 0, 2));
  HostId server = net.AddPublicHost(Ip(198, 51, 100, 1));
  std::vector<Delivery> at_a, at_b, at_server;
  SocketAddress a_addr = BindRecorder(net, a, 5000, at_a);
  SocketAddress b_addr = BindRecorder(net, b, 5000, at_b);
  SocketAddress server_addr = BindRecorder(net, server, 3478, at_server);
  net.Send(a_addr, server_addr, AsBytes("a"));
  net.Send(b_addr, server_addr, AsBytes("b"));
  EXPECT_TRUE(net.RunUntilIdle(At(Duration::Seconds(1))));
  EXPECT_EQ(at_server.size(), 2u);
  const SocketAddress a_public = at_server[0].from, b_public = at_server[1].from;
  net.Send(a_addr, b_public, AsBytes("punch"));
  net.RunFor(Duration::Millis(40));
  net.Send(b_addr, a_public, AsBytes("punch"));
  net.RunFor(Duration::Millis(40));
  net.Send(a_addr, b_public, AsBytes("punch"));
  EXPECT_TRUE(net.RunUntilIdle(At(Duration::Seconds(2))));
  *stats = net.stats();
  return {at_a.size(), at_b.size()};
}

TEST(SimNatTest, HolePunchingWorksBetweenPortRestrictedConesButNotSymmetricNats) {
  Stats stats;
  EXPECT_EQ(PunchHoles(PortRestrictedConeNat(), &stats), std::make_pair(size_t{1}, size_t{1}));
  EXPECT_EQ(stats.drops(DropReason::kNatFiltered), 1u);  // only A's first datagram, before B's hole existed
  // Symmetric: each peer's datagrams to the other leave from a new mapping the far filter has never seen.
  EXPECT_EQ(PunchHoles(SymmetricNat(), &stats), std::make_pair(size_t{0}, size_t{0}));
  EXPECT_EQ(stats.drops(DropReason::kNatFiltered), 3u);
}

}  // namespace
}  // namespace peerlink::sim
