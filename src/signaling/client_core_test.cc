// ClientCore against an in-memory fake of the signaling server (fan-out to every subscriber,
// sender included, like ServerCore), with per-connection FIFO queues delivered in a random
// interleaving chosen by a seeded Rng.
#include "src/signaling/client_core.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace peerlink::signaling {
namespace {

using nlohmann::json;
using ywebrtc::CandidateSignal;
using ywebrtc::SessionDescriptionSignal;

const char kSdpFingerprint[] =
    "a=fingerprint:sha-256 "
    "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99";

std::string Sdp(const std::string& who) {
  return "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n" + std::string(kSdpFingerprint) + "\r\na=secret-" + who +
         "\r\n";
}

ClientOptions Opts(std::vector<std::string> urls) {
  ClientOptions o;
  o.urls = std::move(urls);
  o.room = "room";
  return o;
}

struct Record {
  std::map<std::string, PeerRole> roles;
  std::vector<std::string> discovered;
  std::vector<std::string> left;
  std::vector<std::pair<std::string, std::string>> received;  // (from, "offer"|"answer"|"candidate")
  std::vector<ClientError> errors;
  std::vector<std::string> verified;
};

// The fake server(s) plus a fake peer-connection side: on BecomeCaller it offers, on a remote
// offer it answers, and each side trickles one candidate after its description.
class Sim {
 public:
  Sim(uint64_t seed, size_t servers) : rng_(seed), servers_(servers) {}

  size_t AddClient(ClientOptions o, uint64_t seed) {
    if (o.urls.empty()) {
      for (size_t s = 0; s < servers_.size(); ++s)
        o.urls.push_back("ws://server" + std::to_string(s));
    }
    if (o.room.empty()) o.room = "room";
    rngs_.push_back(std::make_unique<SeededRng>(seed));
    clients_.push_back(std::make_unique<ClientCore>(std::move(o), *rngs_.back()));
    records_.emplace_back();
    for (auto& s : servers_)
      s.conns.emplace_back();
    return clients_.size() - 1;
  }
  void StartAll() {
    for (size_t c = 0; c < clients_.size(); ++c)
      Start(c);
  }
  void Start(size_t c) {
    clients_[c]->Start(now_);
    Drain(c);
  }

  // One random action; false when nothing is left to do before the next deadline.
  bool Step() {
    std::vector<std::function<void()>> actions;
    for (size_t s = 0; s < servers_.size(); ++s) {
      for (size_t c = 0; c < clients_.size(); ++c) {
        Conn& conn = servers_[s].conns[c];
        if (conn.connect_pending) actions.push_back([this, s, c] { DoConnect(s, c); });
        if (!conn.up.empty()) actions.push_back([this, s, c] { DoUp(s, c); });
        if (!conn.down.empty()) actions.push_back([this, s, c] { DoDown(s, c); });
      }
    }
    if (actions.empty()) return false;
    now_ = now_ + Duration::Micros(static_cast<int64_t>(rng_.Below(2000)));
    actions[rng_.Below(actions.size())]();
    FireTimers();
    return true;
  }
  // Runs until quiet, then jumps virtual time to the next deadline while any is below `until`.
  void RunUntil(Instant until) {
    for (int i = 0; i < 200000; ++i) {
      if (Step()) continue;
      Instant next = Instant::Max();
      for (auto& d : deadlines_)
        next = std::min(next, d);
      if (next >= until) break;
      now_ = std::max(now_, next);
      FireTimers();
    }
    now_ = std::max(now_, until);
  }
  void RunQuiet() { RunUntil(now_ + Duration::Seconds(1)); }

  void FireTimers() {
    for (size_t c = 0; c < clients_.size(); ++c) {
      if (deadlines_[c] <= now_) {
        clients_[c]->HandleTimeout(now_);
        Drain(c);
      }
    }
  }

