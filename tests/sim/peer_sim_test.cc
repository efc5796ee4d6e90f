// Two peer::Connections through the simulated network, each behind its own NAT, with a STUN
// server on the simulated internet and trickle signaling with 20 ms of delay: ICE finds the
// srflx/prflx path through both NATs, DTLS handshakes, SCTP associates and a reliable data
// channel moves 4 MiB, checked by SHA-256.
//
// Virtual time and DTLS: OpenSSL's DTLS retransmission timer reads the real clock, so a lost
// handshake flight would be resent only after real time passed. These links are loss-free,
// so no flight is ever lost and the DTLS timer never has to fire; the DTLS Deadline (virtual
// now + OpenSSL's remaining real time) is honoured but finds nothing expired. Loss on the DTLS
// path is tested on real sockets (tests/netns/), as src/dtls/README.md says.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "src/base/check.h"
#include "src/base/crypto.h"
#include "src/peer/connection.h"
#include "tests/sim/ice_sim.h"
#include "tests/sim/network.h"

namespace peerlink::sim {
namespace {

using peer::Connection;
using peer::ConnectionState;

std::shared_ptr<const dtls::Certificate> Cert(uint64_t seed) {
  SeededRng rng(seed);
  auto c = dtls::Certificate::Generate(rng);
  PL_CHECK(c.ok());
  return *c;
}

// One Connection on one simulated host socket, drained after every input, its Deadline
// armed as a simulator timer.
class SimPeer {
 public:
  SimPeer(Network& net, HostId host, const peer::Options& options, uint64_t seed) : net_(net), rng_(seed) {
    conn_ = std::make_unique<Connection>(options, rng_, net.now());
    bound_ = net.Bind(host, 5000, [this](Instant now, const SocketAddress& from, const SocketAddress& to, ByteView p) {
      conn_->HandleDatagram(now, to, from, p);
      Drain();
    });
  }
  Connection& conn() { return *conn_; }
  void Start() {
    conn_->AddLocalAddress(net_.now(), bound_);
    conn_->StartGathering(net_.now());
    Drain();
  }
  void Drain() {
    const Instant now = net_.now();
    for (int guard = 0; guard < 1'000'000; ++guard) {
      peer::Output out = conn_->PollOutput(now);
      if (auto* t = std::get_if<peer::Transmit>(&out)) {
        PL_CHECK(t->transport == TransportProtocol::kUdp);
        net_.Send(t->local, t->remote, t->bytes);
      } else if (auto* e = std::get_if<peer::Event>(&out)) {
        if (on_event) on_event(*e);
      } else {
        PL_CHECK(conn_->IsConsistent());
        ArmTimer(std::get<peer::Deadline>(out).at);
        return;
      }
    }
    PL_CHECK(false && "connection did not drain");
  }

  std::function<void(peer::Event&)> on_event;

 private:
  void ArmTimer(Instant at) {
    if (timer_ && at == timer_at_) return;
    if (timer_) net_.Cancel(*timer_);
    timer_.reset();
    timer_at_ = at;
    if (at == Instant::Max()) return;
    timer_ = net_.ScheduleAt(std::max(at, net_.now()), [this](Instant now) {
      timer_.reset();
      timer_at_ = Instant::Max();
      conn_->HandleTimeout(now);
      Drain();
    });
  }

