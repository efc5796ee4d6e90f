// Private state of turn::Client, shared by the files that implement it:
// client.cc (API, dispatch, deadlines), allocate.cc (Allocate, auth, Refresh,
// Close) and peers.cc (permissions, channels, data).
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "src/stun/transaction.h"
#include "src/turn/client.h"
#include "src/turn/wire.h"

namespace peerlink::turn {

// Bounds (see README.md).
inline constexpr size_t kMaxEvents = 4096;  // undrained events
inline constexpr int kMaxNonceRetries = 3;  // 438 Stale Nonce retries per request
inline constexpr Duration kPermissionRefresh = Duration::Seconds(240);
inline constexpr Duration kChannelRefresh = Duration::Seconds(540);
inline constexpr Duration kChannelReuseDelay = Duration::Seconds(300);  // section 12

enum class RequestKind { kAllocate, kRefresh, kCreatePermission, kChannelBind };

struct PendingRequest {
  RequestKind kind = RequestKind::kAllocate;
  std::optional<stun::ClientTransaction> txn;  // set by StartRequest
  bool authenticated = false;                  // carried MESSAGE-INTEGRITY
  int nonce_retries = 0;
  uint32_t lifetime_s = 0;  // Allocate, Refresh
  IpAddress peer_ip;        // CreatePermission
  SocketAddress peer;       // ChannelBind
  uint16_t channel = 0;     // ChannelBind
};

struct Credentials {
  std::string realm;
  std::string nonce;
  std::vector<uint8_t> key;
  // Set when the 401 carried PASSWORD-ALGORITHMS (RFC 8489 section 9.2.4):
  // echoed back verbatim with the chosen PASSWORD-ALGORITHM.
  std::optional<std::vector<uint8_t>> password_algorithms;
  stun::PasswordAlgorithm algorithm = stun::PasswordAlgorithm::kMd5;
};

struct Permission {
  bool installed = false;  // a CreatePermission succeeded (and has not lapsed)
  bool in_flight = false;  // a CreatePermission is outstanding
  bool used = false;       // sent to / received from since the last (re)install
  Instant installed_at;
  std::optional<Instant> timer;  // installed_at + 240 s
};

struct Channel {
  uint16_t number = 0;
  bool bound = false;      // ChannelData may be used
  bool in_flight = false;  // a ChannelBind is outstanding
  bool failed = false;     // the server refused: stay on Send indications
  bool used = false;
  Instant bound_at;
  std::optional<Instant> unbound_at;  // for number reuse (section 12)
  std::optional<Instant> timer;       // bound_at + 540 s, then bound_at + 600 s while rebinding
};

struct QueuedData {
  SocketAddress peer;
  std::vector<uint8_t> data;
};

struct OutgoingTransmit {
  std::vector<uint8_t> bytes;
  bool is_data = false;  // counts against max_queued_bytes
};

struct Client::Impl {
  Impl(const Options& o, Rng& r) : options(o), rng(r) {}

  Options options;
  Rng& rng;
  State state = State::kIdle;
  ClientStats stats;

  std::optional<Credentials> credentials;
  std::optional<SocketAddress> relayed;
  std::optional<SocketAddress> mapped;
  Duration lifetime;
  Instant expires_at = Instant::Max();
  std::optional<Instant> refresh_at;
  std::optional<Instant> close_deadline;

  std::vector<PendingRequest> pending;

  std::map<IpAddress, Permission> permissions;
  std::map<SocketAddress, Channel> channels;
  std::map<uint16_t, SocketAddress> channel_peers;
  uint16_t next_channel = kMinChannel;

  std::deque<QueuedData> queued;  // waiting for a permission
  size_t queued_bytes = 0;        // queued + data bytes in transmits
  std::deque<OutgoingTransmit> transmits;
  std::deque<ClientEvent> events;
  size_t event_data_bytes = 0;

  // Earliest permission/channel timer, recomputed when peer_timers_dirty.
  std::optional<Instant> peer_timer;
  bool peer_timers_dirty = false;

  // client.cc
  std::string ServerName() const;
  void Emit(ClientEvent e);
  void Fail(uint16_t code, std::string reason);
  void FinishClose();
  void ClearAll();
  stun::RetransmitPolicy Policy() const;
  void StartRequest(Instant now, PendingRequest p);
  std::vector<uint8_t> BuildRequest(PendingRequest& p);
  void Transmit(std::vector<uint8_t> bytes, bool is_data);
  std::optional<Instant> NextDeadline();

  // allocate.cc
  void HandleResponse(Instant now, const stun::StunMessage& msg);
  void OnTimeout(Instant now, const PendingRequest& p);
  void OnAllocateSuccess(Instant now, const stun::StunMessage& msg);
  void OnRefreshSuccess(Instant now, const PendingRequest& p, const stun::StunMessage& msg);
  bool TakeChallenge(const stun::StunMessage& msg, std::string* why);
  void SendRefresh(Instant now, uint32_t lifetime_s);
  void CheckAllocationTimers(Instant now);

  // peers.cc
  SendStatus Send(Instant now, const SocketAddress& peer, ByteView data);
  void SendNow(Instant now, const SocketAddress& peer, ByteView data);
  Permission* StartPermission(Instant now, const IpAddress& ip);
  void OnPermissionResult(Instant now, const PendingRequest& p, bool ok);
  void OnChannelResult(Instant now, const PendingRequest& p, bool ok);
  Channel* ChannelFor(Instant now, const SocketAddress& peer);
  void HandleDataIndication(Instant now, const stun::StunMessage& msg);
  void HandleChannelData(Instant now, ByteView bytes);
  void DeliverPeerData(const SocketAddress& peer, ByteView data);
  void CheckPeerTimers(Instant now);
  void DropQueuedFor(const IpAddress& ip);
  void RecomputePeerTimer();
  bool PeersConsistent() const;
};

}  // namespace peerlink::turn
