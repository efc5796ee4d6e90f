// turn::Server: a compact TURN relay core (RFC 8656) with long-term
// credentials (RFC 8489 section 9.2). See server.h for the driver contract.
#include "src/turn/server.h"

#include <algorithm>
#include <array>
#include <type_traits>

#include "src/base/check.h"
#include "src/base/crypto.h"
#include "src/stun/credentials.h"
#include "src/stun/message.h"
#include "src/turn/wire.h"

namespace peerlink::turn {
namespace {

struct FiveTuple {
  SocketAddress client;
  TransportProtocol transport = TransportProtocol::kUdp;
  auto operator<=>(const FiveTuple&) const = default;
};

struct Binding {
  SocketAddress peer;
  Instant expires;
};

struct Allocation {
  FiveTuple tuple;
  SocketAddress relayed;
  Instant expires;
  std::string username;
  stun::TransactionId allocate_tid;
  std::vector<uint8_t> allocate_response;    // resent for a retransmitted Allocate (section 7.2)
  std::map<IpAddress, Instant> permissions;  // peer IP -> expiry
  std::map<uint16_t, Binding> channels;      // channel number -> binding
  std::map<SocketAddress, uint16_t> channel_of_peer;
};

struct Auth {
  std::string username;
  std::vector<uint8_t> key;
  bool sha256 = false;  // answer with MESSAGE-INTEGRITY-SHA256
};

constexpr size_t kMaxPeersPerRequest = 64;

std::optional<std::vector<uint8_t>> HexDecode(std::string_view s) {
  if (s.size() % 2 != 0) return std::nullopt;
  std::vector<uint8_t> out;
  out.reserve(s.size() / 2);
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); i += 2) {
    const int hi = nibble(s[i]), lo = nibble(s[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<uint8_t>(hi * 16 + lo));
  }
  return out;
}

}  // namespace

struct Server::Impl {
  Impl(ServerOptions o, Rng& r) : options(std::move(o)), rng(r) { rng.Fill(nonce_secret); }

  ServerOptions options;
  Rng& rng;
  std::array<uint8_t, 32> nonce_secret{};
  std::map<FiveTuple, Allocation> allocations;
  std::map<SocketAddress, FiveTuple> by_relayed;
  uint32_t next_port = 0;
  std::deque<ServerOutput> out;
  ServerStats stats;

  // Relay data is dropped when the driver does not drain; relay lifecycle
  // outputs never are. (Templated to construct in place: GCC 12 warns
  // spuriously about moving a by-value std::variant.)
  template <typename T>
  void Push(T&& o) {
    using U = std::decay_t<T>;
    if ((std::is_same_v<U, ToClient> || std::is_same_v<U, ToPeer>)&&out.size() >= options.max_pending_outputs) {
      ++stats.outputs_dropped;
      return;
    }
    out.emplace_back(std::in_place_type<U>, std::forward<T>(o));
  }
  void Reply(const FiveTuple& t, std::vector<uint8_t> bytes) {
    Push(ToClient{t.client, t.transport, std::move(bytes)});
  }

  // Stateless nonce: hex(issued-at nanoseconds || first 8 bytes of HMAC).
  std::string MakeNonce(Instant now) const {
    std::array<uint8_t, 16> raw{};
    ByteWriter w(raw);
    w.U64(static_cast<uint64_t>(now.nanos()));
    auto mac = crypto::HmacSha256(nonce_secret, ByteView(raw.data(), 8));
    std::copy(mac.begin(), mac.begin() + 8, raw.begin() + 8);
    return crypto::HexEncode(raw);
  }
  bool NonceValid(Instant now, std::string_view nonce) const {
    auto raw = HexDecode(nonce);
    if (!raw || raw->size() != 16) return false;
    auto mac = crypto::HmacSha256(nonce_secret, ByteView(raw->data(), 8));
    if (!std::equal(mac.begin(), mac.begin() + 8, raw->begin() + 8)) return false;
    ByteReader r(*raw);
    const auto issued = Instant::FromNanos(static_cast<int64_t>(r.U64()));
    return issued <= now && now - issued < options.nonce_lifetime;
  }

  void Finish(stun::StunMessageBuilder& b, const Auth* auth) {
    if (!options.software.empty()) b.AddString(stun::attr::kSoftware, options.software);
    if (auth) {
      if (auth->sha256)
        b.AddMessageIntegritySha256(auth->key);
      else
        b.AddMessageIntegrity(auth->key);
    }
    b.AddFingerprint();
  }

