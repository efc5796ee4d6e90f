// The operand reader shared by the stateful fuzz targets (src/*/*_fuzz.cc): an op stream is
// read byte by byte, and every read past the end yields zeros, so any byte string is a valid
// input and truncation never needs a special case.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "src/base/byte_io.h"

namespace peerlink::fuzzing {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), n_(size) {}

  bool empty() const { return n_ == 0; }
  size_t remaining() const { return n_; }

  uint8_t U8() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  uint16_t U16() { return static_cast<uint16_t>(U8() << 8 | U8()); }
  uint32_t U32() { return uint32_t{U16()} << 16 | U16(); }
  uint64_t U64() { return uint64_t{U32()} << 32 | U32(); }

  // Up to `len` bytes, consumed (fewer at the end of the input).
  ByteView View(size_t len) {
    len = std::min(len, n_);
    ByteView v(p_, len);
    p_ += len;
    n_ -= len;
    return v;
  }
  std::vector<uint8_t> Bytes(size_t len) {
    ByteView v = View(len);
    return {v.begin(), v.end()};
  }
  // Up to `len` bytes, not consumed.
  ByteView Peek(size_t len) const { return ByteView(p_, std::min(len, n_)); }

 private:
  const uint8_t* p_;
  size_t n_;
};

}  // namespace peerlink::fuzzing
