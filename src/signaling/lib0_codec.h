// lib0's binary encoding (npm `lib0`, encoding.js / decoding.js), the subset y-webrtc uses for
// encrypted signaling: var-uint, var-int, var-string, var-uint8-array, and `writeAny`/`readAny`
// for JSON-like values. Written from lib0's format, not from its code.
//
//   var-uint:   little-endian base-128, 7 bits per byte, high bit = "more follows".
//   var-int:    first byte = more(0x80) | negative(0x40) | 6 low bits; then var-uint style 7-bit
//               groups. lib0 refuses magnitudes above 2^53 - 1 (Number.MAX_SAFE_INTEGER).
//   var-string: var-uint byte length, then UTF-8 bytes.
//   var-uint8-array: var-uint length, then the bytes.
//   any:        one tag byte, then the value:
//                 127 undefined, 126 null, 125 var-int, 124 float32 (BE), 123 float64 (BE),
//                 122 bigint64 (BE), 121 false, 120 true, 119 var-string,
//                 118 object: var-uint count, then (var-string key, any value) pairs,
//                 117 array: var-uint count, then values, 116 var-uint8-array.
//
// The reader is bounds-checked (a failed read empties it, like ByteReader); the writer appends to
// a vector and refuses to grow past a caller-given bound.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/parse_error.h"
#include "src/base/result.h"

namespace peerlink::signaling::lib0 {

// lib0 rejects var-(u)ints above this (JavaScript's Number.MAX_SAFE_INTEGER).
inline constexpr uint64_t kMaxSafeInteger = (uint64_t{1} << 53) - 1;
// Nesting bound for DecodeAny/EncodeAny (y-webrtc signaling nests 3 levels).
inline constexpr int kMaxAnyDepth = 32;

class Reader {
 public:
  explicit Reader(ByteView data) : data_(data) {}

  bool ok() const { return ok_; }
  size_t remaining() const { return data_.size() - pos_; }
  bool empty() const { return remaining() == 0; }
  // Why the first failed read failed (valid only when !ok()).
  const ParseError& error() const { return error_; }

  uint8_t U8();
  uint64_t VarUint();  // at most kMaxSafeInteger
  // Sets *negative_zero for lib0's "-0" encoding (0x40), which a var-int can carry.
  int64_t VarInt(bool* negative_zero = nullptr);
  ByteView VarUint8Array();      // a view into the input
  std::string_view VarString();  // bytes are not UTF-8 validated here; DecodeAny validates
  float Float32();
  double Float64();

  void Fail(ParseErrorCode code, const char* what);

 private:
  bool Need(size_t n, const char* what);

  ByteView data_;
  size_t pos_ = 0;
  bool ok_ = true;
  ParseError error_{};
};

class Writer {
 public:
  explicit Writer(size_t max_size) : max_size_(max_size) {}

  bool ok() const { return ok_; }
  const std::vector<uint8_t>& bytes() const { return out_; }
  std::vector<uint8_t> Take() && { return std::move(out_); }

  void U8(uint8_t v);
  void VarUint(uint64_t v);
  void VarInt(int64_t v, bool negative_zero = false);
  void VarUint8Array(ByteView b);
  void VarString(std::string_view s);
  void Float32(float v);
  void Float64(double v);

 private:
  void Raw(ByteView b);

  std::vector<uint8_t> out_;
  size_t max_size_;
  bool ok_ = true;
};

// writeAny for a JSON value, choosing tags exactly as lib0 does for the equivalent JavaScript
// value: integral numbers with |v| <= 2^31 - 1 -> var-int, numbers exactly representable as
// float32 -> float32, other numbers -> float64. JSON binary values are written as tag 116.
// Fails (kTooLarge) past `max_size` bytes or kMaxAnyDepth levels.
Result<std::vector<uint8_t>, ParseError> EncodeAny(const nlohmann::json& value, size_t max_size);

// readAny of one complete value into JSON; trailing bytes are an error. `undefined` becomes
// absent in objects and null in arrays (what JSON.stringify does); bigint is rejected
// (kUnsupported); tag 116 becomes a JSON binary value; strings must be valid UTF-8.
Result<nlohmann::json, ParseError> DecodeAny(ByteView data);

}  // namespace peerlink::signaling::lib0