  void SetServerUp(size_t s, bool up) {
    servers_[s].up = up;
    if (up) return;
    for (size_t c = 0; c < clients_.size(); ++c) {
      Conn& conn = servers_[s].conns[c];
      const bool was = conn.connected || conn.connect_pending;
      conn = Conn{};
      if (was) {
        clients_[c]->HandleDisconnected(now_, s, "server gone");
        Drain(c);
      }
    }
  }

  ClientCore& client(size_t c) { return *clients_[c]; }
  Record& record(size_t c) { return records_[c]; }
  Instant now() const { return now_; }
  void Advance(Duration d) { now_ = now_ + d; }
  // Every frame any client sent to any server, as seen by the server.
  const std::vector<std::string>& wire() const { return wire_; }
  // Lets a test rewrite a publish on its way through the server (a malicious relay).
  std::function<void(std::string&)> tamper;
  bool auto_pc = true;

  void Drain(size_t c) {
    if (deadlines_.size() < clients_.size()) deadlines_.resize(clients_.size(), Instant::Max());
    ClientCore& core = *clients_[c];
    Record& rec = records_[c];
    for (int guard = 0; guard < 100000; ++guard) {
      ClientOutput o = core.PollOutput(now_);
      EXPECT_TRUE(core.IsConsistent());
      if (auto* d = std::get_if<ClientDeadline>(&o)) {
        deadlines_[c] = d->at;
        return;
      }
      if (auto* f = std::get_if<SendFrame>(&o)) {
        Conn& conn = servers_[f->server_index].conns[c];
        EXPECT_TRUE(conn.connected) << "frame to a server that is not connected";
        if (conn.connected) conn.up.push_back(std::move(f->text));
      } else if (auto* k = std::get_if<Connect>(&o)) {
        servers_[k->server_index].conns[c].connect_pending = true;
      } else if (auto* p = std::get_if<PeerDiscovered>(&o)) {
        rec.discovered.push_back(p->peer_id);
      } else if (auto* l = std::get_if<PeerLeft>(&o)) {
        rec.left.push_back(l->peer_id);
      } else if (auto* bc = std::get_if<BecomeCaller>(&o)) {
        rec.roles[bc->peer_id] = PeerRole::kCaller;
        if (auto_pc) {
          EXPECT_EQ(
              core.SendSignal(now_, bc->peer_id,
                              SessionDescriptionSignal{SessionDescriptionSignal::Type::kOffer, Sdp(core.peer_id())}),
              core.connected_count() ? SendStatus::kSent : SendStatus::kQueued);
          (void)core.SendSignal(now_, bc->peer_id,
                                CandidateSignal{"candidate:1 1 udp 1 10.0.0.1 5000 typ host", "0", 0});
        }
      } else if (auto* be = std::get_if<BecomeCallee>(&o)) {
        rec.roles[be->peer_id] = PeerRole::kCallee;
      } else if (auto* r = std::get_if<RemoteSignal>(&o)) {
        std::string kind = "candidate";
        if (auto* d = std::get_if<SessionDescriptionSignal>(&r->signal)) {
          kind = d->type == SessionDescriptionSignal::Type::kOffer ? "offer" : "answer";
        }
        rec.received.emplace_back(r->peer_id, kind);
        if (!r->verified_identity.empty()) rec.verified.push_back(r->verified_identity);
        if (auto_pc && kind == "offer") {
          (void)core.SendSignal(now_, r->peer_id,
                                SessionDescriptionSignal{SessionDescriptionSignal::Type::kAnswer, Sdp(core.peer_id())});
          (void)core.SendSignal(now_, r->peer_id,
                                CandidateSignal{"candidate:2 1 udp 1 10.0.0.2 5000 typ host", "0", 0});
        }
      } else if (auto* e = std::get_if<ClientError>(&o)) {
        rec.errors.push_back(*e);
      }
    }
    ADD_FAILURE() << "drain did not end";
  }

