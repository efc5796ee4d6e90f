// Transmission control block: the state that exists once an association is
// set up (RFC 9260 section 14). Private to src/sctp/assoc/*.cc.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "src/sctp/assoc/bbr.h"
#include "src/sctp/assoc/careful_resume.h"
#include "src/sctp/assoc/data_tracker.h"
#include "src/sctp/assoc/reassembly.h"
#include "src/sctp/assoc/send_queue.h"
#include "src/sctp/association.h"
#include "src/sctp/parameters.h"

namespace peerlink::sctp {

// RFC 9260 section 6.3.1: SRTT / RTTVAR / RTO with alpha 1/8, beta 1/4.
class RtoEstimator {
 public:
  explicit RtoEstimator(const Options& o) : min_(o.rto_min), max_(o.rto_max), rto_(o.rto_initial) {}
  void Observe(Duration rtt) {
    if (rtt < Duration::Zero()) return;
    if (!srtt_) {  // C1
      srtt_ = rtt;
      rttvar_ = rtt / 2;
    } else {  // C2
      Duration diff = *srtt_ > rtt ? *srtt_ - rtt : rtt - *srtt_;
      rttvar_ = rttvar_ * 3 / 4 + diff / 4;
      srtt_ = *srtt_ * 7 / 8 + rtt / 8;
    }
    // G (clock granularity) is 1 ms here: keeps RTO above SRTT on a zero-jitter link.
    Duration var = std::max(rttvar_ * 4, Duration::Millis(1));
    rto_ = std::clamp(*srtt_ + var, min_, max_);  // C3, C6, C7
  }
  void Backoff() { rto_ = std::min(rto_ * 2, max_); }  // E2 / section 6.3.3
  Duration rto() const { return rto_; }
  std::optional<Duration> srtt() const { return srtt_; }

 private:
  Duration min_, max_, rto_;
  std::optional<Duration> srtt_;
  Duration rttvar_;
};

struct OutstandingChunk {
  enum class State : uint8_t { kInFlight, kAcked, kToRetransmit, kAbandoned };
  // Acked and abandoned are final: a chunk in either never changes state again.
  bool Final() const { return state == State::kAcked || state == State::kAbandoned; }
  UnwrappedTsn tsn = 0;
  Fragment fragment;
  Instant sent_at;
  State state = State::kInFlight;
  uint16_t nacks = 0;
  uint16_t transmissions = 1;
  bool fast_retransmitted = false;
  // next_tsn when this chunk was last retransmitted: a miss indication for a
  // retransmission counts only once a TSN sent after it is acked (it may
  // then itself be fast-retransmitted again instead of waiting for T3).
  UnwrappedTsn retransmit_fence = 0;
  size_t size = 0;          // chunk bytes counted against cwnd/rwnd
  uint64_t send_order = 0;  // when last sent, as a count of transmissions (Tcb::next_send_order)
  // Acked or abandoned (final states): how many chunks from this one on are too, at least 1
  // (Association::NextUnacked). Relative, so it survives the front being acked away.
  uint32_t skip = 0;
  RateSnapshot rate;  // the delivery state when last sent (CongestionControl::kBbr only)
};

// What the FORWARD-TSN names (RFC 3758 section 3.2, RFC 8260 section 2.3.1): the abandoned
// messages in (cumulative_ack, walked], walked up to the Advanced.Peer.Ack.Point as it moves and
// trimmed as the cumulative ack passes them. Those chunks are in final states, so what was walked
// stays true, and a FORWARD-TSN repeated to a peer that never acts on it costs what is new since
// the last one, not the window (Association::UpdateForwardTsnSummary).
struct ForwardTsnSummary {
  UnwrappedTsn walked = 0;
  UnwrappedTsn trimmed_at = 0;  // the cumulative ack the entries were last trimmed against
  // Ordered messages, per stream: the SSN (DATA) or MID (I-DATA) of the latest one by TSN, and
  // that TSN. Within a stream both rise together (a stream's numbers restart only once a reset
  // is performed, after the peer has everything sent before it), so the latest is the highest.
  struct Latest {
    uint32_t ssn_or_mid = 0;
    UnwrappedTsn tsn = 0;
  };
  std::map<uint16_t, Latest> ordered;
  // I-DATA only: unordered messages are named one by one, in TSN order; `tsn` is the last of the
  // message's abandoned fragments walked (consecutive fragments share an entry).
  struct Unordered {
    uint16_t stream = 0;
    uint32_t mid = 0;
    UnwrappedTsn tsn = 0;
  };
  std::deque<Unordered> unordered;
  // Adds the abandoned chunks of outstanding[from, to), walked in TSN order.
  void Walk(const std::deque<OutstandingChunk>& outstanding, bool i_data, size_t from, size_t to);
  // Drops what the cumulative ack has passed.
  void Trim(UnwrappedTsn cumulative_ack);
  // The same messages, once both are trimmed to `cumulative_ack` (Association::IsConsistent).
  bool SameAs(ForwardTsnSummary other, UnwrappedTsn cumulative_ack) const;
};

struct Association::Negotiated {
  bool i_data = false, zero_checksum = false, forward_tsn = false, reconfig = false;
};

struct Association::Tcb {
  Tcb(const Options& o, UnwrappedTsn local_initial, UnwrappedTsn peer_initial, bool interleaving)
      : send_queue(o.max_send_buffer, o.per_stream_send_buffer, interleaving),
        next_tsn(local_initial),
        cumulative_ack(local_initial - 1),
        rto(o),
        tracker(peer_initial),
        reassembly(interleaving, o.max_message_size) {}