  void SendError(Instant now, const FiveTuple& t, const stun::StunMessage& req, uint16_t code, const Auth* auth) {
    ++stats.errors_sent;
    auto b = stun::StunMessageBuilder::ResponseTo(req, stun::StunClass::kErrorResponse);
    b.AddErrorCode(code, stun::DefaultReason(code));
    if (code == stun::error::kUnauthorized || code == stun::error::kStaleNonce) {
      // RFC 8489 section 9.2.4: challenges carry REALM and a fresh NONCE.
      b.AddString(stun::attr::kRealm, options.realm);
      b.AddString(stun::attr::kNonce, MakeNonce(now));
      if (options.offer_password_algorithms) {
        const stun::PasswordAlgorithm algs[] = {stun::PasswordAlgorithm::kMd5, stun::PasswordAlgorithm::kSha256};
        b.AddPasswordAlgorithms(algs);
      }
    }
    Finish(b, auth);
    Reply(t, std::move(b).Finish());
  }

  std::optional<Auth> Authenticate(Instant now, const FiveTuple& t, const stun::StunMessage& req);
  void HandleRequest(Instant now, const FiveTuple& t, const stun::StunMessage& req);
  void Allocate(Instant now, const FiveTuple& t, const stun::StunMessage& req, const Auth& auth);
  void Refresh(Instant now, const FiveTuple& t, const stun::StunMessage& req, const Auth& auth);
  void CreatePermission(Instant now, const FiveTuple& t, const stun::StunMessage& req, const Auth& auth);
  void ChannelBind(Instant now, const FiveTuple& t, const stun::StunMessage& req, const Auth& auth);
  void SendIndication(Instant now, const FiveTuple& t, const stun::StunMessage& msg);
  void ChannelDataFromClient(Instant now, const FiveTuple& t, ByteView bytes);
  void Remove(std::map<FiveTuple, Allocation>::iterator it);
  std::optional<uint16_t> PickPort(const SocketAddress& client);
  Instant ClampLifetime(Instant now, std::optional<uint32_t> requested_s, uint32_t* granted_s) const;
  Instant NextDeadline() const;
};

std::optional<Auth> Server::Impl::Authenticate(Instant now, const FiveTuple& t, const stun::StunMessage& req) {
  // RFC 8489 section 9.2.4, in order.
  if (!req.HasMessageIntegrity() && !req.HasMessageIntegritySha256()) {
    ++stats.challenges;
    SendError(now, t, req, stun::error::kUnauthorized, nullptr);
    return std::nullopt;
  }
  auto username = req.GetString(stun::attr::kUsername);
  auto realm = req.GetString(stun::attr::kRealm);
  auto nonce = req.GetString(stun::attr::kNonce);
  if (!username || !realm || !nonce) {
    SendError(now, t, req, stun::error::kBadRequest, nullptr);
    return std::nullopt;
  }
  if (!NonceValid(now, *nonce)) {
    ++stats.stale_nonces;
    SendError(now, t, req, stun::error::kStaleNonce, nullptr);
    return std::nullopt;
  }
  auto user = options.users.find(*username);
  stun::PasswordAlgorithm alg = stun::PasswordAlgorithm::kMd5;
  if (auto a = req.GetU32(stun::attr::kPasswordAlgorithm)) {
    alg = static_cast<stun::PasswordAlgorithm>(*a >> 16);
    if (alg != stun::PasswordAlgorithm::kMd5 && alg != stun::PasswordAlgorithm::kSha256) {
      SendError(now, t, req, stun::error::kBadRequest, nullptr);
      return std::nullopt;
    }
  }
  if (user == options.users.end() || *realm != options.realm) {
    ++stats.auth_failures;
    SendError(now, t, req, stun::error::kUnauthorized, nullptr);
    return std::nullopt;
  }
  Auth auth;
  auth.username = user->first;
  auth.key = stun::LongTermKey(user->first, options.realm, user->second, alg);
  auth.sha256 = req.HasMessageIntegritySha256();
  const bool ok = auth.sha256 ? req.VerifyMessageIntegritySha256(auth.key) : req.VerifyMessageIntegrity(auth.key);
  if (!ok) {
    ++stats.auth_failures;
    SendError(now, t, req, stun::error::kUnauthorized, nullptr);
    return std::nullopt;
  }
  // RFC 8656 section 5: requests on an allocation must use its credentials.
  if (auto it = allocations.find(t); it != allocations.end() && it->second.username != auth.username) {
    SendError(now, t, req, stun::error::kWrongCredentials, &auth);
    return std::nullopt;
  }
  return auth;
}