 private:
  struct Conn {
    bool connect_pending = false;
    bool connected = false;
    bool subscribed = false;
    std::deque<std::string> up;
    std::deque<std::string> down;
  };
  struct Server {
    bool up = true;
    std::vector<Conn> conns;
  };

  void DoConnect(size_t s, size_t c) {
    Conn& conn = servers_[s].conns[c];
    conn.connect_pending = false;
    if (servers_[s].up) {
      conn.connected = true;
      clients_[c]->HandleConnected(now_, s);
    } else {
      clients_[c]->HandleDisconnected(now_, s, "connection refused");
    }
    Drain(c);
  }
  void DoUp(size_t s, size_t c) {
    std::string text = std::move(servers_[s].conns[c].up.front());
    servers_[s].conns[c].up.pop_front();
    wire_.push_back(text);
    json j = json::parse(text);
    if (j["type"] == "subscribe") {
      servers_[s].conns[c].subscribed = true;
    } else if (j["type"] == "ping") {
      servers_[s].conns[c].down.push_back(R"({"type":"pong"})");
    } else if (j["type"] == "publish") {
      if (tamper) tamper(text);
      for (auto& conn : servers_[s].conns) {
        if (conn.connected && conn.subscribed) conn.down.push_back(text);
      }
    }
  }
  void DoDown(size_t s, size_t c) {
    std::string text = std::move(servers_[s].conns[c].down.front());
    servers_[s].conns[c].down.pop_front();
    clients_[c]->HandleFrame(now_, s, text);
    Drain(c);
  }

