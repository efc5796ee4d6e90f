// See bbr.h. Names follow the drafts where they have one.
#include "src/sctp/assoc/bbr.h"

#include <algorithm>

namespace peerlink::sctp {
namespace {
constexpr double kHighGain = 2.885;  // 2 / ln 2: Startup doubles the sending rate every round trip
constexpr double kDrainGain = 1.0 / kHighGain;
constexpr double kCwndGain = 2.0;
constexpr double kStartupCwndGain = 2.0;  // BBRv3's; v1's 2.885 overflowed a 0.4-BDP queue by a lot
constexpr std::array<double, 8> kCycleGains = {1.25, 0.75, 1, 1, 1, 1, 1, 1};
constexpr Duration kMinRttWindow = Duration::Seconds(10);
constexpr Duration kProbeRttDuration = Duration::Millis(200);
constexpr double kLossThreshold = 0.02;
constexpr double kLossBeta = 0.7;
}  // namespace

RateSnapshot DeliveryRateEstimator::OnSend(Instant now, size_t flight_before) {
  if (flight_before == 0) {
    first_sent_time_ = now;
    delivered_time_ = now;
  }
  return {delivered_, delivered_time_, first_sent_time_, app_limited_until_ != 0};
}

void DeliveryRateEstimator::MarkAppLimited(size_t flight) {
  app_limited_until_ = std::max<uint64_t>(delivered_ + flight, 1);
}

void DeliveryRateEstimator::OnDelivered(Instant now, const RateSnapshot& at_send, Instant sent_at, size_t bytes) {
  delivered_ += bytes;
  delivered_time_ = now;
  // The most recently sent chunk defines the sample.
  if (have_ && at_send.delivered < prior_delivered_) return;
  have_ = true;
  prior_delivered_ = at_send.delivered;
  sample_app_limited_ = at_send.app_limited;
  send_elapsed_ = sent_at - at_send.first_sent_time;
  ack_elapsed_ = now - at_send.delivered_time;
  first_sent_time_ = sent_at;
}

RateSample DeliveryRateEstimator::TakeSample(std::optional<Duration> min_rtt) {
  RateSample rs;
  if (app_limited_until_ != 0 && delivered_ > app_limited_until_) app_limited_until_ = 0;
  if (!have_) return rs;
  have_ = false;
  rs.prior_delivered = prior_delivered_;
  rs.app_limited = sample_app_limited_;
  rs.delivered = delivered_ - prior_delivered_;
  rs.interval = std::max(send_elapsed_, ack_elapsed_);
  rs.valid = rs.delivered > 0 && rs.interval > Duration::Zero() && (!min_rtt || rs.interval >= *min_rtt);
  return rs;
}

Bbr::Bbr(size_t mtu, size_t initial_cwnd, Instant now)
    : mtu_(mtu), initial_cwnd_(initial_cwnd), pacing_gain_(kHighGain), cwnd_gain_(kStartupCwndGain) {
  min_rtt_stamp_ = now;
  cycle_stamp_ = now;
}

size_t Bbr::Bdp(double gain) const {
  if (!min_rtt_ || max_bw_ <= 0) return initial_cwnd_;
  return static_cast<size_t>(gain * max_bw_ * min_rtt_->seconds_f());
}

size_t Bbr::TargetCwnd(double gain) const {
  if (!min_rtt_ || max_bw_ <= 0) return initial_cwnd_;
  // Room for the bursts an event loop and delayed SACKs make: three quanta of 1 ms of sending.
  const double quantum = std::clamp(pacing_rate_ * 1e-3, 2.0 * static_cast<double>(mtu_), 64.0 * 1024);
  return Bdp(gain) + static_cast<size_t>(3 * quantum);
}

void Bbr::OnLoss(size_t bytes) {
  round_lost_bytes_ += bytes;
  round_lost_events_++;
  loss_in_cycle_phase_ = true;
}

void Bbr::OnEnterRecovery(size_t flight, size_t newly_acked, size_t* cwnd) {
  prior_cwnd_ = std::max(prior_cwnd_, *cwnd);
  in_recovery_ = true;
  packet_conservation_ = true;
  recovery_round_end_ = round_count_ + 1;
  *cwnd = std::max(flight + std::max(newly_acked, mtu_), 4 * mtu_);
}

void Bbr::OnExitRecovery(size_t* cwnd) {
  if (!in_recovery_) return;
  in_recovery_ = false;
  packet_conservation_ = false;
  *cwnd = std::max(*cwnd, prior_cwnd_);
  if (inflight_hi_) *cwnd = std::min(*cwnd, std::max(*inflight_hi_, 4 * mtu_));
  prior_cwnd_ = 0;
}

void Bbr::OnRetransmissionTimeout(size_t* cwnd) {
  // One congestion signal, not a loss per chunk: T3 marks everything unacknowledged, most of it
  // only sent in the last round trip. Counted chunk by chunk, one early timeout read as "more
  // than 2% lost" and ended Startup at a fraction of the path (a 0.4 MB/s estimate in the
  // simulator's 100 ms / 1% loss case, SctpBbr.ShortTransfersThroughRandomLossDoNotStall).
  loss_in_cycle_phase_ = true;
  prior_cwnd_ = std::max(prior_cwnd_, *cwnd);
  in_recovery_ = true;
  packet_conservation_ = false;
  *cwnd = mtu_;
}

void Bbr::UpdateRound(const RateSample& rs, uint64_t delivered) {
  round_start_ = false;
  if (rs.delivered > 0 && rs.prior_delivered >= next_round_delivered_) {
    next_round_delivered_ = delivered;
    round_count_++;
    round_start_ = true;
  }
}

void Bbr::UpdateBandwidth(const RateSample& rs) {
  // The window moves only when a sample counts. An application that sends little for more than
  // 10 round trips gives only app-limited samples below the estimate; aging the estimate out
  // then would drop it to nothing and the next burst would start again from the initial window
  // (as the draft's max_bw filter and Linux's minmax, which are updated by counted samples only).
  const double bw = rs.bytes_per_second();
  if (bw <= 0 || (rs.app_limited && bw < max_bw_)) return;
  const size_t slot = round_count_ % kBwRounds;
  if (bw_round_[slot] != round_count_) {
    bw_round_[slot] = round_count_;
    bw_by_round_[slot] = 0;
  }
  bw_by_round_[slot] = std::max(bw_by_round_[slot], bw);
  double m = 0;
  for (size_t i = 0; i < kBwRounds; ++i)
    if (round_count_ - bw_round_[i] < kBwRounds) m = std::max(m, bw_by_round_[i]);
  max_bw_ = m;
}

void Bbr::CheckFullPipe(const RateSample& rs) {
  // A round in loss recovery is limited by the recovery window, not by the path: it is no sign
  // of a plateau (a T3 in the first rounds otherwise ended Startup at a fraction of the path).
  if (filled_pipe_ || !round_start_ || rs.app_limited || in_recovery_) return;
  if (max_bw_ >= full_bw_ * 1.25) {
    full_bw_ = max_bw_;
    full_bw_count_ = 0;
    return;
  }
  if (++full_bw_count_ >= 3) filled_pipe_ = true;
}

void Bbr::CheckStartupDelay(std::optional<Duration> rtt) {
  // HyStart's delay signal (RttRuns), which BBR itself lacks: the bandwidth plateau takes three
  // round trips to show, and at the end of Startup each round trip sends twice the last; a queue
  // of less than a BDP overflows before.
  if (!rtt || !min_rtt_) return;
  const std::optional<Duration> run_min = startup_rtt_runs_.Add(*rtt);
  if (run_min && *run_min >= *min_rtt_ + RttRuns::Threshold(*min_rtt_)) {
    filled_pipe_ = true;
    delay_exits_++;
  }
}

void Bbr::UpdateMinRtt(Instant now, std::optional<Duration> rtt) {
  const bool expired = min_rtt_ && now > min_rtt_stamp_ + kMinRttWindow;
  if (rtt && *rtt > Duration::Zero() && (!min_rtt_ || *rtt <= *min_rtt_ || expired)) {
    min_rtt_ = rtt;
    min_rtt_stamp_ = now;
  }
  if (expired && mode_ != Mode::kProbeRtt) {
    mode_ = Mode::kProbeRtt;
    probe_rtts_++;
    pacing_gain_ = 1;
    cwnd_gain_ = 1;
    probe_rtt_done_.reset();
    probe_rtt_round_done_ = false;
  }
}

void Bbr::EnterProbeBw(Instant now) {
  mode_ = Mode::kProbeBw;
  cwnd_gain_ = kCwndGain;
  cycle_index_ = 2;  // cruising; the draft picks at random among the phases but the 0.75 one
  pacing_gain_ = kCycleGains[cycle_index_];
  cycle_stamp_ = now;
  loss_in_cycle_phase_ = false;
}

void Bbr::AdvanceCycle(Instant now, size_t prior_flight) {
  const bool elapsed = min_rtt_ && now - cycle_stamp_ > *min_rtt_;
  bool next = elapsed;
  if (pacing_gain_ > 1) next = elapsed && (loss_in_cycle_phase_ || prior_flight >= Bdp(pacing_gain_));
  if (pacing_gain_ < 1) next = elapsed || prior_flight <= Bdp(1);
  if (!next) return;
  cycle_index_ = (cycle_index_ + 1) % kCycleGains.size();
  pacing_gain_ = kCycleGains[cycle_index_];
  cycle_stamp_ = now;
  loss_in_cycle_phase_ = false;
}

bool Bbr::ExcessLoss(uint64_t delivered) const {
  const uint64_t total = (delivered - round_start_delivered_) + round_lost_bytes_;
  return round_lost_events_ >= kLossEventsForCap &&
         static_cast<double>(round_lost_bytes_) > kLossThreshold * static_cast<double>(total);
}

void Bbr::UpdateLossCap(uint64_t delivered) {
  // Checked on every SACK in Startup, which it leaves as soon as the queue overflows (as BBRv3),
  // with the cap no lower than the estimated BDP; otherwise at the end of each round trip.
  const bool startup = mode_ == Mode::kStartup;
  if (!startup && !round_start_) return;
  if (ExcessLoss(delivered)) {
    const size_t base = inflight_hi_ ? std::min(*inflight_hi_, round_max_flight_) : round_max_flight_;
    const size_t floor = startup ? std::max(Bdp(1), 4 * mtu_) : 4 * mtu_;
    inflight_hi_ = std::max(floor, static_cast<size_t>(kLossBeta * static_cast<double>(base)));
    probe_up_mtus_ = 1;
    loss_cuts_++;
    filled_pipe_ = true;
  } else if (!round_start_) {
    return;  // Startup between round ends: nothing to count yet
  } else if (inflight_hi_) {
    // Probe the cap upwards: 1, 2, 4, ... MTUs per round trip without excess loss; once it is
    // far above what the model wants in flight it no longer binds.
    *inflight_hi_ += probe_up_mtus_ * mtu_;
    probe_up_mtus_ = std::min<size_t>(probe_up_mtus_ * 2, 4096);
    if (*inflight_hi_ >= 2 * TargetCwnd(kCwndGain)) inflight_hi_.reset();
  }
  round_lost_bytes_ = 0;
  round_lost_events_ = 0;
  round_start_delivered_ = delivered;
  round_max_flight_ = 0;
}

void Bbr::SetPacingRate() {
  if (max_bw_ <= 0) return;
  const double rate = pacing_gain_ * max_bw_ * 0.99;
  if (filled_pipe_ || rate > pacing_rate_) pacing_rate_ = rate;
}

void Bbr::SetCwnd(size_t newly_acked, size_t flight, uint64_t delivered, size_t* cwnd) {
  const size_t target = TargetCwnd(cwnd_gain_);
  if (packet_conservation_) {
    *cwnd = std::max(*cwnd, flight + newly_acked);
  } else if (filled_pipe_) {
    *cwnd = std::min(*cwnd + newly_acked, target);
  } else if (*cwnd < target || delivered < initial_cwnd_) {
    *cwnd += newly_acked;
  }
  if (mode_ == Mode::kProbeRtt) *cwnd = std::min(*cwnd, 4 * mtu_);
  if (inflight_hi_) *cwnd = std::min(*cwnd, *inflight_hi_);
  *cwnd = std::clamp(*cwnd, 4 * mtu_, kMaxCwnd);
}

void Bbr::UpdateModes(Instant now, size_t prior_flight, size_t flight, uint64_t delivered) {
  if (mode_ == Mode::kStartup && filled_pipe_) {
    mode_ = Mode::kDrain;
    pacing_gain_ = kDrainGain;
    cwnd_gain_ = kHighGain;
  }
  if (mode_ == Mode::kDrain && prior_flight <= Bdp(1)) EnterProbeBw(now);
  if (mode_ == Mode::kProbeBw) AdvanceCycle(now, prior_flight);
  if (mode_ == Mode::kProbeRtt) {
    // What is in flight once this SACK is counted: SCTP may send while flight < cwnd, so with a
    // 4-MTU cwnd the flight before a SACK is often one chunk above it, and a test on that never
    // held (the probe then lasted until a SACK happened to find the pipe emptier).
    if (!probe_rtt_done_ && flight <= 4 * mtu_) {
      probe_rtt_done_ = now + std::max(kProbeRttDuration, min_rtt_.value_or(Duration::Zero()));
      probe_rtt_round_done_ = false;
      next_round_delivered_ = delivered;
    } else if (probe_rtt_done_) {
      if (round_start_) probe_rtt_round_done_ = true;
      if (probe_rtt_round_done_ && now > *probe_rtt_done_) {
        min_rtt_stamp_ = now;
        probe_rtt_done_.reset();
        restore_after_probe_rtt_ = true;
        if (filled_pipe_) {
          EnterProbeBw(now);
        } else {
          mode_ = Mode::kStartup;
          pacing_gain_ = kHighGain;
          cwnd_gain_ = kStartupCwndGain;
        }
      }
    }
  }
}

void Bbr::OnAck(Instant now,
                const RateSample& rs,
                std::optional<Duration> rtt,
                size_t newly_acked,
                size_t flight,
                uint64_t delivered,
                size_t* cwnd) {
  const size_t prior_flight = flight + newly_acked;
  round_max_flight_ = std::max(round_max_flight_, prior_flight);
  UpdateRound(rs, delivered);
  if (mode_ == Mode::kStartup) CheckStartupDelay(rtt);
  UpdateLossCap(delivered);
  if (round_start_ && packet_conservation_ && round_count_ >= recovery_round_end_) packet_conservation_ = false;
  UpdateBandwidth(rs);
  CheckFullPipe(rs);
  const Mode before = mode_;
  UpdateMinRtt(now, rtt);
  if (mode_ == Mode::kProbeRtt && before != Mode::kProbeRtt) prior_cwnd_ = std::max(prior_cwnd_, *cwnd);
  UpdateModes(now, prior_flight, flight, delivered);
  SetPacingRate();
  if (restore_after_probe_rtt_) {
    restore_after_probe_rtt_ = false;
    *cwnd = std::max(*cwnd, prior_cwnd_);
    if (!in_recovery_) prior_cwnd_ = 0;
  }
  SetCwnd(newly_acked, flight, delivered, cwnd);
}

}  // namespace peerlink::sctp
