// turn::Client: public API, message dispatch, request building and deadlines.
// The procedures live in allocate.cc (Allocate, auth, Refresh, Close) and
// peers.cc (permissions, channels, data).
#include "src/turn/client.h"

#include "src/base/check.h"
#include "src/turn/client_impl.h"

namespace peerlink::turn {

std::string_view ToString(State s) {
  switch (s) {
    case State::kIdle: return "idle";
    case State::kAllocating: return "allocating";
    case State::kAllocated: return "allocated";
    case State::kFailed: return "failed";
    case State::kClosing: return "closing";
    case State::kClosed: return "closed";
  }
  return "?";
}

bool LooksLikeChannelData(ByteView data) {
  // RFC 7983 section 7: first byte 64..79 is TURN ChannelData.
  return data.size() >= 4 && data[0] >= 64 && data[0] <= 79;
}

// ---------------------------------------------------------------------------
// Impl helpers shared by the procedure files.

std::string Client::Impl::ServerName() const {
  return "TURN server " + options.server.ToString();
}

stun::RetransmitPolicy Client::Impl::Policy() const {
  stun::RetransmitPolicy p;
  p.reliable = options.transport != TransportProtocol::kUdp;
  return p;
}

void Client::Impl::Emit(ClientEvent e) {
  if (auto* d = std::get_if<PeerDataEvent>(&e)) event_data_bytes += d->data.size();
  events.push_back(std::move(e));
}

void Client::Impl::Transmit(std::vector<uint8_t> bytes, bool is_data) {
  if (is_data) queued_bytes += bytes.size();
  transmits.push_back(OutgoingTransmit{std::move(bytes), is_data});
}

void Client::Impl::ClearAll() {
  pending.clear();
  permissions.clear();
  channels.clear();
  channel_peers.clear();
  // Data not yet handed to the runtime is dropped; control messages already
  // queued (e.g. the deallocating Refresh) still go out.
  for (auto it = transmits.begin(); it != transmits.end();) {
    if (it->is_data) {
      queued_bytes -= it->bytes.size();
      it = transmits.erase(it);
    } else {
      ++it;
    }
  }
  queued.clear();
  queued_bytes = 0;
  refresh_at.reset();
  expires_at = Instant::Max();
  peer_timer.reset();
  peer_timers_dirty = false;
}

void Client::Impl::Fail(uint16_t code, std::string reason) {
  if (state == State::kClosing || state == State::kClosed) {
    FinishClose();
    return;
  }
  if (state == State::kFailed) return;
  ClearAll();
  close_deadline.reset();
  relayed.reset();
  mapped.reset();
  state = State::kFailed;
  Emit(AllocationFailedEvent{code, std::move(reason)});
}

void Client::Impl::FinishClose() {
  if (state == State::kClosed) return;
  ClearAll();
  close_deadline.reset();
  relayed.reset();
  mapped.reset();
  state = State::kClosed;
  Emit(ClosedEvent{});
}

std::vector<uint8_t> Client::Impl::BuildRequest(PendingRequest& p) {
  static constexpr stun::Method kMethods[] = {stun::Method::kAllocate, stun::Method::kRefresh,
                                              stun::Method::kCreatePermission, stun::Method::kChannelBind};
  stun::StunMessageBuilder b(kMethods[static_cast<int>(p.kind)], stun::StunClass::kRequest,
                             stun::RandomTransactionId(rng));
  switch (p.kind) {
    case RequestKind::kAllocate:
      // RFC 8656 section 7.1.
      b.AddRequestedTransport(kProtocolUdp);
      b.AddU32(stun::attr::kLifetime, p.lifetime_s);
      if (options.relay_family == IpFamily::kV6) b.AddRequestedAddressFamily(IpFamily::kV6);
      if (!options.software.empty()) b.AddString(stun::attr::kSoftware, options.software);
      break;
    case RequestKind::kRefresh: b.AddU32(stun::attr::kLifetime, p.lifetime_s); break;
    case RequestKind::kCreatePermission:
      b.AddXorAddress(stun::attr::kXorPeerAddress, SocketAddress(p.peer_ip, 0));
      break;
    case RequestKind::kChannelBind:
      b.AddChannelNumber(p.channel);
      b.AddXorAddress(stun::attr::kXorPeerAddress, p.peer);
      break;
  }
  p.authenticated = credentials.has_value();
  if (credentials) {
    // RFC 8489 section 9.2.3 / 9.2.4: long-term credential attributes.
    b.AddString(stun::attr::kUsername, options.username);
    b.AddString(stun::attr::kRealm, credentials->realm);
    b.AddString(stun::attr::kNonce, credentials->nonce);
    if (credentials->password_algorithms) {
      b.AddBytes(stun::attr::kPasswordAlgorithms, *credentials->password_algorithms);
      b.AddPasswordAlgorithm(credentials->algorithm);
    }
    if (credentials->algorithm == stun::PasswordAlgorithm::kSha256)
      b.AddMessageIntegritySha256(credentials->key);
    else
      b.AddMessageIntegrity(credentials->key);
  }
  b.AddFingerprint();
  return std::move(b).Finish();
}

void Client::Impl::StartRequest(Instant now, PendingRequest p) {
  auto bytes = BuildRequest(p);
  p.txn.emplace(std::move(bytes), Policy(), now);
  auto first = p.txn->PollTransmit(now);
  PL_CHECK(first.has_value());
  Transmit(std::vector<uint8_t>(first->begin(), first->end()), /*is_data=*/false);
  ++stats.requests_sent;
  pending.push_back(std::move(p));
}

std::optional<Instant> Client::Impl::NextDeadline() {
  std::optional<Instant> best;
  auto consider = [&best](std::optional<Instant> t) {
    if (t && (!best || *t < *best)) best = t;
  };
  for (const auto& p : pending)
    consider(p.txn->deadline());
  consider(refresh_at);
  consider(close_deadline);
  if (expires_at != Instant::Max()) consider(expires_at);
  if (peer_timers_dirty) RecomputePeerTimer();
  consider(peer_timer);
  return best;
}

// ---------------------------------------------------------------------------
// Public API.

Client::Client(const Options& options, Rng& rng, Instant /*now*/) : impl_(std::make_unique<Impl>(options, rng)) {}
Client::~Client() = default;

void Client::Allocate(Instant now) {
  Impl& s = *impl_;
  if (s.state != State::kIdle) return;
  s.state = State::kAllocating;
  PendingRequest p;
  p.kind = RequestKind::kAllocate;
  p.lifetime_s = static_cast<uint32_t>(s.options.requested_lifetime.millis() / 1000);
  s.StartRequest(now, std::move(p));
  PL_DCHECK(IsConsistent());
}

void Client::CreatePermission(Instant now, const IpAddress& peer) {
  Impl& s = *impl_;
  if (s.state != State::kAllocated) {
    s.Emit(PermissionEvent{peer, false});
    return;
  }
  Permission* perm = s.StartPermission(now, peer);
  if (!perm) {
    s.Emit(PermissionEvent{peer, false});
  } else {
    perm->used = true;
    if (perm->installed && !perm->in_flight) s.Emit(PermissionEvent{peer, true});
  }
  PL_DCHECK(IsConsistent());
}

SendStatus Client::SendToPeer(Instant now, const SocketAddress& peer, ByteView data) {
  SendStatus st = impl_->Send(now, peer, data);
  PL_DCHECK(IsConsistent());
  return st;
}

void Client::Close(Instant now) {
  Impl& s = *impl_;
  switch (s.state) {
    case State::kClosing:
    case State::kClosed: return;
    case State::kAllocated:
      s.ClearAll();
      s.state = State::kClosing;
      s.close_deadline = now + kCloseWait;
      s.SendRefresh(now, 0);  // RFC 8656 section 8: LIFETIME 0 deletes the allocation
      break;
    case State::kIdle:
    case State::kAllocating:
    case State::kFailed: s.FinishClose(); break;
  }
  PL_DCHECK(IsConsistent());
}

void Client::HandleServerMessage(Instant now, ByteView data) {
  Impl& s = *impl_;
  if (LooksLikeChannelData(data)) {
    s.HandleChannelData(now, data);
  } else {
    auto parsed = stun::StunMessage::Parse(data);
    if (!parsed) {
      ++s.stats.dropped_from_server;
    } else if (parsed->HasFingerprint() && !parsed->VerifyFingerprint()) {
      ++s.stats.dropped_from_server;  // RFC 8489 section 7.3: not STUN
    } else if (parsed->cls() == stun::StunClass::kIndication && parsed->method() == stun::Method::kData) {
      s.HandleDataIndication(now, *parsed);
    } else if (parsed->cls() == stun::StunClass::kSuccessResponse || parsed->cls() == stun::StunClass::kErrorResponse) {
      s.HandleResponse(now, *parsed);
    } else {
      ++s.stats.dropped_from_server;
    }
  }
  PL_DCHECK(IsConsistent());
}

void Client::HandleTransportError(Instant now, std::string_view reason) {
  Impl& s = *impl_;
  (void)now;
  if (s.state == State::kClosing) {
    s.FinishClose();
  } else if (s.state == State::kAllocating || s.state == State::kAllocated) {
    s.Fail(0, "transport to " + s.ServerName() + " over " + std::string(ToString(s.options.transport)) +
                  " failed: " + std::string(reason));
  }
  PL_DCHECK(IsConsistent());
}

void Client::HandleTimeout(Instant now) {
  Impl& s = *impl_;
  // Transactions first: a timeout may fail the allocation and clear the rest.
  for (size_t i = 0; i < s.pending.size();) {
    if (s.pending[i].txn->timed_out(now)) {
      PendingRequest p = std::move(s.pending[i]);
      s.pending.erase(s.pending.begin() + static_cast<ptrdiff_t>(i));
      s.OnTimeout(now, p);
      i = 0;  // OnTimeout may have changed `pending`
    } else {
      ++i;
    }
  }
  if (s.state == State::kClosing && s.close_deadline && now >= *s.close_deadline) s.FinishClose();
  if (s.state == State::kAllocated) s.CheckAllocationTimers(now);
  if (s.state == State::kAllocated) s.CheckPeerTimers(now);
  PL_DCHECK(IsConsistent());
}

Output Client::PollOutput(Instant now) {
  Impl& s = *impl_;
  if (!s.transmits.empty()) {
    OutgoingTransmit t = std::move(s.transmits.front());
    s.transmits.pop_front();
    if (t.is_data) s.queued_bytes -= t.bytes.size();
    return TransmitToServer{std::move(t.bytes)};
  }
  for (auto& p : s.pending) {
    if (auto bytes = p.txn->PollTransmit(now)) {
      ++s.stats.retransmits;
      return TransmitToServer{std::vector<uint8_t>(bytes->begin(), bytes->end())};
    }
  }
  if (!s.events.empty()) {
    ClientEvent e = std::move(s.events.front());
    s.events.pop_front();
    if (auto* d = std::get_if<PeerDataEvent>(&e)) s.event_data_bytes -= d->data.size();
    return e;
  }
  return Deadline{s.NextDeadline().value_or(Instant::Max())};
}

State Client::state() const {
  return impl_->state;
}
std::optional<SocketAddress> Client::relayed_address() const {
  return impl_->relayed;
}
std::optional<SocketAddress> Client::mapped_address() const {
  return impl_->mapped;
}
const Options& Client::options() const {
  return impl_->options;
}
const ClientStats& Client::stats() const {
  return impl_->stats;
}

bool Client::IsConsistent() const {
  const Impl& s = *impl_;
  const bool live = s.state == State::kAllocated;
  // An allocation's addresses exist exactly while it is allocated or closing.
  if ((s.state == State::kAllocated || s.state == State::kClosing) != s.relayed.has_value()) return false;
  if (!live && (!s.permissions.empty() || !s.channels.empty() || !s.queued.empty() || s.refresh_at)) return false;
  if (s.state == State::kIdle && (!s.pending.empty() || s.credentials)) return false;
  if ((s.state == State::kFailed || s.state == State::kClosed) && !s.pending.empty()) return false;
  if (s.state == State::kClosing && !s.close_deadline) return false;
  if (s.state == State::kAllocating) {
    if (s.pending.size() != 1 || s.pending[0].kind != RequestKind::kAllocate) return false;
  }
  for (const auto& p : s.pending) {
    if (p.kind == RequestKind::kAllocate && s.state != State::kAllocating) return false;
    if (!p.txn || p.txn->done()) return false;
    if (p.nonce_retries > kMaxNonceRetries) return false;
  }
  size_t bytes = 0;
  for (const auto& q : s.queued)
    bytes += q.data.size();
  for (const auto& t : s.transmits)
    if (t.is_data) bytes += t.bytes.size();
  if (bytes != s.queued_bytes) return false;
  // Data is accepted only while it fits; one message may exceed the bound on its own.
  if (s.queued_bytes > s.options.max_queued_bytes + kMaxPeerData + 64) return false;
  size_t event_bytes = 0;
  for (const auto& e : s.events)
    if (const auto* d = std::get_if<PeerDataEvent>(&e)) event_bytes += d->data.size();
  if (event_bytes != s.event_data_bytes || event_bytes > s.options.max_queued_bytes) return false;
  return s.PeersConsistent();
}

}  // namespace peerlink::turn
