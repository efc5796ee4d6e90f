// A model-based congestion controller for the association (Options::congestion_control =
// kBbr), after BBR (draft-cardwell-iccrg-bbr-congestion-control) with the delivery-rate
// estimator of draft-cheng-iccrg-delivery-rate-estimation. Private to src/sctp/assoc/*.cc.
//
// It estimates the path's bottleneck bandwidth (the highest delivery rate of the last 10 round
// trips) and its round-trip propagation time (the lowest RTT of the last 10 s), paces at a gain
// times that bandwidth and keeps about two bandwidth-delay products in flight. A random loss is
// not read as congestion, so a path with 1% random loss keeps its rate where a loss-based
// controller settles at a window of ~17 packets (docs/sctp.md). Loss is still a signal: a round
// trip in which more than 2% of the delivered-or-lost bytes were lost (and at least
// kLossEventsForCap chunks) caps what may be in flight at 0.7 times what was in flight, and the
// cap is probed upwards again only in round trips without such loss (as BBRv3's inflight_hi).
//
// Sans-I/O and deterministic: times come in with every call.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "src/base/time.h"

namespace peerlink::sctp {

// The largest cwnd either controller sets (the receive window caps what is useful anyway).
inline constexpr size_t kMaxCwnd = 64 * 1024 * 1024;

// HyStart's delay signal, shared by Reno's slow start (congestion.cc) and BBR's Startup: RTT
// samples are taken in runs of 8, and a run whose minimum (robust to one late ack) is above
// min_rtt + clamp(min_rtt / 8, 4 ms, 16 ms) means the bottleneck queue is growing.
class RttRuns {
 public:
  // The minimum of the run this sample completes, every 8th sample.
  std::optional<Duration> Add(Duration rtt) {
    if (!run_min_ || rtt < *run_min_) run_min_ = rtt;
    if (++samples_ < 8) return std::nullopt;
    std::optional<Duration> done = run_min_;
    Reset();
    return done;
  }
  void Reset() {
    run_min_.reset();
    samples_ = 0;
  }
  static Duration Threshold(Duration min_rtt) {
    return std::clamp(min_rtt / 8, Duration::Millis(4), Duration::Millis(16));
  }

 private:
  std::optional<Duration> run_min_;
  int samples_ = 0;
};

// What a chunk remembers of the connection's delivery state when it is sent (the draft's
// per-packet P.delivered, P.delivered_time, P.first_sent_time, P.is_app_limited).
struct RateSnapshot {
  uint64_t delivered = 0;
  Instant delivered_time;
  Instant first_sent_time;
  bool app_limited = false;
};

// One delivery-rate sample, from the most recently sent chunk a SACK newly acknowledged.
struct RateSample {
  uint64_t delivered = 0;  // bytes delivered over the interval
  Duration interval;
  uint64_t prior_delivered = 0;  // the connection's delivered count when that chunk left
  bool app_limited = false;
  bool valid = false;
  double bytes_per_second() const {
    return valid && interval > Duration::Zero() ? static_cast<double>(delivered) / interval.seconds_f() : 0;
  }
};

class DeliveryRateEstimator {
 public:
  // Before a chunk is sent: its snapshot. `flight_before` is the bytes in flight before it.
  RateSnapshot OnSend(Instant now, size_t flight_before);
  // The sender has nothing to send and room in cwnd: samples until what is in flight now is
  // delivered are application-limited.
  void MarkAppLimited(size_t flight);
  // For every chunk a SACK newly acknowledges (cumulatively or by a gap block).
  void OnDelivered(Instant now, const RateSnapshot& at_send, Instant sent_at, size_t bytes);
  // After the SACK: the sample (invalid when nothing was delivered, or its interval is shorter
  // than min_rtt, which would be ack compression rather than the path's rate).
  RateSample TakeSample(std::optional<Duration> min_rtt);
  uint64_t delivered() const { return delivered_; }

 private:
  uint64_t delivered_ = 0;
  Instant delivered_time_, first_sent_time_;
  uint64_t app_limited_until_ = 0;  // 0: not application-limited
  // The sample being built during one SACK.
  bool have_ = false;
  uint64_t prior_delivered_ = 0;
  Duration send_elapsed_, ack_elapsed_;
  bool sample_app_limited_ = false;
};

class Bbr {
 public:
  enum class Mode : uint8_t { kStartup, kDrain, kProbeBw, kProbeRtt };
  static constexpr size_t kLossEventsForCap = 6;

