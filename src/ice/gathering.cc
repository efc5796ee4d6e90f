// Candidate gathering (RFC 8445 section 5.1.1): host candidates from the
// runtime's sockets, server-reflexive through STUN Binding, relayed through
// TURN allocations.
#include <algorithm>
#include <functional>

#include "src/base/check.h"
#include "src/ice/agent_internal.h"

namespace peerlink::ice {

std::string Agent::Impl::Foundation(CandidateType type, const IpAddress& base, const std::string& server) const {
  // Same type, base IP and server (and transport) -> same foundation (section 5.1.1.3).
  const std::string key = std::string(ToString(type)) + "|" + base.ToString() + "|" + server;
  return std::to_string(std::hash<std::string>()(key) % 4294967291ull);
}

void Agent::Impl::AddLocalCandidate(Instant now, LocalCandidate lc) {
  for (const auto& l : locals)
    if (l.cand.address == lc.cand.address && l.cand.type == lc.cand.type && l.host == lc.host) return;
  const bool signal = lc.cand.type != CandidateType::kPeerReflexive;
  lc.signaled = signal;
  locals.push_back(std::move(lc));
  if (signal) Emit(LocalCandidateEvent{locals.back().cand});
  FormPairsForLocal(now, locals.size() - 1);
}

void Agent::Impl::StartHostGathering(Instant now, size_t host) {
  HostSocket& h = hosts[host];
  if (h.gathered) return;
  h.gathered = true;
  if (config.policy == TransportPolicy::kAll) {
    for (const auto& server : config.stun_servers) {
      if (server.family() != h.address.family()) continue;
      stun::StunMessageBuilder b(stun::Method::kBinding, stun::StunClass::kRequest, stun::RandomTransactionId(rng));
      b.AddFingerprint();
      stun::RetransmitPolicy policy;
      policy.initial_rto = Duration::Millis(250);
      policy.max_sends = 5;
      policy.last_wait_factor = 4;
      StunGather g;
      g.host = host;
      g.server = server;
      g.tx = std::make_unique<stun::ClientTransaction>(std::move(b).Finish(), policy, now);
      gathers.push_back(std::move(g));
    }
  }
  // One allocation per TURN server, from the first host socket of the
  // server's address family.
  for (const auto& ts : config.turn_servers) {
    if (ts.address.family() != h.address.family()) continue;
    bool have = false;
    for (const auto& t : turns)
      if (t.config.address == ts.address && t.config.transport == ts.transport) have = true;
    if (have) continue;
    turn::Options o;
    o.server = ts.address;
    o.transport = ts.transport;
    o.username = ts.username;
    o.password = ts.password;
    o.software = config.software;
    TurnSlot slot;
    slot.host = host;
    slot.config = ts;
    slot.client = std::make_unique<turn::Client>(o, rng, now);
    slot.started = now;
    slot.client->Allocate(now);
    turns.push_back(std::move(slot));
  }
  GatheringTimeouts(now);
}

StunGather* Agent::Impl::FindGather(size_t host, const SocketAddress& server, const stun::TransactionId& tid) {
  for (auto& g : gathers)
    if (!g.done && g.host == host && g.server == server && g.tx->transaction_id() == tid) return &g;
  return nullptr;
}

std::optional<size_t> Agent::Impl::FindTurnSlot(size_t host, const SocketAddress& server, TransportProtocol t) const {
  for (size_t i = 0; i < turns.size(); ++i)
    if (turns[i].host == host && turns[i].config.address == server && turns[i].config.transport == t && turns[i].client)
      return i;
  return std::nullopt;
}

void Agent::Impl::HandleGatherResponse(Instant now, StunGather& g, const stun::StunMessage& msg) {
  g.done = true;
  g.tx->Complete();
  if (msg.cls() == stun::StunClass::kSuccessResponse) {
    auto mapped = msg.GetXorAddress(stun::attr::kXorMappedAddress);
    if (!mapped) mapped = msg.GetMappedAddress();
    const HostSocket& h = hosts[g.host];
    if (mapped && *mapped != h.address) {
      LocalCandidate lc;
      lc.cand.type = CandidateType::kServerReflexive;
      lc.cand.address = *mapped;
      lc.cand.base = h.address;
      lc.cand.related = h.address;
      lc.cand.priority = ComputePriority(TypePreference(CandidateType::kServerReflexive), h.local_pref, 1);
      lc.cand.foundation = Foundation(CandidateType::kServerReflexive, h.address.ip(), g.server.ToString());
      lc.host = g.host;
      lc.local_pref = h.local_pref;
      AddLocalCandidate(now, std::move(lc));
    }
  }
  CheckGatheringComplete(now);
}

void Agent::Impl::HandleTurnEvent(Instant now, size_t slot_index, turn::ClientEvent ev) {
  TurnSlot& slot = turns[slot_index];
  if (auto* a = std::get_if<turn::AllocatedEvent>(&ev)) {
    slot.done = true;
    const HostSocket& h = hosts[slot.host];
    // Relay preference: UDP > TCP > TLS to the server.
    uint32_t pref = slot.config.transport == TransportProtocol::kUdp   ? 3000
                    : slot.config.transport == TransportProtocol::kTcp ? 2000
                                                                       : 1000;
    pref -= static_cast<uint32_t>(std::min<size_t>(slot_index, 500));
    LocalCandidate lc;
    lc.cand.type = CandidateType::kRelayed;
    lc.cand.address = a->relayed;
    lc.cand.base = a->relayed;
    lc.cand.related = a->mapped;
    lc.cand.priority = ComputePriority(TypePreference(CandidateType::kRelayed), pref, 1);
    lc.cand.foundation = Foundation(CandidateType::kRelayed, h.address.ip(),
                                    slot.config.address.ToString() + std::string(ToString(slot.config.transport)));
    lc.host = slot.host;
    lc.turn = slot_index;
    lc.local_pref = pref;
    for (const auto& r : remotes)
      slot.client->CreatePermission(now, r.cand.address.ip());
    slot.local = locals.size();
    AddLocalCandidate(now, std::move(lc));
    // The mapped address is also a server-reflexive candidate (section 5.1.1.2).
    if (config.policy == TransportPolicy::kAll && slot.config.transport == TransportProtocol::kUdp &&
        a->mapped != h.address) {
      LocalCandidate sr;
      sr.cand.type = CandidateType::kServerReflexive;
      sr.cand.address = a->mapped;
      sr.cand.base = h.address;
      sr.cand.related = h.address;
      sr.cand.priority = ComputePriority(TypePreference(CandidateType::kServerReflexive), h.local_pref, 1);
      sr.cand.foundation = Foundation(CandidateType::kServerReflexive, h.address.ip(), slot.config.address.ToString());
      sr.host = slot.host;
      sr.local_pref = h.local_pref;
      bool dup = false;
      for (const auto& l : locals)
        if (l.cand.type == CandidateType::kServerReflexive && l.cand.address == a->mapped) dup = true;
      if (!dup) AddLocalCandidate(now, std::move(sr));
    }
    CheckGatheringComplete(now);
  } else if (std::get_if<turn::AllocationFailedEvent>(&ev)) {
    slot.done = true;
    // An allocation lost after it worked (refresh failure, 437, transport
    // error): pairs through it are dead. The selected pair is left to consent,
    // which demotes it within disconnected_timeout.
    if (slot.local)
      for (auto& [id, p] : pairs)
        if (p.local == *slot.local) FailPair(now, p);
    CheckGatheringComplete(now);
    UpdateState(now);
  } else if (auto* d = std::get_if<turn::PeerDataEvent>(&ev)) {
    if (slot.local) {
      bool app = false;
      (void)HandleIncoming(now, slot.host, slot.local, d->peer, d->data, &app);
      if (app) Emit(ApplicationDataEvent{std::move(d->data)});
    }
  }
}

void Agent::Impl::GatheringTimeouts(Instant now) {
  bool changed = false;
  for (auto& g : gathers) {
    if (g.done) continue;
    if (g.tx->timed_out(now) || now - g.tx->first_sent() >= config.gathering_timeout) {
      g.done = true;
      changed = true;
      continue;
    }
    if (auto bytes = g.tx->PollTransmit(now))
      transmits.push_back(
          Transmit{hosts[g.host].address, g.server, TransportProtocol::kUdp, {bytes->begin(), bytes->end()}});
  }
  for (auto& t : turns) {
    // A TURN server that neither answers nor fails within the gathering
    // timeout no longer holds up gathering (the allocation may still land
    // later; its candidate then trickles).
    if (!t.done && t.client &&
        (t.client->state() == turn::State::kFailed || now - t.started >= config.gathering_timeout)) {
      t.done = true;
      changed = true;
    }
  }
  if (changed) CheckGatheringComplete(now);
}

void Agent::Impl::CheckGatheringComplete(Instant now) {
  if (!gathering_started || gathering == GatheringState::kComplete) return;
  for (const auto& g : gathers)
    if (!g.done) return;
  for (const auto& t : turns)
    if (!t.done) return;
  gathering = GatheringState::kComplete;
  Emit(GatheringStateEvent{GatheringState::kComplete});
  // Failure may hinge on our own gathering (e.g. nothing was gathered and the
  // peer already sent end-of-candidates).
  UpdateState(now);
}

}  // namespace peerlink::ice
