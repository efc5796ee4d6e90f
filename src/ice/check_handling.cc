// Receiving Binding requests and responses (RFC 8445 sections 7.2.5, 7.3),
// role conflicts (7.3.1.1), peer-reflexive candidates (7.2.5.3.1, 7.3.1.3)
// and regular nomination (8.1).
#include <algorithm>

#include "src/base/check.h"
#include "src/ice/agent_internal.h"
#include "src/stun/credentials.h"

namespace peerlink::ice {

namespace {
// Errors to requests we could authenticate are signed with our password
// (RFC 8489 section 9.1.3); 400/401 cannot be.
std::vector<uint8_t> ErrorResponse(const stun::StunMessage& req, uint16_t code, std::string_view pwd = {}) {
  auto b = stun::StunMessageBuilder::ResponseTo(req, stun::StunClass::kErrorResponse);
  b.AddErrorCode(code, stun::DefaultReason(code));
  if (!pwd.empty()) b.AddMessageIntegrity(stun::ShortTermKey(pwd));
  b.AddFingerprint();
  return std::move(b).Finish();
}
}  // namespace

void Agent::Impl::HandleRequest(Instant now,
                                size_t host,
                                std::optional<size_t> via_local,
                                const SocketAddress& remote,
                                const stun::StunMessage& msg) {
  auto reply = [&](ByteView bytes) {
    SendVia(now, host, via_local ? locals[*via_local].turn : std::nullopt, remote, bytes);
  };
  if (auto unknown = stun::MaybeUnknownAttributeResponse(msg)) {
    reply(*unknown);
    return;
  }
  // Section 7.3: short-term credentials. USERNAME is "<our ufrag>:<their ufrag>".
  auto username = msg.GetString(stun::attr::kUsername);
  if (!username || !msg.HasMessageIntegrity()) {
    reply(ErrorResponse(msg, stun::error::kBadRequest));
    return;
  }
  const auto colon = username->find(':');
  const std::string_view ours = username->substr(0, colon);
  const std::string_view theirs = colon == std::string_view::npos ? std::string_view{} : username->substr(colon + 1);
  // The peer's half is checked too once its ufrag is known. A peer that restarted ICE checks with
  // its new ufrag and our old one until our answer reaches it (Chromium pairs its new candidates
  // with our old ones at once): answering those, as our current generation before we restart or
  // as the previous one after, makes the peer select a path that neither generation uses. A
  // check with our current ufrag and the peer's previous one is taken as current: only our latest
  // description carries that ufrag (werift labels its new-generation checks so when a check of
  // our previous generation reached it after its restart).
  bool previous_gen = false;
  if (ours == local_creds.ufrag) {
    const bool theirs_known = !remote_creds || theirs == remote_creds->ufrag ||
                              (!previous_remote_ufrag.empty() && theirs == previous_remote_ufrag);
    if (!theirs_known) {
      reply(ErrorResponse(msg, stun::error::kUnauthorized));
      return;
    }
  } else if (previous && ours == previous->local_credentials.ufrag && theirs == previous->remote_credentials.ufrag) {
    previous_gen = true;
  } else {
    reply(ErrorResponse(msg, stun::error::kUnauthorized));
    return;
  }
  const std::string& pwd = previous_gen ? previous->local_credentials.pwd : local_creds.pwd;
  if (!msg.VerifyMessageIntegrity(stun::ShortTermKey(pwd))) {
    reply(ErrorResponse(msg, stun::error::kUnauthorized));
    return;
  }
  if (!previous_gen) peer_has_credentials = true;
  // A check on a pair AddPair would never form gets no answer: a success would make the pair
  // valid for the peer while we never use it, and a peer that nominates it would send its data
  // where we drop it.
  if (!via_local && host < hosts.size() && !CanPairAddresses(hosts[host].address, remote)) return;

  // Section 7.3.1.1: role conflict.
  const auto their_controlling = msg.GetU64(stun::attr::kIceControlling);
  const auto their_controlled = msg.GetU64(stun::attr::kIceControlled);
  if (!previous_gen) {
    if (role == Role::kControlling && their_controlling) {
      if (tiebreaker >= *their_controlling) {
        reply(ErrorResponse(msg, stun::error::kRoleConflict, pwd));
        return;
      }
      role = Role::kControlled;
      RecomputePriorities();
      Emit(RoleEvent{role});
    } else if (role == Role::kControlled && their_controlled) {
      if (tiebreaker >= *their_controlled) {
        role = Role::kControlling;
        RecomputePriorities();
        Emit(RoleEvent{role});
      } else {
        reply(ErrorResponse(msg, stun::error::kRoleConflict, pwd));
        return;
      }
    }
  }

  // Success response (section 7.3.1.2 / RFC 8489 section 14.2).
  auto b = stun::StunMessageBuilder::ResponseTo(msg, stun::StunClass::kSuccessResponse);
  b.AddXorAddress(stun::attr::kXorMappedAddress, remote);
  b.AddMessageIntegrity(stun::ShortTermKey(pwd));
  b.AddFingerprint();
  reply(std::move(b).Finish());
  // A valid pair may have been waiting for the peer to hold our credentials (MaybeNominate);
  // here, before the paths below that return without pairing.
  if (!previous_gen) MaybeNominate(now);

  if (previous_gen) {
    previous->pair.last_received = now;
    ++previous->pair.stats.requests_received;
    ++previous->pair.stats.responses_sent;
    return;
  }

  // Section 7.3.1.3: an unknown source is a peer-reflexive remote candidate.
  size_t remote_index = remotes.size();
  for (size_t i = 0; i < remotes.size(); ++i)
    if (remotes[i].cand.address == remote) remote_index = i;
  if (remote_index == remotes.size()) {
    if (remotes.size() >= config.max_remote_candidates) return;
    RemoteCandidate rc;
    rc.cand.type = CandidateType::kPeerReflexive;
    rc.cand.address = remote;
    rc.cand.base = remote;
    rc.cand.priority = msg.GetU32(stun::attr::kPriority)
                           .value_or(ComputePriority(TypePreference(CandidateType::kPeerReflexive), 0, 1));
    rc.cand.foundation = "prflx" + std::to_string(remotes.size());
    remotes.push_back(std::move(rc));
    for (auto& t : turns)
      if (t.client && t.local) t.client->CreatePermission(now, remote.ip());
  }
  // The local candidate is the host candidate of this socket, or the relayed
  // candidate the request came through.
  std::optional<size_t> local_index = via_local;
  if (!local_index) {
    for (size_t i = 0; i < locals.size(); ++i)
      if (locals[i].host == host && !locals[i].turn && locals[i].cand.type == CandidateType::kHost) local_index = i;
  }
  if (!local_index) {
    // Relay-only policy: no host candidate is offered, but a peer may still
    // reach our host socket; answer without pairing (it cannot be selected).
    return;
  }
  Pair* p = AddPair(*local_index, remote_index);
  if (!p) return;
  ++p->stats.requests_received;
  ++p->stats.responses_sent;
  p->last_received = now;
  const bool use_candidate = msg.Has(stun::attr::kUseCandidate);
  if (use_candidate && role == Role::kControlled) p->remote_nominated = true;
  if (p->state == PairState::kSucceeded) {
    // Section 7.3.1.5: a nomination on a pair that already succeeded selects it.
    if (p->remote_nominated && role == Role::kControlled) Select(now, *p);
    if (selected == p->id && state == State::kDisconnected) UpdateState(now);
    return;
  }
  // Section 7.3.1.4: triggered check.
  if (p->state != PairState::kInProgress) {
    p->state = PairState::kWaiting;
    if (std::find(triggered.begin(), triggered.end(), p->id) == triggered.end()) triggered.push_back(p->id);
    if (remote_creds) PaceChecks(now);
  }
  UpdateState(now);
}

void Agent::Impl::HandleResponse(Instant now,
                                 size_t host,
                                 std::optional<size_t> via_local,
                                 const SocketAddress& remote,
                                 const stun::StunMessage& msg) {
  auto it = std::find_if(checks.begin(), checks.end(), [&](const Check& c) { return c.tid == msg.transaction_id(); });
  if (it == checks.end()) return;
  // Responses must be authenticated with the password the request used.
  if (!msg.VerifyMessageIntegrity(stun::ShortTermKey(it->key))) return;
  Check c = std::move(*it);
  checks.erase(it);
  Pair* p = c.previous_generation ? (previous ? &previous->pair : nullptr) : FindPair(c.pair_id);
  if (!p) return;
  ++p->stats.responses_received;
  // RTT: unambiguous only when the request was sent once (Karn's rule).
  const Duration rtt = now - c.last_sent;
  if (c.sends == 1) {
    p->rtt = rtt;
    p->srtt = p->srtt ? (*p->srtt * 7 + rtt) / 8 : rtt;
  }
  p->last_received = now;
  if (c.previous_generation) {
    p->last_consent = now;
    return;
  }
  // Section 7.2.5.2.1: responses must come from where the request went, on
  // the socket it left from.
  const LocalCandidate& sent_from = locals[p->local];
  const bool symmetric = remotes[p->remote].cand.address == remote &&
                         (via_local ? *via_local == p->local : (sent_from.host == host && !sent_from.turn));
  if (!symmetric) {
    if (!c.consent) FailPair(now, *p);
    return;
  }
  if (msg.cls() == stun::StunClass::kErrorResponse) {
    auto ec = msg.GetErrorCode();
    if (ec && ec->code == stun::error::kRoleConflict) {
      // Section 7.2.5.1: switch role (unless we already did) and retry.
      if (c.role_at_send == role) {
        role = role == Role::kControlling ? Role::kControlled : Role::kControlling;
        RecomputePriorities();
        Emit(RoleEvent{role});
      }
      p->nominating = false;
      if (selected != p->id) {
        p->state = PairState::kWaiting;
        p->valid = false;
        triggered.push_back(p->id);
        PaceChecks(now);
      }
      return;
    }
    if (!c.consent) FailPair(now, *p);
    UpdateState(now);
    return;
  }
  if (c.consent) {
    p->last_consent = now;
    if (state == State::kDisconnected) UpdateState(now);
    return;
  }
  // Section 7.2.5.3.1: a mapped address we do not know is a local prflx candidate.
  std::optional<size_t> valid_local;
  auto mapped = msg.GetXorAddress(stun::attr::kXorMappedAddress);
  if (via_local) {
    valid_local = *via_local;  // the peer sees our relayed address
  } else if (mapped) {
    for (size_t i = 0; i < locals.size(); ++i)
      if (locals[i].cand.address == *mapped && locals[i].host == host && !locals[i].turn) valid_local = i;
    if (!valid_local) {
      LocalCandidate lc;
      lc.cand.type = CandidateType::kPeerReflexive;
      lc.cand.address = *mapped;
      lc.cand.base = hosts[host].address;
      lc.cand.priority = ComputePriority(TypePreference(CandidateType::kPeerReflexive), sent_from.local_pref, 1);
      lc.cand.foundation = Foundation(CandidateType::kPeerReflexive, hosts[host].address.ip(), "");
      lc.host = host;
      lc.local_pref = sent_from.local_pref;
      AddLocalCandidate(now, std::move(lc));
      valid_local = locals.size() - 1;
    }
  }
  // The valid pair sends from the base of the pair that sent the check
  // (section 7.2.5.3.2).
  p = FindPair(c.pair_id);
  PL_CHECK(p != nullptr);
  p->valid_local = valid_local;
  p->state = PairState::kSucceeded;
  p->valid = true;
  if (!first_valid_at) first_valid_at = now;
  Unfreeze(locals[p->local].cand.foundation + "/" + remotes[p->remote].cand.foundation);
  if (c.use_candidate) {
    p->nominating = false;
    Select(now, *p);
  } else if (role == Role::kControlled && p->remote_nominated) {
    Select(now, *p);
  }
  MaybeNominate(now);
  UpdateState(now);
}

void Agent::Impl::MaybeNominate(Instant now) {
  if (role != Role::kControlling || selected || !remote_creds || closed) return;
  for (const auto& [id, p] : pairs)
    if (p.nominating) return;
  Pair* best = nullptr;
  for (auto& [id, p] : pairs)
    if (p.valid && (!best || p.priority > best->priority)) best = &p;
  if (!best) return;
  // Nominate once no pending pair could beat the best valid one, or after
  // nomination_wait (section 8.1.1 leaves the stopping rule to the agent).
  bool better_pending = false;
  for (auto& [id, p] : pairs)
    if (p.priority > best->priority && p.state != PairState::kFailed && p.state != PairState::kSucceeded)
      better_pending = true;
  if (better_pending && first_valid_at && now - *first_valid_at < config.nomination_wait) return;
  if (!peer_has_credentials && !remote_lite && first_valid_at &&
      now - *first_valid_at < config.unconfirmed_nomination_wait)
    return;
  SendCheck(now, *best, /*use_candidate=*/true, /*consent=*/false);
  best->state = PairState::kSucceeded;  // stays valid while the nomination is in flight
}

}  // namespace peerlink::ice