  VerificationTag local_tag, peer_tag;
  Tsn local_initial_tsn, peer_initial_tsn;
  Negotiated caps;
  uint16_t outbound_streams = 0, inbound_streams = 0;

  // --- Send side (data.cc, sack.cc, congestion.cc).
  SendQueue send_queue;
  std::deque<OutstandingChunk> outstanding;  // outstanding[i].tsn == cumulative_ack + 1 + i
  UnwrappedTsn next_tsn;
  UnwrappedTsn cumulative_ack;   // highest cumulative TSN ack the peer sent
  size_t flight_bytes = 0;       // chunks in state kInFlight
  size_t outstanding_bytes = 0;  // chunks not yet acked by the peer (for rwnd)
  // Every chunk in `outstanding`, gap-acked and abandoned ones too: what the sender holds until
  // the cumulative ack passes it, and what Options::max_retransmit_buffer bounds.
  size_t held_bytes = 0;
  size_t to_retransmit = 0;  // chunks in state kToRetransmit
  size_t peer_rwnd = 0;
  size_t cwnd = 0, ssthresh = 0, partial_bytes_acked = 0;
  std::optional<UnwrappedTsn> fast_recovery_exit;
  // HyStart-like slow-start exit (congestion.cc): the lowest RTT seen, and the
  // runs of 8 samples that give the delay signal (bbr.h); a round ends when the
  // TSN sent last at its start is acked.
  std::optional<Duration> min_rtt;
  RttRuns hystart_runs;
  // Rounds left in which a delay-based HyStart exit is undone if the RTT comes back down.
  int hystart_undo_rounds = 0;
  UnwrappedTsn hystart_round_end = 0;
  Instant hystart_round_start, hystart_last_ack;
  // Options::rapid_start (congestion.cc): the draft's rtt_floor (the lowest of the last run of 8
  // RTT samples), whether this round grew 3x, and the phase. kRecovering holds the floor below
  // which the gradual reduction stops.
  enum class RapidStart : uint8_t { kOff, kGrowing, kRecovering, kDone };
  RapidStart rapid = RapidStart::kOff;
  RttRuns rapid_runs;
  std::optional<Duration> rtt_floor;
  bool round_grew_3x = false;
  size_t rapid_floor = 0;
  // Pacing: new data may leave at pacing_next; pacing_timer is armed only
  // while data waits for it.
  Instant pacing_next;
  std::optional<Instant> pacing_timer;
  // True while the pacer alone holds new data back (set when the pacing timer is armed, cleared
  // when cwnd, rwnd or an empty queue stops sending): only then may a late wake-up catch up
  // (Options::pacing_max_lag). A gap spent waiting for acks is not lag to make up.
  bool pacer_limited = false;
  bool fast_retransmit_now = false;  // the next packet may ignore cwnd (RFC 9260 section 7.2.4 step 3)
  // Options::rack (RFC 8985 section 6): the send time and order of the most recently sent chunk a
  // SACK has delivered, the round trip of that delivery, and when to look for losses again.
  std::optional<Instant> rack_sent;
  uint64_t rack_order = 0;  // its OutstandingChunk::send_order
  uint64_t next_send_order = 1;
  Duration rack_rtt;
  std::optional<Instant> rack_timer;
  // RackDetectLosses' walks: below rack_first_cursor no chunk is an in-flight first transmission;
  // retransmissions (TSN, when sent) in the order they left, from rack_rtx_head on. A vector, not a
  // deque: an empty one allocates nothing, and every connection has this (docs/performance.md T3).
  UnwrappedTsn rack_first_cursor = 0;
  size_t rack_rtx_head = 0;
  UnwrappedTsn rack_highest_reported = 0;  // the highest TSN any SACK has acknowledged
  std::vector<std::pair<UnwrappedTsn, Instant>> rack_rtx_order;
  // Options::tail_loss_probe (RFC 8985 section 7): when the probe timeout fires, and that a probe
  // is due in the next packet. The probe in flight: the highest TSN sent when it left
  // (TLP.end_seq), the chunk it resent if it resent one (TLP.is_retrans), and whether a SACK has
  // since reported that chunk as a duplicate (the original had arrived: nothing was lost).
  std::optional<Instant> tlp_timer;
  bool tlp_due = false;
  std::optional<UnwrappedTsn> tlp_end, tlp_resent;
  bool tlp_duplicate = false;
  // The last packet with new data asked for an immediate SACK (RFC 7053): the peer does not hold
  // its SACK for a flight of one packet that ends with it.
  bool last_data_immediate = false;
  bool forward_tsn_needed = false;
  // Built at the first FORWARD-TSN: most associations never abandon a message (T3 memory).
  std::unique_ptr<ForwardTsnSummary> forward_tsn;
  RtoEstimator rto;
  // CongestionControl::kBbr: the delivery-rate estimator and the model (bbr.h).
  DeliveryRateEstimator rate;
  std::optional<Bbr> bbr;
  // Options::resume (careful_resume.h), and what this association delivered in its best
  // lossless round trip (Metrics::retained_cwnd): bytes acked this round, and whether it lost.
  std::optional<CarefulResume> resume;
  size_t round_acked = 0, retained_cwnd = 0;
  bool round_lossy = false;
  uint64_t next_message_id = 1;