void Server::Impl::HandleRequest(Instant now, const FiveTuple& t, const stun::StunMessage& req) {
  ++stats.requests;
  if (auto unknown = stun::MaybeUnknownAttributeResponse(req)) {
    ++stats.errors_sent;
    Reply(t, std::move(*unknown));
    return;
  }
  switch (req.method()) {
    case stun::Method::kBinding: {
      auto b = stun::StunMessageBuilder::ResponseTo(req, stun::StunClass::kSuccessResponse);
      b.AddXorAddress(stun::attr::kXorMappedAddress, t.client);
      Finish(b, nullptr);
      Reply(t, std::move(b).Finish());
      return;
    }
    case stun::Method::kAllocate:
    case stun::Method::kRefresh:
    case stun::Method::kCreatePermission:
    case stun::Method::kChannelBind: break;
    default: SendError(now, t, req, stun::error::kBadRequest, nullptr); return;
  }
  auto auth = Authenticate(now, t, req);
  if (!auth) return;
  switch (req.method()) {
    case stun::Method::kAllocate: Allocate(now, t, req, *auth); break;
    case stun::Method::kRefresh: Refresh(now, t, req, *auth); break;
    case stun::Method::kCreatePermission: CreatePermission(now, t, req, *auth); break;
    case stun::Method::kChannelBind: ChannelBind(now, t, req, *auth); break;
    default: break;
  }
}

Instant Server::Impl::ClampLifetime(Instant now, std::optional<uint32_t> requested_s, uint32_t* granted_s) const {
  // Section 7.2: use the requested lifetime, no less than the default and no
  // more than the maximum.
  const int64_t def = options.default_lifetime.millis() / 1000;
  const int64_t max = options.max_lifetime.millis() / 1000;
  int64_t l = requested_s ? static_cast<int64_t>(*requested_s) : def;
  l = std::clamp(l, def, std::max(def, max));
  *granted_s = static_cast<uint32_t>(l);
  return now + Duration::Seconds(l);
}

std::optional<uint16_t> Server::Impl::PickPort(const SocketAddress& client) {
  if (options.allocate_port) return options.allocate_port(client);
  const uint32_t span = 65536u - options.relay_port_base;
  for (uint32_t i = 0; i < span; ++i) {
    const auto port = static_cast<uint16_t>(options.relay_port_base + (next_port++ % span));
    if (!by_relayed.contains(SocketAddress(options.relay_ip, port))) return port;
  }
  return std::nullopt;
}

void Server::Impl::Allocate(Instant now, const FiveTuple& t, const stun::StunMessage& req, const Auth& auth) {
  if (auto it = allocations.find(t); it != allocations.end()) {
    if (it->second.allocate_tid == req.transaction_id()) {
      Reply(t, it->second.allocate_response);  // a retransmission: same answer
    } else {
      SendError(now, t, req, stun::error::kAllocationMismatch, &auth);
    }
    return;
  }
  // Section 7.2, step by step.
  auto transport = req.GetRequestedTransport();
  if (!transport) return SendError(now, t, req, stun::error::kBadRequest, &auth);
  if (*transport != kProtocolUdp) return SendError(now, t, req, stun::error::kUnsupportedTransportProtocol, &auth);
  if (const stun::RawAttribute* fam = req.Find(stun::attr::kRequestedAddressFamily)) {
    if (fam->value.size() != 4 || (fam->value[0] != 0x01 && fam->value[0] != 0x02))
      return SendError(now, t, req, stun::error::kAddressFamilyNotSupported, &auth);
    const IpFamily want = fam->value[0] == 0x01 ? IpFamily::kV4 : IpFamily::kV6;
    if (want != options.relay_ip.family())
      return SendError(now, t, req, stun::error::kAddressFamilyNotSupported, &auth);
  }
  if (allocations.size() >= options.max_allocations)
    return SendError(now, t, req, stun::error::kAllocationQuotaReached, &auth);
  auto port = PickPort(t.client);
  const SocketAddress relayed(options.relay_ip, port.value_or(0));
  if (!port || by_relayed.contains(relayed)) return SendError(now, t, req, stun::error::kInsufficientCapacity, &auth);

  uint32_t granted = 0;
  Allocation a;
  a.tuple = t;
  a.relayed = relayed;
  a.expires = ClampLifetime(now, req.GetU32(stun::attr::kLifetime), &granted);
  a.username = auth.username;
  a.allocate_tid = req.transaction_id();
  auto b = stun::StunMessageBuilder::ResponseTo(req, stun::StunClass::kSuccessResponse);
  b.AddXorAddress(stun::attr::kXorRelayedAddress, relayed);
  b.AddU32(stun::attr::kLifetime, granted);
  b.AddXorAddress(stun::attr::kXorMappedAddress, t.client);
  Finish(b, &auth);
  a.allocate_response = std::move(b).Finish();
  Reply(t, a.allocate_response);
  by_relayed[relayed] = t;
  allocations.emplace(t, std::move(a));
  ++stats.allocations;
  Push(RelayOpened{relayed, t.client});
}

