// turn::Client procedures for peers: permissions (RFC 8656 section 9), Send
// and Data indications (section 11), channels and ChannelData (section 12).
#include <algorithm>

#include "src/turn/client_impl.h"

namespace peerlink::turn {

SendStatus Client::Impl::Send(Instant now, const SocketAddress& peer, ByteView data) {
  if (state != State::kAllocated) return SendStatus::kNotAllocated;
  if (data.size() > kMaxPeerData) return SendStatus::kTooLarge;
  if (queued_bytes + data.size() > options.max_queued_bytes) return SendStatus::kQueueFull;
  auto it = permissions.find(peer.ip());
  if (it != permissions.end() && it->second.installed) {
    it->second.used = true;
    SendNow(now, peer, data);
    return SendStatus::kOk;
  }
  // No permission yet: ask for one and hold the data until it is installed.
  // A full permission table also reports kQueueFull (no room for this peer).
  Permission* perm = StartPermission(now, peer.ip());
  if (!perm) return SendStatus::kQueueFull;
  perm->used = true;
  queued.push_back(QueuedData{peer, std::vector<uint8_t>(data.begin(), data.end())});
  queued_bytes += data.size();
  return SendStatus::kQueued;
}

void Client::Impl::SendNow(Instant now, const SocketAddress& peer, ByteView data) {
  stats.bytes_to_peers += data.size();
  if (options.use_channels) {
    Channel* ch = ChannelFor(now, peer);
    if (ch && ch->bound) {
      ch->used = true;
      // Section 12.5: pad over stream transports.
      Transmit(ChannelData::Build(ch->number, data, options.transport != TransportProtocol::kUdp), true);
      ++stats.channel_data_sent;
      return;
    }
  }
  // Section 11.1: a Send indication with XOR-PEER-ADDRESS and DATA.
  stun::StunMessageBuilder b(stun::Method::kSend, stun::StunClass::kIndication, stun::RandomTransactionId(rng));
  b.AddXorAddress(stun::attr::kXorPeerAddress, peer);
  b.AddBytes(stun::attr::kData, data);
  Transmit(std::move(b).Finish(), true);
  ++stats.send_indications_sent;
}

Permission* Client::Impl::StartPermission(Instant now, const IpAddress& ip) {
  auto it = permissions.find(ip);
  if (it == permissions.end()) {
    if (permissions.size() >= kMaxPermissions) return nullptr;
    it = permissions.emplace(ip, Permission{}).first;
  }
  Permission& perm = it->second;
  if (!perm.installed && !perm.in_flight) {
    perm.in_flight = true;
    PendingRequest p;
    p.kind = RequestKind::kCreatePermission;
    p.peer_ip = ip;
    StartRequest(now, std::move(p));
  }
  return &perm;
}

void Client::Impl::DropQueuedFor(const IpAddress& ip) {
  for (auto it = queued.begin(); it != queued.end();) {
    if (it->peer.ip() == ip) {
      queued_bytes -= it->data.size();
      it = queued.erase(it);
    } else {
      ++it;
    }
  }
}

void Client::Impl::OnPermissionResult(Instant now, const PendingRequest& p, bool ok) {
  auto it = permissions.find(p.peer_ip);
  if (it == permissions.end()) return;
  Permission& perm = it->second;
  perm.in_flight = false;
  peer_timers_dirty = true;
  if (!ok) {
    DropQueuedFor(p.peer_ip);
    for (auto& [addr, ch] : channels) {
      if (addr.ip() == p.peer_ip && ch.bound) {
        ch.bound = false;
        ch.unbound_at = now;
        ch.timer.reset();
      }
    }
    permissions.erase(it);
    Emit(PermissionEvent{p.peer_ip, false});
    return;
  }
  const bool first = !perm.installed;
  perm.installed = true;
  perm.installed_at = now;
  perm.timer = now + kPermissionRefresh;
  if (!first) return;
  Emit(PermissionEvent{p.peer_ip, true});
  // Flush what waited for this permission, in order.
  for (auto q = queued.begin(); q != queued.end();) {
    if (q->peer.ip() == p.peer_ip) {
      QueuedData d = std::move(*q);
      q = queued.erase(q);
      queued_bytes -= d.data.size();
      SendNow(now, d.peer, d.data);
    } else {
      ++q;
    }
  }
}

Channel* Client::Impl::ChannelFor(Instant now, const SocketAddress& peer) {
  auto it = channels.find(peer);
  if (it == channels.end()) {
    uint16_t number = 0;
    if (next_channel <= kMaxChannel) {
      number = next_channel++;
    } else {
      // All numbers handed out: reuse one that has been unbound long enough
      // that the server has forgotten it (section 12: 5 minutes after expiry).
      auto old = std::find_if(channels.begin(), channels.end(), [&](const auto& kv) {
        const Channel& c = kv.second;
        return !c.bound && !c.in_flight && c.unbound_at && now >= *c.unbound_at + kChannelReuseDelay;
      });
      if (old == channels.end()) return nullptr;
      number = old->second.number;
      channel_peers.erase(number);
      channels.erase(old);
    }
    it = channels.emplace(peer, Channel{}).first;
    it->second.number = number;
    channel_peers[number] = peer;
  }
  Channel& ch = it->second;
  if (!ch.bound && !ch.in_flight && !ch.failed) {
    ch.in_flight = true;
    PendingRequest p;
    p.kind = RequestKind::kChannelBind;
    p.peer = peer;
    p.channel = ch.number;
    StartRequest(now, std::move(p));
  }
  return &ch;
}

void Client::Impl::OnChannelResult(Instant now, const PendingRequest& p, bool ok) {
  auto it = channels.find(p.peer);
  if (it == channels.end() || it->second.number != p.channel) return;
  Channel& ch = it->second;
  ch.in_flight = false;
  peer_timers_dirty = true;
  if (ok) {
    ch.bound = true;
    ch.bound_at = now;
    ch.used = false;
    ch.unbound_at.reset();
    ch.timer = now + kChannelRefresh;
  } else {
    // Keep using Send indications for this peer.
    ch.bound = false;
    ch.failed = true;
    ch.unbound_at = now;
    ch.timer.reset();
  }
}

void Client::Impl::CheckPeerTimers(Instant now) {
  if (!peer_timers_dirty && (!peer_timer || now < *peer_timer)) return;
  peer_timers_dirty = true;
  for (auto it = permissions.begin(); it != permissions.end();) {
    Permission& perm = it->second;
    if (!perm.timer || now < *perm.timer) {
      ++it;
      continue;
    }
    perm.timer.reset();
    if (perm.in_flight) {
      ++it;
    } else if (perm.used) {
      // Section 9: refresh while in use, a minute before the 300 s expiry.
      perm.used = false;
      perm.in_flight = true;
      PendingRequest p;
      p.kind = RequestKind::kCreatePermission;
      p.peer_ip = it->first;
      StartRequest(now, std::move(p));
      ++it;
    } else {
      // Idle: let it lapse. The channels to that IP stop being usable too.
      for (auto& [addr, ch] : channels) {
        if (addr.ip() == it->first && ch.bound) {
          ch.bound = false;
          ch.unbound_at = now;
          ch.timer.reset();
        }
      }
      it = permissions.erase(it);
    }
  }
  for (auto& [peer, ch] : channels) {
    if (!ch.timer || now < *ch.timer) continue;
    ch.timer.reset();
    if (now >= ch.bound_at + kChannelLifetime) {
      ch.bound = false;  // the rebind was not answered in time
      ch.unbound_at = now;
    } else if (ch.in_flight) {
      ch.timer = ch.bound_at + kChannelLifetime;
    } else if (ch.used) {
      // Section 12: rebind before the 600 s expiry while in use.
      ch.used = false;
      ch.in_flight = true;
      ch.timer = ch.bound_at + kChannelLifetime;
      PendingRequest p;
      p.kind = RequestKind::kChannelBind;
      p.peer = peer;
      p.channel = ch.number;
      StartRequest(now, std::move(p));
    } else {
      ch.bound = false;
      ch.unbound_at = now;
    }
  }
}

void Client::Impl::RecomputePeerTimer() {
  peer_timer.reset();
  auto consider = [this](const std::optional<Instant>& t) {
    if (t && (!peer_timer || *t < *peer_timer)) peer_timer = t;
  };
  for (const auto& [ip, perm] : permissions)
    consider(perm.timer);
  for (const auto& [peer, ch] : channels)
    consider(ch.timer);
  peer_timers_dirty = false;
}

void Client::Impl::DeliverPeerData(const SocketAddress& peer, ByteView data) {
  if (event_data_bytes + data.size() > options.max_queued_bytes || events.size() >= kMaxEvents) {
    ++stats.peer_data_dropped;
    return;
  }
  stats.bytes_from_peers += data.size();
  Emit(PeerDataEvent{peer, std::vector<uint8_t>(data.begin(), data.end())});
}

void Client::Impl::HandleDataIndication(Instant /*now*/, const stun::StunMessage& msg) {
  auto peer = msg.GetXorAddress(stun::attr::kXorPeerAddress);
  auto data = msg.GetData();
  if (state != State::kAllocated || !peer || !data) {
    ++stats.dropped_from_server;
    return;
  }
  // Section 11.4: discard data from a peer we hold no permission for.
  auto it = permissions.find(peer->ip());
  if (it == permissions.end() || !it->second.installed) {
    ++stats.dropped_from_server;
    return;
  }
  it->second.used = true;
  DeliverPeerData(*peer, *data);
}

void Client::Impl::HandleChannelData(Instant /*now*/, ByteView bytes) {
  auto cd = ChannelData::Parse(bytes);
  if (state != State::kAllocated || !cd) {
    ++stats.dropped_from_server;
    return;
  }
  auto num = channel_peers.find(cd->channel);
  if (num == channel_peers.end()) {
    ++stats.dropped_from_server;  // section 12.7: unknown channel
    return;
  }
  const SocketAddress peer = num->second;
  channels[peer].used = true;
  if (auto perm = permissions.find(peer.ip()); perm != permissions.end()) perm->second.used = true;
  DeliverPeerData(peer, cd->data);
}

bool Client::Impl::PeersConsistent() const {
  if (permissions.size() > kMaxPermissions) return false;
  if (channels.size() != channel_peers.size()) return false;
  if (next_channel < kMinChannel || next_channel > kMaxChannel + 1) return false;
  if (channels.size() > static_cast<size_t>(next_channel - kMinChannel)) return false;
  size_t perm_in_flight = 0;
  for (const auto& [ip, perm] : permissions) {
    if (!perm.installed && !perm.in_flight) return false;                // no dormant entries
    if (perm.installed && !perm.in_flight && !perm.timer) return false;  // always a refresh/lapse timer
    if (perm.in_flight) ++perm_in_flight;
  }
  size_t ch_in_flight = 0;
  for (const auto& [peer, ch] : channels) {
    if (!IsValidChannel(ch.number)) return false;
    auto back = channel_peers.find(ch.number);
    if (back == channel_peers.end() || back->second != peer) return false;
    if (ch.bound && !ch.timer) return false;
    if (ch.bound && ch.failed) return false;
    if (ch.in_flight) ++ch_in_flight;
  }
  size_t pending_perm = 0, pending_ch = 0;
  for (const auto& p : pending) {
    if (p.kind == RequestKind::kCreatePermission) {
      ++pending_perm;
      auto it = permissions.find(p.peer_ip);
      if (it == permissions.end() || !it->second.in_flight) return false;
    } else if (p.kind == RequestKind::kChannelBind) {
      ++pending_ch;
      auto it = channels.find(p.peer);
      if (it == channels.end() || !it->second.in_flight || it->second.number != p.channel) return false;
    }
  }
  if (pending_perm != perm_in_flight || pending_ch != ch_in_flight) return false;
  for (const auto& q : queued) {
    auto it = permissions.find(q.peer.ip());
    if (it == permissions.end() || it->second.installed || !it->second.in_flight) return false;
  }
  return true;
}

}  // namespace peerlink::turn
