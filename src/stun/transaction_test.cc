#include "src/stun/transaction.h"

#include <gtest/gtest.h>

#include "src/base/rng.h"

namespace peerlink::stun {
namespace {

std::vector<uint8_t> Request() {
  SeededRng rng(1);
  StunMessageBuilder b(Method::kBinding, StunClass::kRequest, RandomTransactionId(rng));
  return std::move(b).Finish();
}

TEST(ClientTransaction, UdpFollowsRfc8489RetransmissionSchedule) {
  const Instant t0 = Instant::FromNanos(0);
  ClientTransaction tx(Request(), RetransmitPolicy{}, t0);
  std::vector<int64_t> sent_at_ms;
  Instant now = t0;
  for (int step = 0; step < 100 && !tx.timed_out(now); ++step) {
    if (tx.PollTransmit(now)) sent_at_ms.push_back((now - t0).millis());
    auto d = tx.deadline();
    ASSERT_TRUE(d);
    now = *d;
  }
  // RFC 8489 section 6.2.1: with RTO 500 ms, sends at 0, 500, 1500, 3500, 7500,
  // 15500, 31500 ms and failure at 39500 ms.
  EXPECT_EQ(sent_at_ms, (std::vector<int64_t>{0, 500, 1500, 3500, 7500, 15500, 31500}));
  EXPECT_TRUE(tx.timed_out(now));
  EXPECT_EQ((now - t0).millis(), 39500);
}

TEST(ClientTransaction, ReliableTransportSendsOnceAndTimesOutAfterTi) {
  RetransmitPolicy p;
  p.reliable = true;
  const Instant t0 = Instant::FromNanos(0);
  ClientTransaction tx(Request(), p, t0);
  EXPECT_TRUE(tx.PollTransmit(t0));
  EXPECT_FALSE(tx.PollTransmit(t0 + Duration::Seconds(10)));
  EXPECT_EQ(*tx.deadline(), t0 + Duration::Millis(39500));
  EXPECT_TRUE(tx.timed_out(t0 + Duration::Millis(39500)));
}

TEST(ClientTransaction, CompletedTransactionHasNoDeadline) {
  const Instant t0 = Instant::FromNanos(0);
  ClientTransaction tx(Request(), RetransmitPolicy{}, t0);
  ASSERT_TRUE(tx.PollTransmit(t0));
  tx.Complete();
  EXPECT_FALSE(tx.deadline());
  EXPECT_FALSE(tx.PollTransmit(t0 + Duration::Seconds(1)));
  EXPECT_FALSE(tx.timed_out(t0 + Duration::Seconds(100)));
}

}  // namespace
}  // namespace peerlink::stun