void Server::Impl::Remove(std::map<FiveTuple, Allocation>::iterator it) {
  Push(RelayClosed{it->second.relayed});
  by_relayed.erase(it->second.relayed);
  allocations.erase(it);
}

void Server::Impl::Refresh(Instant now, const FiveTuple& t, const stun::StunMessage& req, const Auth& auth) {
  auto it = allocations.find(t);
  if (it == allocations.end()) return SendError(now, t, req, stun::error::kAllocationMismatch, &auth);
  auto requested = req.GetU32(stun::attr::kLifetime);
  uint32_t granted = 0;
  if (requested && *requested == 0) {
    Remove(it);  // section 8: LIFETIME 0 deletes the allocation
  } else {
    it->second.expires = ClampLifetime(now, requested, &granted);
  }
  auto b = stun::StunMessageBuilder::ResponseTo(req, stun::StunClass::kSuccessResponse);
  b.AddU32(stun::attr::kLifetime, granted);
  Finish(b, &auth);
  Reply(t, std::move(b).Finish());
}

void Server::Impl::CreatePermission(Instant now, const FiveTuple& t, const stun::StunMessage& req, const Auth& auth) {
  auto it = allocations.find(t);
  if (it == allocations.end()) return SendError(now, t, req, stun::error::kAllocationMismatch, &auth);
  Allocation& a = it->second;
  auto peers = GetXorPeerAddresses(req, kMaxPeersPerRequest);
  if (!peers || peers->empty()) return SendError(now, t, req, stun::error::kBadRequest, &auth);
  size_t added = 0;
  for (const auto& p : *peers) {
    // Section 9.2: the peer must be of the relayed address's family.
    if (p.family() != a.relayed.family()) return SendError(now, t, req, stun::error::kPeerAddressFamilyMismatch, &auth);
    if (!a.permissions.contains(p.ip())) ++added;
  }
  if (a.permissions.size() + added > options.max_permissions)
    return SendError(now, t, req, stun::error::kInsufficientCapacity, &auth);
  for (const auto& p : *peers)
    a.permissions[p.ip()] = now + kPermissionLifetime;
  auto b = stun::StunMessageBuilder::ResponseTo(req, stun::StunClass::kSuccessResponse);
  Finish(b, &auth);
  Reply(t, std::move(b).Finish());
}

void Server::Impl::ChannelBind(Instant now, const FiveTuple& t, const stun::StunMessage& req, const Auth& auth) {
  auto it = allocations.find(t);
  if (it == allocations.end()) return SendError(now, t, req, stun::error::kAllocationMismatch, &auth);
  Allocation& a = it->second;
  auto number = req.GetChannelNumber();
  auto peer = req.GetXorAddress(stun::attr::kXorPeerAddress);
  // Section 12.2: a valid number, not bound to another peer, and the peer not
  // bound to another number.
  if (!number || !peer || !IsValidChannel(*number)) return SendError(now, t, req, stun::error::kBadRequest, &auth);
  if (peer->family() != a.relayed.family())
    return SendError(now, t, req, stun::error::kPeerAddressFamilyMismatch, &auth);
  if (auto c = a.channels.find(*number); c != a.channels.end() && c->second.peer != *peer)
    return SendError(now, t, req, stun::error::kBadRequest, &auth);
  if (auto c = a.channel_of_peer.find(*peer); c != a.channel_of_peer.end() && c->second != *number)
    return SendError(now, t, req, stun::error::kBadRequest, &auth);
  if (!a.permissions.contains(peer->ip()) && a.permissions.size() >= options.max_permissions)
    return SendError(now, t, req, stun::error::kInsufficientCapacity, &auth);
  a.channels[*number] = Binding{*peer, now + kChannelLifetime};
  a.channel_of_peer[*peer] = *number;
  a.permissions[peer->ip()] = now + kPermissionLifetime;  // the binding installs/refreshes the permission
  auto b = stun::StunMessageBuilder::ResponseTo(req, stun::StunClass::kSuccessResponse);
  Finish(b, &auth);
  Reply(t, std::move(b).Finish());
}

