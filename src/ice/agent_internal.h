// Private state of ice::Agent, shared by the files that implement its
// procedures: agent.cc (API, output, state), gathering.cc, checks.cc,
// consent.cc.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/base/fifo.h"
#include "src/ice/agent.h"
#include "src/stun/message.h"
#include "src/stun/transaction.h"
#include "src/turn/client.h"

namespace peerlink::ice {

enum class PairState : uint8_t { kFrozen, kWaiting, kInProgress, kSucceeded, kFailed };
std::string_view ToString(PairState s);

// A loopback address reaches only loopback addresses, and the reverse: such a pair is never
// formed (AddPair), and a check across one gets no answer (HandleRequest).
inline bool CanPairAddresses(const SocketAddress& local, const SocketAddress& remote) {
  return local.ip().IsLoopback() == remote.ip().IsLoopback();
}

struct LocalCandidate {
  Candidate cand;
  size_t host = 0;             // index into hosts_ of the socket it sends from
  std::optional<size_t> turn;  // index into turns_ for relayed candidates
  uint32_t local_pref = 0;
  bool signaled = false;  // prflx local candidates are never signaled
};

struct RemoteCandidate {
  Candidate cand;
};

struct Pair {
  uint32_t id = 0;
  size_t local = 0;   // index into locals_
  size_t remote = 0;  // index into remotes_
  // RFC 8445 section 7.2.5.3.2: the valid pair's local candidate is the one
  // whose address equals the mapped address of the response (srflx/prflx for
  // a NATed host); data still leaves from `local`'s base.
  std::optional<size_t> valid_local;
  uint64_t priority = 0;
  PairState state = PairState::kFrozen;
  bool valid = false;
  bool nominated = false;                // a USE-CANDIDATE check succeeded (or was received and succeeded)
  bool remote_nominated = false;         // the controlling peer sent USE-CANDIDATE
  bool nominating = false;               // our USE-CANDIDATE check is in flight
  std::optional<Instant> last_received;  // authenticated STUN or data from the peer
  std::optional<Instant> last_consent;   // last consent (authenticated response)
  std::optional<Instant> next_consent;
  std::optional<Duration> rtt;
  std::optional<Duration> srtt;
  PairStats stats;
};

struct Check {
  stun::TransactionId tid;
  uint32_t pair_id = 0;
  bool use_candidate = false;
  bool consent = false;
  bool previous_generation = false;  // consent on the pre-restart pair
  Role role_at_send = Role::kControlling;
  std::string key;  // remote password that signs the response
  std::vector<uint8_t> bytes;
  Instant first_sent;
  Instant last_sent;
  Instant next_rtx;
  Instant fail_at;
  Duration rto;
  int sends = 0;
};

struct HostSocket {
  SocketAddress address;
  uint32_t local_pref = 0;
  bool gathered = false;  // STUN/TURN gathering started for it
};

struct StunGather {
  size_t host = 0;
  SocketAddress server;
  std::unique_ptr<stun::ClientTransaction> tx;
  bool done = false;
};

struct TurnSlot {
  size_t host = 0;
  TurnServerConfig config;
  std::unique_ptr<turn::Client> client;
  bool done = false;                  // allocation finished (either way), or gathering gave up on it
  std::optional<size_t> local;        // relayed local candidate
  Instant started;                    // when the allocation was started
  Instant deadline = Instant::Max();  // the TURN client's own next deadline
};

// The selected pair of the previous generation, kept across an ICE restart
// until a new pair is selected (RFC 8445 section 9).
struct PreviousPath {
  Candidate local;
  Candidate remote;
  size_t host = 0;
  std::optional<size_t> turn;
  Credentials local_credentials;
  Credentials remote_credentials;
  Pair pair;  // stats, consent timers
};

struct Agent::Impl {
  Impl(const AgentConfig& c, Rng& r, Instant now);

  // agent.cc
  template <typename E>
  void Emit(E&& e) {
    events.emplace_back(std::forward<E>(e));
  }
  void SetState(Instant now, State s, std::string reason = {});
  void UpdateState(Instant now);
  void SendVia(Instant now, size_t host, std::optional<size_t> turn, const SocketAddress& to, ByteView data);
  void DrainTurn(Instant now);
  Deadline NextDeadline(Instant now) const;
  Pair* FindPair(uint32_t id);
  const Pair* UsablePair() const;
  Pair* UsablePair();
  void Select(Instant now, Pair& p);
  bool Consistent() const;

