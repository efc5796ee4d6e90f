// Careful Resume's phases (src/sctp/assoc/careful_resume.h) on synthetic input; inside an
// association over simulated paths it is tested in tests/sim/sctp_sim_test.cc.
#include "src/sctp/assoc/careful_resume.h"

#include <gtest/gtest.h>

namespace peerlink::sctp {
namespace {

constexpr size_t kIw = 12'000;
constexpr size_t kSaved = 32'000'000;
const Duration kRtt = Duration::Millis(100);

TEST(CarefulResume, JumpsToHalfTheSavedWindowThenValidates) {
  CarefulResume cr(kSaved, kRtt, kIw);
  EXPECT_EQ(cr.phase(), CarefulResume::Phase::kReconnaissance);
  EXPECT_FALSE(cr.pacing_rate());
  // The first SACK: the RTT matches, nothing lost, data waiting.
  const std::optional<size_t> jump = cr.OnReconnaissanceAck(Duration::Millis(104), false, kIw, true, 11);
  ASSERT_TRUE(jump);
  EXPECT_EQ(*jump, kSaved / 2);
  EXPECT_EQ(cr.phase(), CarefulResume::Phase::kUnvalidated);
  EXPECT_EQ(cr.outcome(), CarefulResume::Outcome::kJumped);
  // Paced evenly over the current RTT: 16 MB per 104 ms.
  ASSERT_TRUE(cr.pacing_rate());
  EXPECT_NEAR(*cr.pacing_rate(), 16e6 / 0.104, 1);
  // SACKs for the initial window: the jump holds, whatever the controller wanted.
  EXPECT_EQ(cr.OnAck(10, 1200, 5000, 50'000'000), kSaved / 2);
  EXPECT_EQ(cr.phase(), CarefulResume::Phase::kUnvalidated);
  // The first unvalidated chunk (TSN 11) is acked; TSNs up to 13000 were sent at the jump.
  EXPECT_EQ(cr.OnAck(11, 1200, 13001, kSaved / 2), kSaved / 2);
  EXPECT_EQ(cr.phase(), CarefulResume::Phase::kValidating);
  EXPECT_FALSE(cr.pacing_rate());
  EXPECT_EQ(cr.OnAck(12'999, 1'000'000, 26'000, kSaved / 2), kSaved / 2);
  // The last of them is acked: validated, the controller has the window again.
  EXPECT_FALSE(cr.OnAck(13'000, 1200, 26'000, kSaved / 2));
  EXPECT_EQ(cr.phase(), CarefulResume::Phase::kNormal);
  EXPECT_FALSE(cr.OnCongestion(30'000)) << "a loss after validation is the controller's business";
}

TEST(CarefulResume, AnotherRttIsAnotherPath) {
  // RFC 9959: below half the saved RTT, or ten times it and more, the state does not apply.
  for (Duration rtt : {Duration::Millis(49), Duration::Millis(1000), Duration::Millis(2000)}) {
    CarefulResume cr(kSaved, kRtt, kIw);
    EXPECT_FALSE(cr.OnReconnaissanceAck(rtt, false, kIw, true, 11)) << rtt.millis();
    EXPECT_EQ(cr.phase(), CarefulResume::Phase::kNormal);
    EXPECT_EQ(cr.outcome(), CarefulResume::Outcome::kRttChanged);
  }
  for (Duration rtt : {Duration::Millis(50), Duration::Millis(999)}) {
    CarefulResume cr(kSaved, kRtt, kIw);
    EXPECT_TRUE(cr.OnReconnaissanceAck(rtt, false, kIw, true, 11)) << rtt.millis();
  }
}

TEST(CarefulResume, NoJumpAfterCongestionOrWithoutGain) {
  CarefulResume lossy(kSaved, kRtt, kIw);
  EXPECT_FALSE(lossy.OnReconnaissanceAck(kRtt, true, kIw, true, 11));
  EXPECT_EQ(lossy.outcome(), CarefulResume::Outcome::kCongestion);
  // Half the saved window is not more than the window already open.
  CarefulResume small(20'000, kRtt, kIw);
  EXPECT_FALSE(small.OnReconnaissanceAck(kRtt, false, kIw, true, 11));
  EXPECT_EQ(small.outcome(), CarefulResume::Outcome::kNoGain);
  EXPECT_EQ(small.phase(), CarefulResume::Phase::kNormal);
}

TEST(CarefulResume, WaitsUntilTheSenderHasMoreThanTheWindow) {
  CarefulResume cr(kSaved, kRtt, kIw);
  EXPECT_FALSE(cr.OnReconnaissanceAck(kRtt, false, kIw, false, 11));
  EXPECT_EQ(cr.phase(), CarefulResume::Phase::kReconnaissance);
  EXPECT_EQ(cr.outcome(), CarefulResume::Outcome::kPending);
  EXPECT_TRUE(cr.OnReconnaissanceAck(kRtt, false, kIw, true, 40));
}

TEST(CarefulResume, LossDuringTheJumpRetreatsToHalfWhatWasDelivered) {
  CarefulResume cr(kSaved, kRtt, kIw);
  ASSERT_TRUE(cr.OnReconnaissanceAck(kRtt, false, kIw, true, 11));
  EXPECT_EQ(cr.OnAck(11, 400'000, 9000, kSaved / 2), kSaved / 2);  // Validating, up to TSN 8999
  EXPECT_EQ(cr.OnAck(500, 600'000, 9500, kSaved / 2), kSaved / 2);
  EXPECT_EQ(cr.pipe_size(), 1'000'000u);
  // A fast retransmit: Safe Retreat at half of the 1 MB the path delivered since the jump.
  EXPECT_EQ(cr.OnCongestion(9600), 500'000u);
  EXPECT_EQ(cr.phase(), CarefulResume::Phase::kSafeRetreat);
  // The controller may shrink the window further, not grow it, until TSN 8999 is acked.
  EXPECT_EQ(cr.OnAck(600, 100'000, 9700, 2'000'000), 500'000u);
  EXPECT_EQ(cr.OnAck(700, 100'000, 9800, 300'000), 300'000u);
  EXPECT_EQ(cr.phase(), CarefulResume::Phase::kSafeRetreat);
  EXPECT_EQ(cr.OnAck(8999, 100'000, 9800, 2'000'000), 500'000u);
  EXPECT_EQ(cr.phase(), CarefulResume::Phase::kNormal);
  EXPECT_FALSE(cr.OnAck(9000, 100'000, 9800, 2'000'000));
}

TEST(CarefulResume, RetreatNeverGoesBelowTheInitialWindow) {
  CarefulResume cr(kSaved, kRtt, kIw);
  ASSERT_TRUE(cr.OnReconnaissanceAck(kRtt, false, kIw, true, 11));
  // A T3 before anything of the jump was acknowledged: PipeSize is 0.
  EXPECT_EQ(cr.OnCongestion(5000), kIw);
  EXPECT_EQ(cr.phase(), CarefulResume::Phase::kSafeRetreat);
  EXPECT_FALSE(cr.OnCongestion(5000)) << "one retreat";
}

}  // namespace
}  // namespace peerlink::sctp
