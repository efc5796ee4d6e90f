// Bounds-checked big-endian reader and writer over caller-owned memory.
//
// ByteReader: every read checks the remaining length; a failed read sets a
// sticky failure flag, empties the reader and returns zero / an empty span.
// Callers read a whole structure and check ok() once.
//
// ByteWriter: writes into a caller-owned span; running out of space sets a
// sticky failure flag and further writes are ignored. Length fields can be
// reserved and back-patched. Neither class allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace peerlink {

using ByteView = std::span<const uint8_t>;
using MutableByteView = std::span<uint8_t>;

inline ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsString(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

class ByteReader {
 public:
  explicit ByteReader(ByteView data) : data_(data) {}

  bool ok() const { return ok_; }
  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }
  bool empty() const { return remaining() == 0; }
  ByteView rest() const { return data_.subspan(pos_); }

  uint8_t U8() {
    if (!Need(1)) return 0;
    return data_[pos_++];
  }
  uint16_t U16() {
    if (!Need(2)) return 0;
    uint16_t v = static_cast<uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  uint32_t U24() {
    if (!Need(3)) return 0;
    uint32_t v = (uint32_t{data_[pos_]} << 16) | (uint32_t{data_[pos_ + 1]} << 8) | data_[pos_ + 2];
    pos_ += 3;
    return v;
  }
  uint32_t U32() {
    if (!Need(4)) return 0;
    uint32_t v = (uint32_t{data_[pos_]} << 24) | (uint32_t{data_[pos_ + 1]} << 16) | (uint32_t{data_[pos_ + 2]} << 8) |
                 data_[pos_ + 3];
    pos_ += 4;
    return v;
  }
  uint64_t U64() {
    uint64_t hi = U32();
    uint64_t lo = U32();
    return (hi << 32) | lo;
  }
  // A view of the next n bytes (no copy).
  ByteView Bytes(size_t n) {
    if (!Need(n)) return {};
    ByteView v = data_.subspan(pos_, n);
    pos_ += n;
    return v;
  }
  void Skip(size_t n) { (void)Bytes(n); }

 private:
  bool Need(size_t n) {
    if (ok_ && remaining() >= n) return true;
    ok_ = false;
    pos_ = data_.size();
    return false;
  }

  ByteView data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

class ByteWriter {
 public:
  explicit ByteWriter(MutableByteView out) : out_(out) {}

  bool ok() const { return ok_; }
  size_t size() const { return pos_; }
  size_t capacity() const { return out_.size(); }
  size_t remaining() const { return out_.size() - pos_; }
  ByteView written() const { return ByteView(out_.data(), pos_); }
  MutableByteView mutable_written() { return MutableByteView(out_.data(), pos_); }

  void U8(uint8_t v) {
    if (Need(1)) out_[pos_++] = v;
  }
  void U16(uint16_t v) {
    if (!Need(2)) return;
    out_[pos_++] = static_cast<uint8_t>(v >> 8);
    out_[pos_++] = static_cast<uint8_t>(v);
  }
  void U24(uint32_t v) {
    if (!Need(3)) return;
    out_[pos_++] = static_cast<uint8_t>(v >> 16);
    out_[pos_++] = static_cast<uint8_t>(v >> 8);
    out_[pos_++] = static_cast<uint8_t>(v);
  }
  void U32(uint32_t v) {
    if (!Need(4)) return;
    for (int shift = 24; shift >= 0; shift -= 8)
      out_[pos_++] = static_cast<uint8_t>(v >> shift);
  }
  void U64(uint64_t v) {
    U32(static_cast<uint32_t>(v >> 32));
    U32(static_cast<uint32_t>(v));
  }
  void Bytes(ByteView b) {
    if (!Need(b.size())) return;
    if (!b.empty()) std::memcpy(out_.data() + pos_, b.data(), b.size());
    pos_ += b.size();
  }
  void Zeros(size_t n) {
    if (!Need(n)) return;
    std::memset(out_.data() + pos_, 0, n);
    pos_ += n;
  }
  // Reserves a 16-bit field to patch later; returns its offset.
  size_t Reserve16() {
    size_t at = pos_;
    U16(0);
    return at;
  }
  void Patch16(size_t at, uint16_t v) {
    if (!ok_ || at + 2 > pos_) {
      ok_ = false;
      return;
    }
    out_[at] = static_cast<uint8_t>(v >> 8);
    out_[at + 1] = static_cast<uint8_t>(v);
  }
  void Patch32(size_t at, uint32_t v) {
    if (!ok_ || at + 4 > pos_) {
      ok_ = false;
      return;
    }
    for (int i = 0; i < 4; ++i)
      out_[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
  }

 private:
  bool Need(size_t n) {
    if (ok_ && remaining() >= n) return true;
    ok_ = false;
    return false;
  }

  MutableByteView out_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace peerlink
