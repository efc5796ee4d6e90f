// ice::Agent: public API, output queue, connection state and path selection.
#include "src/ice/agent.h"

#include <algorithm>

#include "src/base/check.h"
#include "src/ice/agent_internal.h"
#include "src/turn/client.h"

namespace peerlink::ice {

std::string_view ToString(Role r) {
  return r == Role::kControlling ? "controlling" : "controlled";
}

std::string_view ToString(State s) {
  switch (s) {
    case State::kNew: return "new";
    case State::kChecking: return "checking";
    case State::kConnected: return "connected";
    case State::kCompleted: return "completed";
    case State::kFailed: return "failed";
    case State::kDisconnected: return "disconnected";
    case State::kClosed: return "closed";
  }
  return "?";
}

std::string_view ToString(GatheringState s) {
  switch (s) {
    case GatheringState::kNew: return "new";
    case GatheringState::kGathering: return "gathering";
    case GatheringState::kComplete: return "complete";
  }
  return "?";
}

std::string_view ToString(PairState s) {
  switch (s) {
    case PairState::kFrozen: return "frozen";
    case PairState::kWaiting: return "waiting";
    case PairState::kInProgress: return "in-progress";
    case PairState::kSucceeded: return "succeeded";
    case PairState::kFailed: return "failed";
  }
  return "?";
}

Agent::Impl::Impl(const AgentConfig& c, Rng& r, Instant now) : config(c), rng(r), role(c.role), next_check_at(now) {
  tiebreaker = rng.U64();
  local_creds = config.local_credentials;
  // RFC 8445 section 5.3: ufrag >= 24 bits, pwd >= 128 bits of randomness.
  if (local_creds.ufrag.empty()) local_creds.ufrag = rng.IceChars(8);
  if (local_creds.pwd.empty()) local_creds.pwd = rng.IceChars(24);
}

Agent::Agent(const AgentConfig& config, Rng& rng, Instant now) : impl_(std::make_unique<Impl>(config, rng, now)) {}
Agent::~Agent() = default;

const Credentials& Agent::local_credentials() const {
  return impl_->local_creds;
}
Role Agent::role() const {
  return impl_->role;
}
State Agent::state() const {
  return impl_->state;
}
GatheringState Agent::gathering_state() const {
  return impl_->gathering;
}

void Agent::Impl::SetState(Instant now, State s, std::string reason) {
  (void)now;
  if (state == s) return;
  state = s;
  if (s == State::kFailed) {
    // RFC 7675 section 5.1: without consent, stop sending (checks included).
    checks.clear();
    triggered.clear();
    for (auto& [id, p] : pairs)
      p.next_consent.reset();
  }
  Emit(StateEvent{s, std::move(reason)});
}

Pair* Agent::Impl::FindPair(uint32_t id) {
  auto it = pairs.find(id);
  return it == pairs.end() ? nullptr : &it->second;
}

// The pair application data uses: the selected (nominated) pair, else the
// best valid pair (data may flow before nomination completes).
const Pair* Agent::Impl::UsablePair() const {
  return const_cast<Impl*>(this)->UsablePair();
}

Pair* Agent::Impl::UsablePair() {
  if (selected) return FindPair(*selected);
  Pair* best = nullptr;
  for (auto& [id, p] : pairs)
    if (p.valid && p.state == PairState::kSucceeded && (!best || p.priority > best->priority)) best = &p;
  return best;
}

void Agent::Impl::Select(Instant now, Pair& p) {
  if (selected == p.id) return;
  selected = p.id;
  previous.reset();  // the new generation has a path (RFC 8445 section 9)
  p.nominated = true;
  if (!p.last_consent) p.last_consent = now;
  if (!p.last_received) p.last_received = now;
  ScheduleConsent(now, p);
  Emit(SelectedPairEvent{ValidLocal(p), remotes[p.remote].cand, p.rtt});
  UpdateState(now);
}

void Agent::Impl::UpdateState(Instant now) {
  if (closed || state == State::kFailed) return;
  if (selected) {
    Pair* p = FindPair(*selected);
    PL_CHECK(p != nullptr);
    if (p->last_received && now - *p->last_received >= config.disconnected_timeout) {
      SetState(now, State::kDisconnected,
               "no traffic from the peer on the selected pair for " + (now - *p->last_received).ToString());
      return;
    }
    bool pending = !triggered.empty();
    for (auto& [id, q] : pairs)
      if (q.state == PairState::kWaiting || q.state == PairState::kInProgress) pending = true;
    const bool done = !pending && remote_eoc && gathering == GatheringState::kComplete;
    SetState(now, done ? State::kCompleted : State::kConnected);
    return;
  }
  if (previous) return;  // restarting: keep the current state while the old path carries data
  if (!remote_creds && remotes.empty()) return;
  if (pairs.empty() && !(remote_eoc && gathering == GatheringState::kComplete)) {
    if (state == State::kNew && remote_creds) SetState(now, State::kChecking);
    return;
  }
  bool any_alive = !triggered.empty();
  for (auto& [id, p] : pairs)
    if (p.state != PairState::kFailed) any_alive = true;
  if (any_alive) {
    if (state == State::kNew) SetState(now, State::kChecking);
    return;
  }
  // Every pair has failed (or there are none). Fail at once when nothing more
  // can arrive, else after trickle_wait.
  if (gathering != GatheringState::kComplete) return;
  bool final_info = remote_eoc;
  if (pairs.empty()) {
    if (!locals.empty()) {
      if (!no_pairs_since) no_pairs_since = now;
      final_info = remote_eoc && now - *no_pairs_since >= config.trickle_wait;
    }
  } else {
    no_pairs_since.reset();
  }
  const bool waited = last_pair_failed_at && now - *last_pair_failed_at >= config.trickle_wait;
  if (final_info || waited) {
    SetState(now, State::kFailed,
             pairs.empty() ? "no usable candidate pairs"
                           : "all " + std::to_string(pairs.size()) + " candidate pairs failed");
  } else if (state == State::kNew) {
    SetState(now, State::kChecking);
  }
}

void Agent::Impl::SendVia(Instant now,
                          size_t host,
                          std::optional<size_t> turn,
                          const SocketAddress& to,
                          ByteView data) {
  if (turn) {
    TurnSlot& slot = turns[*turn];
    if (slot.client) (void)slot.client->SendToPeer(now, to, data);
    return;
  }
  transmits.push_back(Transmit{hosts[host].address, to, TransportProtocol::kUdp, {data.begin(), data.end()}});
}

void Agent::Impl::DrainTurn(Instant now) {
  for (size_t i = 0; i < turns.size(); ++i) {
    TurnSlot& slot = turns[i];
    if (!slot.client) continue;
    for (int guard = 0; guard < 10000; ++guard) {
      turn::Output out = slot.client->PollOutput(now);
      if (auto* t = std::get_if<turn::TransmitToServer>(&out)) {
        transmits.push_back(
            Transmit{hosts[slot.host].address, slot.config.address, slot.config.transport, std::move(t->data)});
      } else if (auto* e = std::get_if<turn::ClientEvent>(&out)) {
        HandleTurnEvent(now, i, std::move(*e));
      } else {
        turns[i].deadline = std::get<turn::Deadline>(out).at;
        break;
      }
    }
  }
}

Deadline Agent::Impl::NextDeadline(Instant now) const {
  Deadline d{Instant::Max(), "idle"};
  auto consider = [&d](Instant t, const char* timer) {
    if (t < d.at) d = Deadline{t, timer};
  };
  if (closed) return d;
  for (const auto& g : gathers)
    if (!g.done && g.tx)
      if (auto t = g.tx->deadline())
        consider(std::min(*t, g.tx->first_sent() + config.gathering_timeout), "stun-gathering");
  for (const auto& t : turns) {
    if (!t.done) consider(t.started + config.gathering_timeout, "turn-gathering");
    consider(t.deadline, "turn");
  }
  for (const auto& c : checks)
    consider(std::min(c.next_rtx, c.fail_at), c.consent ? "consent-check" : "check");
  bool have_work = !triggered.empty();
  for (const auto& [id, p] : pairs) {
    if (p.state == PairState::kWaiting || p.state == PairState::kFrozen) have_work = true;
    if (p.next_consent) consider(*p.next_consent, "consent");
  }
  if (have_work && remote_creds) consider(next_check_at, "pacing");
  if (previous && previous->pair.next_consent) consider(*previous->pair.next_consent, "consent-previous");
  // Level-triggered conditions only wake us while they lie ahead; once
  // reached, HandleTimeout has acted on them and they must not re-fire.
  auto ahead = [&](Instant t, const char* timer) {
    if (t > now) consider(t, timer);
  };
  if (selected && state != State::kFailed) {
    auto it = pairs.find(*selected);
    if (it != pairs.end()) {
      if (it->second.last_received && state != State::kDisconnected)
        ahead(*it->second.last_received + config.disconnected_timeout, "disconnected");
      if (it->second.last_consent) ahead(*it->second.last_consent + config.consent_timeout, "consent-expiry");
    }
  }
  if (first_valid_at && !selected && role == Role::kControlling) {
    ahead(*first_valid_at + config.nomination_wait, "nomination");
    if (!peer_has_credentials) ahead(*first_valid_at + config.unconfirmed_nomination_wait, "nomination");
  }
  if (last_pair_failed_at && !selected && state != State::kFailed)
    ahead(*last_pair_failed_at + config.trickle_wait, "trickle-wait");
  if (no_pairs_since && pairs.empty() && !selected && state != State::kFailed)
    ahead(*no_pairs_since + config.trickle_wait, "prflx-wait");
  return d;
}

void Agent::AddLocalAddress(Instant now, const SocketAddress& bound) {
  Impl& s = *impl_;
  if (s.closed) return;
  for (const auto& h : s.hosts)
    if (h.address == bound) return;
  HostSocket h;
  h.address = bound;
  // Local preference: IPv6 above IPv4, then in the order the runtime added them.
  const uint32_t index = static_cast<uint32_t>(s.hosts.size());
  h.local_pref = (bound.ip().is_v6() ? 60000u : 50000u) - std::min<uint32_t>(index, 5000u);
  s.hosts.push_back(h);
  const size_t host = s.hosts.size() - 1;
  if (s.config.policy == TransportPolicy::kAll) {
    LocalCandidate lc;
    lc.cand.type = CandidateType::kHost;
    lc.cand.address = bound;
    lc.cand.base = bound;
    lc.cand.priority = ComputePriority(TypePreference(CandidateType::kHost), h.local_pref, 1);
    lc.cand.foundation = s.Foundation(CandidateType::kHost, bound.ip(), "");
    lc.host = host;
    lc.local_pref = h.local_pref;
    s.AddLocalCandidate(now, std::move(lc));
  }
  if (s.gathering_started) s.StartHostGathering(now, host);
}

void Agent::StartGathering(Instant now) {
  Impl& s = *impl_;
  if (s.closed || s.gathering_started) return;
  s.gathering_started = true;
  s.gathering = GatheringState::kGathering;
  s.Emit(GatheringStateEvent{GatheringState::kGathering});
  for (size_t i = 0; i < s.hosts.size(); ++i)
    s.StartHostGathering(now, i);
  s.CheckGatheringComplete(now);
}

bool Agent::has_remote_credentials() const {
  return impl_->remote_creds.has_value();
}

void Agent::SetRemoteCredentials(Instant now, const Credentials& remote) {
  Impl& s = *impl_;
  if (s.closed) return;
  if (s.remote_creds && s.remote_creds->ufrag == remote.ufrag && s.remote_creds->pwd == remote.pwd) return;
  s.remote_creds = remote;
  s.next_check_at = std::max(s.next_check_at, now);
  s.UpdateState(now);
}

bool Agent::AddRemoteCandidate(Instant now, const Candidate& candidate) {
  Impl& s = *impl_;
  if (s.closed || candidate.component != 1 || candidate.protocol != TransportProtocol::kUdp) return false;
  if (s.remotes.size() >= s.config.max_remote_candidates) return false;
  for (auto& r : s.remotes) {
    if (r.cand.address == candidate.address) {
      // A signaled candidate replaces the peer-reflexive one learned earlier
      // (RFC 8445 section 7.3.1.3); keep the prflx priority per the RFC.
      if (r.cand.type == CandidateType::kPeerReflexive) {
        r.cand.type = candidate.type;
        r.cand.foundation = candidate.foundation;
        r.cand.related = candidate.related;
      }
      return true;
    }
  }
  bool family_ok = false;
  for (const auto& h : s.hosts)
    if (h.address.family() == candidate.address.family()) family_ok = true;
  for (const auto& l : s.locals)
    if (l.cand.address.family() == candidate.address.family()) family_ok = true;
  if (!family_ok && !s.hosts.empty()) return false;
  RemoteCandidate rc;
  rc.cand = candidate;
  rc.cand.base = candidate.address;
  s.remotes.push_back(std::move(rc));
  // Relayed local candidates need a TURN permission for this peer.
  for (auto& t : s.turns)
    if (t.client && t.local) t.client->CreatePermission(now, candidate.address.ip());
  s.FormPairs(now, s.remotes.size() - 1);
  s.UpdateState(now);
  return true;
}

void Agent::SetRemoteIceLite(bool lite) {
  impl_->remote_lite = lite;
}

void Agent::SetRemoteEndOfCandidates(Instant now) {
  impl_->remote_eoc = true;
  impl_->UpdateState(now);
}

void Agent::Restart(Instant now) {
  Impl& s = *impl_;
  if (s.closed) return;
  if (s.selected) {
    Pair* p = s.FindPair(*s.selected);
    PL_CHECK(p != nullptr);
    PreviousPath prev;
    prev.local = s.ValidLocal(*p);
    prev.remote = s.remotes[p->remote].cand;
    prev.host = s.locals[p->local].host;
    prev.turn = s.locals[p->local].turn;
    prev.local_credentials = s.local_creds;
    prev.remote_credentials = s.remote_creds.value_or(Credentials{});
    prev.pair = *p;
    s.previous = std::make_unique<PreviousPath>(std::move(prev));
  }
  s.selected.reset();
  s.pairs.clear();
  s.triggered.clear();
  std::erase_if(s.checks, [](const Check& c) { return !c.previous_generation; });
  s.remotes.clear();
  if (s.remote_creds) s.previous_remote_ufrag = s.remote_creds->ufrag;
  s.remote_creds.reset();
  s.remote_eoc = false;
  s.first_valid_at.reset();
  s.peer_has_credentials = false;
  s.last_pair_failed_at.reset();
  s.no_pairs_since.reset();
  s.local_creds = Credentials{s.rng.IceChars(8), s.rng.IceChars(24)};
  // Local peer-reflexive candidates belong to the old generation.
  for (auto& l : s.locals)
    if (l.cand.type != CandidateType::kPeerReflexive) s.Emit(LocalCandidateEvent{l.cand});
  if (s.gathering == GatheringState::kComplete) s.Emit(GatheringStateEvent{GatheringState::kComplete});
  if (!s.previous) s.SetState(now, State::kChecking);
}

void Agent::Close(Instant now) {
  Impl& s = *impl_;
  if (s.closed) return;
  for (auto& t : s.turns)
    if (t.client) t.client->Close(now);
  s.DrainTurn(now);
  s.closed = true;
  s.checks.clear();
  s.triggered.clear();
  s.SetState(now, State::kClosed);
}

std::optional<size_t> Agent::Impl::HostIndex(const SocketAddress& local) const {
  for (size_t i = 0; i < hosts.size(); ++i)
    if (hosts[i].address == local) return i;
  return std::nullopt;
}

Received Agent::HandleDatagram(Instant now, const SocketAddress& local, const SocketAddress& remote, ByteView data) {
  Impl& s = *impl_;
  if (s.closed) return Received::kDropped;
  auto host = s.HostIndex(local);
  if (!host) return Received::kDropped;
  // TURN server traffic over UDP (STUN responses/indications and ChannelData).
  if (auto slot = s.FindTurnSlot(*host, remote, TransportProtocol::kUdp)) {
    if (stun::LooksLikeStun(data) || turn::LooksLikeChannelData(data)) {
      s.turns[*slot].client->HandleServerMessage(now, data);
      s.DrainTurn(now);
      return Received::kConsumed;
    }
  }
  bool app = false;
  Received r = s.HandleIncoming(now, *host, std::nullopt, remote, data, &app);
  PL_DCHECK(s.Consistent());
  return r;
}

void Agent::HandleStreamFrame(Instant now, const SocketAddress& local, const SocketAddress& server, ByteView frame) {
  Impl& s = *impl_;
  if (s.closed) return;
  auto host = s.HostIndex(local);
  if (!host) return;
  for (auto t : {TransportProtocol::kTcp, TransportProtocol::kTls}) {
    if (auto slot = s.FindTurnSlot(*host, server, t)) {
      s.turns[*slot].client->HandleServerMessage(now, frame);
      s.DrainTurn(now);
      return;
    }
  }
}

void Agent::HandleStreamError(Instant now,
                              const SocketAddress& local,
                              const SocketAddress& server,
                              std::string_view reason) {
  Impl& s = *impl_;
  auto host = s.HostIndex(local);
  if (!host) return;
  for (auto t : {TransportProtocol::kTcp, TransportProtocol::kTls}) {
    if (auto slot = s.FindTurnSlot(*host, server, t)) {
      s.turns[*slot].client->HandleTransportError(now, reason);
      s.DrainTurn(now);
    }
  }
}

void Agent::HandleTimeout(Instant now) {
  Impl& s = *impl_;
  if (s.closed) return;
  for (auto& t : s.turns)
    if (t.client) t.client->HandleTimeout(now);
  s.DrainTurn(now);
  s.GatheringTimeouts(now);
  s.CheckTimeouts(now);
  s.PaceChecks(now);
  s.MaybeNominate(now);
  s.ConsentTimers(now);
  s.UpdateState(now);
  PL_DCHECK(s.Consistent());
}

Output Agent::PollOutput(Instant now) {
  Impl& s = *impl_;
  s.DrainTurn(now);
  if (!s.transmits.empty()) {
    Transmit t = std::move(s.transmits.front());
    s.transmits.pop_front();
    return t;
  }
  if (!s.events.empty()) {
    AgentEvent e = std::move(s.events.front());
    s.events.pop_front();
    return e;
  }
  return s.NextDeadline(now);
}

SendResult Agent::SendData(Instant now, ByteView data) {
  Impl& s = *impl_;
  if (s.closed) return SendResult::kClosed;
  if (s.state == State::kFailed) return SendResult::kConsentLost;
  Pair* p = s.UsablePair();
  if (p) {
    const LocalCandidate& l = s.locals[p->local];
    if (l.turn) {
      auto st = s.turns[*l.turn].client->SendToPeer(now, s.remotes[p->remote].cand.address, data);
      if (st == turn::SendStatus::kQueueFull) return SendResult::kRelayQueueFull;
    } else {
      s.SendVia(now, l.host, std::nullopt, s.remotes[p->remote].cand.address, data);
    }
    p->stats.bytes_sent += data.size();
    ++p->stats.packets_sent;
    return SendResult::kOk;
  }
  if (s.previous) {
    s.SendVia(now, s.previous->host, s.previous->turn, s.previous->remote.address, data);
    s.previous->pair.stats.bytes_sent += data.size();
    ++s.previous->pair.stats.packets_sent;
    return SendResult::kOk;
  }
  return SendResult::kNoSelectedPair;
}

AgentStats Agent::GetStats() const {
  const Impl& s = *impl_;
  AgentStats out;
  out.state = s.state;
  out.gathering = s.gathering;
  out.role = s.role;
  std::vector<const Pair*> sorted;
  for (const auto& [id, p] : s.pairs)
    sorted.push_back(&p);
  std::sort(sorted.begin(), sorted.end(), [](const Pair* a, const Pair* b) { return a->priority > b->priority; });
  for (const Pair* p : sorted) {
    PairStats ps = p->stats;
    ps.local = s.ValidLocal(*p);
    ps.remote = s.remotes[p->remote].cand;
    ps.state = std::string(ToString(p->state));
    ps.nominated = p->nominated;
    ps.selected = s.selected == p->id;
    ps.priority = p->priority;
    ps.rtt = p->rtt;
    ps.smoothed_rtt = p->srtt;
    if (ps.selected) out.selected_index = out.pairs.size();
    out.pairs.push_back(std::move(ps));
  }
  return out;
}

std::optional<std::pair<Candidate, Candidate>> Agent::selected_pair() const {
  const Impl& s = *impl_;
  if (!s.selected) return std::nullopt;
  auto it = s.pairs.find(*s.selected);
  if (it == s.pairs.end()) return std::nullopt;
  return std::make_pair(s.ValidLocal(it->second), s.remotes[it->second.remote].cand);
}

bool Agent::Impl::Consistent() const {
  for (const auto& [id, p] : pairs) {
    if (p.id != id || p.local >= locals.size() || p.remote >= remotes.size()) return false;
    if (p.valid && p.state != PairState::kSucceeded) return false;
  }
  if (selected) {
    auto it = pairs.find(*selected);
    if (it == pairs.end() || !it->second.valid) return false;
  }
  for (const auto& l : locals)
    if (l.host >= hosts.size() || (l.turn && *l.turn >= turns.size())) return false;
  for (const auto& [id, p] : pairs)
    if (p.valid_local && *p.valid_local >= locals.size()) return false;
  for (const auto& c : checks)
    if (!c.previous_generation && !pairs.count(c.pair_id)) return false;
  if (pairs.size() > config.max_pairs + config.max_remote_candidates) return false;
  return true;
}

bool Agent::IsConsistent() const {
  return impl_->Consistent();
}

}  // namespace peerlink::ice
