// The signaling client core: one room (topic) on one or more y-webrtc signaling servers, sans-I/O.
//
// Inputs: Start, HandleConnected/HandleDisconnected/HandleFrame (per server index, as the runtime
// sees its WebSocket connections), HandleTimeout, and commands from the peer-connection side
// (SendSignal, RemovePeer). Outputs: PollOutput(now), drained until a Deadline.
//
// What it does (docs/signaling.md, "Client"):
// - subscribes to the room on every server, publishes every message to every connected server and
//   drops duplicates that arrive via several servers (SHA-256 of the publish `data`, 60 s window);
// - announces itself (y-webrtc `announce`) on every (re)connect and answers a broadcast announce
//   with an announce addressed (`to`) to the announcer, so both sides discover each other;
// - decides who offers: the smaller peer id (byte-wise string order) is the caller
//   (BecomeCaller/BecomeCallee); a y-webrtc peer's crossing offer is settled by y-webrtc's glare
//   token so a browser peer still connects;
// - room-password mode (y-webrtc compatible): every publish encrypted, every received message
//   decrypted; undecryptable ones dropped and counted;
// - identity mode: offers/answers signed (AttachIdentity) and verified against trusted identities;
//   a failure is an Error event and the signal is dropped;
// - `ping` keepalive; reconnect with exponential backoff and full jitter; peers survive a server
//   restart (no PeerLeft because a server dropped).
// Not thread-safe; the runtime (src/runtime/signaling_client.h) serialises calls on a strand.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "src/base/crypto.h"
#include "src/base/rng.h"
#include "src/base/time.h"
#include "src/signaling/identity.h"
#include "src/signaling/room_crypto.h"
#include "src/signaling/ywebrtc_messages.h"

namespace peerlink::signaling {

struct ClientOptions {
  std::vector<std::string> urls;  // ws:// or wss:// signaling servers; index = server_index
  std::string room;               // the topic
  std::string peer_id;            // empty: a random UUIDv4 (like y-webrtc)
  // Room-password mode. `room_key` (pre-derived, DeriveRoomKey) wins over `password`; deriving
  // from `password` in the constructor costs one PBKDF2 (100,000 iterations).
  std::string password;
  std::optional<RoomKey> room_key;
  // Identity mode. `identity`: sign our offers/answers. `trusted_identities` non-empty: every
  // received offer/answer must carry a valid signature by one of them (candidates are not signed;
  // they cannot redirect DTLS).
  std::shared_ptr<const IdentityKey> identity;
  std::vector<IdentityPublicKey> trusted_identities;

  Duration ping_interval = Duration::Seconds(15);  // y-webrtc's client interval
  Duration backoff_base = Duration::Millis(250);
  Duration backoff_cap = Duration::Seconds(30);
  Duration backoff_reset_after = Duration::Seconds(10);  // a connection up this long resets the attempt count
  Duration dedup_window = Duration::Seconds(60);
  size_t max_peers = 256;
  size_t max_frame_bytes = size_t{64} * 1024;  // in and out
  size_t max_pending_frames = 256;             // queued while no server is connected
  size_t max_dedup_entries = 4096;
};

// Outputs.
struct SendFrame {
  size_t server_index = 0;
  std::string text;
};
struct Connect {  // (re)connect this server now; answer with HandleConnected or HandleDisconnected
  size_t server_index = 0;
  std::string url;
};
struct PeerDiscovered {
  std::string peer_id;
};
struct PeerLeft {
  std::string peer_id;
};
struct BecomeCaller {  // we send the offer to this peer
  std::string peer_id;
};
struct BecomeCallee {  // we wait for its offer (also emitted when a y-webrtc peer wins glare)
  std::string peer_id;
};
struct RemoteSignal {
  std::string peer_id;
  ywebrtc::PeerSignal signal;
  std::string verified_identity;  // identity mode, offers/answers: the signer's id; else empty
};
enum class ClientErrorCode {
  kIdentity,   // a received offer/answer failed identity verification (dropped)
  kPeerLimit,  // max_peers reached; a new peer was ignored
};
std::string_view ToString(ClientErrorCode c);
struct ClientError {
  ClientErrorCode code = ClientErrorCode::kIdentity;
  std::string peer_id;
  std::string message;
};
struct ClientDeadline {
  Instant at = Instant::Max();
};
using ClientOutput = std::variant<SendFrame,
                                  Connect,
                                  PeerDiscovered,
                                  PeerLeft,
                                  BecomeCaller,
                                  BecomeCallee,
                                  RemoteSignal,
                                  ClientError,
                                  ClientDeadline>;

enum class SendStatus {
  kSent,            // published on every connected server
  kQueued,          // no server connected; sent after the next connect
  kUnknownPeer,     // not a discovered peer
  kNotCaller,       // an offer towards a peer we are the callee of
  kTooLarge,        // the frame would exceed max_frame_bytes
  kIdentityFailed,  // identity mode: the offer/answer could not be signed (no fingerprint)
  kEncryptFailed,
  kQueueFull,  // no server connected and max_pending_frames already queued
};
std::string_view ToString(SendStatus s);

enum class PeerRole { kCaller, kCallee };

struct ClientCounters {
  uint64_t frames_in = 0;
  uint64_t dropped_oversize = 0;
  uint64_t dropped_malformed = 0;
  uint64_t dropped_other_topic = 0;
  uint64_t dropped_duplicate = 0;
  uint64_t dropped_undecryptable = 0;  // password mode: bad box / wrong password / plaintext
  uint64_t dropped_not_for_us = 0;     // own echo or `to` another peer
  uint64_t dropped_peer_limit = 0;
  uint64_t dropped_identity = 0;
  uint64_t dropped_glare = 0;  // a crossing offer we rejected (our glare token larger)
  uint64_t dropped_pending_overflow = 0;
  uint64_t reconnects = 0;
};

class ClientCore {
 public:
  ClientCore(ClientOptions options, Rng& rng);

