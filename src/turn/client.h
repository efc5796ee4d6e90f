// TURN client core (RFC 8656), sans-I/O.
//
// One Client is one allocation on one TURN server over one transport (UDP,
// TCP or TLS). The runtime owns the connection to the server: for TCP/TLS it
// connects (and handshakes TLS), splits the byte stream into frames with
// stun::StreamFramer and passes each frame to HandleServerMessage(); it writes
// every TransmitToServer as-is (the core pads ChannelData for streams).
//
// Inputs:  Allocate(), CreatePermission(), SendToPeer(), Close(),
//          HandleServerMessage(now, bytes), HandleTimeout(now).
// Outputs: PollOutput(now) -> TransmitToServer | ClientEvent | Deadline.
//
// Behaviour:
// - Allocate with long-term credentials: the first request is unauthenticated,
//   401 supplies REALM/NONCE (and PASSWORD-ALGORITHMS), the retry carries
//   USERNAME/REALM/NONCE/MESSAGE-INTEGRITY; 438 Stale Nonce retries with the
//   new nonce. Other errors fail the allocation with the server's code/reason.
// - Refresh before expiry (at 3/4 of the granted lifetime, or 60 s before,
//   whichever is earlier); Close() deallocates with LIFETIME=0.
// - Permissions per peer IP, refreshed every 4 minutes while used (they last 5).
// - A channel is bound per peer the first time data is sent to it (when
//   channels are enabled); until the ChannelBind succeeds data goes out in Send
//   indications. Data arrives as Data indications or ChannelData.
// - Data to a peer whose permission is still pending is queued, bounded by
//   Options::max_queued_bytes (further sends return kQueueFull).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/rng.h"
#include "src/base/socket_address.h"
#include "src/base/time.h"
#include "src/stun/message.h"

namespace peerlink::turn {

// At most this many peer IPs hold a permission (or have one pending); beyond
// it CreatePermission reports PermissionEvent{ok=false} and SendToPeer to a new
// IP returns kQueueFull.
inline constexpr size_t kMaxPermissions = 1024;
// Close() waits this long for the deallocating Refresh to be answered.
inline constexpr Duration kCloseWait = Duration::Seconds(3);

struct Options {
  SocketAddress server;
  TransportProtocol transport = TransportProtocol::kUdp;
  std::string username;
  std::string password;
  Duration requested_lifetime = Duration::Seconds(600);
  bool use_channels = true;
  IpFamily relay_family = IpFamily::kV4;  // REQUESTED-ADDRESS-FAMILY when kV6
  // Bounds outgoing data waiting for a permission or for PollOutput, and
  // (separately) undrained PeerDataEvent payloads.
  size_t max_queued_bytes = 256 * 1024;
  std::string software = "peerlink";
};

enum class State { kIdle, kAllocating, kAllocated, kFailed, kClosing, kClosed };
std::string_view ToString(State s);

enum class SendStatus { kOk, kQueued, kQueueFull, kNotAllocated, kTooLarge };

// Bytes to write to the TURN server over this client's transport.
struct TransmitToServer {
  std::vector<uint8_t> data;
};

struct AllocatedEvent {
  SocketAddress relayed;  // XOR-RELAYED-ADDRESS
  SocketAddress mapped;   // XOR-MAPPED-ADDRESS (our server-reflexive address)
  Duration lifetime;
};
struct AllocationFailedEvent {
  uint16_t code = 0;   // STUN error code, or 0 for a timeout / transport failure
  std::string reason;  // human-readable, names the cause
};
struct PeerDataEvent {
  SocketAddress peer;
  std::vector<uint8_t> data;
};
struct PermissionEvent {
  IpAddress peer;
  bool ok = false;
};
struct ClosedEvent {};
using ClientEvent = std::variant<AllocatedEvent, AllocationFailedEvent, PeerDataEvent, PermissionEvent, ClosedEvent>;

struct Deadline {
  Instant at;  // Instant::Max() when nothing is scheduled
};

using Output = std::variant<TransmitToServer, ClientEvent, Deadline>;

struct ClientStats {
  uint64_t requests_sent = 0;
  uint64_t retransmits = 0;
  uint64_t bytes_to_peers = 0;
  uint64_t bytes_from_peers = 0;
  uint64_t channel_data_sent = 0;
  uint64_t send_indications_sent = 0;
  uint64_t dropped_from_server = 0;  // malformed or unauthenticated server messages
  uint64_t stray_responses = 0;      // responses matching no outstanding request (late duplicates)
  uint64_t peer_data_dropped = 0;    // peer data dropped because the event queue was full
};

class Client {
 public:
  Client(const Options& options, Rng& rng, Instant now);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void Allocate(Instant now);
  void CreatePermission(Instant now, const IpAddress& peer);
  [[nodiscard]] SendStatus SendToPeer(Instant now, const SocketAddress& peer, ByteView data);
  void Close(Instant now);

  // One datagram (UDP) or one frame from stun::StreamFramer (TCP/TLS).
  void HandleServerMessage(Instant now, ByteView data);
  // The transport to the server failed (TCP reset, TLS error).
  void HandleTransportError(Instant now, std::string_view reason);
  void HandleTimeout(Instant now);
  [[nodiscard]] Output PollOutput(Instant now);

  State state() const;
  std::optional<SocketAddress> relayed_address() const;
  std::optional<SocketAddress> mapped_address() const;
  const Options& options() const;
  const ClientStats& stats() const;
  bool IsConsistent() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True if `data` is TURN ChannelData (first two bits 01, RFC 7983 range 64..79).
bool LooksLikeChannelData(ByteView data);

}  // namespace peerlink::turn
