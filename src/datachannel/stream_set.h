// A set of SCTP stream ids (0..65535) whose worst-case size is fixed whatever a peer sends: a
// 65,536-bit bitset (8 KiB), allocated on the first insertion and freed when the set is empty
// again. The controller's sets hold streams only while a reset or a refused OPEN is in flight,
// so an idle connection carries none of them (three inline bitsets were 24 KiB per connection).
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace peerlink::datachannel {

class StreamSet {
 public:
  bool test(uint16_t stream) const { return bits_ != nullptr && bits_->test(stream); }
  void set(uint16_t stream) {
    if (bits_ == nullptr) bits_ = std::make_unique<std::bitset<65536>>();
    if (bits_->test(stream)) return;
    bits_->set(stream);
    ++count_;
  }
  void reset(uint16_t stream) {
    if (!test(stream)) return;
    bits_->reset(stream);
    if (--count_ == 0) bits_.reset();
  }
  void reset() {
    bits_.reset();
    count_ = 0;
  }
  size_t count() const { return count_; }
  bool empty() const { return count_ == 0; }
  // Bytes held (0 or 8 KiB): for tests of the memory bound.
  size_t allocated_bytes() const { return bits_ != nullptr ? sizeof(*bits_) : 0; }

 private:
  std::unique_ptr<std::bitset<65536>> bits_;
  size_t count_ = 0;
};

}  // namespace peerlink::datachannel