void Server::Impl::SendIndication(Instant now, const FiveTuple& t, const stun::StunMessage& msg) {
  auto it = allocations.find(t);
  auto peer = msg.GetXorAddress(stun::attr::kXorPeerAddress);
  auto data = msg.GetData();
  // Section 11.2: discard without a permission (or without the attributes).
  if (it == allocations.end() || !peer || !data) {
    ++stats.dropped;
    return;
  }
  auto perm = it->second.permissions.find(peer->ip());
  if (perm == it->second.permissions.end() || perm->second <= now) {
    ++stats.dropped;
    return;
  }
  ++stats.relayed_to_peers;
  Push(ToPeer{it->second.relayed, *peer, std::vector<uint8_t>(data->begin(), data->end())});
}

void Server::Impl::ChannelDataFromClient(Instant now, const FiveTuple& t, ByteView bytes) {
  auto it = allocations.find(t);
  auto cd = ChannelData::Parse(bytes);
  if (it == allocations.end() || !cd) {
    ++stats.dropped;
    return;
  }
  Allocation& a = it->second;
  auto ch = a.channels.find(cd->channel);
  if (ch == a.channels.end() || ch->second.expires <= now) {
    ++stats.dropped;  // section 12.6: not bound
    return;
  }
  auto perm = a.permissions.find(ch->second.peer.ip());
  if (perm == a.permissions.end() || perm->second <= now) {
    ++stats.dropped;
    return;
  }
  ++stats.relayed_to_peers;
  Push(ToPeer{a.relayed, ch->second.peer, std::vector<uint8_t>(cd->data.begin(), cd->data.end())});
}

Instant Server::Impl::NextDeadline() const {
  Instant best = Instant::Max();
  for (const auto& [t, a] : allocations) {
    best = std::min(best, a.expires);
    for (const auto& [ip, exp] : a.permissions)
      best = std::min(best, exp);
    for (const auto& [n, b] : a.channels)
      best = std::min(best, b.expires);
  }
  return best;
}

// ---------------------------------------------------------------------------

Server::Server(ServerOptions options, Rng& rng, Instant /*now*/)
    : impl_(std::make_unique<Impl>(std::move(options), rng)) {}
Server::~Server() = default;

void Server::HandleFromClient(Instant now, const SocketAddress& client, ByteView data, TransportProtocol transport) {
  Impl& s = *impl_;
  const FiveTuple t{client, transport};
  if (LooksLikeChannelData(data)) {
    s.ChannelDataFromClient(now, t, data);
  } else if (auto msg = stun::StunMessage::Parse(data); !msg || (msg->HasFingerprint() && !msg->VerifyFingerprint())) {
    ++s.stats.dropped;
  } else if (msg->cls() == stun::StunClass::kRequest) {
    s.HandleRequest(now, t, *msg);
  } else if (msg->cls() == stun::StunClass::kIndication && msg->method() == stun::Method::kSend) {
    s.SendIndication(now, t, *msg);
  } else {
    ++s.stats.dropped;
  }
  PL_DCHECK(IsConsistent());
}