  Bbr(size_t mtu, size_t initial_cwnd, Instant now);

  // One SACK, after its chunks were counted: the rate sample, the SACK's RTT sample (from a
  // chunk sent once), the bytes it newly acknowledged, and what is in flight now. Sets *cwnd.
  void OnAck(Instant now,
             const RateSample& rs,
             std::optional<Duration> rtt,
             size_t newly_acked,
             size_t flight,
             uint64_t delivered,
             size_t* cwnd);
  // A chunk was declared lost by fast retransmit (a T3 is OnRetransmissionTimeout, one signal).
  void OnLoss(size_t bytes);
  // Fast recovery: hold what is in flight for one round (packet conservation), restore after.
  void OnEnterRecovery(size_t flight, size_t newly_acked, size_t* cwnd);
  void OnExitRecovery(size_t* cwnd);
  // T3-rtx: one MTU in flight, the model kept.
  void OnRetransmissionTimeout(size_t* cwnd);

  // Bytes per second new data may leave at; 0 before any estimate (the caller then paces by
  // cwnd and SRTT).
  double pacing_rate() const { return pacing_rate_; }
  double bandwidth() const { return max_bw_; }
  std::optional<Duration> min_rtt() const { return min_rtt_; }
  Mode mode() const { return mode_; }
  std::optional<size_t> inflight_cap() const { return inflight_hi_; }
  uint64_t round_count() const { return round_count_; }
  bool filled_pipe() const { return filled_pipe_; }
  uint64_t loss_cuts() const { return loss_cuts_; }      // times the loss cap was set or lowered
  uint64_t delay_exits() const { return delay_exits_; }  // Startup left on a rising RTT
  uint64_t probe_rtts() const { return probe_rtts_; }    // ProbeRTT entered

 private:
  size_t Bdp(double gain) const;
  size_t TargetCwnd(double gain) const;
  void UpdateBandwidth(const RateSample& rs);
  void UpdateRound(const RateSample& rs, uint64_t delivered);
  void CheckFullPipe(const RateSample& rs);
  void UpdateMinRtt(Instant now, std::optional<Duration> rtt);
  void UpdateModes(Instant now, size_t prior_flight, size_t flight, uint64_t delivered);
  void AdvanceCycle(Instant now, size_t prior_flight);
  bool ExcessLoss(uint64_t delivered) const;
  void CheckStartupDelay(std::optional<Duration> rtt);
  void UpdateLossCap(uint64_t delivered);
  void SetPacingRate();
  void SetCwnd(size_t newly_acked, size_t flight, uint64_t delivered, size_t* cwnd);
  void EnterProbeBw(Instant now);

  size_t mtu_, initial_cwnd_;
  Mode mode_ = Mode::kStartup;
  double pacing_gain_, cwnd_gain_;
  double pacing_rate_ = 0;
  // Max filter: the highest non-app-limited (or higher) rate of each of the last 10 rounds that
  // gave one, as of the latest such sample.
  static constexpr size_t kBwRounds = 10;
  std::array<double, kBwRounds> bw_by_round_{};
  std::array<uint64_t, kBwRounds> bw_round_{};
  double max_bw_ = 0;
  std::optional<Duration> min_rtt_;
  Instant min_rtt_stamp_;
  uint64_t round_count_ = 0, next_round_delivered_ = 0;
  bool round_start_ = false;
  double full_bw_ = 0;
  int full_bw_count_ = 0;
  bool filled_pipe_ = false;
  size_t cycle_index_ = 0;
  Instant cycle_stamp_;
  bool loss_in_cycle_phase_ = false;
  // ProbeRTT.
  std::optional<Instant> probe_rtt_done_;
  bool probe_rtt_round_done_ = false;
  bool restore_after_probe_rtt_ = false;
  size_t prior_cwnd_ = 0;
  // Recovery.
  bool in_recovery_ = false, packet_conservation_ = false;
  uint64_t recovery_round_end_ = 0;
  // The loss cap (inflight_hi) and this round's loss accounting.
  std::optional<size_t> inflight_hi_;
  size_t probe_up_mtus_ = 1;
  uint64_t round_lost_bytes_ = 0, round_lost_events_ = 0, round_start_delivered_ = 0;
  size_t round_max_flight_ = 0;
  RttRuns startup_rtt_runs_;
  uint64_t loss_cuts_ = 0, delay_exits_ = 0, probe_rtts_ = 0;
};

}  // namespace peerlink::sctp
