// Two IceAgentRunners in one process over real UDP on loopback, signaling by
// direct calls (posted to the loop like a real signaling channel would):
// host/host on 127.0.0.1 and ::1, gathering through an embedded STUN server,
// and relay-only through a coturn started by the test (UDP, TCP, TLS).
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/base/rng.h"
#include "src/runtime/ice_agent_runner.h"
#include "src/runtime/stun_server_runner.h"
#include "tests/interop/coturn_fixture.h"
#include "tests/interop/test_util.h"

namespace peerlink::interop {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using runtime::IceAgentRunner;
using runtime::IceAgentRunnerOptions;

struct Side {
  std::unique_ptr<IceAgentRunner> runner;
  std::vector<ice::Candidate> candidates;
  bool gathering_complete = false;
  std::optional<ice::SelectedPairEvent> selected;
  std::optional<std::string> failed;
  std::vector<std::string> data;
};

// Signaling modes: kTrickle forwards each candidate as it appears; kBatch
// holds everything until both sides finished gathering, then delivers
// candidates before credentials, so that no check can arrive from an address
// the receiver has not been told about (no peer-reflexive candidates).
enum class Signaling { kTrickle, kBatch };

class IcePair {
 public:
  IcePair(asio::io_context& io, Rng& rng, IceAgentRunnerOptions a, IceAgentRunnerOptions b, Signaling mode)
      : mode_(mode) {
    a.agent.role = ice::Role::kControlling;
    b.agent.role = ice::Role::kControlled;
    sides_[0].runner = std::make_unique<IceAgentRunner>(io, std::move(a), rng);
    sides_[1].runner = std::make_unique<IceAgentRunner>(io, std::move(b), rng);
    for (int i = 0; i < 2; ++i) {
      Side& me = sides_[i];
      Side& other = sides_[1 - i];
      me.runner->set_on_event([this, &me, &other](const ice::AgentEvent& ev) {
        if (auto* c = std::get_if<ice::LocalCandidateEvent>(&ev)) {
          me.candidates.push_back(c->candidate);
          if (mode_ == Signaling::kTrickle) {
            other.runner->Post([cand = c->candidate](ice::Agent& agent, Instant now) {
              EXPECT_TRUE(agent.AddRemoteCandidate(now, cand)) << cand.ToString();
            });
          }
        } else if (auto* g = std::get_if<ice::GatheringStateEvent>(&ev)) {
          if (g->state != ice::GatheringState::kComplete) return;
          me.gathering_complete = true;
          if (mode_ == Signaling::kTrickle) {
            other.runner->Post([](ice::Agent& agent, Instant now) { agent.SetRemoteEndOfCandidates(now); });
          } else if (sides_[0].gathering_complete && sides_[1].gathering_complete) {
            DeliverBatch();
          }
        } else if (auto* s = std::get_if<ice::StateEvent>(&ev)) {
          if (s->state == ice::State::kFailed) me.failed = s->reason;
        } else if (auto* p = std::get_if<ice::SelectedPairEvent>(&ev)) {
          me.selected = *p;
        }
      });
      me.runner->set_on_application_data([&me](ByteView d) { me.data.emplace_back(AsString(d)); });
    }
  }

  void Start() {
    for (auto& s : sides_) {
      std::string error;
      ASSERT_TRUE(s.runner->Start(&error)) << error;
    }
    if (mode_ == Signaling::kTrickle) ExchangeCredentials();
  }

  bool Connected() const { return sides_[0].selected && sides_[1].selected; }
  bool Failed() const { return sides_[0].failed || sides_[1].failed; }
  std::string Why() const {
    std::string out;
    for (const auto& s : sides_)
      out += "[" + std::string(ice::ToString(s.runner->agent().state())) + ": " + s.failed.value_or("") + "] ";
    return out;
  }
  Side& operator[](int i) { return sides_[i]; }