  Network& net_;
  SeededRng rng_;
  std::unique_ptr<Connection> conn_;
  SocketAddress bound_;
  std::optional<TimerId> timer_;
  Instant timer_at_ = Instant::Max();
};

struct NatPair {
  const char* name;
  NatConfig a, b;
};

class PeerSim : public ::testing::TestWithParam<NatPair> {};

TEST_P(PeerSim, FourMegabytesThroughTwoNatsWithStun) {
  Network net(42);
  LinkConditions wan;
  wan.latency = Duration::Millis(10);
  LinkConditions lan;
  lan.latency = Duration::Millis(1);
  const HostId stun_host = net.AddPublicHost(*IpAddress::Parse("203.0.113.10"), wan);
  SimStunServer stun(net, stun_host);
  const NatId nat_a = net.AddNat(*IpAddress::Parse("198.51.100.1"), GetParam().a, wan);
  const NatId nat_b = net.AddNat(*IpAddress::Parse("198.51.100.2"), GetParam().b, wan);
  const HostId ha = net.AddPrivateHost(nat_a, *IpAddress::Parse("10.0.1.2"), lan);
  const HostId hb = net.AddPrivateHost(nat_b, *IpAddress::Parse("10.0.2.2"), lan);

  peer::Options oa;
  oa.certificate = Cert(1);
  oa.ice.role = ice::Role::kControlling;
  oa.ice.stun_servers = {stun.address()};
  peer::Options ob = oa;
  ob.certificate = Cert(2);
  ob.ice.role = ice::Role::kControlled;
  SimPeer a(net, ha, oa, 11);
  SimPeer b(net, hb, ob, 12);

  // Trickle signaling, 20 ms each way; the remote parameters as an SDP exchange would give
  // them (A offers actpass, B answers active: B is the DTLS client).
  std::vector<ConnectionState> states_a, states_b;
  std::string reason_a, reason_b;
  std::optional<peer::SelectedCandidatePairChange> pair_a;
  auto wire = [&net](SimPeer& from, SimPeer& to, std::vector<ConnectionState>& states, std::string& reason,
                     std::function<void(peer::Event&)> more) {
    from.on_event = [&net, &to, &states, &reason, more](peer::Event& e) {
      if (auto* c = std::get_if<peer::IceCandidate>(&e)) {
        ice::Candidate cand = c->candidate;
        net.ScheduleAfter(Duration::Millis(20), [&to, cand](Instant now) {
          to.conn().AddRemoteCandidate(now, cand);
          to.Drain();
        });
      } else if (auto* g = std::get_if<peer::IceGatheringStateChange>(&e)) {
        if (g->state == ice::GatheringState::kComplete) {
          net.ScheduleAfter(Duration::Millis(20), [&to](Instant now) {
            to.conn().EndOfRemoteCandidates(now);
            to.Drain();
          });
        }
      } else if (auto* s = std::get_if<peer::ConnectionStateChange>(&e)) {
        states.push_back(s->state);
        if (!s->reason.empty()) reason = s->reason;
      }
      if (more) more(e);
    };
  };

  // B receives the channel and digests everything.
  crypto::Sha256Digest want{};
  std::vector<uint8_t> received_all;
  size_t received_messages = 0;
  bool remote_channel = false;
  wire(a, b, states_a, reason_a, [&](peer::Event& e) {
    if (auto* p = std::get_if<peer::SelectedCandidatePairChange>(&e)) pair_a = *p;
  });
  wire(b, a, states_b, reason_b, [&](peer::Event& e) {
    if (std::get_if<datachannel::IncomingChannel>(&e)) remote_channel = true;
    if (auto* m = std::get_if<datachannel::Message>(&e)) {
      received_all.insert(received_all.end(), m->payload.begin(), m->payload.end());
      ++received_messages;
    }
  });

  peer::RemoteParams for_a;
  for_a.ice = b.conn().local_ice_credentials();
  for_a.fingerprints = {b.conn().local_fingerprint()};
  for_a.dtls_role = dtls::Role::kServer;
  for_a.max_message_size = ob.max_message_size;
  peer::RemoteParams for_b;
  for_b.ice = a.conn().local_ice_credentials();
  for_b.fingerprints = {a.conn().local_fingerprint()};
  for_b.dtls_role = dtls::Role::kClient;
  for_b.max_message_size = oa.max_message_size;
  ASSERT_EQ(a.conn().SetRemoteParameters(net.now(), for_a), peer::RemoteParamsStatus::kOk);
  ASSERT_EQ(b.conn().SetRemoteParameters(net.now(), for_b), peer::RemoteParamsStatus::kOk);
  auto ch = a.conn().CreateDataChannel(net.now(), "bulk");
  ASSERT_TRUE(ch.ok());
  a.Start();
  b.Start();

  const Instant start = net.now();
  ASSERT_TRUE(net.RunUntilCondition(
      [&] {
        return a.conn().FindChannel(*ch) &&
               a.conn().FindChannel(*ch)->ready_state() == datachannel::ReadyState::kOpen && remote_channel;
      },
      net.now() + Duration::Seconds(20)))
      << reason_a << " / " << reason_b;
  EXPECT_EQ(a.conn().connection_state(), ConnectionState::kConnected);
  EXPECT_EQ(b.conn().connection_state(), ConnectionState::kConnected);
  ASSERT_TRUE(pair_a.has_value());
  // Both behind NATs: the path uses NAT-mapped addresses, never a private host address.
  EXPECT_NE(pair_a->remote.type, ice::CandidateType::kHost);
  EXPECT_EQ(pair_a->remote.address.ip(), *IpAddress::Parse("198.51.100.2"));
  const Duration connect_time = net.now() - start;
  EXPECT_LT(connect_time, Duration::Seconds(5));

  // 4 MiB as 64 KiB messages.
  constexpr size_t kTotal = 4 * 1024 * 1024, kChunk = 64 * 1024;
  std::vector<uint8_t> data(kTotal);
  SeededRng fill(7);
  fill.Fill(data);
  want = crypto::Sha256(data);
  for (size_t off = 0; off < kTotal; off += kChunk) {
    ASSERT_EQ(a.conn().Send(net.now(), *ch, ByteView(data).subspan(off, kChunk), true), datachannel::SendStatus::kOk);
  }
  a.Drain();
  const Instant t0 = net.now();
  ASSERT_TRUE(net.RunUntilCondition([&] { return received_all.size() >= kTotal; }, net.now() + Duration::Seconds(60)))
      << received_all.size();
  EXPECT_EQ(received_messages, kTotal / kChunk);
  EXPECT_TRUE(crypto::Sha256(received_all) == want);
  const double seconds = (net.now() - t0).seconds_f();
  const peer::Stats st = a.conn().GetStats();
  std::printf(
      "peer_sim %s: connected in %.0f ms (virtual), 4 MiB in %.3f s virtual, pair %s -> %s (%s/%s), cwnd %llu\n",
      GetParam().name, connect_time.millis_f(), seconds, st.selectedCandidatePair->localAddress.c_str(),
      st.selectedCandidatePair->remoteAddress.c_str(), st.selectedCandidatePair->localCandidateType.c_str(),
      st.selectedCandidatePair->remoteCandidateType.c_str(), static_cast<unsigned long long>(st.sctp.congestionWindow));
  ASSERT_EQ(st.dataChannels.size(), 1u);
  EXPECT_EQ(st.dataChannels[0].bytesSent, kTotal);
  EXPECT_EQ(b.conn().GetStats().dataChannels.at(0).bytesReceived, kTotal);
  EXPECT_EQ(st.sctp.retransmissions, 0u);  // loss-free links

  // Graceful close from A reaches closed on both sides.
  a.conn().Close(net.now());
  a.Drain();
  ASSERT_TRUE(net.RunUntilCondition(
      [&] {
        return a.conn().connection_state() == ConnectionState::kClosed &&
               b.conn().connection_state() == ConnectionState::kClosed;
      },
      net.now() + Duration::Seconds(5)));
  EXPECT_EQ(states_a.back(), ConnectionState::kClosed);
  EXPECT_EQ(states_b.back(), ConnectionState::kClosed);
}

// Both port-restricted cone (srflx <-> srflx); a symmetric NAT against a full cone (the
// symmetric side is reached at a peer-reflexive address).
INSTANTIATE_TEST_SUITE_P(Nats,
                         PeerSim,
                         ::testing::Values(NatPair{"port-restricted x port-restricted", PortRestrictedConeNat(),
                                                   PortRestrictedConeNat()},
                                           NatPair{"symmetric x full-cone", SymmetricNat(), FullConeNat()}),
                         [](const ::testing::TestParamInfo<NatPair>& i) {
                           return i.index == 0 ? std::string("PortRestrictedBoth") : std::string("SymmetricVsFullCone");
                         });

}  // namespace
}  // namespace peerlink::sim
