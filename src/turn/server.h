// A minimal TURN server core (RFC 8656), sans-I/O: UDP relaying for clients
// reaching it over UDP, TCP or TLS, long-term credentials (RFC 8489 section
// 9.2). Used by the client's unit tests and as the relay inside simulated
// networks; not a production server (no quotas per user, no ALTERNATE-SERVER,
// no TCP relaying, no DONT-FRAGMENT enforcement, no EVEN-PORT reservations).
//
// The driver owns the sockets: it passes what clients send to the server's
// listening address to HandleFromClient() (one datagram, or one frame from
// stun::StreamFramer for TCP/TLS), what peers send to a relayed address to
// HandleFromPeer(), and drains PollOutput():
//   ToClient    bytes to write to a client (ChannelData padded for streams),
//   ToPeer      a datagram to send from a relayed address to a peer,
//   RelayOpened a relayed address now in use (bind it),
//   RelayClosed a relayed address no longer in use (unbind it),
//   Deadline    when to call HandleTimeout() (Instant::Max() when idle).
//
// Allocations are keyed by (client address, transport): the server side of the
// 5-tuple is the driver's single listening address.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
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
#include "src/turn/client.h"

namespace peerlink::turn {

struct ServerOptions {
  std::string realm = "peerlink";
  std::map<std::string, std::string, std::less<>> users;  // username -> password
  IpAddress relay_ip;                                     // family of every relayed address
  // Chooses the relayed port for a new allocation (nullopt: none free -> 508).
  // When empty, ports are handed out from relay_port_base upwards.
  std::function<std::optional<uint16_t>(const SocketAddress& client)> allocate_port;
  uint16_t relay_port_base = 49152;
  Duration default_lifetime = Duration::Seconds(600);
  Duration max_lifetime = Duration::Seconds(3600);
  Duration nonce_lifetime = Duration::Seconds(600);  // older nonces get 438
  // Adds PASSWORD-ALGORITHMS (MD5, SHA-256) to 401s (RFC 8489 section 9.2.4).
  bool offer_password_algorithms = false;
  size_t max_allocations = 1024;
  size_t max_permissions = 1024;  // per allocation (channels: at most 4096 by number space)
  size_t max_pending_outputs = 4096;
  std::string software = "peerlink-turn";
};

struct ToClient {
  SocketAddress client;
  TransportProtocol transport = TransportProtocol::kUdp;
  std::vector<uint8_t> data;
};
struct ToPeer {
  SocketAddress relayed;  // source address
  SocketAddress peer;
  std::vector<uint8_t> data;
};
struct RelayOpened {
  SocketAddress relayed;
  SocketAddress client;
};
struct RelayClosed {
  SocketAddress relayed;
};
using ServerOutput = std::variant<ToClient, ToPeer, RelayOpened, RelayClosed, Deadline>;

struct ServerStats {
  uint64_t requests = 0;
  uint64_t challenges = 0;     // 401 without a prior credential failure
  uint64_t auth_failures = 0;  // 401 for bad USERNAME / MESSAGE-INTEGRITY
  uint64_t stale_nonces = 0;   // 438
  uint64_t errors_sent = 0;    // every error response
  uint64_t allocations = 0;
  uint64_t relayed_to_peers = 0;
  uint64_t relayed_to_clients = 0;
  uint64_t dropped = 0;  // malformed, unpermitted or unroutable traffic
  uint64_t outputs_dropped = 0;
};

class Server {
 public:
  Server(ServerOptions options, Rng& rng, Instant now);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void HandleFromClient(Instant now,
                        const SocketAddress& client,
                        ByteView data,
                        TransportProtocol transport = TransportProtocol::kUdp);
  void HandleFromPeer(Instant now, const SocketAddress& relayed, const SocketAddress& peer, ByteView data);
  // A TCP/TLS client connection closed: its allocation goes with it (RFC 8656 section 3.1).
  void HandleClientClosed(Instant now, const SocketAddress& client, TransportProtocol transport);
  void HandleTimeout(Instant now);
  [[nodiscard]] ServerOutput PollOutput(Instant now);

  size_t allocation_count() const;
  // Introspection for tests and the simulator's logs.
  std::optional<SocketAddress> RelayedAddressOf(const SocketAddress& client,
                                                TransportProtocol transport = TransportProtocol::kUdp) const;
  bool HasPermission(const SocketAddress& relayed, const IpAddress& peer, Instant now) const;
  std::optional<uint16_t> ChannelOf(const SocketAddress& relayed, const SocketAddress& peer, Instant now) const;
  const ServerStats& stats() const;
  const ServerOptions& options() const;
  bool IsConsistent() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace peerlink::turn
