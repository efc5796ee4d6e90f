// Connectivity checks (RFC 8445 sections 6.1.2-6.1.4, 7): pairing, pacing,
// triggered checks, request/response handling, peer-reflexive candidates,
// role conflicts and regular nomination.
#include <algorithm>

#include "src/base/check.h"
#include "src/ice/agent_internal.h"
#include "src/stun/credentials.h"

namespace peerlink::ice {

uint64_t Agent::Impl::ComputePairPriority(const Candidate& local, const Candidate& remote) const {
  return role == Role::kControlling ? PairPriority(local.priority, remote.priority)
                                    : PairPriority(remote.priority, local.priority);
}

void Agent::Impl::RecomputePriorities() {
  for (auto& [id, p] : pairs)
    p.priority = ComputePairPriority(locals[p.local].cand, remotes[p.remote].cand);
}

Pair* Agent::Impl::AddPair(size_t local, size_t remote) {
  for (auto& [id, p] : pairs)
    if (p.local == local && p.remote == remote) return &p;
  const Candidate& l = locals[local].cand;
  const Candidate& r = remotes[remote].cand;
  if (l.address.family() != r.address.family()) return nullptr;
  // Section 6.1.2.4: pairs whose local candidate is server-reflexive are
  // redundant with the pair from its base; local prflx candidates never pair.
  if (l.type == CandidateType::kServerReflexive || l.type == CandidateType::kPeerReflexive) return nullptr;
  if (config.policy == TransportPolicy::kRelay && l.type != CandidateType::kRelayed) return nullptr;
  if (!CanPairAddresses(l.address, r.address)) return nullptr;
  // Skip pairs that would send from the same base to the same remote as an
  // existing pair (section 6.1.2.4 pruning by base).
  for (auto& [id, p] : pairs) {
    const LocalCandidate& pl = locals[p.local];
    if (p.remote == remote && pl.cand.base == l.base && pl.turn == locals[local].turn) return &p;
  }
  if (pairs.size() >= config.max_pairs) return nullptr;
  Pair p;
  p.id = next_pair_id++;
  p.local = local;
  p.remote = remote;
  p.priority = ComputePairPriority(l, r);
  // Section 6.1.2.6: the first pair of each foundation starts waiting.
  const std::string foundation = l.foundation + "/" + r.foundation;
  bool foundation_seen = false;
  for (auto& [id, q] : pairs)
    if (locals[q.local].cand.foundation + "/" + remotes[q.remote].cand.foundation == foundation) foundation_seen = true;
  p.state = foundation_seen ? PairState::kFrozen : PairState::kWaiting;
  auto [it, ok] = pairs.emplace(p.id, std::move(p));
  return &it->second;
}

void Agent::Impl::FormPairs(Instant now, size_t remote_index) {
  (void)now;
  for (size_t i = 0; i < locals.size(); ++i)
    AddPair(i, remote_index);
}

void Agent::Impl::FormPairsForLocal(Instant now, size_t local_index) {
  (void)now;
  for (size_t i = 0; i < remotes.size(); ++i)
    AddPair(local_index, i);
}

void Agent::Impl::Unfreeze(const std::string& foundation) {
  for (auto& [id, p] : pairs)
    if (p.state == PairState::kFrozen &&
        locals[p.local].cand.foundation + "/" + remotes[p.remote].cand.foundation == foundation)
      p.state = PairState::kWaiting;
}

void Agent::Impl::SendCheck(Instant now, Pair& p, bool use_candidate, bool consent, bool previous_gen) {
  const Credentials& rc = previous_gen ? previous->remote_credentials : *remote_creds;
  const Credentials& lc = previous_gen ? previous->local_credentials : local_creds;
  size_t host = 0;
  std::optional<size_t> turn_slot;
  SocketAddress to;
  uint32_t local_pref = 0;
  if (previous_gen) {
    host = previous->host;
    turn_slot = previous->turn;
    to = previous->remote.address;
  } else {
    const LocalCandidate& local = locals[p.local];
    host = local.host;
    turn_slot = local.turn;
    to = remotes[p.remote].cand.address;
    local_pref = local.local_pref;
  }

  stun::StunMessageBuilder b(stun::Method::kBinding, stun::StunClass::kRequest, stun::RandomTransactionId(rng));
  b.AddString(stun::attr::kUsername, rc.ufrag + ":" + lc.ufrag);
  // Section 7.1.1: PRIORITY carries the priority a peer-reflexive candidate
  // learned from this check would have.
  b.AddU32(stun::attr::kPriority, ComputePriority(TypePreference(CandidateType::kPeerReflexive), local_pref, 1));
  b.AddU64(role == Role::kControlling ? stun::attr::kIceControlling : stun::attr::kIceControlled, tiebreaker);
  if (use_candidate) b.AddFlag(stun::attr::kUseCandidate);
  b.AddMessageIntegrity(stun::ShortTermKey(rc.pwd));
  b.AddFingerprint();

  Check c;
  c.tid = b.transaction_id();
  c.pair_id = p.id;
  c.use_candidate = use_candidate;
  c.consent = consent;
  c.previous_generation = previous_gen;
  c.role_at_send = role;
  c.key = rc.pwd;
  c.bytes = std::move(b).Finish();
  c.first_sent = now;
  c.last_sent = now;
  c.sends = 1;
  c.rto = config.check_rto;
  c.next_rtx = now + c.rto;
  // A consent check lives until the next one is due, so at most one is outstanding.
  c.fail_at = now + (consent ? config.consent_interval : config.check_timeout);
  SendVia(now, host, turn_slot, to, c.bytes);
  ++p.stats.requests_sent;
  if (!consent) p.state = PairState::kInProgress;
  if (use_candidate) p.nominating = true;
  checks.push_back(std::move(c));
}

void Agent::Impl::FailPair(Instant now, Pair& p) {
  p.nominating = false;
  if (selected == p.id || (previous && &p == &previous->pair)) return;
  p.state = PairState::kFailed;
  p.valid = false;
  last_pair_failed_at = now;
}

void Agent::Impl::PaceChecks(Instant now) {
  if (!remote_creds || closed) return;
  // Triggered checks go out at once: they answer authenticated requests, so
  // the peer's own pacing bounds their rate (RFC 8445 section 6.1.4.2 sends
  // them on the next Ta tick; we trade that for connect latency).
  for (int guard = 0; guard < 1000 && !triggered.empty(); ++guard) {
    Pair* p = FindPair(triggered.front());
    triggered.pop_front();
    if (p && p->state != PairState::kInProgress && p->state != PairState::kSucceeded) SendCheck(now, *p, false, false);
  }
  if (now < next_check_at) return;
  // Ordinary check: the highest-priority waiting pair; if none, unfreeze the
  // highest-priority frozen one (section 6.1.4.2).
  Pair* best = nullptr;
  for (auto& [id, p] : pairs)
    if (p.state == PairState::kWaiting && (!best || p.priority > best->priority)) best = &p;
  if (!best) {
    for (auto& [id, p] : pairs)
      if (p.state == PairState::kFrozen && (!best || p.priority > best->priority)) best = &p;
  }
  if (!best) return;
  SendCheck(now, *best, false, false);
  next_check_at = now + config.ta;
}

void Agent::Impl::CheckTimeouts(Instant now) {
  for (size_t i = 0; i < checks.size();) {
    Check& c = checks[i];
    Pair* p = c.previous_generation ? (previous ? &previous->pair : nullptr) : FindPair(c.pair_id);
    if (!p) {
      checks.erase(checks.begin() + static_cast<ptrdiff_t>(i));
      continue;
    }
    if (now >= c.fail_at) {
      if (!c.consent) FailPair(now, *p);
      checks.erase(checks.begin() + static_cast<ptrdiff_t>(i));
      continue;
    }
    if (now >= c.next_rtx) {
      const bool prev = c.previous_generation;
      const LocalCandidate* l = prev ? nullptr : &locals[p->local];
      const size_t host = prev ? previous->host : l->host;
      const auto turn_slot = prev ? previous->turn : l->turn;
      const SocketAddress to = prev ? previous->remote.address : remotes[p->remote].cand.address;
      SendVia(now, host, turn_slot, to, c.bytes);
      ++p->stats.requests_sent;
      c.last_sent = now;
      ++c.sends;
      c.rto = std::min(c.rto * 2, config.check_max_rto);
      c.next_rtx = now + c.rto;
    }
    ++i;
  }
}

Received Agent::Impl::HandleIncoming(Instant now,
                                     size_t host,
                                     std::optional<size_t> via_local,
                                     const SocketAddress& remote,
                                     ByteView data,
                                     bool* is_app_data) {
  *is_app_data = false;
  if (stun::LooksLikeStun(data)) {
    auto parsed = stun::StunMessage::Parse(data);
    if (!parsed) return Received::kDropped;
    const stun::StunMessage& msg = *parsed;
    if (msg.HasFingerprint() && !msg.VerifyFingerprint()) return Received::kDropped;
    if (!via_local) {
      if (StunGather* g = FindGather(host, remote, msg.transaction_id())) {
        if (msg.cls() == stun::StunClass::kSuccessResponse || msg.cls() == stun::StunClass::kErrorResponse)
          HandleGatherResponse(now, *g, msg);
        return Received::kConsumed;
      }
    }
    if (msg.method() != stun::Method::kBinding) return Received::kDropped;
    switch (msg.cls()) {
      case stun::StunClass::kRequest: HandleRequest(now, host, via_local, remote, msg); break;
      case stun::StunClass::kSuccessResponse:
      case stun::StunClass::kErrorResponse: HandleResponse(now, host, via_local, remote, msg); break;
      case stun::StunClass::kIndication: break;  // keepalive (RFC 8445 section 11)
    }
    return Received::kConsumed;
  }
  // Application data: accept only from a peer we have a valid pair with, or
  // the previous generation's path (RFC 7675: consent before data).
  for (auto& [id, p] : pairs) {
    const LocalCandidate& l = locals[p.local];
    const bool same_path = via_local ? (p.local == *via_local) : (l.host == host && !l.turn);
    if (p.valid && same_path && remotes[p.remote].cand.address == remote) {
      p.last_received = now;
      p.stats.bytes_received += data.size();
      ++p.stats.packets_received;
      *is_app_data = true;
      if (selected == p.id && state == State::kDisconnected) UpdateState(now);
      return Received::kApplicationData;
    }
  }
  if (previous && previous->remote.address == remote) {
    previous->pair.last_received = now;
    previous->pair.stats.bytes_received += data.size();
    ++previous->pair.stats.packets_received;
    *is_app_data = true;
    return Received::kApplicationData;
  }
  return Received::kDropped;
}

}  // namespace peerlink::ice
