// The ICE agent (RFC 8445 full agent, one component), with trickle ICE
// (RFC 8838) and consent freshness (RFC 7675). Sans-I/O.
//
// The runtime owns sockets. It binds one UDP socket per local interface
// address, tells the agent with AddLocalAddress(), delivers every datagram
// with HandleDatagram(), delivers frames from TCP/TLS connections to TURN
// servers with HandleStreamFrame(), and arms one timer for the Deadline.
//
// Outputs (PollOutput, drain until Deadline):
//   Transmit  - bytes to send from `source` (a bound local socket address) to
//               `destination`. transport kUdp: a datagram. kTcp/kTls: write to
//               the stream connection from `source` to the TURN server at
//               `destination` (the runtime opens it on first use).
//   AgentEvent - candidates, gathering/connection state, selected pair,
//               application data that arrived through a TURN relay.
//   Deadline  - when to call HandleTimeout next.
//
// Application data (e.g. DTLS) is sent with SendData() over the selected
// pair. Received application data on a direct path is reported by
// HandleDatagram()'s return value (the caller passes its own buffer up; no
// copy), and through a relay by ApplicationDataEvent.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/rng.h"
#include "src/base/socket_address.h"
#include "src/base/time.h"
#include "src/ice/candidate.h"

namespace peerlink::ice {

enum class Role : uint8_t { kControlling, kControlled };
std::string_view ToString(Role r);

// RTCIceConnectionState-like states.
enum class State : uint8_t { kNew, kChecking, kConnected, kCompleted, kFailed, kDisconnected, kClosed };
std::string_view ToString(State s);

enum class GatheringState : uint8_t { kNew, kGathering, kComplete };
std::string_view ToString(GatheringState s);

enum class TransportPolicy : uint8_t { kAll, kRelay };

struct TurnServerConfig {
  SocketAddress address;
  TransportProtocol transport = TransportProtocol::kUdp;
  std::string username;
  std::string password;
};

struct Credentials {
  std::string ufrag;
  std::string pwd;
};

struct AgentConfig {
  Role role = Role::kControlling;
  std::vector<SocketAddress> stun_servers;
  std::vector<TurnServerConfig> turn_servers;
  TransportPolicy policy = TransportPolicy::kAll;
  // Pacing of ordinary checks (RFC 8445 section 14.2 Ta).
  Duration ta = Duration::Millis(50);
  // Check retransmission: first RTO, doubling up to max, the check fails
  // after check_timeout without a response.
  Duration check_rto = Duration::Millis(100);
  Duration check_max_rto = Duration::Millis(1600);
  Duration check_timeout = Duration::Seconds(5);
  // STUN/TURN gathering gives up on a server after this long.
  Duration gathering_timeout = Duration::Seconds(5);
  // Consent freshness (RFC 7675): checks every consent_interval (randomized
  // 0.8..1.2); `disconnected` after disconnected_timeout without hearing from
  // the peer on the selected pair; `failed` (and no more sending) when consent
  // is not refreshed within consent_timeout.
  Duration consent_interval = Duration::Seconds(2);
  Duration disconnected_timeout = Duration::Seconds(4);
  Duration consent_timeout = Duration::Seconds(30);
  // If the remote never signals end-of-candidates, the agent fails this long
  // after its last pair failed (with no pair pending).
  Duration trickle_wait = Duration::Seconds(3);
  // Controlling side (regular nomination): nominate the best valid pair once
  // no pending pair could beat it, or this long after the first valid pair.
  Duration nomination_wait = Duration::Millis(500);
  // ... and only once the peer has shown that it holds our current credentials (a check of its
  // own with our ufrag), or this long after the first valid pair. A peer that answers our checks
  // before our description reaches it (it can: only its own password is needed) may ignore a
  // nomination it gets then: Firefox does, after an ICE restart it offered while we control.
  Duration unconfirmed_nomination_wait = Duration::Seconds(2);
  size_t max_pairs = 100;
  size_t max_remote_candidates = 64;
  std::string software = "peerlink";
  // Fixed credentials (tests); generated from the Rng when empty.
  Credentials local_credentials;
};

struct PairStats {
  Candidate local;
  Candidate remote;
  std::string state;  // frozen/waiting/in-progress/succeeded/failed
  bool nominated = false;
  bool selected = false;
  uint64_t priority = 0;
  std::optional<Duration> rtt;  // latest round-trip time of a check
  std::optional<Duration> smoothed_rtt;
  uint64_t requests_sent = 0;
  uint64_t requests_received = 0;
  uint64_t responses_sent = 0;
  uint64_t responses_received = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t packets_sent = 0;
  uint64_t packets_received = 0;
};

struct AgentStats {
  std::vector<PairStats> pairs;  // sorted by priority, highest first
  std::optional<size_t> selected_index;
  State state = State::kNew;
  GatheringState gathering = GatheringState::kNew;
  Role role = Role::kControlling;
};

struct Transmit {
  SocketAddress source;
  SocketAddress destination;
  TransportProtocol transport = TransportProtocol::kUdp;
  std::vector<uint8_t> data;
};

struct LocalCandidateEvent {
  Candidate candidate;
};
struct GatheringStateEvent {
  GatheringState state;
};
struct StateEvent {
  State state;
  std::string reason;  // why, for failed/disconnected
};
struct SelectedPairEvent {
  Candidate local;
  Candidate remote;
  std::optional<Duration> rtt;
};
struct RoleEvent {
  Role role;
};
struct ApplicationDataEvent {
  std::vector<uint8_t> data;
};
using AgentEvent = std::
    variant<LocalCandidateEvent, GatheringStateEvent, StateEvent, SelectedPairEvent, RoleEvent, ApplicationDataEvent>;

struct Deadline {
  Instant at;  // Instant::Max() when idle
  // Which timer asked for this wake-up ("check", "pacing", "consent",
  // "turn", "gathering", ...): for logs and debugging only.
  const char* timer = "idle";
};
using Output = std::variant<Transmit, AgentEvent, Deadline>;

enum class Received : uint8_t {
  kConsumed,         // STUN/TURN traffic handled inside the agent
  kApplicationData,  // pass the datagram up (e.g. to DTLS)
  kDropped,          // malformed, unauthenticated, or from an unknown/unconsented peer
};

enum class SendResult : uint8_t { kOk, kNoSelectedPair, kConsentLost, kClosed, kRelayQueueFull };

class Agent {
 public:
  Agent(const AgentConfig& config, Rng& rng, Instant now);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  const Credentials& local_credentials() const;
  // Whether the peer's credentials are known (false before the first remote description and
  // after Restart until the peer's new ones arrive).
  bool has_remote_credentials() const;
  Role role() const;
  State state() const;
  GatheringState gathering_state() const;

