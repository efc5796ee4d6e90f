#include "src/signaling/client_core.h"

#include <algorithm>
#include <cstdio>

namespace peerlink::signaling {
namespace {

using nlohmann::json;

std::string RandomUuidV4(Rng& rng) {
  uint8_t b[16];
  rng.Fill(b);
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);
  char out[37];
  std::snprintf(out, sizeof(out), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return out;
}

crypto::Sha256Digest DigestOf(char tag, std::string_view s) {
  std::string buf;
  buf.reserve(s.size() + 1);
  buf.push_back(tag);
  buf.append(s);
  return crypto::Sha256(ByteView(reinterpret_cast<const uint8_t*>(buf.data()), buf.size()));
}

bool IsDescription(const ywebrtc::PeerSignal& s, ywebrtc::SessionDescriptionSignal::Type type) {
  const auto* d = std::get_if<ywebrtc::SessionDescriptionSignal>(&s);
  return d != nullptr && d->type == type;
}

}  // namespace

std::string_view ToString(ClientErrorCode c) {
  switch (c) {
    case ClientErrorCode::kIdentity: return "identity";
    case ClientErrorCode::kPeerLimit: return "peer-limit";
  }
  return "?";
}

std::string_view ToString(SendStatus s) {
  switch (s) {
    case SendStatus::kSent: return "sent";
    case SendStatus::kQueued: return "queued";
    case SendStatus::kUnknownPeer: return "unknown peer";
    case SendStatus::kNotCaller: return "not the caller towards this peer";
    case SendStatus::kTooLarge: return "frame too large";
    case SendStatus::kIdentityFailed: return "identity signature failed";
    case SendStatus::kEncryptFailed: return "encryption failed";
    case SendStatus::kQueueFull: return "pending queue full";
  }
  return "?";
}

ClientCore::ClientCore(ClientOptions options, Rng& rng) : options_(std::move(options)), rng_(rng) {
  peer_id_ = options_.peer_id.empty() ? RandomUuidV4(rng_) : options_.peer_id;
  if (options_.room_key) {
    key_ = options_.room_key;
  } else if (!options_.password.empty()) {
    key_ = DeriveRoomKey(options_.room, options_.password);
  }
  for (const auto& url : options_.urls) {
    Server s;
    s.url = url;
    servers_.push_back(std::move(s));
  }
}

void ClientCore::Start(Instant now) {
  if (started_) return;
  started_ = true;
  for (size_t i = 0; i < servers_.size(); ++i) {
    servers_[i].state = ConnState::kConnecting;
    servers_[i].reconnect_at = now;
    Emit(Connect{i, servers_[i].url});
  }
}

bool ClientCore::connected(size_t server_index) const {
  return server_index < servers_.size() && servers_[server_index].state == ConnState::kConnected;
}

size_t ClientCore::connected_count() const {
  return static_cast<size_t>(std::count_if(servers_.begin(), servers_.end(),
                                           [](const Server& s) { return s.state == ConnState::kConnected; }));
}

std::optional<PeerRole> ClientCore::role(const std::string& peer_id) const {
  auto it = peers_.find(peer_id);
  if (it == peers_.end()) return std::nullopt;
  return it->second.role;
}

std::optional<Duration> ClientCore::last_backoff(size_t server_index) const {
  if (server_index >= servers_.size()) return std::nullopt;
  return servers_[server_index].last_backoff;
}

void ClientCore::HandleConnected(Instant now, size_t server_index) {
  if (!started_ || server_index >= servers_.size()) return;
  Server& s = servers_[server_index];
  if (s.state == ConnState::kConnected) return;
  s.state = ConnState::kConnected;
  s.connected_at = now;
  s.next_ping = now + options_.ping_interval;
  Emit(SendFrame{server_index, json({{"type", "subscribe"}, {"topics", {options_.room}}}).dump()});
  // Frames queued while nothing was connected go out first (in order), then the announce.
  const bool first = connected_count() == 1;
  if (first) {
    while (!pending_.empty()) {
      Emit(SendFrame{server_index, std::move(pending_.front())});
      pending_.pop_front();
    }
  }
  // Announce on this server only: the others already carried our earlier announces.
  SendStatus status = SendStatus::kSent;
  json inner = {{"type", "announce"}, {"from", peer_id_}, {"mid", NewMid()}};
  if (auto frame = MakePublish(std::move(inner), &status)) Emit(SendFrame{server_index, std::move(*frame)});
}

void ClientCore::HandleDisconnected(Instant now, size_t server_index, std::string_view /*reason*/) {
  if (!started_ || server_index >= servers_.size()) return;
  Server& s = servers_[server_index];
  if (s.state == ConnState::kWaiting) return;
  if (s.state == ConnState::kConnected && now - s.connected_at >= options_.backoff_reset_after) s.attempts = 0;
  ScheduleReconnect(now, s);
}

void ClientCore::ScheduleReconnect(Instant now, Server& s) {
  // Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): uniform in
  // [0, min(cap, base * 2^attempts)].
  int64_t ceiling = options_.backoff_cap.nanos();
  const uint32_t shift = std::min<uint32_t>(s.attempts, 40);
  if (options_.backoff_base.nanos() <= (ceiling >> shift)) ceiling = options_.backoff_base.nanos() << shift;
  const Duration delay = Duration::Nanos(static_cast<int64_t>(rng_.Below(static_cast<uint64_t>(ceiling) + 1)));
  s.attempts = std::min<uint32_t>(s.attempts + 1, 64);
  s.last_backoff = delay;
  s.reconnect_at = now + delay;
  s.state = ConnState::kWaiting;
}

void ClientCore::HandleTimeout(Instant now) {
  if (!started_) return;
  for (size_t i = 0; i < servers_.size(); ++i) {
    Server& s = servers_[i];
    if (s.state == ConnState::kWaiting && s.reconnect_at <= now) {
      s.state = ConnState::kConnecting;
      ++counters_.reconnects;
      Emit(Connect{i, s.url});
    } else if (s.state == ConnState::kConnected && s.next_ping <= now) {
      s.next_ping = now + options_.ping_interval;
      Emit(SendFrame{i, R"({"type":"ping"})"});
    }
  }
}

std::string ClientCore::NewMid() {
  // Makes every message we publish distinct, so de-duplication never merges two legitimate
  // repeats (e.g. the announce after a reconnect). y-webrtc ignores unknown members.
  return std::to_string(++mid_counter_) + "." + std::to_string(rng_.U32());
}

std::optional<std::string> ClientCore::MakePublish(json inner, SendStatus* status) {
  ywebrtc::PublishMessage pub;
  pub.topic = options_.room;
  if (key_) {
    auto sealed = EncryptJson(*key_, inner, rng_);
    if (!sealed.ok()) {
      *status = SendStatus::kEncryptFailed;
      return std::nullopt;
    }
    pub.data = std::move(*sealed);
  } else {
    pub.data = std::move(inner);
  }
  std::string text = ywebrtc::ToJson(pub).dump();
  if (text.size() > options_.max_frame_bytes) {
    *status = SendStatus::kTooLarge;
    return std::nullopt;
  }
  return text;
}

SendStatus ClientCore::Publish(const std::string& frame) {
  bool any = false;
  for (size_t i = 0; i < servers_.size(); ++i) {
    if (servers_[i].state != ConnState::kConnected) continue;
    Emit(SendFrame{i, frame});
    any = true;
  }
  if (any) return SendStatus::kSent;
  if (pending_.size() >= options_.max_pending_frames) {
    ++counters_.dropped_pending_overflow;
    return SendStatus::kQueueFull;
  }
  pending_.push_back(frame);
  return SendStatus::kQueued;
}

void ClientCore::Announce(const std::optional<std::string>& to) {
  json inner = {{"type", "announce"}, {"from", peer_id_}, {"mid", NewMid()}};
  if (to) inner["to"] = *to;
  SendStatus status = SendStatus::kSent;
  if (auto frame = MakePublish(std::move(inner), &status)) (void)Publish(*frame);
}

SendStatus ClientCore::SendSignal(Instant /*now*/, const std::string& remote_peer, const ywebrtc::PeerSignal& signal) {
  auto it = peers_.find(remote_peer);
  if (it == peers_.end()) return SendStatus::kUnknownPeer;
  Peer& peer = it->second;
  const bool offer = IsDescription(signal, ywebrtc::SessionDescriptionSignal::Type::kOffer);
  if (offer && peer.role != PeerRole::kCaller) return SendStatus::kNotCaller;
  ywebrtc::SignalMessage msg;
  msg.from = peer_id_;
  msg.to = remote_peer;
  if (!peer.glare_token) {
    // y-webrtc's Date.now() + Math.random(): milliseconds plus a fraction. Our clock's epoch is
    // arbitrary; only the comparison on crossing offers matters.
    peer.glare_token = static_cast<double>(rng_.Below(uint64_t{1} << 40)) + rng_.Unit();
  }
  msg.token = peer.glare_token;
  msg.signal = signal;
  if (options_.identity && (offer || IsDescription(signal, ywebrtc::SessionDescriptionSignal::Type::kAnswer))) {
    if (!AttachIdentity(msg, *options_.identity, options_.room).ok()) return SendStatus::kIdentityFailed;
  }
  json inner = ywebrtc::ToJson(ywebrtc::InnerMessage(msg));
  inner["mid"] = NewMid();
  SendStatus status = SendStatus::kSent;
  auto frame = MakePublish(std::move(inner), &status);
  if (!frame) return status;
  return Publish(*frame);
}

bool ClientCore::RemovePeer(Instant /*now*/, const std::string& peer_id) {
  if (peers_.erase(peer_id) == 0) return false;
  Emit(PeerLeft{peer_id});
  Announce(std::nullopt);
  return true;
}

bool ClientCore::SeenBefore(Instant now, const crypto::Sha256Digest& digest) {
  while (!dedup_order_.empty() && (dedup_order_.size() >= options_.max_dedup_entries ||
                                   now - dedup_order_.front().first > options_.dedup_window)) {
    dedup_.erase(dedup_order_.front().second);
    dedup_order_.pop_front();
  }
  if (dedup_.count(digest) != 0) return true;
  if (options_.max_dedup_entries == 0) return false;
  dedup_.insert(digest);
  dedup_order_.emplace_back(now, digest);
  return false;
}

void ClientCore::HandleFrame(Instant now, size_t server_index, std::string_view text) {
  if (!started_ || server_index >= servers_.size()) return;
  ++counters_.frames_in;
  if (text.size() > options_.max_frame_bytes) {
    ++counters_.dropped_oversize;
    return;
  }
  auto parsed = ywebrtc::ParseJson(text);
  if (!parsed.ok() || !parsed->is_object()) {
    ++counters_.dropped_malformed;
    return;
  }
  auto type = parsed->find("type");
  if (type != parsed->end() && type->is_string() && *type == "pong") return;
  auto pub = ywebrtc::ParsePublishMessage(text);
  if (!pub.ok()) {
    ++counters_.dropped_malformed;
    return;
  }
  if (pub->topic != options_.room) {
    ++counters_.dropped_other_topic;
    return;
  }
  const std::string* box = std::get_if<std::string>(&pub->data);
  const crypto::Sha256Digest digest =
      box != nullptr ? DigestOf('e', *box) : DigestOf('p', std::get<json>(pub->data).dump());
  if (SeenBefore(now, digest)) {
    ++counters_.dropped_duplicate;
    return;
  }
  if (key_) {
    if (box == nullptr) {  // plaintext in a password room: y-webrtc's decryptJson fails too
      ++counters_.dropped_undecryptable;
      return;
    }
    auto inner = DecryptJson(*key_, *box);
    if (!inner.ok()) {
      ++counters_.dropped_undecryptable;
      return;
    }
    HandleInner(now, *inner);
  } else {
    if (box != nullptr) {
      ++counters_.dropped_undecryptable;
      return;
    }
    HandleInner(now, std::get<json>(pub->data));
  }
}

bool ClientCore::Discover(const std::string& peer_id, std::optional<PeerRole> forced_role) {
  if (peers_.size() >= options_.max_peers) {
    ++counters_.dropped_peer_limit;
    if (!peer_limit_reported_) {
      peer_limit_reported_ = true;
      Emit(ClientError{ClientErrorCode::kPeerLimit, peer_id,
                       "room has more than " + std::to_string(options_.max_peers) + " peers; ignoring new ones"});
    }
    return false;
  }
  Peer peer;
  // The rule of docs/signaling.md "Client": the smaller peer id offers.
  peer.role = forced_role.value_or(peer_id_ < peer_id ? PeerRole::kCaller : PeerRole::kCallee);
  peers_.emplace(peer_id, peer);
  Emit(PeerDiscovered{peer_id});
  if (peer.role == PeerRole::kCaller) {
    Emit(BecomeCaller{peer_id});
  } else {
    Emit(BecomeCallee{peer_id});
  }
  return true;
}

void ClientCore::HandleInner(Instant /*now*/, const json& inner) {
  if (!inner.is_object()) {
    ++counters_.dropped_malformed;
    return;
  }
  auto from = inner.find("from");
  if (from != inner.end() && from->is_string() && from->get_ref<const std::string&>() == peer_id_) {
    ++counters_.dropped_not_for_us;  // our own echo
    return;
  }
  auto to = inner.find("to");
  const bool directed = to != inner.end() && !to->is_null();
  if (directed && !(to->is_string() && to->get_ref<const std::string&>() == peer_id_)) {
    ++counters_.dropped_not_for_us;
    return;
  }
  auto msg = ywebrtc::ParseInnerMessage(inner);
  if (!msg.ok()) {
    ++counters_.dropped_malformed;
    return;
  }
  if (auto* announce = std::get_if<ywebrtc::AnnounceMessage>(&*msg)) {
    if (announce->from.empty()) {
      ++counters_.dropped_malformed;
      return;
    }
    if (peers_.count(announce->from) == 0 && !Discover(announce->from, std::nullopt)) return;
    // Answer a broadcast announce with one addressed to the announcer, so a newcomer (or a peer
    // that forgot us) learns about us; an addressed announce is never answered (no storms).
    if (!directed) Announce(announce->from);
    return;
  }
  HandleSignal(std::get<ywebrtc::SignalMessage>(std::move(*msg)));
}

void ClientCore::HandleSignal(ywebrtc::SignalMessage msg) {
  if (msg.from.empty() || msg.to != peer_id_) {
    ++counters_.dropped_not_for_us;
    return;
  }
  const bool offer = IsDescription(msg.signal, ywebrtc::SessionDescriptionSignal::Type::kOffer);
  const bool answer = IsDescription(msg.signal, ywebrtc::SessionDescriptionSignal::Type::kAnswer);
  std::string verified;
  if ((offer || answer) && !options_.trusted_identities.empty()) {
    std::string failure;
    if (!msg.identity) {
      failure = "offer/answer without an identity signature";
    } else {
      auto sig = DescriptionSignature::FromJson(*msg.identity);
      if (!sig.ok()) {
        failure = "malformed identity signature: " + sig.error().message;
      } else {
        auto key = std::find_if(options_.trusted_identities.begin(), options_.trusted_identities.end(),
                                [&](const IdentityPublicKey& k) { return k.id() == sig->identity; });
        if (key == options_.trusted_identities.end()) {
          failure = "signed by an untrusted identity " + sig->identity;
        } else {
          auto ok = VerifySignalIdentity(msg, options_.room, peer_id_, *key);
          if (!ok.ok()) {
            failure = std::string(ToString(ok.error().code)) + ": " + ok.error().message;
          } else {
            verified = key->id();
          }
        }
      }
    }
    if (!failure.empty()) {
      ++counters_.dropped_identity;
      Emit(ClientError{ClientErrorCode::kIdentity, msg.from, std::move(failure)});
      return;
    }
  }
  auto it = peers_.find(msg.from);
  if (it == peers_.end()) {
    // Signals can overtake the announce when they come through another server. An offer decides
    // the role: the sender is already calling us (a y-webrtc peer that received our announce).
    if (!Discover(msg.from, offer ? std::optional<PeerRole>(PeerRole::kCallee) : std::nullopt)) return;
    it = peers_.find(msg.from);
  } else if (offer && it->second.role == PeerRole::kCaller) {
    // Crossing offers: only a y-webrtc peer does this (a peerlink callee never offers). Settle it
    // like y-webrtc so both sides agree: the side whose own token is larger rejects the remote
    // offer; the other yields and answers.
    Peer& peer = it->second;
    if (peer.glare_token && *peer.glare_token > msg.token.value_or(0.0)) {
      ++counters_.dropped_glare;
      return;
    }
    peer.role = PeerRole::kCallee;
    Emit(BecomeCallee{msg.from});
  }
  if (offer || answer) it->second.glare_token.reset();
  Emit(RemoteSignal{msg.from, std::move(msg.signal), std::move(verified)});
}

ClientOutput ClientCore::PollOutput(Instant /*now*/) {
  if (!out_.empty()) {
    ClientOutput o = std::move(out_.front());
    out_.pop_front();
    return o;
  }
  Instant at = Instant::Max();
  for (const Server& s : servers_) {
    if (s.state == ConnState::kWaiting) at = std::min(at, s.reconnect_at);
    if (s.state == ConnState::kConnected) at = std::min(at, s.next_ping);
  }
  return ClientDeadline{at};
}

bool ClientCore::IsConsistent() const {
  if (peers_.size() > options_.max_peers) return false;
  if (pending_.size() > options_.max_pending_frames) return false;
  if (dedup_.size() != dedup_order_.size()) return false;
  if (!pending_.empty() && connected_count() != 0) return false;
  return true;
}

}  // namespace peerlink::signaling
