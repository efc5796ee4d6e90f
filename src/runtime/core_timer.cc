#include "src/runtime/core_timer.h"

#include "src/runtime/clock.h"

namespace peerlink::runtime {

CoreTimer::CoreTimer(boost::asio::io_context& io, std::function<void()> on_expiry)
    : timer_(io), on_expiry_(std::move(on_expiry)) {}

CoreTimer::~CoreTimer() {
  timer_.cancel();
}

void CoreTimer::Arm(Instant at) {
  if (armed_ && *armed_ == at) return;
  if (at == Instant::Max()) {
    armed_.reset();
    scheduled_.reset();
    ++generation_;
    timer_.cancel();
    return;
  }
  armed_ = at;
  // A deadline that moved later (an SCTP or consent timer restarted, the common case under
  // load) keeps the wait already scheduled; its expiry re-schedules for the new instant.
  // Re-scheduling every time cost a timerfd_settime per core drain: a quarter of the CPU of a
  // bulk transfer on loopback.
  if (scheduled_ && *scheduled_ <= at) return;
  Schedule(at);
}

void CoreTimer::Schedule(Instant at) {
  ++generation_;
  scheduled_ = at;
  timer_.expires_at(ToTimePoint(at));
  std::weak_ptr<bool> alive = alive_;
  const uint64_t generation = generation_;
  timer_.async_wait([this, alive, generation](const boost::system::error_code& ec) {
    if (alive.expired() || ec == boost::asio::error::operation_aborted || generation != generation_) return;
    scheduled_.reset();
    if (!armed_) return;
    if (*armed_ > Now()) return Schedule(*armed_);
    armed_.reset();
    on_expiry_();
  });
}

}  // namespace peerlink::runtime
