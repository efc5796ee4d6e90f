// The delivery-rate estimator and the BBR model (src/sctp/assoc/bbr.h) on synthetic input; the
// controller inside an association over simulated paths is tested in tests/sim/sctp_sim_test.cc.
#include "src/sctp/assoc/bbr.h"

#include <gtest/gtest.h>

#include <deque>

namespace peerlink::sctp {
namespace {

struct Sent {
  RateSnapshot snap;
  Instant at;
  size_t bytes;
};

// A sender that emits a 1000-byte chunk every millisecond over a path with a 20 ms RTT: every
// chunk is acknowledged (one SACK each) 20 ms after it left. The rate samples measure 1 MB/s.
TEST(DeliveryRateEstimator, MeasuresAPacedFlow) {
  DeliveryRateEstimator est;
  std::deque<Sent> in_flight;
  size_t flight = 0;
  RateSample last;
  int samples = 0;
  for (int ms = 0; ms < 200; ++ms) {
    const Instant now = Instant::FromNanos(int64_t{ms} * 1'000'000);
    while (!in_flight.empty() && in_flight.front().at + Duration::Millis(20) <= now) {
      est.OnDelivered(now, in_flight.front().snap, in_flight.front().at, in_flight.front().bytes);
      flight -= in_flight.front().bytes;
      in_flight.pop_front();
      last = est.TakeSample(Duration::Millis(20));
      samples++;
    }
    in_flight.push_back({est.OnSend(now, flight), now, 1000});
    flight += 1000;
  }
  ASSERT_GT(samples, 150);
  ASSERT_TRUE(last.valid);
  EXPECT_FALSE(last.app_limited);
  EXPECT_NEAR(last.bytes_per_second(), 1e6, 1e6 * 0.06);
  EXPECT_EQ(est.delivered(), uint64_t{1000} * static_cast<uint64_t>(samples));
}

// Chunks sent while the application had nothing more to send give app-limited samples, until
// what was in flight then has been delivered.
TEST(DeliveryRateEstimator, SamplesOfAnIdleApplicationAreMarked) {
  DeliveryRateEstimator est;
  const Instant t0 = Instant::FromNanos(1'000'000'000);
  RateSnapshot a = est.OnSend(t0, 0);
  est.MarkAppLimited(1000);
  RateSnapshot b = est.OnSend(t0 + Duration::Millis(1), 1000);
  EXPECT_FALSE(a.app_limited);
  EXPECT_TRUE(b.app_limited);
  est.OnDelivered(t0 + Duration::Millis(30), a, t0, 1000);
  est.OnDelivered(t0 + Duration::Millis(31), b, t0 + Duration::Millis(1), 1000);
  RateSample rs = est.TakeSample(std::nullopt);
  EXPECT_TRUE(rs.valid);
  EXPECT_TRUE(rs.app_limited);
  // Everything is delivered: the next chunk is not app-limited.
  EXPECT_FALSE(est.OnSend(t0 + Duration::Millis(40), 0).app_limited);
}

// An interval shorter than the minimum RTT is ack compression, not the path: no sample.
TEST(DeliveryRateEstimator, CompressedAcksGiveNoSample) {
  DeliveryRateEstimator est;
  const Instant t0 = Instant::FromNanos(1'000'000'000);
  RateSnapshot a = est.OnSend(t0, 0);
  est.OnDelivered(t0 + Duration::Millis(5), a, t0, 1000);
  EXPECT_FALSE(est.TakeSample(Duration::Millis(20)).valid);
  RateSnapshot b = est.OnSend(t0 + Duration::Millis(6), 0);
  est.OnDelivered(t0 + Duration::Millis(26), b, t0 + Duration::Millis(6), 1000);
  EXPECT_TRUE(est.TakeSample(Duration::Millis(20)).valid);
}

// Drives the model with the samples of a steady 1 MB/s, 20 ms path, one SACK of 1000 bytes per
// millisecond, what was in flight before it being the smaller of cwnd and the path's BDP (20 kB).
class SteadyPath {
 public:
  SteadyPath() : bbr_(1200, 12000, Instant::FromNanos(0)) {}
  void Run(Duration d, Duration rtt = Duration::Millis(20)) {
    for (Duration t = Duration::Zero(); t < d; t = t + Duration::Millis(1)) {
      now_ = now_ + Duration::Millis(1);
      delivered_ += 1000;
      RateSample rs;
      rs.delivered = sample_delivered_;
      rs.prior_delivered = delivered_ - 20000;
      rs.interval = Duration::Millis(20);
      rs.app_limited = app_limited_;
      rs.valid = true;
      const size_t flight = std::min<size_t>(cwnd_, 20000) - 1000;  // after this SACK's 1000 bytes
      bbr_.OnAck(now_, rs, rtt, 1000, flight, delivered_, &cwnd_);
      min_cwnd_seen_ = std::min(min_cwnd_seen_, cwnd_);
      if (bbr_.mode() == Bbr::Mode::kProbeRtt) probe_rtt_seen_ = true;
    }
  }
  Bbr bbr_;
  Instant now_ = Instant::FromNanos(0);
  uint64_t delivered_ = 100000;
  size_t cwnd_ = 12000;
  size_t min_cwnd_seen_ = SIZE_MAX;
  bool probe_rtt_seen_ = false;
  // What the samples say: 20 kB per 20 ms (the path's 1 MB/s) unless changed.
  uint64_t sample_delivered_ = 20000;
  bool app_limited_ = false;
};

TEST(Bbr, SettlesAtTwiceTheBdpInProbeBw) {
  SteadyPath p;
  p.Run(Duration::Seconds(2));
  EXPECT_TRUE(p.bbr_.filled_pipe());
  EXPECT_EQ(p.bbr_.mode(), Bbr::Mode::kProbeBw);
  EXPECT_NEAR(p.bbr_.bandwidth(), 1e6, 1);
  ASSERT_TRUE(p.bbr_.min_rtt().has_value());
  EXPECT_EQ(*p.bbr_.min_rtt(), Duration::Millis(20));
  // 2 x BDP (40 kB) + 3 quanta of 2 MTUs.
  EXPECT_EQ(p.cwnd_, 40000u + 3 * 2400u);
  EXPECT_NEAR(p.bbr_.pacing_rate(), 0.99e6 * 1.25, 0.3e6);  // one of the cycle's gains
  EXPECT_FALSE(p.probe_rtt_seen_);
}

// The minimum RTT is re-measured every 10 s: the window drops to 4 MTUs for at least 200 ms and a
// round trip, then comes back.
TEST(Bbr, ProbesTheMinimumRttEveryTenSeconds) {
  SteadyPath p;
  p.Run(Duration::Seconds(2));
  const size_t settled = p.cwnd_;
  // The RTT rose (a standing queue elsewhere): 10 s later the old minimum has expired.
  p.Run(Duration::Millis(10500), Duration::Millis(30));
  EXPECT_TRUE(p.probe_rtt_seen_);
  EXPECT_EQ(p.min_cwnd_seen_, 4 * 1200u);
  EXPECT_EQ(*p.bbr_.min_rtt(), Duration::Millis(30));
  p.Run(Duration::Millis(500), Duration::Millis(30));
  EXPECT_EQ(p.bbr_.mode(), Bbr::Mode::kProbeBw);
  EXPECT_GT(p.cwnd_, settled);  // 2 x 30 kB now
}

// An application that sends little for many round trips gives app-limited samples below the
// estimate. They do not count, and they do not age the estimate out either: the model keeps the
// path's bandwidth and its window for the next burst. A counted sample moves the window again.
TEST(Bbr, AnAppLimitedSpellKeepsTheBandwidthEstimate) {
  SteadyPath p;
  p.Run(Duration::Seconds(2));
  const size_t settled = p.cwnd_;
  p.app_limited_ = true;
  p.sample_delivered_ = 5000;   // 0.25 MB/s
  p.Run(Duration::Seconds(1));  // 50 round trips
  EXPECT_GT(p.bbr_.round_count(), 50u + 10u);
  EXPECT_NEAR(p.bbr_.bandwidth(), 1e6, 1);
  EXPECT_EQ(p.cwnd_, settled);
  // The path really slowed down: counted samples replace the old estimate within 10 rounds.
  p.app_limited_ = false;
  p.Run(Duration::Millis(300));
  EXPECT_NEAR(p.bbr_.bandwidth(), 0.25e6, 1);
}

// Losses above 2% of a round trip's bytes (and at least kLossEventsForCap of them) cap what may
// be in flight; rounds without loss raise the cap again until it no longer binds.
TEST(Bbr, ExcessLossCapsInflightAndTheCapIsProbedAway) {
  SteadyPath p;
  p.Run(Duration::Seconds(2));
  for (int i = 0; i < 10; ++i)
    p.bbr_.OnLoss(1000);  // 10 kB lost against ~20 kB delivered in the round
  p.Run(Duration::Millis(25));
  ASSERT_TRUE(p.bbr_.inflight_cap().has_value());
  EXPECT_EQ(p.bbr_.loss_cuts(), 1u);
  EXPECT_LE(p.cwnd_, *p.bbr_.inflight_cap());
  p.Run(Duration::Seconds(1));
  EXPECT_FALSE(p.bbr_.inflight_cap().has_value());
  EXPECT_EQ(p.cwnd_, 40000u + 3 * 2400u);
}

// Random loss at 1% is not congestion: no cap.
TEST(Bbr, OnePercentLossLeavesTheWindowAlone) {
  SteadyPath p;
  p.Run(Duration::Seconds(2));
  // 20 loss events per round trip (above kLossEventsForCap), 1% of the bytes.
  for (int i = 0; i < 500; ++i) {
    p.Run(Duration::Millis(1));
    p.bbr_.OnLoss(10);  // 1% of each millisecond's 1000 bytes
  }
  EXPECT_FALSE(p.bbr_.inflight_cap().has_value());
  EXPECT_EQ(p.bbr_.loss_cuts(), 0u);
}

}  // namespace
}  // namespace peerlink::sctp
