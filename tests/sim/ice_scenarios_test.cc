// ICE scenarios in the simulator beyond the NAT matrix: impaired links and a
// TURN relay that loses the allocation under a connected pair.
#include <gtest/gtest.h>

#include "tests/sim/ice_sim.h"

namespace peerlink::sim {
namespace {

struct World {
  explicit World(uint64_t seed, LinkConditions link = {}) : net(seed), rng(seed + 17) {
    LinkConditions server_link;
    server_link.latency = Duration::Millis(5);
    turn_host = net.AddPublicHost(*IpAddress::Parse("203.0.113.20"), server_link);
    turn = std::make_unique<SimTurnServer>(net, turn_host, *IpAddress::Parse("203.0.113.20"), rng);
    ha = net.AddPublicHost(*IpAddress::Parse("198.51.100.1"), link);
    hb = net.AddPublicHost(*IpAddress::Parse("198.51.100.2"), link);
  }

  void Connect(ice::AgentConfig ca, ice::AgentConfig cb) {
    a = std::make_unique<SimIceAgent>(net, ha, ca, rng);
    b = std::make_unique<SimIceAgent>(net, hb, cb, rng);
    auto wire = [this](SimIceAgent& from, SimIceAgent& to) {
      from.on_event = [this, &to](const ice::AgentEvent& e) {
        if (auto* c = std::get_if<ice::LocalCandidateEvent>(&e)) {
          ice::Candidate cand = c->candidate;
          net.ScheduleAfter(Duration::Millis(10), [&to, cand](Instant now) {
            to.agent().AddRemoteCandidate(now, cand);
            to.Drain();
          });
        }
      };
    };
    wire(*a, *b);
    wire(*b, *a);
    a->agent().SetRemoteCredentials(net.now(), b->agent().local_credentials());
    b->agent().SetRemoteCredentials(net.now(), a->agent().local_credentials());
    a->Start();
    b->Start();
  }

  static bool Up(SimIceAgent& x) {
    auto s = x.agent().state();
    return x.selected && (s == ice::State::kConnected || s == ice::State::kCompleted);
  }

  Network net;
  SeededRng rng;
  HostId turn_host, ha, hb;
  std::unique_ptr<SimTurnServer> turn;
  std::unique_ptr<SimIceAgent> a, b;
};

ice::AgentConfig Config(ice::Role role) {
  ice::AgentConfig c;
  c.role = role;
  return c;
}

TEST(IceSim, ConnectsOverBurstyLossJitterReorderAndDuplication) {
  LinkConditions bad;
  bad.latency = Duration::Millis(40);
  bad.jitter = Duration::Millis(20);
  bad.loss = 0.05;
  bad.burst_p_good_to_bad = 0.05;
  bad.burst_p_bad_to_good = 0.3;
  bad.burst_loss_in_bad = 0.9;
  bad.duplicate = 0.05;
  bad.reorder = 0.1;
  bad.reorder_delay = Duration::Millis(30);
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    World w(seed, bad);
    w.Connect(Config(ice::Role::kControlling), Config(ice::Role::kControlled));
    EXPECT_TRUE(w.net.RunUntilCondition([&] { return World::Up(*w.a) && World::Up(*w.b); },
                                        w.net.now() + Duration::Seconds(10)));
  }
}

TEST(IceSim, LostRelayAllocationDemotesTheSelectedPairWithinFiveSeconds) {
  World w(7);
  ice::AgentConfig ca = Config(ice::Role::kControlling);
  ca.policy = ice::TransportPolicy::kRelay;
  ca.turn_servers = {{w.turn->address(), TransportProtocol::kUdp, "user", "pass"}};
  ice::AgentConfig cb = ca;
  cb.role = ice::Role::kControlled;
  w.Connect(ca, cb);
  ASSERT_TRUE(
      w.net.RunUntilCondition([&] { return World::Up(*w.a) && World::Up(*w.b); }, w.net.now() + Duration::Seconds(10)));
  EXPECT_EQ(w.a->selected->local.type, ice::CandidateType::kRelayed);
  EXPECT_EQ(w.a->selected->remote.type, ice::CandidateType::kRelayed);
  // The relay forgets A's allocation (a server restart, say).
  const SocketAddress a_client(*IpAddress::Parse("198.51.100.1"), 5000);
  w.turn->server().HandleClientClosed(w.net.now(), a_client, TransportProtocol::kUdp);
  const Instant lost_at = w.net.now();
  ASSERT_TRUE(w.net.RunUntilCondition([&] { return w.a->agent().state() == ice::State::kDisconnected; },
                                      w.net.now() + Duration::Seconds(10)));
  EXPECT_LE(w.net.now() - lost_at, Duration::Seconds(5));
  ASSERT_TRUE(w.net.RunUntilCondition([&] { return w.a->agent().state() == ice::State::kFailed; },
                                      w.net.now() + Duration::Seconds(40)));
}

}  // namespace
}  // namespace peerlink::sim