 private:
  void ExchangeCredentials() {
    for (int i = 0; i < 2; ++i) {
      const ice::Credentials creds = sides_[1 - i].runner->agent().local_credentials();
      sides_[i].runner->Post([creds](ice::Agent& agent, Instant now) { agent.SetRemoteCredentials(now, creds); });
    }
  }
  void DeliverBatch() {
    for (int i = 0; i < 2; ++i) {
      for (const auto& cand : sides_[1 - i].candidates) {
        sides_[i].runner->Post([cand](ice::Agent& agent, Instant now) {
          EXPECT_TRUE(agent.AddRemoteCandidate(now, cand)) << cand.ToString();
        });
      }
      sides_[i].runner->Post([](ice::Agent& agent, Instant now) { agent.SetRemoteEndOfCandidates(now); });
    }
    ExchangeCredentials();
  }

  Signaling mode_;
  Side sides_[2];
};

// Sends `text` from one side until the other has it (bounded: 50 x 100 ms).
bool Deliver(asio::io_context& io, Side& from, Side& to, const std::string& text) {
  for (int i = 0; i < 50; ++i) {
    const ice::SendResult r = from.runner->SendData(AsBytes(text));
    EXPECT_EQ(r, ice::SendResult::kOk);
    if (RunUntil(
            io, [&] { return std::find(to.data.begin(), to.data.end(), text) != to.data.end(); }, 100ms))
      return true;
  }
  return false;
}

IceAgentRunnerOptions Bound(std::vector<IpAddress> ips) {
  IceAgentRunnerOptions o;
  o.bind_addresses = std::move(ips);
  return o;
}

TEST(IceLoopbackTest, ConnectsHostToHostOverIpv4LoopbackAndCarriesDataBothWays) {
  asio::io_context io;
  CryptoRng rng;
  const IpAddress lo = IpAddress::Loopback(IpFamily::kV4);
  IcePair pair(io, rng, Bound({lo}), Bound({lo}), Signaling::kBatch);
  pair.Start();
  ASSERT_TRUE(RunUntil(io, [&] { return pair.Connected() || pair.Failed(); })) << pair.Why();
  ASSERT_TRUE(pair.Connected()) << pair.Why();
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(pair[i].selected->local.type, ice::CandidateType::kHost);
    EXPECT_EQ(pair[i].selected->remote.type, ice::CandidateType::kHost);
    EXPECT_EQ(pair[i].selected->local.address, pair[i].runner->local_addresses()[0]);
    EXPECT_EQ(pair[i].selected->remote.address, pair[1 - i].runner->local_addresses()[0]);
  }
  EXPECT_TRUE(Deliver(io, pair[0], pair[1], "controlling to controlled"));
  EXPECT_TRUE(Deliver(io, pair[1], pair[0], "controlled to controlling"));
  const auto stats = pair[0].runner->GetStats();
  ASSERT_TRUE(stats.selected_index);
  EXPECT_TRUE(stats.pairs[*stats.selected_index].rtt.has_value());
}

TEST(IceLoopbackTest, ConnectsHostToHostOverIpv6Loopback) {
  asio::io_context io;
  CryptoRng rng;
  const IpAddress lo6 = IpAddress::Loopback(IpFamily::kV6);
  IcePair pair(io, rng, Bound({lo6}), Bound({lo6}), Signaling::kBatch);
  pair.Start();
  ASSERT_TRUE(RunUntil(io, [&] { return pair.Connected() || pair.Failed(); })) << pair.Why();
  ASSERT_TRUE(pair.Connected()) << pair.Why();
  EXPECT_TRUE(pair[0].selected->local.address.ip().is_v6());
  EXPECT_EQ(pair[0].selected->remote.type, ice::CandidateType::kHost);
  EXPECT_TRUE(Deliver(io, pair[0], pair[1], "over ::1"));
  EXPECT_TRUE(Deliver(io, pair[1], pair[0], "back over ::1"));
}

