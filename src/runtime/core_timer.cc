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
  ++generation_;
  if (at == Instant::Max()) {
    armed_.reset();
    timer_.cancel();
    return;
  }
  armed_ = at;
  timer_.expires_at(ToTimePoint(at));
  std::weak_ptr<bool> alive = alive_;
  const uint64_t generation = generation_;
  timer_.async_wait([this, alive, generation](const boost::system::error_code& ec) {
    if (alive.expired() || ec == boost::asio::error::operation_aborted || generation != generation_) return;
    armed_.reset();
    on_expiry_();
  });
}

}  // namespace peerlink::runtime
