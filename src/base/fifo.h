// A first-in first-out queue on a std::vector, for the output and event queues of the cores.
//
// Why not std::deque: libstdc++'s deque allocates its map and a 512-byte node as soon as it is
// constructed, empty or not. A connection holds about ten such queues that are empty almost
// all the time, which was ~6 KB per idle connection. A Fifo allocates nothing until the first
// push, reuses its storage once drained (the cores drain their queues after every input), and
// is at least as fast for the push-back / pop-front pattern.
//
// pop_front() destroys the element (releasing what it owns, as deque's would), leaves a
// default-constructed T in its slot and advances a head index; when the queue empties the storage is kept for the next
// burst if it is at most 256 bytes (one or a few elements: a queue that carries one item at a time never allocates
// again) and freed otherwise, so an idle connection does not hold its busiest moment's queue. The storage is compacted
// when the popped prefix outgrows the live part, so a queue that never drains stays O(live size). Iterators and
// references are invalidated by push_back/emplace_back and by pop_front.
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

namespace peerlink {

template <typename T>
class Fifo {
  static_assert(std::is_nothrow_default_constructible_v<T> && std::is_move_assignable_v<T>,
                "pop_front leaves a default-constructed T in the popped slot");

 public:
  using value_type = T;
  using iterator = typename std::vector<T>::iterator;
  using const_iterator = typename std::vector<T>::const_iterator;

  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }

  T& front() { return items_[head_]; }
  const T& front() const { return items_[head_]; }
  T& back() { return items_.back(); }
  const T& back() const { return items_.back(); }
  T& operator[](size_t i) { return items_[head_ + i]; }
  const T& operator[](size_t i) const { return items_[head_ + i]; }

  iterator begin() { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  iterator end() { return items_.end(); }
  const_iterator begin() const { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  const_iterator end() const { return items_.end(); }

  // Constructs in place from any U that T is constructible from (e.g. one alternative of a
  // variant T), which also keeps GCC 12 from a false -Wmaybe-uninitialized on a temporary.
  template <typename U = T>
  void push_back(U&& v) {
    items_.emplace_back(std::forward<U>(v));
  }
  template <typename... Args>
  T& emplace_back(Args&&... args) {
    return items_.emplace_back(std::forward<Args>(args)...);
  }

  void pop_front() {
    if (head_ + 1 == items_.size()) {
      // The last one: drained. Keep a small buffer for the next burst, give a large one back.
      if (items_.capacity() * sizeof(T) > kKeepBytes) {
        std::vector<T>().swap(items_);
      } else {
        items_.clear();
      }
      head_ = 0;
      return;
    }
    // Destroy in place and leave a default-constructed T (cheaper than assigning a T{}).
    T* slot = &items_[head_];
    std::destroy_at(slot);
    std::construct_at(slot);
    ++head_;
    if (head_ >= kCompactAfter && head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

  void clear() {  // and frees the storage
    std::vector<T>().swap(items_);
    head_ = 0;
  }
  size_t capacity() const { return items_.capacity(); }

 private:
  static constexpr size_t kCompactAfter = 32;
  static constexpr size_t kKeepBytes = 256;
  std::vector<T> items_;
  size_t head_ = 0;  // items_[0, head_) were popped
};

}  // namespace peerlink