  // --- Gathering -----------------------------------------------------------
  // A UDP socket the runtime bound (one per interface address). Produces a
  // host candidate (unless the policy is relay-only) and is used as the base
  // for STUN and TURN gathering.
  void AddLocalAddress(Instant now, const SocketAddress& bound);
  // Starts srflx/relay gathering on the addresses added so far; gathering is
  // complete once those finish. Addresses added later are gathered at once.
  void StartGathering(Instant now);

  // --- Remote side (trickle: any order, any time) ---------------------------
  void SetRemoteCredentials(Instant now, const Credentials& remote);
  // Returns false (and ignores the candidate) if it is unusable here: another
  // component, TCP, a family with no local address, or over the limit.
  bool AddRemoteCandidate(Instant now, const Candidate& candidate);
  void SetRemoteEndOfCandidates(Instant now);
  // The peer is ice-lite (a=ice-lite): it never checks, so nomination does not wait for it to.
  void SetRemoteIceLite(bool lite);

  // --- Control -------------------------------------------------------------
  // ICE restart (RFC 8445 section 9): new local credentials; the selected
  // pair keeps carrying data until a pair of the new generation is selected.
  void Restart(Instant now);
  void Close(Instant now);

  // --- I/O -----------------------------------------------------------------
  Received HandleDatagram(Instant now, const SocketAddress& local, const SocketAddress& remote, ByteView data);
  void HandleStreamFrame(Instant now, const SocketAddress& local, const SocketAddress& server, ByteView frame);
  void HandleStreamError(Instant now, const SocketAddress& local, const SocketAddress& server, std::string_view reason);
  void HandleTimeout(Instant now);
  [[nodiscard]] Output PollOutput(Instant now);

  // Sends application data on the selected pair; the bytes come out as a Transmit.
  [[nodiscard]] SendResult SendData(Instant now, ByteView data);

  AgentStats GetStats() const;
  std::optional<std::pair<Candidate, Candidate>> selected_pair() const;
  bool IsConsistent() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace peerlink::ice
