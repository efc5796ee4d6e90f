// See careful_resume.h.
#include "src/sctp/assoc/careful_resume.h"

#include <algorithm>

namespace peerlink::sctp {

CarefulResume::CarefulResume(size_t saved_cwnd, Duration saved_rtt, size_t initial_cwnd)
    : saved_cwnd_(saved_cwnd), saved_rtt_(saved_rtt), initial_cwnd_(initial_cwnd) {}

std::optional<size_t> CarefulResume::OnReconnaissanceAck(Duration current_rtt,
                                                         bool congestion_seen,
                                                         size_t cwnd,
                                                         bool queued,
                                                         UnwrappedTsn next_tsn) {
  if (phase_ != Phase::kReconnaissance) return std::nullopt;
  if (congestion_seen) {
    phase_ = Phase::kNormal;
    outcome_ = Outcome::kCongestion;
    return std::nullopt;
  }
  // RFC 9959: an RTT under half the saved one, or ten times it or more, is not the path the
  // state was saved on.
  if (saved_rtt_ <= Duration::Zero() || current_rtt < saved_rtt_ / 2 || current_rtt >= saved_rtt_ * 10) {
    phase_ = Phase::kNormal;
    outcome_ = Outcome::kRttChanged;
    return std::nullopt;
  }
  const size_t jump = saved_cwnd_ / 2;
  if (jump <= cwnd) {
    phase_ = Phase::kNormal;
    outcome_ = Outcome::kNoGain;
    return std::nullopt;
  }
  // Nothing waits beyond the window: the jump would not be used. Wait for a SACK that finds
  // the sender window-limited.
  if (!queued) return std::nullopt;
  phase_ = Phase::kUnvalidated;
  outcome_ = Outcome::kJumped;
  jump_ = jump;
  current_rtt_ = current_rtt;
  first_unvalidated_ = next_tsn;
  return jump_;
}

std::optional<size_t> CarefulResume::OnAck(UnwrappedTsn cum, size_t newly_acked, UnwrappedTsn next_tsn, size_t cwnd) {
  if (phase_ == Phase::kReconnaissance || phase_ == Phase::kNormal) return std::nullopt;
  pipe_size_ += newly_acked;
  if (phase_ == Phase::kUnvalidated) {
    if (cum < first_unvalidated_) return jump_;
    // The first unvalidated chunk is acked: what was sent until now is what gets validated.
    phase_ = Phase::kValidating;
    last_unvalidated_ = next_tsn - 1;
  }
  if (phase_ == Phase::kValidating) {
    if (cum < last_unvalidated_) return jump_;
    phase_ = Phase::kNormal;
    return std::nullopt;  // validated: the controller carries on from the jump
  }
  // Safe Retreat: the controller may shrink cwnd further, not grow it.
  const size_t capped = std::min(cwnd, retreat_cwnd_);
  if (cum >= last_unvalidated_) phase_ = Phase::kNormal;
  return capped;
}

std::optional<size_t> CarefulResume::OnCongestion(UnwrappedTsn next_tsn) {
  if (phase_ != Phase::kUnvalidated && phase_ != Phase::kValidating) return std::nullopt;
  if (phase_ == Phase::kUnvalidated) last_unvalidated_ = next_tsn - 1;
  phase_ = Phase::kSafeRetreat;
  retreat_cwnd_ = std::max(pipe_size_ / 2, initial_cwnd_);
  return retreat_cwnd_;
}

std::optional<double> CarefulResume::pacing_rate() const {
  if (phase_ != Phase::kUnvalidated || current_rtt_ <= Duration::Zero()) return std::nullopt;
  return static_cast<double>(jump_) / current_rtt_.seconds_f();
}

std::string_view ToString(CarefulResume::Phase p) {
  switch (p) {
    case CarefulResume::Phase::kReconnaissance: return "reconnaissance";
    case CarefulResume::Phase::kUnvalidated: return "unvalidated";
    case CarefulResume::Phase::kValidating: return "validating";
    case CarefulResume::Phase::kSafeRetreat: return "safe-retreat";
    case CarefulResume::Phase::kNormal: return "normal";
  }
  return "?";
}

std::string_view ToString(CarefulResume::Outcome o) {
  switch (o) {
    case CarefulResume::Outcome::kPending: return "pending";
    case CarefulResume::Outcome::kJumped: return "jumped";
    case CarefulResume::Outcome::kRttChanged: return "rtt-changed";
    case CarefulResume::Outcome::kCongestion: return "congestion";
    case CarefulResume::Outcome::kNoGain: return "no-gain";
  }
  return "?";
}

}  // namespace peerlink::sctp