  SeededRng rng_;
  Instant now_ = Instant::FromNanos(1'000'000'000);
  std::vector<Server> servers_;
  std::vector<std::unique_ptr<SeededRng>> rngs_;
  std::vector<std::unique_ptr<ClientCore>> clients_;
  std::vector<Record> records_;
  std::vector<Instant> deadlines_;
  std::vector<std::string> wire_;
};

size_t Count(const Record& r, const std::string& from, const std::string& kind) {
  size_t n = 0;
  for (const auto& [f, k] : r.received)
    n += (f == from && k == kind) ? 1 : 0;
  return n;
}

// Every pair discovered each other once, exactly one side (the smaller id) called, exactly one
// offer went caller -> callee and one answer back, none the other way.
void ExpectMeshConnected(Sim& sim, size_t n) {
  for (size_t a = 0; a < n; ++a) {
    for (size_t b = 0; b < n; ++b) {
      if (a == b) continue;
      const std::string ida = sim.client(a).peer_id();
      const std::string idb = sim.client(b).peer_id();
      const Record& ra = sim.record(a);
      ASSERT_EQ(std::count(ra.discovered.begin(), ra.discovered.end(), idb), 1) << a << " discovers " << b;
      ASSERT_TRUE(ra.roles.count(idb));
      const bool a_calls = ida < idb;
      EXPECT_EQ(ra.roles.at(idb), a_calls ? PeerRole::kCaller : PeerRole::kCallee);
      EXPECT_EQ(Count(ra, idb, "offer"), a_calls ? 0u : 1u) << a << " <- " << b;
      EXPECT_EQ(Count(ra, idb, "answer"), a_calls ? 1u : 0u) << a << " <- " << b;
      EXPECT_EQ(Count(ra, idb, "candidate"), 1u);
    }
    EXPECT_TRUE(sim.record(a).errors.empty());
    EXPECT_TRUE(sim.record(a).left.empty());
  }
}

TEST(ClientCore, SimultaneousStartsGiveExactlyOneCallerPerPair100Seeds) {
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const size_t n = seed % 2 == 0 ? 2 : 3;
    const size_t servers = seed % 3 == 0 ? 2 : 1;
    Sim sim(seed, servers);
    for (size_t c = 0; c < n; ++c)
      sim.AddClient(ClientOptions{}, seed * 31 + c);
    sim.StartAll();
    sim.RunQuiet();
    ExpectMeshConnected(sim, n);
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(ClientCore, PeerIdsAreUuidV4ByDefault) {
  SeededRng rng(7);
  ClientCore core(Opts({"ws://x"}), rng);
  const std::string& id = core.peer_id();
  ASSERT_EQ(id.size(), 36u);
  EXPECT_EQ(id[14], '4');
  EXPECT_EQ(id[8], '-');
}

TEST(ClientCore, LateJoinerIsDiscoveredThroughAddressedAnnounces) {
  Sim sim(5, 1);
  sim.AddClient(ClientOptions{}, 1);
  sim.AddClient(ClientOptions{}, 2);
  sim.StartAll();
  sim.RunQuiet();
  sim.AddClient(ClientOptions{}, 3);
  sim.Start(2);
  sim.RunQuiet();
  ExpectMeshConnected(sim, 3);
  // The addressed answers to announces carry "to" (y-webrtc peers ignore them unless addressed).
  size_t addressed = 0;
  for (const auto& f : sim.wire()) {
    json j = json::parse(f);
    if (j["type"] == "publish" && j["data"]["type"] == "announce" && j["data"].contains("to")) ++addressed;
  }
  EXPECT_GE(addressed, 2u);
}

TEST(ClientCore, ThreeServersDeliverEachMessageOnce) {
  Sim sim(11, 3);
  sim.AddClient(ClientOptions{}, 1);
  sim.AddClient(ClientOptions{}, 2);
  sim.StartAll();
  sim.RunQuiet();
  ExpectMeshConnected(sim, 2);
  EXPECT_GT(sim.client(0).counters().dropped_duplicate + sim.client(1).counters().dropped_duplicate, 0u);
  EXPECT_EQ(sim.client(0).connected_count(), 3u);
}

TEST(ClientCore, PasswordModeNeverShowsPlaintextAndWrongPasswordIsDroppedAndCounted) {
  const RoomKey key = DeriveRoomKey("room", "hunter2");
  Sim sim(3, 1);
  ClientOptions o;
  o.room_key = key;
  sim.AddClient(o, 1);
  sim.AddClient(o, 2);
  ClientOptions wrong;
  wrong.password = "wrong";
  sim.AddClient(wrong, 3);
  sim.StartAll();
  sim.RunQuiet();
  ExpectMeshConnected(sim, 2);
  EXPECT_TRUE(sim.record(2).discovered.empty());
  EXPECT_GT(sim.client(2).counters().dropped_undecryptable, 0u);
  for (const auto& f : sim.wire()) {
    EXPECT_EQ(f.find("secret-"), std::string::npos) << f;
    EXPECT_EQ(f.find(sim.client(0).peer_id()), std::string::npos) << f;
    EXPECT_EQ(f.find("candidate"), std::string::npos) << f;
  }
}

TEST(ClientCore, IdentityModeAcceptsTrustedSignaturesAndRejectsASwappedFingerprint) {
  auto ka = std::make_shared<IdentityKey>(IdentityKey::Generate());
  auto kb = std::make_shared<IdentityKey>(IdentityKey::Generate());
  for (bool malicious : {false, true}) {
    SCOPED_TRACE(malicious ? "malicious relay" : "honest relay");
    Sim sim(9, 1);
    ClientOptions oa;
    oa.identity = ka;
    oa.trusted_identities = {kb->public_key()};
    oa.peer_id = "a";
    ClientOptions ob;
    ob.identity = kb;
    ob.trusted_identities = {ka->public_key()};
    ob.peer_id = "b";
    sim.AddClient(oa, 1);
    sim.AddClient(ob, 2);
    if (malicious) {
      sim.tamper = [](std::string& text) {
        auto pos = text.find("AA:BB:CC");
        if (pos != std::string::npos) text.replace(pos, 8, "12:34:56");
      };
    }
    sim.StartAll();
    sim.RunQuiet();
    if (!malicious) {
      ExpectMeshConnected(sim, 2);
      EXPECT_EQ(sim.record(1).verified, std::vector<std::string>{ka->id()});
      EXPECT_EQ(sim.record(0).verified, std::vector<std::string>{kb->id()});
    } else {
      // "a" < "b": a offers; b must refuse the rewritten offer and report it.
      EXPECT_EQ(Count(sim.record(1), "a", "offer"), 0u);
      ASSERT_EQ(sim.record(1).errors.size(), 1u);
      EXPECT_EQ(sim.record(1).errors[0].code, ClientErrorCode::kIdentity);
      EXPECT_EQ(sim.record(1).errors[0].peer_id, "a");
      EXPECT_EQ(sim.client(1).counters().dropped_identity, 1u);
    }
  }
}

TEST(ClientCore, UntrustedOrMissingIdentityIsAnError) {
  auto ka = std::make_shared<IdentityKey>(IdentityKey::Generate());
  auto other = IdentityKey::Generate();
  Sim sim(2, 1);
  ClientOptions oa;
  oa.identity = ka;
  oa.peer_id = "a";
  ClientOptions ob;
  ob.trusted_identities = {other.public_key()};
  ob.peer_id = "b";
  ClientOptions oc;  // no identity: its offers carry no signature
  oc.peer_id = "0";
  sim.AddClient(oa, 1);
  sim.AddClient(ob, 2);
  sim.AddClient(oc, 3);
  sim.StartAll();
  sim.RunQuiet();
  const Record& rb = sim.record(1);
  EXPECT_EQ(Count(rb, "a", "offer"), 0u);
  EXPECT_EQ(Count(rb, "0", "offer"), 0u);
  ASSERT_EQ(rb.errors.size(), 2u);
  for (const auto& e : rb.errors)
    EXPECT_EQ(e.code, ClientErrorCode::kIdentity);
}

TEST(ClientCore, ReconnectBackoffIsExponentialWithFullJitterAndResetsAfterAStableConnection) {
  ClientOptions o;
  o.urls = {"ws://s"};
  o.room = "room";
  SeededRng rng(42);
  ClientCore core(o, rng);
  Instant now = Instant::FromNanos(0);
  core.Start(now);
  auto drain = [&] {
    std::vector<ClientOutput> outs;
    for (;;) {
      auto out = core.PollOutput(now);
      if (std::holds_alternative<ClientDeadline>(out)) {
        outs.push_back(out);
        return outs;
      }
      outs.push_back(std::move(out));
    }
  };
  auto outs = drain();
  ASSERT_TRUE(std::holds_alternative<Connect>(outs[0]));
  Duration max_seen[8];
  for (int round = 0; round < 200; ++round) {
    core.HandleDisconnected(now, 0, "refused");
    for (int k = 0; k < 8; ++k) {
      ASSERT_TRUE(core.last_backoff(0).has_value());
      const Duration ceiling = std::min(Duration::Millis(250) * (int64_t{1} << k), Duration::Seconds(30));
      EXPECT_LE(*core.last_backoff(0), ceiling);
      if (round == 0 || *core.last_backoff(0) > max_seen[k]) max_seen[k] = *core.last_backoff(0);
      auto d = drain();
      const Instant at = std::get<ClientDeadline>(d.back()).at;
      EXPECT_EQ(at, now + *core.last_backoff(0));
      now = at;
      core.HandleTimeout(now);
      d = drain();
      ASSERT_TRUE(std::holds_alternative<Connect>(d[0]));
      if (k < 7) core.HandleDisconnected(now, 0, "refused");
    }
    // Connected for 10 s, then lost: the next delay is back at the base ceiling.
    core.HandleConnected(now, 0);
    drain();
    now = now + Duration::Seconds(10);
  }
  // Full jitter: across 200 rounds the largest delay of each step is close to its ceiling.
  for (int k = 0; k < 8; ++k) {
    const Duration ceiling = std::min(Duration::Millis(250) * (int64_t{1} << k), Duration::Seconds(30));
    EXPECT_GT(max_seen[k], ceiling * 9 / 10) << k;
  }
  // Cap: after many failures the delay never exceeds 30 s.
  for (int i = 0; i < 50; ++i) {
    core.HandleDisconnected(now, 0, "refused");
    EXPECT_LE(*core.last_backoff(0), Duration::Seconds(30));
    now = now + *core.last_backoff(0);
    core.HandleTimeout(now);
    drain();
  }
}

TEST(ClientCore, ShortLivedConnectionsDoNotResetTheBackoff) {
  SeededRng rng(1);
  ClientCore core(Opts({"ws://s"}), rng);
  Instant now = Instant::FromNanos(0);
  core.Start(now);
  for (int i = 0; i < 12; ++i) {
    core.HandleConnected(now, 0);
    now = now + Duration::Seconds(1);
    core.HandleDisconnected(now, 0, "dropped");
    now = now + *core.last_backoff(0);
    core.HandleTimeout(now);
    while (!std::holds_alternative<ClientDeadline>(core.PollOutput(now))) {
    }
  }
  // 12 consecutive short connections: the ceiling is at the 30 s cap, so over a few more
  // failures some delay exceeds the base ceiling by far.
  Duration largest;
  for (int i = 0; i < 5; ++i) {
    core.HandleConnected(now, 0);
    core.HandleDisconnected(now, 0, "dropped");
    largest = std::max(largest, *core.last_backoff(0));
    now = now + *core.last_backoff(0);
    core.HandleTimeout(now);
  }
  EXPECT_GT(largest, Duration::Seconds(2));
}

TEST(ClientCore, ServerRestartKeepsPeersAndReannouncesAndALateJoinerIsFound) {
  Sim sim(21, 1);
  sim.AddClient(ClientOptions{}, 1);
  sim.AddClient(ClientOptions{}, 2);
  sim.StartAll();
  sim.RunQuiet();
  ExpectMeshConnected(sim, 2);
  sim.SetServerUp(0, false);
  EXPECT_EQ(sim.client(0).connected_count(), 0u);
  sim.RunUntil(sim.now() + Duration::Seconds(5));  // reconnects fail while the server is down
  EXPECT_GT(sim.client(0).counters().reconnects, 0u);
  sim.SetServerUp(0, true);
  sim.RunUntil(sim.now() + Duration::Seconds(40));  // backoff ceiling 30 s
  EXPECT_EQ(sim.client(0).connected_count(), 1u);
  EXPECT_EQ(sim.client(1).connected_count(), 1u);
  EXPECT_TRUE(sim.record(0).left.empty());
  EXPECT_EQ(sim.client(0).peer_count(), 1u);
  sim.AddClient(ClientOptions{}, 3);
  sim.Start(2);
  sim.RunQuiet();
  ExpectMeshConnected(sim, 3);
  // Each client announced at least twice on the wire (start + after the restart).
  for (size_t c = 0; c < 2; ++c) {
    size_t announces = 0;
    for (const auto& f : sim.wire()) {
      json j = json::parse(f);
      if (j["type"] == "publish" && j["data"]["type"] == "announce" && j["data"]["from"] == sim.client(c).peer_id() &&
          !j["data"].contains("to")) {
        ++announces;
      }
    }
    EXPECT_GE(announces, 2u) << c;
  }
}

TEST(ClientCore, SignalsWhileDisconnectedAreQueuedAndBounded) {
  SeededRng rng(1);
  ClientOptions o = Opts({"ws://s"});
  o.peer_id = "a";
  o.max_pending_frames = 3;
  ClientCore core(o, rng);
  Instant now = Instant::FromNanos(0);
  core.Start(now);
  core.HandleConnected(now, 0);
  core.HandleFrame(now, 0, R"({"type":"publish","topic":"room","data":{"type":"announce","from":"b"}})");
  ASSERT_EQ(core.role("b"), PeerRole::kCaller);
  core.HandleDisconnected(now, 0, "x");
  while (!std::holds_alternative<ClientDeadline>(core.PollOutput(now))) {
  }
  const CandidateSignal cand{"candidate:1 1 udp 1 1.2.3.4 5 typ host", "0", 0};
  EXPECT_EQ(core.SendSignal(now, "b", cand), SendStatus::kQueued);
  EXPECT_EQ(core.SendSignal(now, "b", cand), SendStatus::kQueued);
  EXPECT_EQ(core.SendSignal(now, "b", cand), SendStatus::kQueued);
  EXPECT_EQ(core.SendSignal(now, "b", cand), SendStatus::kQueueFull);
  EXPECT_EQ(core.SendSignal(now, "zz", cand), SendStatus::kUnknownPeer);
  EXPECT_TRUE(core.IsConsistent());
  now = now + Duration::Seconds(1);
  core.HandleTimeout(now);
  core.HandleConnected(now, 0);
  size_t signals = 0;
  for (;;) {
    auto out = core.PollOutput(now);
    if (std::holds_alternative<ClientDeadline>(out)) break;
    if (auto* f = std::get_if<SendFrame>(&out)) signals += f->text.find("\"signal\"") != std::string::npos;
  }
  EXPECT_EQ(signals, 3u);
}

TEST(ClientCore, FiltersFramesNotForUsAndBoundsPeersAndFrameSize) {
  SeededRng rng(1);
  ClientOptions o = Opts({"ws://s"});
  o.peer_id = "q";
  o.max_peers = 5;
  ClientCore core(o, rng);
  Instant now = Instant::FromNanos(0);
  core.Start(now);
  core.HandleConnected(now, 0);
  std::vector<ClientOutput> outs;
  auto drain = [&] {
    for (;;) {
      auto out = core.PollOutput(now);
      if (std::holds_alternative<ClientDeadline>(out)) return;
      outs.push_back(std::move(out));
    }
  };
  drain();
  outs.clear();
  auto pub = [](const json& inner, const std::string& topic = "room") {
    return json({{"type", "publish"}, {"topic", topic}, {"data", inner}}).dump();
  };
  core.HandleFrame(now, 0, pub({{"type", "announce"}, {"from", "x"}}, "other-room"));
  core.HandleFrame(now, 0, pub({{"type", "announce"}, {"from", "x"}, {"to", "someone-else"}}));
  core.HandleFrame(now, 0, pub({{"type", "announce"}, {"from", "q"}}));
  core.HandleFrame(now, 0, "not json");
  core.HandleFrame(now, 0, std::string(70000, ' '));
  core.HandleFrame(
      now, 0,
      pub({{"type", "signal"}, {"from", "x"}, {"to", "other"}, {"signal", {{"type", "offer"}, {"sdp", "v=0"}}}}));
  core.HandleFrame(now, 0, R"({"type":"pong"})");
  drain();
  EXPECT_TRUE(outs.empty());
  const auto& k = core.counters();
  EXPECT_EQ(k.dropped_other_topic, 1u);
  EXPECT_EQ(k.dropped_not_for_us, 3u);
  EXPECT_EQ(k.dropped_malformed, 1u);
  EXPECT_EQ(k.dropped_oversize, 1u);
  for (int i = 0; i < 20; ++i)
    core.HandleFrame(now, 0, pub({{"type", "announce"}, {"from", "p" + std::to_string(i)}}));
  drain();
  EXPECT_EQ(core.peer_count(), 5u);
  EXPECT_EQ(k.dropped_peer_limit, 15u);
  size_t errors = 0;
  for (auto& out : outs)
    errors += std::holds_alternative<ClientError>(out);
  EXPECT_EQ(errors, 1u);
  // The same message again (e.g. through a second server) is a duplicate.
  core.HandleFrame(now, 0, pub({{"type", "announce"}, {"from", "p0"}}));
  EXPECT_EQ(k.dropped_duplicate, 1u);
  // A callee cannot offer; a too-large signal is refused.
  ASSERT_EQ(core.role("p0"), PeerRole::kCallee);  // "q" > "p0"
  EXPECT_EQ(core.SendSignal(now, "p0", SessionDescriptionSignal{SessionDescriptionSignal::Type::kOffer, "v=0"}),
            SendStatus::kNotCaller);
  EXPECT_EQ(core.SendSignal(now, "p0",
                            SessionDescriptionSignal{SessionDescriptionSignal::Type::kAnswer,
                                                     std::string(60000, 'x') + std::string(5000, '\\')}),
            SendStatus::kTooLarge);
  EXPECT_TRUE(core.RemovePeer(now, "p0"));
  EXPECT_FALSE(core.RemovePeer(now, "p0"));
  EXPECT_EQ(core.peer_count(), 4u);
}

TEST(ClientCore, YWebrtcCrossingOfferIsSettledByTheGlareToken) {
  for (bool remote_wins : {false, true}) {
    SeededRng rng(3);
    ClientOptions o = Opts({"ws://s"});
    o.peer_id = "a";
    ClientCore core(o, rng);
    Instant now = Instant::FromNanos(0);
    core.Start(now);
    core.HandleConnected(now, 0);
    core.HandleFrame(now, 0, R"({"type":"publish","topic":"room","data":{"type":"announce","from":"z"}})");
    ASSERT_EQ(core.role("z"), PeerRole::kCaller);
    ASSERT_EQ(core.SendSignal(now, "z", SessionDescriptionSignal{SessionDescriptionSignal::Type::kOffer, "v=0"}),
              SendStatus::kSent);
    std::vector<ClientOutput> outs;
    for (;;) {
      auto out = core.PollOutput(now);
      if (std::holds_alternative<ClientDeadline>(out)) break;
      outs.push_back(std::move(out));
    }
    const double remote_token = remote_wins ? 1e15 : -1.0;
    json offer = {{"type", "signal"},
                  {"from", "z"},
                  {"to", "a"},
                  {"token", remote_token},
                  {"signal", {{"type", "offer"}, {"sdp", "v=0 z"}}}};
    core.HandleFrame(now, 0, json({{"type", "publish"}, {"topic", "room"}, {"data", offer}}).dump());
    outs.clear();
    for (;;) {
      auto out = core.PollOutput(now);
      if (std::holds_alternative<ClientDeadline>(out)) break;
      outs.push_back(std::move(out));
    }
    if (remote_wins) {
      ASSERT_EQ(outs.size(), 2u);
      EXPECT_TRUE(std::holds_alternative<BecomeCallee>(outs[0]));
      EXPECT_TRUE(std::holds_alternative<RemoteSignal>(outs[1]));
      EXPECT_EQ(core.role("z"), PeerRole::kCallee);
    } else {
      EXPECT_TRUE(outs.empty());
      EXPECT_EQ(core.counters().dropped_glare, 1u);
      EXPECT_EQ(core.role("z"), PeerRole::kCaller);
    }
  }
}

TEST(ClientCore, PingsEveryIntervalWhileConnected) {
  SeededRng rng(1);
  ClientCore core(Opts({"ws://s"}), rng);
  Instant now = Instant::FromNanos(0);
  core.Start(now);
  core.HandleConnected(now, 0);
  Instant deadline;
  for (;;) {
    auto out = core.PollOutput(now);
    if (auto* d = std::get_if<ClientDeadline>(&out)) {
      deadline = d->at;
      break;
    }
  }
  EXPECT_EQ(deadline, now + Duration::Seconds(15));
  core.HandleTimeout(deadline);
  auto out = core.PollOutput(deadline);
  ASSERT_TRUE(std::holds_alternative<SendFrame>(out));
  EXPECT_EQ(std::get<SendFrame>(out).text, R"({"type":"ping"})");
}

}  // namespace
}  // namespace peerlink::signaling
