// The one timer a runner arms for a sans-I/O core's Deadline.
//
// Arm(at) (re)schedules the callback for `at`; Arm(Instant::Max()) disarms.
// Re-arming for the same instant is free. A stale expiry (the timer was
// re-armed or disarmed after the wait began, or the CoreTimer is gone) never
// runs the callback. Loop-thread only, like the runners that own it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <optional>

#include "src/base/time.h"

namespace peerlink::runtime {

class CoreTimer {
 public:
  CoreTimer(boost::asio::io_context& io, std::function<void()> on_expiry);
  ~CoreTimer();
  CoreTimer(const CoreTimer&) = delete;
  CoreTimer& operator=(const CoreTimer&) = delete;

  void Arm(Instant at);
  std::optional<Instant> armed() const { return armed_; }

 private:
  boost::asio::steady_timer timer_;
  std::function<void()> on_expiry_;
  std::optional<Instant> armed_;
  uint64_t generation_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace peerlink::runtime
