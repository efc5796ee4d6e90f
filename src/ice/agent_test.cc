#include "src/ice/agent.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "src/stun/credentials.h"
#include "src/stun/message.h"

namespace peerlink::ice {
namespace {

// Two (or more) agents exchanging datagrams by hand in virtual time, with
// optional automatic trickle signaling between agent 0 and agent 1.
class Harness {
 public:
  struct Peer {
    std::unique_ptr<Agent> agent;
    std::vector<SocketAddress> addrs;
    std::vector<State> states;
    std::vector<Candidate> local_candidates;
    std::vector<std::string> app_data;
    bool gathering_complete = false;
    Instant deadline = Instant::Max();
    std::optional<SelectedPairEvent> selected;
  };

  explicit Harness(uint64_t seed = 1) : rng_(seed) {}

  int AddPeer(AgentConfig cfg, std::vector<std::string> addrs) {
    Peer p;
    p.agent = std::make_unique<Agent>(cfg, rng_, now_);
    for (auto& a : addrs)
      p.addrs.push_back(*SocketAddress::Parse(a));
    peers_.push_back(std::move(p));
    const int idx = static_cast<int>(peers_.size()) - 1;
    for (auto& a : peers_[idx].addrs)
      owner_[a] = idx;
    return idx;
  }

  void Start(bool signal_credentials = true) {
    for (auto& p : peers_) {
      for (auto& a : p.addrs)
        p.agent->AddLocalAddress(now_, a);
      p.agent->StartGathering(now_);
    }
    if (signal_credentials) ExchangeCredentials();
    for (size_t i = 0; i < peers_.size(); ++i)
      Drain(static_cast<int>(i));
  }

  void ExchangeCredentials() {
    peers_[0].agent->SetRemoteCredentials(now_, peers_[1].agent->local_credentials());
    peers_[1].agent->SetRemoteCredentials(now_, peers_[0].agent->local_credentials());
  }

  void Drain(int i) {
    Peer& p = peers_[i];
    for (int guard = 0; guard < 100000; ++guard) {
      Output out = p.agent->PollOutput(now_);
      if (auto* t = std::get_if<Transmit>(&out)) {
        ++transmits_;
        if (drop_ && drop_(t->source, t->destination, t->data)) continue;
        auto it = owner_.find(t->destination);
        if (it == owner_.end()) continue;  // black hole
        inflight_.push_back({now_ + latency_, it->second, t->source, t->destination, std::move(t->data)});
      } else if (auto* e = std::get_if<AgentEvent>(&out)) {
        OnEvent(i, std::move(*e));
      } else {
        p.deadline = std::get<Deadline>(out).at;
        return;
      }
    }
    FAIL() << "drain did not converge";
  }

  void OnEvent(int i, AgentEvent e) {
    Peer& p = peers_[i];
    const int other = i == 0 ? 1 : 0;
    if (auto* c = std::get_if<LocalCandidateEvent>(&e)) {
      p.local_candidates.push_back(c->candidate);
      if (auto_signal_ && peers_.size() > 1) {
        peers_[other].agent->AddRemoteCandidate(now_, c->candidate);
        pending_drain_.insert(other);
      }
    } else if (auto* g = std::get_if<GatheringStateEvent>(&e)) {
      if (g->state == GatheringState::kComplete) {
        p.gathering_complete = true;
        if (auto_signal_ && signal_eoc_ && peers_.size() > 1) {
          peers_[other].agent->SetRemoteEndOfCandidates(now_);
          pending_drain_.insert(other);
        }
      }
    } else if (auto* s = std::get_if<StateEvent>(&e)) {
      p.states.push_back(s->state);
      last_reason_[i] = s->reason;
    } else if (auto* sp = std::get_if<SelectedPairEvent>(&e)) {
      p.selected = *sp;
    } else if (auto* d = std::get_if<ApplicationDataEvent>(&e)) {
      p.app_data.emplace_back(d->data.begin(), d->data.end());
    }
  }

  // Advances virtual time event by event until `pred` holds or `limit` passes.
  bool RunUntil(const std::function<bool()>& pred, Duration limit) {
    const Instant end = now_ + limit;
    for (int step = 0; step < 200000; ++step) {
      FlushPendingDrains();
      if (pred()) return true;
      Instant next = end;
      for (auto& f : inflight_)
        next = std::min(next, f.at);
      for (auto& p : peers_)
        next = std::min(next, p.deadline);
      if (next > end) {
        now_ = end;
        return pred();
      }
      now_ = std::max(now_, next);
      // Deliver everything due.
      std::vector<InFlight> due;
      for (size_t k = 0; k < inflight_.size();) {
        if (inflight_[k].at <= now_) {
          due.push_back(std::move(inflight_[k]));
          inflight_.erase(inflight_.begin() + static_cast<ptrdiff_t>(k));
        } else {
          ++k;
        }
      }
      for (auto& f : due) {
        Peer& p = peers_[f.to];
        Received r = p.agent->HandleDatagram(now_, f.dst, f.src, f.data);
        if (r == Received::kApplicationData) p.app_data.emplace_back(f.data.begin(), f.data.end());
        EXPECT_TRUE(p.agent->IsConsistent());
        Drain(f.to);
      }
      for (size_t i = 0; i < peers_.size(); ++i) {
        if (peers_[i].deadline <= now_) {
          peers_[i].agent->HandleTimeout(now_);
          EXPECT_TRUE(peers_[i].agent->IsConsistent());
          Drain(static_cast<int>(i));
        }
      }
    }
    return pred();
  }

