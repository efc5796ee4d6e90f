// Spare message-sized buffers for one association.
//
// A stream of large messages (64 KiB is the common WebRTC size) allocates a
// sender-side copy and a receiver-side reassembly buffer per message and frees
// both a moment later. glibc's default malloc then gives the top of its heap
// back to the kernel after nearly every free and faults it back in on the next
// allocation: measured in bench/, 35-45% of the CPU time of an in-memory SCTP
// pair. The pool keeps the blocks of finished messages (acknowledged on the
// send side, handed back by the application on the receive side) and gives
// them to the next message instead.
//
// Bounds: at most kMaxBuffers buffers and kMaxBytes of capacity, only buffers
// of kMinCapacity..kMaxCapacity bytes, and nothing is kept once the pool has
// gone unused for an idle period (kIdleRelease to twice that): an idle
// association holds no spare buffers. The pool only ever holds blocks this
// association already had in use, so a peer cannot make it grow beyond what
// its messages occupied anyway.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "src/base/time.h"

namespace peerlink::sctp {

class MessageBufferPool {
 public:
  static constexpr size_t kMaxBuffers = 64;
  static constexpr size_t kMaxBytes = size_t{4} << 20;
  static constexpr size_t kMinCapacity = 4 * 1024;  // small blocks are cheap for any allocator
  static constexpr size_t kMaxCapacity = 256 * 1024;
  static constexpr Duration kIdleRelease = Duration::Seconds(1);

  // An empty buffer with capacity for at least `size` bytes if a spare one is
  // at hand (the smallest that fits), otherwise an empty buffer.
  std::vector<uint8_t> Take(size_t size) {
    if (size < kMinCapacity || spares_.empty()) return {};
    size_t best = spares_.size();
    for (size_t i = spares_.size(); i-- > 0;) {
      size_t c = spares_[i].capacity();
      if (c >= size && (best == spares_.size() || c < spares_[best].capacity())) {
        best = i;
        if (c == size) break;
      }
    }
    if (best == spares_.size()) return {};
    std::vector<uint8_t> b = std::move(spares_[best]);
    spares_[best] = std::move(spares_.back());
    spares_.pop_back();
    bytes_ -= b.capacity();
    used_ = true;
    ++reused_;
    return b;
  }

  // Keeps `buffer` (its contents are dropped) if it is within the bounds.
  void Put(std::vector<uint8_t> buffer) {
    const size_t c = buffer.capacity();
    if (c < kMinCapacity || c > kMaxCapacity || spares_.size() >= kMaxBuffers || bytes_ + c > kMaxBytes) return;
    buffer.clear();
    spares_.push_back(std::move(buffer));
    bytes_ += c;
    used_ = true;
  }

  // Gives back a block Take returned that built no message (the send was refused): kept as by
  // Put, and no longer counted as reused.
  void Untake(std::vector<uint8_t> buffer) {
    if (buffer.capacity() == 0) return;  // Take found no spare block
    if (reused_ > 0) --reused_;
    Put(std::move(buffer));
  }

  void Clear() {
    spares_ = {};
    bytes_ = 0;
    release_at_.reset();
  }

  // Timer: armed while the pool holds buffers. When it fires, a pool used
  // since it was armed is given another period; an unused one is emptied.
  void Arm(Instant now) {
    if (spares_.empty()) {
      release_at_.reset();
    } else if (!release_at_) {
      release_at_ = now + kIdleRelease;
      used_ = false;
    }
  }
  void OnTimer(Instant now) {
    if (!release_at_ || *release_at_ > now) return;
    if (used_ && !spares_.empty()) {
      release_at_ = now + kIdleRelease;
      used_ = false;
    } else {
      Clear();
    }
  }
  std::optional<Instant> release_at() const { return release_at_; }

  size_t size() const { return spares_.size(); }
  uint64_t reused() const { return reused_; }  // Takes that returned a spare block
  size_t bytes() const { return bytes_; }
  bool IsConsistent() const {
    size_t b = 0;
    for (const auto& s : spares_) {
      if (!s.empty() || s.capacity() < kMinCapacity || s.capacity() > kMaxCapacity) return false;
      b += s.capacity();
    }
    return b == bytes_ && b <= kMaxBytes && spares_.size() <= kMaxBuffers;
  }

 private:
  std::vector<std::vector<uint8_t>> spares_;
  size_t bytes_ = 0;
  std::optional<Instant> release_at_;
  bool used_ = false;
  uint64_t reused_ = 0;
};

}  // namespace peerlink::sctp