  // gathering.cc
  void StartHostGathering(Instant now, size_t host);
  void AddLocalCandidate(Instant now, LocalCandidate lc);
  void HandleGatherResponse(Instant now, StunGather& g, const stun::StunMessage& msg);
  void HandleTurnEvent(Instant now, size_t slot, turn::ClientEvent ev);
  void GatheringTimeouts(Instant now);
  void CheckGatheringComplete(Instant now);
  std::string Foundation(CandidateType type, const IpAddress& base, const std::string& server) const;
  StunGather* FindGather(size_t host, const SocketAddress& server, const stun::TransactionId& tid);
  std::optional<size_t> FindTurnSlot(size_t host, const SocketAddress& server, TransportProtocol t) const;

  // checks.cc
  void FormPairs(Instant now, size_t remote_index);
  void FormPairsForLocal(Instant now, size_t local_index);
  Pair* AddPair(size_t local, size_t remote);
  void SendCheck(Instant now, Pair& p, bool use_candidate, bool consent, bool previous = false);
  void PaceChecks(Instant now);
  void CheckTimeouts(Instant now);
  void HandleRequest(Instant now,
                     size_t host,
                     std::optional<size_t> via_local,
                     const SocketAddress& remote,
                     const stun::StunMessage& msg);
  void HandleResponse(Instant now,
                      size_t host,
                      std::optional<size_t> via_local,
                      const SocketAddress& remote,
                      const stun::StunMessage& msg);
  void MaybeNominate(Instant now);
  // Marks a pair failed after a check failure; the selected pair is exempt
  // (its liveness is consent's business, RFC 7675).
  void FailPair(Instant now, Pair& p);
  void Unfreeze(const std::string& foundation);
  std::optional<size_t> HostIndex(const SocketAddress& local) const;
  const Candidate& ValidLocal(const Pair& p) const { return locals[p.valid_local.value_or(p.local)].cand; }
  uint64_t ComputePairPriority(const Candidate& local, const Candidate& remote) const;
  void RecomputePriorities();
  Received HandleIncoming(Instant now,
                          size_t host,
                          std::optional<size_t> via_local,
                          const SocketAddress& remote,
                          ByteView data,
                          bool* is_app_data);

  // consent.cc
  void ConsentTimers(Instant now);
  void ScheduleConsent(Instant now, Pair& p);

  AgentConfig config;
  Rng& rng;
  Role role;
  uint64_t tiebreaker = 0;
  Credentials local_creds;
  std::optional<Credentials> remote_creds;
  State state = State::kNew;
  GatheringState gathering = GatheringState::kNew;
  bool gathering_started = false;
  bool remote_eoc = false;
  bool closed = false;
  // The peer sent an authenticated check with our current ufrag, so it holds our current
  // credentials and can act on a nomination (MaybeNominate). False again after Restart.
  bool peer_has_credentials = false;
  bool remote_lite = false;  // an ice-lite peer sends no checks: nothing to wait for
  // The peer's ufrag before the last Restart (HandleRequest).
  std::string previous_remote_ufrag;

  std::vector<HostSocket> hosts;
  std::vector<LocalCandidate> locals;
  std::vector<RemoteCandidate> remotes;
  std::map<uint32_t, Pair> pairs;
  uint32_t next_pair_id = 1;
  Fifo<uint32_t> triggered;
  std::vector<Check> checks;
  std::vector<StunGather> gathers;
  std::vector<TurnSlot> turns;
  std::optional<uint32_t> selected;
  // On the heap: only an ICE restart creates one, and it is ~900 bytes every idle connection
  // would otherwise carry.
  std::unique_ptr<PreviousPath> previous;

  Instant next_check_at;
  std::optional<Instant> first_valid_at;
  std::optional<Instant> last_pair_failed_at;
  // Set when the remote said end-of-candidates without giving a usable one while we have local
  // candidates it can check: its checks may still create peer-reflexive pairs (browsers whose
  // host candidates are all mDNS names do exactly this), so failure waits trickle_wait.
  std::optional<Instant> no_pairs_since;
  std::optional<Instant> checking_started_at;

  Fifo<Transmit> transmits;
  Fifo<AgentEvent> events;
};

}  // namespace peerlink::ice
