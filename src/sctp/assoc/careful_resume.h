// Careful Resume (RFC 9959, "Convergence of Congestion Control from Retained State") for the
// association's sending side (Options::resume). Private to src/sctp/assoc/*.cc.
//
// A connection that starts from IW10 and doubles per round trip needs ~12 round trips to open a
// 32 MiB window; at 100 ms that is most of a 256 MiB transfer. When the application kept what an
// earlier association to the same peer measured (Metrics::retained_cwnd, the most it delivered
// in one round trip without loss, and Metrics::min_rtt), this association may use half of it
// after one round trip of checking the path:
//
//   Reconnaissance  normal congestion control from the initial window. On the first SACK that
//                   carries an RTT sample with data still queued beyond cwnd: if nothing was
//                   lost so far and the RTT is in [saved_rtt / 2, 10 * saved_rtt), jump;
//                   otherwise (another path, or congestion) go to Normal for good.
//   Unvalidated     cwnd = jump = saved_cwnd / 2, paced evenly over the current RTT (not as a
//                   burst). cwnd does not grow. Ends when the first chunk sent in it is acked.
//   Validating      cwnd stays at the jump until every chunk sent while Unvalidated is acked.
//                   Then Normal: the congestion controller carries on from there.
//   Safe Retreat    a loss (fast retransmit or T3) while Unvalidated or Validating: cwnd =
//                   half of what the path delivered since the jump (PipeSize), at least the
//                   initial window, and slow start ends; cwnd does not grow until the chunks
//                   sent while Unvalidated are all acked. Then Normal.
//
// Sans-I/O and deterministic; it only decides, the association applies (congestion.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "src/base/time.h"
#include "src/sctp/types.h"

namespace peerlink::sctp {

class CarefulResume {
 public:
  enum class Phase : uint8_t { kReconnaissance, kUnvalidated, kValidating, kSafeRetreat, kNormal };
  // Why Reconnaissance ended.
  enum class Outcome : uint8_t { kPending, kJumped, kRttChanged, kCongestion, kNoGain };

  CarefulResume(size_t saved_cwnd, Duration saved_rtt, size_t initial_cwnd);

  // Reconnaissance, on a SACK with an RTT sample. `current_rtt`: the lowest RTT seen;
  // `congestion_seen`: any fast retransmit or T3 so far; `queued`: data is waiting that cwnd
  // holds back. Returns the new cwnd when the sender jumps (then Unvalidated, and chunks from
  // `next_tsn` on are the unvalidated ones).
  std::optional<size_t> OnReconnaissanceAck(Duration current_rtt,
                                            bool congestion_seen,
                                            size_t cwnd,
                                            bool queued,
                                            UnwrappedTsn next_tsn);
  // Unvalidated, Validating and Safe Retreat: one SACK. `cum` is the cumulative TSN ack,
  // `newly_acked` the bytes it acknowledged, `next_tsn` the next TSN to be sent. Advances the
  // phase; returns the cwnd the phase imposes on what the controller chose (nullopt: no say).
  std::optional<size_t> OnAck(UnwrappedTsn cum, size_t newly_acked, UnwrappedTsn next_tsn, size_t cwnd);
  // A loss (fast retransmit or T3-rtx). While Unvalidated or Validating: Safe Retreat, and the
  // returned window (the caller also ends slow start there).
  std::optional<size_t> OnCongestion(UnwrappedTsn next_tsn);

  // Unvalidated only: the pacing rate, bytes per second (the jump over the current RTT).
  std::optional<double> pacing_rate() const;
  Phase phase() const { return phase_; }
  Outcome outcome() const { return outcome_; }
  size_t jump_cwnd() const { return jump_; }
  size_t pipe_size() const { return pipe_size_; }

 private:
  size_t saved_cwnd_;
  Duration saved_rtt_;
  size_t initial_cwnd_;
  Phase phase_ = Phase::kReconnaissance;
  Outcome outcome_ = Outcome::kPending;
  size_t jump_ = 0, pipe_size_ = 0, retreat_cwnd_ = 0;
  Duration current_rtt_;
  UnwrappedTsn first_unvalidated_ = 0, last_unvalidated_ = 0;
};

std::string_view ToString(CarefulResume::Phase p);
std::string_view ToString(CarefulResume::Outcome o);

}  // namespace peerlink::sctp