  // --- Receive side.
  DataTracker tracker;
  ReassemblyQueue reassembly;
  bool sack_now = false;
  int data_packets_since_sack = 0;

  // --- Timers.
  std::optional<Instant> t3_rtx, delayed_ack, heartbeat, heartbeat_timeout, t2_shutdown, reconfig_timer;
  int error_count = 0;  // association error counter (section 8.1)
  int t2_count = 0;
  Instant last_data_sent;
  uint64_t heartbeat_nonce = 0;

  // --- Stream reset (stream_reset.cc), RFC 6525.
  uint32_t next_request_sequence = 0;
  std::set<uint16_t> streams_to_reset;  // requested by the user, not yet in a request
  struct InflightReset {
    uint32_t sequence = 0;
    std::vector<StreamId> streams;
    Tsn last_tsn;
  };
  std::optional<InflightReset> inflight_reset;
  bool reconfig_packet_needed = false;
  uint32_t peer_next_request_sequence = 0;
  uint32_t last_peer_result = 0;
  struct DeferredReset {
    uint32_t sequence = 0;
    UnwrappedTsn last_tsn = 0;
    std::vector<StreamId> streams;
  };
  std::optional<DeferredReset> deferred_incoming_reset;
  std::vector<ReconfigResponseParameter> pending_responses;
};

}  // namespace peerlink::sctp