  void RunFor(Duration d) {
    RunUntil([] { return false; }, d);
  }

  void FlushPendingDrains() {
    for (int guard = 0; guard < 100 && !pending_drain_.empty(); ++guard) {
      auto s = pending_drain_;
      pending_drain_.clear();
      for (int i : s)
        Drain(i);
    }
  }

  bool Connected(int i) const {
    State s = peers_[i].agent->state();
    return s == State::kConnected || s == State::kCompleted;
  }
  bool BothConnected() const { return Connected(0) && Connected(1); }

  Peer& peer(int i) { return peers_[i]; }
  Instant now() const { return now_; }
  void set_drop(std::function<bool(const SocketAddress&, const SocketAddress&, const std::vector<uint8_t>&)> d) {
    drop_ = std::move(d);
  }
  void set_auto_signal(bool v) { auto_signal_ = v; }
  void set_signal_eoc(bool v) { signal_eoc_ = v; }
  void set_latency(Duration d) { latency_ = d; }
  const std::string& reason(int i) { return last_reason_[i]; }

 private:
  struct InFlight {
    Instant at;
    int to;
    SocketAddress src, dst;
    std::vector<uint8_t> data;
  };
  SeededRng rng_;
  Instant now_ = Instant::FromNanos(1'000'000'000);
  std::vector<Peer> peers_;
  std::map<SocketAddress, int> owner_;
  std::vector<InFlight> inflight_;
  std::set<int> pending_drain_;
  std::map<int, std::string> last_reason_;
  std::function<bool(const SocketAddress&, const SocketAddress&, const std::vector<uint8_t>&)> drop_;
  Duration latency_ = Duration::Millis(1);
  bool auto_signal_ = true;
  bool signal_eoc_ = true;
  uint64_t transmits_ = 0;
};

AgentConfig Controlling() {
  AgentConfig c;
  c.role = Role::kControlling;
  return c;
}
AgentConfig Controlled() {
  AgentConfig c;
  c.role = Role::kControlled;
  return c;
}

TEST(IceAgent, HostCandidatesConnectAndSelectHostPair) {
  Harness h;
  h.AddPeer(Controlling(), {"192.0.2.1:1000"});
  h.AddPeer(Controlled(), {"192.0.2.2:2000"});
  h.Start();
  ASSERT_TRUE(h.RunUntil([&] { return h.BothConnected(); }, Duration::Seconds(5)));
  ASSERT_TRUE(h.peer(0).selected);
  ASSERT_TRUE(h.peer(1).selected);
  EXPECT_EQ(h.peer(0).selected->local.type, CandidateType::kHost);
  EXPECT_EQ(h.peer(0).selected->remote.address, *SocketAddress::Parse("192.0.2.2:2000"));
  EXPECT_EQ(h.peer(1).selected->remote.address, *SocketAddress::Parse("192.0.2.1:1000"));
  // Connected within a few round trips (1 ms one-way latency).
  EXPECT_LT(h.now() - Instant::FromNanos(1'000'000'000), Duration::Millis(20));
  h.RunFor(Duration::Millis(100));
  EXPECT_EQ(h.peer(0).agent->state(), State::kCompleted);
  EXPECT_EQ(h.peer(1).agent->state(), State::kCompleted);
  auto stats = h.peer(0).agent->GetStats();
  ASSERT_TRUE(stats.selected_index);
  const PairStats& ps = stats.pairs[*stats.selected_index];
  ASSERT_TRUE(ps.rtt);
  EXPECT_EQ(ps.rtt->millis(), 2);
  EXPECT_GE(ps.requests_sent, 1u);
  EXPECT_GE(ps.responses_received, 1u);
}

TEST(IceAgent, ApplicationDataFlowsBothWaysOnSelectedPair) {
  Harness h;
  h.AddPeer(Controlling(), {"192.0.2.1:1000"});
  h.AddPeer(Controlled(), {"192.0.2.2:2000"});
  h.Start();
  ASSERT_TRUE(h.RunUntil([&] { return h.BothConnected(); }, Duration::Seconds(5)));
  const std::string a = "hello from a", b = "hello from b";
  ASSERT_EQ(h.peer(0).agent->SendData(h.now(), AsBytes(a)), SendResult::kOk);
  ASSERT_EQ(h.peer(1).agent->SendData(h.now(), AsBytes(b)), SendResult::kOk);
  h.Drain(0);
  h.Drain(1);
  h.RunFor(Duration::Millis(10));
  EXPECT_EQ(h.peer(1).app_data, std::vector<std::string>{a});
  EXPECT_EQ(h.peer(0).app_data, std::vector<std::string>{b});
  auto stats = h.peer(0).agent->GetStats();
  EXPECT_EQ(stats.pairs[*stats.selected_index].bytes_sent, a.size());
  EXPECT_EQ(stats.pairs[*stats.selected_index].bytes_received, b.size());
}

TEST(IceAgent, PrefersIpv6HostPairAndPairsOnlySameFamily) {
  Harness h;
  h.AddPeer(Controlling(), {"192.0.2.1:1000", "[2001:db8::1]:1000"});
  h.AddPeer(Controlled(), {"192.0.2.2:2000", "[2001:db8::2]:2000"});
  h.Start();
  ASSERT_TRUE(h.RunUntil([&] { return h.BothConnected(); }, Duration::Seconds(5)));
  h.RunFor(Duration::Millis(200));
  EXPECT_TRUE(h.peer(0).selected->remote.address.ip().is_v6());
  auto stats = h.peer(0).agent->GetStats();
  EXPECT_EQ(stats.pairs.size(), 2u);
  for (auto& p : stats.pairs)
    EXPECT_EQ(p.local.address.family(), p.remote.address.family());
}

TEST(IceAgent, RoleConflictBothControllingResolvesByTieBreaker) {
  Harness h(7);
  h.AddPeer(Controlling(), {"192.0.2.1:1000"});
  h.AddPeer(Controlling(), {"192.0.2.2:2000"});
  h.Start();
  ASSERT_TRUE(h.RunUntil([&] { return h.BothConnected(); }, Duration::Seconds(5)));
  EXPECT_NE(h.peer(0).agent->role(), h.peer(1).agent->role());
}

TEST(IceAgent, RoleConflictBothControlledResolvesByTieBreaker) {
  Harness h(8);
  h.AddPeer(Controlled(), {"192.0.2.1:1000"});
  h.AddPeer(Controlled(), {"192.0.2.2:2000"});
  h.Start();
  ASSERT_TRUE(h.RunUntil([&] { return h.BothConnected(); }, Duration::Seconds(5)));
  EXPECT_NE(h.peer(0).agent->role(), h.peer(1).agent->role());
}

TEST(IceAgent, PeerReflexiveRemoteLearnedFromUnsignaledPeer) {
  Harness h;
  h.set_auto_signal(false);
  h.AddPeer(Controlling(), {"192.0.2.1:1000"});
  h.AddPeer(Controlled(), {"192.0.2.2:2000"});
  h.Start();
  // Only the controlling side's candidate reaches the controlled side; the
  // controlled side's triggered checks teach the controlling side a prflx.
  for (auto& c : h.peer(0).local_candidates)
    h.peer(1).agent->AddRemoteCandidate(h.now(), c);
  h.Drain(1);
  ASSERT_TRUE(h.RunUntil([&] { return h.BothConnected(); }, Duration::Seconds(5)));
  EXPECT_EQ(h.peer(0).selected->remote.type, CandidateType::kPeerReflexive);
  EXPECT_EQ(h.peer(0).selected->remote.address, *SocketAddress::Parse("192.0.2.2:2000"));
}

// A browser whose host candidates are all mDNS names (unusable until resolved) may send
// end-of-candidates before its first check. Its checks still reach our candidates, so we must
// not fail at once but wait for the peer-reflexive pair they create.
TEST(IceAgent, EndOfCandidatesWithoutUsableOnesWaitsForPeerReflexiveChecks) {
  Harness h;
  h.set_auto_signal(false);
  h.AddPeer(Controlled(), {"192.0.2.1:1000"});
  h.AddPeer(Controlling(), {"192.0.2.2:2000"});
  h.Start();
  h.RunFor(Duration::Millis(50));  // gathering completes on both sides
  h.peer(0).agent->SetRemoteEndOfCandidates(h.now());
  h.Drain(0);
  h.RunFor(Duration::Millis(500));
  EXPECT_NE(h.peer(0).agent->state(), State::kFailed) << h.reason(0);
  for (auto& c : h.peer(0).local_candidates)
    h.peer(1).agent->AddRemoteCandidate(h.now(), c);
  h.Drain(1);
  ASSERT_TRUE(h.RunUntil([&] { return h.BothConnected(); }, Duration::Seconds(5)));
  EXPECT_EQ(h.peer(0).selected->remote.type, CandidateType::kPeerReflexive);
}

TEST(IceAgent, EndOfCandidatesWithoutUsableOnesFailsAfterTrickleWait) {
  Harness h;
  h.set_auto_signal(false);
  AgentConfig a = Controlled();
  h.AddPeer(a, {"192.0.2.1:1000"});
  h.AddPeer(Controlling(), {"192.0.2.2:2000"});
  h.Start();
  h.RunFor(Duration::Millis(50));
  const Instant eoc_at = h.now();
  h.peer(0).agent->SetRemoteEndOfCandidates(h.now());
  h.Drain(0);
  ASSERT_TRUE(h.RunUntil([&] { return h.peer(0).agent->state() == State::kFailed; }, Duration::Seconds(30)));
  EXPECT_GE(h.now() - eoc_at, a.trickle_wait - Duration::Millis(10));
  EXPECT_LE(h.now() - eoc_at, a.trickle_wait + Duration::Millis(10));
  EXPECT_EQ(h.reason(0), "no usable candidate pairs");
}

TEST(IceAgent, ChecksBeforeRemoteCredentialsStillConnect) {
  Harness h;
  h.AddPeer(Controlling(), {"192.0.2.1:1000"});
  h.AddPeer(Controlled(), {"192.0.2.2:2000"});
  h.Start(/*signal_credentials=*/false);
  // Only the controlled side learns credentials first (its answer reaches the
  // offerer later): its checks arrive before the offerer can authenticate responses.
  h.peer(1).agent->SetRemoteCredentials(h.now(), h.peer(0).agent->local_credentials());
  h.Drain(1);
  h.RunFor(Duration::Millis(30));
  h.peer(0).agent->SetRemoteCredentials(h.now(), h.peer(1).agent->local_credentials());
  h.Drain(0);
  ASSERT_TRUE(h.RunUntil([&] { return h.BothConnected(); }, Duration::Seconds(5)));
}

TEST(IceAgent, FailsPromptlyWhenEveryPairFails) {
  Harness h;
  AgentConfig a = Controlling();
  AgentConfig b = Controlled();
  h.AddPeer(a, {"192.0.2.1:1000"});
  h.AddPeer(b, {"192.0.2.2:2000"});
  h.set_drop([](auto&, auto&, auto&) { return true; });  // nothing gets through
  h.Start();
  const Instant start = h.now();
  ASSERT_TRUE(h.RunUntil([&] { return h.peer(0).agent->state() == State::kFailed; }, Duration::Seconds(30)));
  // The one check times out after check_timeout (5 s); failure follows at once.
  EXPECT_LE(h.now() - start, a.check_timeout + Duration::Millis(10));
  EXPECT_NE(h.reason(0).find("candidate pairs failed"), std::string::npos);
  EXPECT_EQ(h.peer(0).agent->SendData(h.now(), AsBytes("x")), SendResult::kConsentLost);
}

TEST(IceAgent, WaitsForTrickleBeforeFailingWithoutEndOfCandidates) {
  Harness h;
  h.set_signal_eoc(false);
  AgentConfig a = Controlling();
  h.AddPeer(a, {"192.0.2.1:1000"});
  h.AddPeer(Controlled(), {"192.0.2.2:2000"});
  h.set_drop([](auto&, auto&, auto&) { return true; });
  h.Start();
  const Instant start = h.now();
  ASSERT_TRUE(h.RunUntil([&] { return h.peer(0).agent->state() == State::kFailed; }, Duration::Seconds(30)));
  EXPECT_GE(h.now() - start, a.check_timeout + a.trickle_wait - Duration::Millis(10));
  EXPECT_LE(h.now() - start, a.check_timeout + a.trickle_wait + Duration::Millis(10));
}

TEST(IceAgent, ConsentLossGoesDisconnectedThenFailedAndStopsTraffic) {
  Harness h;
  AgentConfig a = Controlling();
  a.consent_timeout = Duration::Seconds(10);
  h.AddPeer(a, {"192.0.2.1:1000"});
  h.AddPeer(Controlled(), {"192.0.2.2:2000"});
  h.Start();
  ASSERT_TRUE(h.RunUntil([&] { return h.BothConnected(); }, Duration::Seconds(5)));
  h.RunFor(Duration::Seconds(3));
  EXPECT_TRUE(h.Connected(0)) << "consent checks keep an idle path alive";
  bool cut = true;
  h.set_drop([&](auto&, auto&, auto&) { return cut; });
  const Instant cut_at = h.now();
  ASSERT_TRUE(h.RunUntil([&] { return h.peer(0).agent->state() == State::kDisconnected; }, Duration::Seconds(10)));
  EXPECT_LE(h.now() - cut_at, a.disconnected_timeout + Duration::Millis(5)) << "dead path demoted within 5 s";
  ASSERT_TRUE(h.RunUntil([&] { return h.peer(0).agent->state() == State::kFailed; }, Duration::Seconds(20)));
  EXPECT_NE(h.reason(0).find("consent expired"), std::string::npos);
  EXPECT_EQ(h.peer(0).agent->SendData(h.now(), AsBytes("x")), SendResult::kConsentLost);
}

TEST(IceAgent, DisconnectedRecoversWhenTrafficResumes) {
  Harness h;
  h.AddPeer(Controlling(), {"192.0.2.1:1000"});
  h.AddPeer(Controlled(), {"192.0.2.2:2000"});
  h.Start();
  ASSERT_TRUE(h.RunUntil([&] { return h.BothConnected(); }, Duration::Seconds(5)));
  bool cut = true;
  h.set_drop([&](auto&, auto&, auto&) { return cut; });
  ASSERT_TRUE(h.RunUntil([&] { return h.peer(0).agent->state() == State::kDisconnected; }, Duration::Seconds(10)));
  cut = false;
  ASSERT_TRUE(h.RunUntil([&] { return h.Connected(0); }, Duration::Seconds(10)));
}

TEST(IceAgent, RestartKeepsOldPathUntilNewPairSelected) {
  Harness h;
  h.AddPeer(Controlling(), {"192.0.2.1:1000"});
  h.AddPeer(Controlled(), {"192.0.2.2:2000"});
  h.Start();
  ASSERT_TRUE(h.RunUntil([&] { return h.BothConnected(); }, Duration::Seconds(5)));
  const Credentials old0 = h.peer(0).agent->local_credentials();
  h.set_auto_signal(false);
  h.peer(0).agent->Restart(h.now());
  h.peer(1).agent->Restart(h.now());
  EXPECT_NE(h.peer(0).agent->local_credentials().ufrag, old0.ufrag);
  // Data still flows on the old path before the new generation connects.
  ASSERT_EQ(h.peer(0).agent->SendData(h.now(), AsBytes("during restart")), SendResult::kOk);
  h.Drain(0);
  h.RunFor(Duration::Millis(10));
  ASSERT_EQ(h.peer(1).app_data.size(), 1u);
  // New generation: exchange the new credentials and candidates.
  h.set_auto_signal(true);
  h.ExchangeCredentials();
  for (auto& c : h.peer(0).local_candidates)
    h.peer(1).agent->AddRemoteCandidate(h.now(), c);
  for (auto& c : h.peer(1).local_candidates)
    h.peer(0).agent->AddRemoteCandidate(h.now(), c);
  h.peer(0).selected.reset();
  h.peer(1).selected.reset();
  h.Drain(0);
  h.Drain(1);
  ASSERT_TRUE(h.RunUntil([&] { return h.peer(0).selected && h.peer(1).selected; }, Duration::Seconds(5)));
  EXPECT_TRUE(h.BothConnected());
  ASSERT_EQ(h.peer(1).agent->SendData(h.now(), AsBytes("after restart")), SendResult::kOk);
  h.Drain(1);
  h.RunFor(Duration::Millis(10));
  EXPECT_EQ(h.peer(0).app_data.back(), "after restart");
}

// Hands `request` from `from` to `agent` on `local` and returns the error code of the answer
// (0: a success response, -1: no answer).
int AnswerCode(Agent& agent, Instant now, const SocketAddress& local, const SocketAddress& from, ByteView request) {
  EXPECT_EQ(agent.HandleDatagram(now, local, from, request), Received::kConsumed);
  int code = -1;
  for (int i = 0; i < 20; ++i) {
    Output out = agent.PollOutput(now);
    if (auto* t = std::get_if<Transmit>(&out)) {
      auto m = stun::StunMessage::Parse(t->data);
      if (!m.ok() || t->destination != from || m->cls() == stun::StunClass::kRequest) continue;
      code = m->GetErrorCode() ? m->GetErrorCode()->code : 0;
    } else if (std::holds_alternative<Deadline>(out)) {
      break;
    }
  }
  return code;
}

// Agent 0 (controlling, 192.0.2.1:1000) connected to agent 1 (controlled, 192.0.2.2:2000).
void ConnectTwo(Harness& h) {
  h.AddPeer(Controlling(), {"192.0.2.1:1000"});
  h.AddPeer(Controlled(), {"192.0.2.2:2000"});
  h.Start();
  ASSERT_TRUE(h.RunUntil([&] { return h.BothConnected(); }, Duration::Seconds(5)));
}

TEST(IceAgent, DropsUnauthenticatedChecksAndDataFromStrangers) {
  Harness h;
  ASSERT_NO_FATAL_FAILURE(ConnectTwo(h));
  Agent& a = *h.peer(0).agent;
  const auto local = *SocketAddress::Parse("192.0.2.1:1000");
  const auto stranger = *SocketAddress::Parse("198.51.100.66:4444");
  EXPECT_EQ(a.HandleDatagram(h.now(), local, stranger, AsBytes("not stun, not ours")), Received::kDropped);
  // A check with a wrong password gets a 401 and creates no candidate.
  SeededRng rng(3);
  stun::StunMessageBuilder b(stun::Method::kBinding, stun::StunClass::kRequest, stun::RandomTransactionId(rng));
  b.AddString(stun::attr::kUsername, a.local_credentials().ufrag + ":x");
  b.AddU64(stun::attr::kIceControlled, 1);
  b.AddMessageIntegrity(stun::ShortTermKey("wrong password"));
  b.AddFingerprint();
  auto req = std::move(b).Finish();
  EXPECT_EQ(AnswerCode(a, h.now(), local, stranger, req), 401);
  EXPECT_EQ(a.GetStats().pairs.size(), 1u);
}

// A peer that restarts ICE may check with its new ufrag and our old one before our answer
// reaches it (Chromium does: it pairs its new candidates with our old ones). Such a check belongs
// to no generation we use, so it gets a 401 and no pair, before and after we restart ourselves;
// only the previous generation's own credentials keep the old path's consent alive.
TEST(IceAgent, ChecksMixingGenerationsGetUnauthorized) {
  Harness h;
  ASSERT_NO_FATAL_FAILURE(ConnectTwo(h));
  Agent& a = *h.peer(0).agent;
  const auto local = *SocketAddress::Parse("192.0.2.1:1000");
  const auto early = *SocketAddress::Parse("192.0.2.2:2002");  // the peer's new candidate
  const Credentials a_old = a.local_credentials();
  const Credentials b_old = h.peer(1).agent->local_credentials();
  const std::string b_new_ufrag = "newUfragOfB";
  SeededRng rng(9);
  auto check = [&](const std::string& username, const std::string& pwd) {
    stun::StunMessageBuilder m(stun::Method::kBinding, stun::StunClass::kRequest, stun::RandomTransactionId(rng));
    m.AddString(stun::attr::kUsername, username);
    m.AddU64(stun::attr::kIceControlling, ~uint64_t{0});
    m.AddU32(stun::attr::kPriority, 1000);
    m.AddFlag(stun::attr::kUseCandidate);
    m.AddMessageIntegrity(stun::ShortTermKey(pwd));
    m.AddFingerprint();
    return std::move(m).Finish();
  };
  auto answer = [&](const std::vector<uint8_t>& req, const SocketAddress& from) {
    return AnswerCode(a, h.now(), local, from, req);
  };
  const size_t pairs_before = a.GetStats().pairs.size();
  // Before the peer's restart offer reaches us: our current ufrag, the peer's unknown new one.
  EXPECT_EQ(answer(check(a_old.ufrag + ":" + b_new_ufrag, a_old.pwd), early), 401);
  EXPECT_EQ(a.GetStats().pairs.size(), pairs_before);
  EXPECT_EQ(a.role(), Role::kControlling);  // no role conflict was acted on either
  // After we restarted (the offer arrived): our previous ufrag with the peer's new one is no
  // generation either; the previous generation's own pair of ufrags still is.
  a.Restart(h.now());
  a.SetRemoteCredentials(h.now(), Credentials{b_new_ufrag, "a-password-of-22-chars-"});
  EXPECT_EQ(answer(check(a_old.ufrag + ":" + b_new_ufrag, a_old.pwd), early), 401);
  EXPECT_EQ(answer(check(a_old.ufrag + ":" + b_old.ufrag, a_old.pwd), *SocketAddress::Parse("192.0.2.2:2000")), 0);
  EXPECT_TRUE(a.GetStats().pairs.empty());
  // The new generation's credentials are accepted (and pair the new candidate), also with the
  // peer's previous ufrag (werift sends that after a check of our previous generation reached it).
  EXPECT_EQ(answer(check(a.local_credentials().ufrag + ":" + b_new_ufrag, a.local_credentials().pwd), early), 0);
  EXPECT_EQ(a.GetStats().pairs.size(), 1u);
  EXPECT_EQ(answer(check(a.local_credentials().ufrag + ":" + b_old.ufrag, a.local_credentials().pwd), early), 0);
  EXPECT_EQ(answer(check(a.local_credentials().ufrag + ":someoneElse", a.local_credentials().pwd), early), 401);
}

// A controlled peer may answer our checks before it holds our description (only its own password
// is needed), and then ignore the nomination (Firefox does, after an ICE restart it offered). So
// the controlling agent nominates only once the peer has checked us with our current ufrag, or
// after unconfirmed_nomination_wait; an ice-lite peer, which never checks, is not waited for.
TEST(IceAgent, NominationWaitsForThePeerToHoldOurCredentials) {
  for (const bool lite : {false, true}) {
    SCOPED_TRACE(lite ? "ice-lite peer" : "full peer");
    Harness h;
    h.AddPeer(Controlling(), {"192.0.2.1:1000"});
    h.AddPeer(Controlled(), {"192.0.2.2:2000"});
    const auto a_addr = *SocketAddress::Parse("192.0.2.1:1000");
    std::optional<Instant> nominated_at;
    // The peer's own checks never arrive; our checks and its answers do.
    h.set_drop([&](const SocketAddress& from, const SocketAddress& to, const std::vector<uint8_t>& d) {
      auto m = stun::StunMessage::Parse(d);
      if (!m.ok() || m->cls() != stun::StunClass::kRequest) return false;
      if (from == a_addr && m->Has(stun::attr::kUseCandidate) && !nominated_at) nominated_at = h.now();
      return to == a_addr;
    });
    if (lite) h.peer(0).agent->SetRemoteIceLite(true);
    const Instant start = h.now();
    h.Start();
    ASSERT_TRUE(h.RunUntil([&] { return h.peer(0).selected.has_value(); }, Duration::Seconds(5)));
    ASSERT_TRUE(nominated_at);
    if (lite) {
      EXPECT_LT(*nominated_at - start, Duration::Millis(20));
    } else {
      EXPECT_GE(*nominated_at - start, AgentConfig{}.unconfirmed_nomination_wait);
      EXPECT_LT(*nominated_at - start, AgentConfig{}.unconfirmed_nomination_wait + Duration::Millis(20));
    }
    EXPECT_TRUE(h.Connected(0));
  }
}

// After an ICE restart offered by the controlled peer, our answer reaches it only after our first
// checks did: the nomination waits for its first check with our new ufrag, and then follows it
// at once.
TEST(IceAgent, RestartNominationFollowsThePeersFirstCheckWithOurNewUfrag) {
  Harness h;
  ASSERT_NO_FATAL_FAILURE(ConnectTwo(h));
  h.set_auto_signal(false);
  // The peer restarts and offers: we learn its credentials and candidates, then restart and
  // check; the peer learns ours 300 ms later.
  h.peer(1).agent->Restart(h.now());
  h.peer(0).agent->Restart(h.now());
  h.peer(0).agent->SetRemoteCredentials(h.now(), h.peer(1).agent->local_credentials());
  for (auto& c : h.peer(1).local_candidates)
    h.peer(0).agent->AddRemoteCandidate(h.now(), c);
  h.peer(0).selected.reset();
  h.peer(1).selected.reset();
  std::optional<Instant> nominated_at;
  const auto a_addr = *SocketAddress::Parse("192.0.2.1:1000");
  const std::string new_ufrag = h.peer(0).agent->local_credentials().ufrag;
  h.set_drop([&](const SocketAddress& from, const SocketAddress&, const std::vector<uint8_t>& d) {
    auto m = stun::StunMessage::Parse(d);
    if (m.ok() && from == a_addr && m->cls() == stun::StunClass::kRequest && m->Has(stun::attr::kUseCandidate) &&
        !nominated_at)
      nominated_at = h.now();
    return false;
  });
  h.Drain(0);
  h.RunFor(Duration::Millis(300));
  EXPECT_FALSE(nominated_at) << "nominated before the peer could know our new credentials";
  const Instant answered = h.now();
  h.peer(1).agent->SetRemoteCredentials(h.now(), h.peer(0).agent->local_credentials());
  for (auto& c : h.peer(0).local_candidates)
    h.peer(1).agent->AddRemoteCandidate(h.now(), c);
  h.Drain(1);
  ASSERT_TRUE(h.RunUntil([&] { return h.peer(0).selected && h.peer(1).selected; }, Duration::Seconds(5)));
  ASSERT_TRUE(nominated_at);
  EXPECT_LT(*nominated_at - answered, Duration::Millis(20));
  EXPECT_EQ(new_ufrag, h.peer(0).agent->local_credentials().ufrag);
}

// A loopback socket never pairs with a non-loopback source (nor the reverse), so a check across
// them gets no answer: a success would tell the peer the pair works, and a peer that nominates
// it (aiortc does) would then send its DTLS where we drop it.
TEST(IceAgent, ChecksAcrossLoopbackAndOtherAddressesGetNoAnswer) {
  Harness h;
  h.AddPeer(Controlling(), {"192.0.2.1:1000"});
  h.AddPeer(Controlled(), {"192.0.2.2:2000", "127.0.0.1:2001"});
  h.Start();
  ASSERT_TRUE(h.RunUntil([&] { return h.BothConnected(); }, Duration::Seconds(5)));
  Agent& b = *h.peer(1).agent;
  const auto from = *SocketAddress::Parse("192.0.2.1:1000");
  SeededRng rng(5);
  auto check = [&] {
    stun::StunMessageBuilder m(stun::Method::kBinding, stun::StunClass::kRequest, stun::RandomTransactionId(rng));
    m.AddString(stun::attr::kUsername, b.local_credentials().ufrag + ":" + h.peer(0).agent->local_credentials().ufrag);
    m.AddU64(stun::attr::kIceControlling, 1);
    m.AddU32(stun::attr::kPriority, 1000);
    m.AddMessageIntegrity(stun::ShortTermKey(b.local_credentials().pwd));
    m.AddFingerprint();
    return std::move(m).Finish();
  };
  auto successes_to = [&](const SocketAddress& dst, const SocketAddress& via) {
    int n = 0;
    for (int i = 0; i < 20; ++i) {
      Output out = b.PollOutput(h.now());
      if (auto* t = std::get_if<Transmit>(&out)) {
        auto m = stun::StunMessage::Parse(t->data);
        if (m.ok() && t->destination == dst && t->source == via && m->cls() == stun::StunClass::kSuccessResponse) ++n;
      } else if (std::holds_alternative<Deadline>(out)) {
        break;
      }
    }
    return n;
  };
  const auto loopback = *SocketAddress::Parse("127.0.0.1:2001");
  const auto host = *SocketAddress::Parse("192.0.2.2:2000");
  EXPECT_EQ(b.HandleDatagram(h.now(), loopback, from, check()), Received::kConsumed);
  EXPECT_EQ(successes_to(from, loopback), 0);
  EXPECT_EQ(b.HandleDatagram(h.now(), host, from, check()), Received::kConsumed);
  EXPECT_EQ(successes_to(from, host), 1);
}

TEST(IceAgent, CredentialsComeFromRngWithRfcLengths) {
  SeededRng rng(11);
  Agent a(AgentConfig{}, rng, Instant::Zero());
  Agent b(AgentConfig{}, rng, Instant::Zero());
  EXPECT_GE(a.local_credentials().ufrag.size(), 4u);
  EXPECT_GE(a.local_credentials().pwd.size(), 22u);
  EXPECT_NE(a.local_credentials().ufrag, b.local_credentials().ufrag);
  EXPECT_NE(a.local_credentials().pwd, b.local_credentials().pwd);
}

TEST(IceAgent, ConnectsUnderLossWithRetransmissions) {
  Harness h(5);
  h.AddPeer(Controlling(), {"192.0.2.1:1000"});
  h.AddPeer(Controlled(), {"192.0.2.2:2000"});
  SeededRng loss(99);
  h.set_drop([&](auto&, auto&, auto&) { return loss.Unit() < 0.3; });  // 30% loss each way
  h.Start();
  ASSERT_TRUE(h.RunUntil([&] { return h.BothConnected(); }, Duration::Seconds(5)));
}

TEST(IceAgent, RelayOnlyWithUnreachableTurnFailsAfterGatheringTimeout) {
  Harness h;
  AgentConfig a = Controlling();
  a.policy = TransportPolicy::kRelay;
  a.turn_servers = {{*SocketAddress::Parse("203.0.113.99:3478"), TransportProtocol::kUdp, "u", "p"}};
  h.AddPeer(a, {"192.0.2.1:1000"});
  h.AddPeer(Controlled(), {"192.0.2.2:2000"});
  h.Start();
  const Instant start = h.now();
  // The controlled side signals end-of-candidates long before A's gathering ends.
  ASSERT_TRUE(h.RunUntil([&] { return h.peer(0).agent->state() == State::kFailed; }, Duration::Seconds(60)));
  EXPECT_GE(h.now() - start, a.gathering_timeout);
  EXPECT_LE(h.now() - start, a.gathering_timeout + Duration::Millis(50));
  EXPECT_EQ(h.reason(0), "no usable candidate pairs");
  EXPECT_TRUE(h.peer(0).gathering_complete);
  EXPECT_TRUE(h.peer(0).local_candidates.empty()) << "relay-only offers no host candidates";
}

TEST(IceAgent, TurnClientTimersDriveTheAgentDeadline) {
  // Nothing but the TURN allocation is pending, so only its own retransmission
  // deadlines can wake the agent: RFC 8489 schedule 0, 0.5, 1.5, 3.5 s.
  Harness h;
  AgentConfig a = Controlling();
  const auto turn = *SocketAddress::Parse("203.0.113.99:3478");
  a.turn_servers = {{turn, TransportProtocol::kUdp, "u", "p"}};
  h.AddPeer(a, {"192.0.2.1:1000"});
  std::vector<Duration> sent;
  const Instant start = h.now();
  h.set_drop([&](const SocketAddress&, const SocketAddress& to, const std::vector<uint8_t>&) {
    if (to == turn) sent.push_back(h.now() - start);
    return true;
  });
  h.Start(/*signal_credentials=*/false);
  h.RunFor(Duration::Millis(4000));
  EXPECT_EQ(sent, (std::vector<Duration>{Duration::Zero(), Duration::Millis(500), Duration::Millis(1500),
                                         Duration::Millis(3500)}));
}

TEST(IceAgent, CloseStopsEverything) {
  Harness h;
  h.AddPeer(Controlling(), {"192.0.2.1:1000"});
  h.AddPeer(Controlled(), {"192.0.2.2:2000"});
  h.Start();
  ASSERT_TRUE(h.RunUntil([&] { return h.BothConnected(); }, Duration::Seconds(5)));
  h.peer(0).agent->Close(h.now());
  h.Drain(0);
  EXPECT_EQ(h.peer(0).agent->state(), State::kClosed);
  EXPECT_EQ(h.peer(0).deadline, Instant::Max());
  EXPECT_EQ(h.peer(0).agent->SendData(h.now(), AsBytes("x")), SendResult::kClosed);
}

}  // namespace
}  // namespace peerlink::ice
