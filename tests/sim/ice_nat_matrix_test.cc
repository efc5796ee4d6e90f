// The ICE NAT traversal matrix: two agents, each on a public address or behind
// one of the nine RFC 4787 NAT types (mapping x filtering), with a STUN server
// and optionally a TURN relay on the simulated internet. Every cell asserts its
// expected outcome; the table is printed (and kept in docs/ice.md).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include "tests/sim/ice_sim.h"

namespace peerlink::sim {
namespace {

struct NatKind {
  std::string name;
  std::optional<NatConfig> config;  // nullopt: public address, no NAT
};

std::vector<NatKind> AllKinds() {
  std::vector<NatKind> kinds = {{"none", std::nullopt}};
  const std::pair<NatMapping, const char*> maps[] = {{NatMapping::kEndpointIndependent, "EIM"},
                                                     {NatMapping::kAddressDependent, "ADM"},
                                                     {NatMapping::kAddressAndPortDependent, "APDM"}};
  const std::pair<NatFiltering, const char*> filters[] = {{NatFiltering::kEndpointIndependent, "EIF"},
                                                          {NatFiltering::kAddressDependent, "ADF"},
                                                          {NatFiltering::kAddressAndPortDependent, "APDF"}};
  for (auto& [m, mn] : maps) {
    for (auto& [f, fn] : filters) {
      NatConfig c;
      c.mapping = m;
      c.filtering = f;
      // Non-EIM NATs allocate a fresh random port per mapping, as real
      // symmetric NATs do; EIM NATs preserve the port.
      c.random_ports = m != NatMapping::kEndpointIndependent;
      kinds.push_back({std::string(mn) + "/" + fn, c});
    }
  }
  return kinds;
}

struct Outcome {
  bool connected = false;
  ice::CandidateType local = ice::CandidateType::kHost;
  ice::CandidateType remote = ice::CandidateType::kHost;
  bool data_ok = false;
  Duration elapsed;  // until connected or failed
  std::string ToString() const {
    if (!connected) return "failed";
    return std::string(ice::ToString(local)) + "/" + std::string(ice::ToString(remote));
  }
};

Outcome RunCell(const NatKind& ka, const NatKind& kb, bool with_turn, uint64_t seed) {
  Network net(seed);
  LinkConditions wan;
  wan.latency = Duration::Millis(10);
  LinkConditions lan;
  lan.latency = Duration::Millis(1);
  LinkConditions server_link;
  server_link.latency = Duration::Millis(5);
  const HostId stun_host = net.AddPublicHost(*IpAddress::Parse("203.0.113.10"), server_link);
  const HostId turn_host = net.AddPublicHost(*IpAddress::Parse("203.0.113.20"), server_link);
  SimStunServer stun(net, stun_host);
  SeededRng rng(seed * 7919 + 1);
  SimTurnServer turn(net, turn_host, *IpAddress::Parse("203.0.113.20"), rng);

  auto make_host = [&](const NatKind& k, const char* nat_ip, const char* private_ip, const char* public_ip) {
    if (!k.config) return net.AddPublicHost(*IpAddress::Parse(public_ip), wan);
    NatId nat = net.AddNat(*IpAddress::Parse(nat_ip), *k.config, wan);
    return net.AddPrivateHost(nat, *IpAddress::Parse(private_ip), lan);
  };
  const HostId ha = make_host(ka, "198.51.100.1", "10.0.1.2", "198.51.100.101");
  const HostId hb = make_host(kb, "198.51.100.2", "10.0.2.2", "198.51.100.102");

  ice::AgentConfig ca;
  ca.role = ice::Role::kControlling;
  ca.stun_servers = {stun.address()};
  if (with_turn) ca.turn_servers = {{turn.address(), TransportProtocol::kUdp, "user", "pass"}};
  ice::AgentConfig cb = ca;
  cb.role = ice::Role::kControlled;
  SimIceAgent a(net, ha, ca, rng);
  SimIceAgent b(net, hb, cb, rng);

  // Trickle signaling with 20 ms of signaling-server delay.
  auto wire = [&net](SimIceAgent& from, SimIceAgent& to) {
    from.on_event = [&net, &to](const ice::AgentEvent& e) {
      if (auto* c = std::get_if<ice::LocalCandidateEvent>(&e)) {
        ice::Candidate cand = c->candidate;
        net.ScheduleAfter(Duration::Millis(20), [&to, cand](Instant now) {
          to.agent().AddRemoteCandidate(now, cand);
          to.Drain();
        });
      } else if (auto* g = std::get_if<ice::GatheringStateEvent>(&e)) {
        if (g->state == ice::GatheringState::kComplete) {
          net.ScheduleAfter(Duration::Millis(20), [&to](Instant now) {
            to.agent().SetRemoteEndOfCandidates(now);
            to.Drain();
          });
        }
      }
    };
  };
  wire(a, b);
  wire(b, a);
  a.agent().SetRemoteCredentials(net.now(), b.agent().local_credentials());
  b.agent().SetRemoteCredentials(net.now(), a.agent().local_credentials());
  a.Start();
  b.Start();

  auto connected = [](SimIceAgent& x) {
    auto s = x.agent().state();
    return x.selected && (s == ice::State::kConnected || s == ice::State::kCompleted);
  };
  auto failed = [](SimIceAgent& x) { return x.agent().state() == ice::State::kFailed; };
  const Instant start = net.now();
  net.RunUntilCondition([&] { return (connected(a) && connected(b)) || failed(a) || failed(b); },
                        net.now() + Duration::Seconds(40));
  Outcome o;
  o.elapsed = net.now() - start;
  o.connected = connected(a) && connected(b);
  if (!o.connected) return o;
  o.local = a.selected->local.type;
  o.remote = a.selected->remote.type;
  // The selected path carries data both ways.
  EXPECT_EQ(a.agent().SendData(net.now(), AsBytes("ping")), ice::SendResult::kOk);
  EXPECT_EQ(b.agent().SendData(net.now(), AsBytes("pong")), ice::SendResult::kOk);
  a.Drain();
  b.Drain();
  net.RunFor(Duration::Millis(500));
  o.data_ok = !a.received_data.empty() && a.received_data.back() == "pong" && !b.received_data.empty() &&
              b.received_data.back() == "ping";
  return o;
}

bool IsEim(const NatKind& k) {
  return !k.config || k.config->mapping == NatMapping::kEndpointIndependent;
}
bool IsApdf(const NatKind& k) {
  return k.config && k.config->filtering == NatFiltering::kAddressAndPortDependent;
}

bool IsEif(const NatKind& k) {
  return !k.config || k.config->filtering == NatFiltering::kEndpointIndependent;
}
bool IsAdm(const NatKind& k) {
  return k.config && k.config->mapping == NatMapping::kAddressDependent;
}

// Whether a direct path can exist (RFC 4787 reasoning, spelled out in docs/ice.md):
// - both sides endpoint-independent mapping (EIM): hole punching works whatever
//   the filtering, because each side's checks leave from its srflx address;
// - one side X endpoint-dependent, the other Y EIM: X's checks leave from a new
//   port that Y admits unless Y filters by port (APDF); Y learns it as prflx and
//   answers from its srflx, which X's filter already allows;
// - both endpoint-dependent: the first check reaches the other side's srflx
//   mapping only through endpoint-independent filtering (some side EIF); every
//   answer then leaves from a new mapping, so neither side may filter by port,
//   and the chase of peer-reflexive addresses converges only if some side maps
//   per address (ADM), not per address and port.
bool DirectPossible(const NatKind& a, const NatKind& b) {
  if (IsEim(a) && IsEim(b)) return true;
  if (IsEim(a) != IsEim(b)) return IsEim(a) ? !IsApdf(a) : !IsApdf(b);
  return !IsApdf(a) && !IsApdf(b) && (IsEif(a) || IsEif(b)) && (IsAdm(a) || IsAdm(b));
}

// The candidate type each side's address is seen as on a direct path: its
// own host address when public, its STUN-learned srflx behind an EIM NAT, and
// a peer-reflexive address behind an endpoint-dependent NAT.
ice::CandidateType DirectType(const NatKind& k) {
  if (!k.config) return ice::CandidateType::kHost;
  return IsEim(k) ? ice::CandidateType::kServerReflexive : ice::CandidateType::kPeerReflexive;
}

std::string Header(const std::vector<NatKind>& kinds) {
  std::string h = "| A \\ B |";
  for (auto& k : kinds)
    h += " " + k.name + " |";
  h += "\n|---|";
  for (size_t i = 0; i < kinds.size(); ++i)
    h += "---|";
  return h + "\n";
}

TEST(IceNatMatrix, EveryPairOfNatTypesWithAndWithoutTurn) {
  const auto kinds = AllKinds();
  std::string out;
  for (int with_turn = 0; with_turn < 2; ++with_turn) {
    out += with_turn ? "\nWith a TURN server (UDP) on the public side:\n\n" : "Without TURN (STUN only):\n\n";
    out += Header(kinds);
    for (size_t i = 0; i < kinds.size(); ++i) {
      out += "| " + kinds[i].name + " |";
      for (size_t j = 0; j < kinds.size(); ++j) {
        SCOPED_TRACE(kinds[i].name + " x " + kinds[j].name + (with_turn ? " with TURN" : " without TURN"));
        const Outcome o = RunCell(kinds[i], kinds[j], with_turn, 1000 + i * 31 + j);
        if (DirectPossible(kinds[i], kinds[j])) {
          // A direct pair is selected whether or not a relay is available.
          EXPECT_TRUE(o.connected);
          EXPECT_EQ(o.local, DirectType(kinds[i])) << o.ToString();
          EXPECT_EQ(o.remote, DirectType(kinds[j])) << o.ToString();
        } else if (with_turn) {
          EXPECT_TRUE(o.connected);
          EXPECT_TRUE(o.local == ice::CandidateType::kRelayed || o.remote == ice::CandidateType::kRelayed)
              << o.ToString();
        } else {
          EXPECT_FALSE(o.connected) << o.ToString();
          // Failure is reported promptly: once every check has timed out.
          EXPECT_LE(o.elapsed, ice::AgentConfig{}.check_timeout + Duration::Seconds(1));
        }
        if (o.connected) {
          EXPECT_TRUE(o.data_ok);
        }
        out += " " + o.ToString() + " |";
      }
      out += "\n";
    }
  }
  std::printf("\nICE NAT matrix (cell: selected local/remote candidate type seen by A, the controlling agent)\n\n%s\n",
              out.c_str());
  if (const char* path = std::getenv("PEERLINK_NAT_MATRIX_OUT")) std::ofstream(path) << out;
}

}  // namespace
}  // namespace peerlink::sim
