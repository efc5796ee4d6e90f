// The one timer a runner arms for a sans-I/O core's Deadline.
//
// Arm(at) (re)schedules the callback for `at`; Arm(Instant::Max()) disarms.
// Re-arming for the same instant is free, and so is moving the deadline later:
// the underlying wait is only re-scheduled when the deadline moves earlier (a
// wait that expires before the deadline re-schedules itself). The callback runs
// once, at or after the deadline armed last, and never after a disarm or once
// the CoreTimer is gone. Loop-thread only, like the runners that own it.
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
  void Schedule(Instant at);

  boost::asio::steady_timer timer_;
  std::function<void()> on_expiry_;
  std::optional<Instant> armed_;      // the deadline the owner asked for
  std::optional<Instant> scheduled_;  // expiry of the pending wait (<= armed_)
  uint64_t generation_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace peerlink::runtime