  void Start(Instant now);
  void HandleConnected(Instant now, size_t server_index);
  void HandleDisconnected(Instant now, size_t server_index, std::string_view reason);
  void HandleFrame(Instant now, size_t server_index, std::string_view text);
  void HandleTimeout(Instant now);

  [[nodiscard]] SendStatus SendSignal(Instant now, const std::string& remote_peer, const ywebrtc::PeerSignal& signal);
  // The peer-connection side gave up on this peer: forget it (PeerLeft) and announce again so it
  // can be rediscovered (y-webrtc announces after a connection closes). False if unknown.
  bool RemovePeer(Instant now, const std::string& peer_id);

  [[nodiscard]] ClientOutput PollOutput(Instant now);

  const std::string& peer_id() const { return peer_id_; }
  const std::string& room() const { return options_.room; }
  bool connected(size_t server_index) const;
  size_t connected_count() const;
  std::optional<PeerRole> role(const std::string& peer_id) const;
  size_t peer_count() const { return peers_.size(); }
  const ClientCounters& counters() const { return counters_; }
  // The delay chosen for the current backoff of `server_index` (tests, logs).
  std::optional<Duration> last_backoff(size_t server_index) const;
  bool IsConsistent() const;

 private:
  enum class ConnState { kIdle, kConnecting, kConnected, kWaiting };
  struct Server {
    std::string url;
    ConnState state = ConnState::kIdle;
    Instant connected_at;
    Instant next_ping;
    Instant reconnect_at;
    uint32_t attempts = 0;  // consecutive failed/short connections
    std::optional<Duration> last_backoff;
  };
  struct Peer {
    PeerRole role = PeerRole::kCallee;
    std::optional<double> glare_token;  // y-webrtc: set on our first signal, cleared on remote offer/answer
  };

  std::string NewMid();
  // Wraps an inner message in a publish (encrypting in password mode); nullopt if it fails.
  std::optional<std::string> MakePublish(nlohmann::json inner, SendStatus* status);
  SendStatus Publish(const std::string& frame);
  void Announce(const std::optional<std::string>& to);
  // Adds a peer (PeerDiscovered + role event). False if the table is full.
  bool Discover(const std::string& peer_id, std::optional<PeerRole> forced_role);
  void HandleInner(Instant now, const nlohmann::json& inner);
  void HandleSignal(ywebrtc::SignalMessage msg);
  bool SeenBefore(Instant now, const crypto::Sha256Digest& digest);
  void ScheduleReconnect(Instant now, Server& s);
  void Emit(ClientOutput o) { out_.push_back(std::move(o)); }

  ClientOptions options_;
  Rng& rng_;
  std::string peer_id_;
  std::optional<RoomKey> key_;
  bool started_ = false;
  std::vector<Server> servers_;
  std::map<std::string, Peer> peers_;
  std::deque<std::string> pending_;  // frames waiting for a connected server
  std::deque<std::pair<Instant, crypto::Sha256Digest>> dedup_order_;
  std::set<crypto::Sha256Digest> dedup_;
  std::deque<ClientOutput> out_;
  uint64_t mid_counter_ = 0;
  bool peer_limit_reported_ = false;
  ClientCounters counters_;
};

}  // namespace peerlink::signaling
