#include "src/stun/transaction.h"

#include "src/base/check.h"

namespace peerlink::stun {

ClientTransaction::ClientTransaction(std::vector<uint8_t> request, const RetransmitPolicy& policy, Instant now)
    : request_(std::move(request)), policy_(policy), started_(now), next_send_(now), interval_(policy.initial_rto) {
  PL_CHECK(request_.size() >= kHeaderSize);
  std::array<uint8_t, 12> t;
  std::copy(request_.begin() + 8, request_.begin() + 20, t.begin());
  tid_ = TransactionId(t);
  fail_at_ = policy_.reliable ? now + policy_.reliable_timeout : Instant::Max();
}

std::optional<ByteView> ClientTransaction::PollTransmit(Instant now) {
  if (done_ || now < next_send_ || timed_out(now)) return std::nullopt;
  const int max_sends = policy_.reliable ? 1 : policy_.max_sends;
  if (sends_ >= max_sends) return std::nullopt;
  ++sends_;
  last_sent_ = now;
  if (sends_ == max_sends) {
    next_send_ = Instant::Max();
    if (!policy_.reliable) fail_at_ = now + policy_.initial_rto * policy_.last_wait_factor;
  } else {
    next_send_ = now + interval_;
    interval_ = interval_ * 2;
  }
  return ByteView(request_);
}

std::optional<Instant> ClientTransaction::deadline() const {
  if (done_) return std::nullopt;
  return next_send_ < fail_at_ ? next_send_ : fail_at_;
}

bool ClientTransaction::timed_out(Instant now) const {
  return !done_ && now >= fail_at_;
}

}  // namespace peerlink::stun