void Server::HandleFromPeer(Instant now, const SocketAddress& relayed, const SocketAddress& peer, ByteView data) {
  Impl& s = *impl_;
  auto r = s.by_relayed.find(relayed);
  if (r == s.by_relayed.end() || data.size() > kMaxPeerData) {
    ++s.stats.dropped;
    return;
  }
  Allocation& a = s.allocations.at(r->second);
  // Section 11.3 / 12.7: only peers with a permission reach the client.
  auto perm = a.permissions.find(peer.ip());
  if (perm == a.permissions.end() || perm->second <= now) {
    ++s.stats.dropped;
    return;
  }
  ++s.stats.relayed_to_clients;
  auto ch = a.channel_of_peer.find(peer);
  if (ch != a.channel_of_peer.end() && a.channels.at(ch->second).expires > now) {
    s.Reply(a.tuple, ChannelData::Build(ch->second, data, a.tuple.transport != TransportProtocol::kUdp));
    return;
  }
  stun::StunMessageBuilder b(stun::Method::kData, stun::StunClass::kIndication, stun::RandomTransactionId(s.rng));
  b.AddXorAddress(stun::attr::kXorPeerAddress, peer);
  b.AddBytes(stun::attr::kData, data);
  s.Reply(a.tuple, std::move(b).Finish());
}

void Server::HandleClientClosed(Instant /*now*/, const SocketAddress& client, TransportProtocol transport) {
  Impl& s = *impl_;
  if (auto it = s.allocations.find(FiveTuple{client, transport}); it != s.allocations.end()) s.Remove(it);
}

void Server::HandleTimeout(Instant now) {
  Impl& s = *impl_;
  for (auto it = s.allocations.begin(); it != s.allocations.end();) {
    Allocation& a = it->second;
    if (a.expires <= now) {
      auto next = std::next(it);
      s.Remove(it);
      it = next;
      continue;
    }
    std::erase_if(a.permissions, [now](const auto& kv) { return kv.second <= now; });
    for (auto c = a.channels.begin(); c != a.channels.end();) {
      if (c->second.expires <= now) {
        a.channel_of_peer.erase(c->second.peer);
        c = a.channels.erase(c);
      } else {
        ++c;
      }
    }
    ++it;
  }
  PL_DCHECK(IsConsistent());
}

ServerOutput Server::PollOutput(Instant /*now*/) {
  Impl& s = *impl_;
  if (!s.out.empty()) {
    // Swap rather than move-construct: GCC 12 -O2 warns spuriously
    // (-Wmaybe-uninitialized) on moving this variant out of the deque.
    ServerOutput o{Deadline{Instant::Max()}};
    o.swap(s.out.front());
    s.out.pop_front();
    return o;
  }
  return Deadline{s.NextDeadline()};
}

size_t Server::allocation_count() const {
  return impl_->allocations.size();
}

std::optional<SocketAddress> Server::RelayedAddressOf(const SocketAddress& client, TransportProtocol transport) const {
  auto it = impl_->allocations.find(FiveTuple{client, transport});
  if (it == impl_->allocations.end()) return std::nullopt;
  return it->second.relayed;
}

bool Server::HasPermission(const SocketAddress& relayed, const IpAddress& peer, Instant now) const {
  auto r = impl_->by_relayed.find(relayed);
  if (r == impl_->by_relayed.end()) return false;
  const Allocation& a = impl_->allocations.at(r->second);
  auto p = a.permissions.find(peer);
  return p != a.permissions.end() && p->second > now;
}

std::optional<uint16_t> Server::ChannelOf(const SocketAddress& relayed, const SocketAddress& peer, Instant now) const {
  auto r = impl_->by_relayed.find(relayed);
  if (r == impl_->by_relayed.end()) return std::nullopt;
  const Allocation& a = impl_->allocations.at(r->second);
  auto c = a.channel_of_peer.find(peer);
  if (c == a.channel_of_peer.end() || a.channels.at(c->second).expires <= now) return std::nullopt;
  return c->second;
}

const ServerStats& Server::stats() const {
  return impl_->stats;
}
const ServerOptions& Server::options() const {
  return impl_->options;
}

bool Server::IsConsistent() const {
  const Impl& s = *impl_;
  if (s.allocations.size() != s.by_relayed.size() || s.allocations.size() > s.options.max_allocations) return false;
  for (const auto& [t, a] : s.allocations) {
    if (!(a.tuple == t)) return false;
    auto r = s.by_relayed.find(a.relayed);
    if (r == s.by_relayed.end() || !(r->second == t)) return false;
    if (a.permissions.size() > s.options.max_permissions) return false;
    if (a.channels.size() != a.channel_of_peer.size()) return false;
    for (const auto& [n, b] : a.channels) {
      if (!IsValidChannel(n)) return false;
      auto back = a.channel_of_peer.find(b.peer);
      if (back == a.channel_of_peer.end() || back->second != n) return false;
    }
  }
  return true;
}

}  // namespace peerlink::turn