TEST(IceLoopbackTest, GathersThroughAnEmbeddedStunServerAndConnectsWithTrickle) {
  asio::io_context io;
  CryptoRng rng;
  runtime::StunServerRunner stun(io, "ice-loopback-test");
  ASSERT_FALSE(stun.Listen(SocketAddress(IpAddress::Loopback(IpFamily::kV4), 0)));
  IceAgentRunnerOptions a = Bound({IpAddress::Loopback(IpFamily::kV4)});
  a.agent.stun_servers = stun.local_addresses();
  IceAgentRunnerOptions b = a;
  IcePair pair(io, rng, a, b, Signaling::kTrickle);
  pair.Start();
  ASSERT_TRUE(RunUntil(io, [&] {
    return (pair.Connected() && pair[0].gathering_complete && pair[1].gathering_complete) || pair.Failed();
  })) << pair.Why();
  ASSERT_TRUE(pair.Connected()) << pair.Why();
  // Both agents asked the server for their mapping. On loopback the mapped
  // address equals the host address, so the agent drops the redundant srflx
  // candidate (RFC 8445 section 5.1.3); gathering still completes.
  EXPECT_GE(stun.stats().requests, 2u);
  EXPECT_GE(stun.stats().responses, 2u);
  EXPECT_TRUE(Deliver(io, pair[0], pair[1], "trickled"));
  EXPECT_TRUE(Deliver(io, pair[1], pair[0], "and back"));
}

class IceRelayTest : public ::testing::TestWithParam<TransportProtocol> {
 protected:
  static Coturn* Server(std::string* error) {
    static std::string start_error;
    static std::unique_ptr<Coturn> server = Coturn::Start(CoturnConfig{}, &start_error);
    *error = start_error;
    return server.get();
  }
};

TEST_P(IceRelayTest, RelayOnlyAgentsSelectARelayToRelayPair) {
  std::string error;
  Coturn* coturn = Server(&error);
  ASSERT_NE(coturn, nullptr) << "coturn did not start:\n" << error;
  asio::io_context io;
  CryptoRng rng;
  IceAgentRunnerOptions a = Bound({IpAddress::Loopback(IpFamily::kV4)});
  a.agent.policy = ice::TransportPolicy::kRelay;
  ice::TurnServerConfig turn;
  turn.address = coturn->address(GetParam());
  turn.transport = GetParam();
  turn.username = Coturn::kUser;
  turn.password = Coturn::kPassword;
  a.agent.turn_servers = {turn};
  a.tls.ca_file = coturn->cert_file();
  a.tls_server_names[coturn->tls()] = Coturn::kTlsName;
  IceAgentRunnerOptions b = a;
  IcePair pair(io, rng, a, b, Signaling::kTrickle);
  pair.Start();
  ASSERT_TRUE(RunUntil(
      io, [&] { return pair.Connected() || pair.Failed(); }, 15s))
      << pair.Why() << "\n---- coturn log\n"
      << coturn->ReadLog();
  ASSERT_TRUE(pair.Connected()) << pair.Why();
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(pair[i].selected->local.type, ice::CandidateType::kRelayed);
    EXPECT_EQ(pair[i].selected->remote.type, ice::CandidateType::kRelayed);
    for (const auto& c : pair[i].candidates)
      EXPECT_EQ(c.type, ice::CandidateType::kRelayed) << "relay-only policy leaked " << c.ToString();
  }
  EXPECT_TRUE(Deliver(io, pair[0], pair[1], "through the relay"));
  EXPECT_TRUE(Deliver(io, pair[1], pair[0], "and back through the relay"));
  pair[0].runner->Close();
  pair[1].runner->Close();
  RunFor(io, 200ms);  // let the deallocations go out
}

INSTANTIATE_TEST_SUITE_P(Transports,
                         IceRelayTest,
                         ::testing::Values(TransportProtocol::kUdp, TransportProtocol::kTcp, TransportProtocol::kTls),
                         [](const auto& info) { return std::string(ToString(info.param)); });

}  // namespace
}  // namespace peerlink::interop
