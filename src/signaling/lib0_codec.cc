#include "src/signaling/lib0_codec.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace peerlink::signaling::lib0 {

namespace {

enum Tag : uint8_t {
  kUint8Array = 116,
  kArray = 117,
  kObject = 118,
  kString = 119,
  kTrue = 120,
  kFalse = 121,
  kBigInt = 122,
  kFloat64 = 123,
  kFloat32 = 124,
  kInteger = 125,
  kNull = 126,
  kUndefined = 127,
};

constexpr double kBits31 = 2147483647.0;

// RFC 3629 well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    uint8_t c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      uint8_t cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

bool IsFloat32Exact(double v) {
  if (std::isnan(v)) return false;  // NaN !== NaN in lib0's isFloat32 test
  if (std::isinf(v)) return true;
  if (std::fabs(v) > static_cast<double>(std::numeric_limits<float>::max())) return false;
  return static_cast<double>(static_cast<float>(v)) == v;
}

void WriteNumber(Writer& w, double v) {
  if (std::trunc(v) == v && std::fabs(v) <= kBits31) {
    w.U8(kInteger);
    w.VarInt(static_cast<int64_t>(v), std::signbit(v) && v == 0.0);
  } else if (IsFloat32Exact(v)) {
    w.U8(kFloat32);
    w.Float32(static_cast<float>(v));
  } else {
    w.U8(kFloat64);
    w.Float64(v);
  }
}

bool EncodeValue(Writer& w, const nlohmann::json& v, int depth) {
  if (depth > kMaxAnyDepth) return false;
  switch (v.type()) {
    case nlohmann::json::value_t::null: w.U8(kNull); break;
    case nlohmann::json::value_t::boolean: w.U8(v.get<bool>() ? kTrue : kFalse); break;
    case nlohmann::json::value_t::string:
      w.U8(kString);
      w.VarString(v.get_ref<const std::string&>());
      break;
    case nlohmann::json::value_t::number_integer: WriteNumber(w, static_cast<double>(v.get<int64_t>())); break;
    case nlohmann::json::value_t::number_unsigned: WriteNumber(w, static_cast<double>(v.get<uint64_t>())); break;
    case nlohmann::json::value_t::number_float: WriteNumber(w, v.get<double>()); break;
    case nlohmann::json::value_t::array:
      w.U8(kArray);
      w.VarUint(v.size());
      for (const auto& e : v) {
        if (!EncodeValue(w, e, depth + 1)) return false;
        if (!w.ok()) return false;
      }
      break;
    case nlohmann::json::value_t::object:
      w.U8(kObject);
      w.VarUint(v.size());
      for (const auto& [key, e] : v.items()) {
        w.VarString(key);
        if (!EncodeValue(w, e, depth + 1)) return false;
        if (!w.ok()) return false;
      }
      break;
    case nlohmann::json::value_t::binary: {
      const auto& bin = v.get_binary();
      w.U8(kUint8Array);
      w.VarUint8Array(ByteView(bin.data(), bin.size()));
      break;
    }
    case nlohmann::json::value_t::discarded: w.U8(kUndefined); break;
  }
  return w.ok();
}

// Returns false on error (recorded in r). *out is set unless the value is `undefined`
// (then *is_undefined is set).
bool DecodeValue(Reader& r, int depth, nlohmann::json* out, bool* is_undefined) {
  *is_undefined = false;
  if (depth > kMaxAnyDepth) {
    r.Fail(ParseErrorCode::kTooLarge, "lib0 any: nesting depth");
    return false;
  }
  uint8_t tag = r.U8();
  if (!r.ok()) return false;
  switch (tag) {
    case kUndefined: *is_undefined = true; return true;
    case kNull: *out = nullptr; return true;
    case kInteger: {
      bool neg_zero = false;
      int64_t v = r.VarInt(&neg_zero);
      if (!r.ok()) return false;
      if (neg_zero) {
        *out = -0.0;
      } else {
        *out = v;
      }
      return true;
    }
    case kFloat32: {
      float f = r.Float32();
      if (!r.ok()) return false;
      *out = static_cast<double>(f);
      return true;
    }
    case kFloat64: {
      double d = r.Float64();
      if (!r.ok()) return false;
      *out = d;
      return true;
    }
    case kBigInt: r.Fail(ParseErrorCode::kUnsupported, "lib0 any: bigint"); return false;
    case kFalse: *out = false; return true;
    case kTrue: *out = true; return true;
    case kString: {
      std::string_view s = r.VarString();
      if (!r.ok()) return false;
      if (!IsValidUtf8(s)) {
        r.Fail(ParseErrorCode::kBadValue, "lib0 any: string is not UTF-8");
        return false;
      }
      *out = std::string(s);
      return true;
    }
    case kObject: {
      uint64_t count = r.VarUint();
      if (!r.ok()) return false;
      // Each entry takes at least two bytes (empty key + tag): a cheap bound on the loop.
      if (count > r.remaining() / 2) {
        r.Fail(ParseErrorCode::kBadLength, "lib0 any: object entry count");
        return false;
      }
      nlohmann::json obj = nlohmann::json::object();
      for (uint64_t i = 0; i < count; ++i) {
        std::string_view key = r.VarString();
        if (!r.ok()) return false;
        if (!IsValidUtf8(key)) {
          r.Fail(ParseErrorCode::kBadValue, "lib0 any: object key is not UTF-8");
          return false;
        }
        nlohmann::json value;
        bool undef = false;
        if (!DecodeValue(r, depth + 1, &value, &undef)) return false;
        // JavaScript keeps the last value of a repeated key; `undefined` is dropped by JSON.
        if (undef) {
          obj.erase(std::string(key));
        } else {
          obj[std::string(key)] = std::move(value);
        }
      }
      *out = std::move(obj);
      return true;
    }
    case kArray: {
      uint64_t count = r.VarUint();
      if (!r.ok()) return false;
      if (count > r.remaining()) {
        r.Fail(ParseErrorCode::kBadLength, "lib0 any: array element count");
        return false;
      }
      nlohmann::json arr = nlohmann::json::array();
      for (uint64_t i = 0; i < count; ++i) {
        nlohmann::json value;
        bool undef = false;
        if (!DecodeValue(r, depth + 1, &value, &undef)) return false;
        arr.push_back(undef ? nlohmann::json(nullptr) : std::move(value));
      }
      *out = std::move(arr);
      return true;
    }
    case kUint8Array: {
      ByteView b = r.VarUint8Array();
      if (!r.ok()) return false;
      *out = nlohmann::json::binary(std::vector<uint8_t>(b.begin(), b.end()));
      return true;
    }
    default: r.Fail(ParseErrorCode::kBadValue, "lib0 any: unknown type tag"); return false;
  }
}

}  // namespace

bool Reader::Need(size_t n, const char* what) {
  if (ok_ && remaining() >= n) return true;
  Fail(ParseErrorCode::kTruncated, what);
  return false;
}

void Reader::Fail(ParseErrorCode code, const char* what) {
  if (ok_) error_ = ParseError{code, what};
  ok_ = false;
  pos_ = data_.size();
}

uint8_t Reader::U8() {
  if (!Need(1, "lib0: uint8")) return 0;
  return data_[pos_++];
}

uint64_t Reader::VarUint() {
  uint64_t num = 0;
  // 8 groups of 7 bits cover 56 bits; anything longer exceeds 2^53 anyway.
  for (int shift = 0; shift < 56; shift += 7) {
    if (!Need(1, "lib0: var-uint")) return 0;
    uint8_t b = data_[pos_++];
    num |= uint64_t{b & 0x7Fu} << shift;
    if (num > kMaxSafeInteger) {
      Fail(ParseErrorCode::kBadValue, "lib0: var-uint above 2^53");
      return 0;
    }
    if (b < 0x80) return num;
  }
  Fail(ParseErrorCode::kBadValue, "lib0: var-uint too long");
  return 0;
}

int64_t Reader::VarInt(bool* negative_zero) {
  if (negative_zero != nullptr) *negative_zero = false;
  if (!Need(1, "lib0: var-int")) return 0;
  uint8_t b = data_[pos_++];
  uint64_t num = b & 0x3Fu;
  const bool negative = (b & 0x40u) != 0;
  if ((b & 0x80u) != 0) {
    bool done = false;
    for (int shift = 6; shift < 56; shift += 7) {
      if (!Need(1, "lib0: var-int")) return 0;
      uint8_t c = data_[pos_++];
      num |= uint64_t{c & 0x7Fu} << shift;
      if (num > kMaxSafeInteger) {
        Fail(ParseErrorCode::kBadValue, "lib0: var-int above 2^53");
        return 0;
      }
      if (c < 0x80) {
        done = true;
        break;
      }
    }
    if (!done) {
      Fail(ParseErrorCode::kBadValue, "lib0: var-int too long");
      return 0;
    }
  }
  if (negative && num == 0 && negative_zero != nullptr) *negative_zero = true;
  return negative ? -static_cast<int64_t>(num) : static_cast<int64_t>(num);
}

ByteView Reader::VarUint8Array() {
  uint64_t len = VarUint();
  if (!ok_) return {};
  if (!Need(len, "lib0: var-uint8-array length")) return {};
  ByteView v = data_.subspan(pos_, len);
  pos_ += len;
  return v;
}

std::string_view Reader::VarString() {
  return AsString(VarUint8Array());
}

float Reader::Float32() {
  if (!Need(4, "lib0: float32")) return 0;
  uint32_t u = (uint32_t{data_[pos_]} << 24) | (uint32_t{data_[pos_ + 1]} << 16) | (uint32_t{data_[pos_ + 2]} << 8) |
               data_[pos_ + 3];
  pos_ += 4;
  return std::bit_cast<float>(u);
}

double Reader::Float64() {
  if (!Need(8, "lib0: float64")) return 0;
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i)
    u = (u << 8) | data_[pos_ + i];
  pos_ += 8;
  return std::bit_cast<double>(u);
}

void Writer::Raw(ByteView b) {
  if (!ok_) return;
  if (b.size() > max_size_ - out_.size()) {
    ok_ = false;
    return;
  }
  out_.insert(out_.end(), b.begin(), b.end());
}

void Writer::U8(uint8_t v) {
  Raw(ByteView(&v, 1));
}

void Writer::VarUint(uint64_t v) {
  uint8_t buf[10];
  size_t n = 0;
  while (v > 0x7F) {
    buf[n++] = static_cast<uint8_t>(0x80 | (v & 0x7F));
    v >>= 7;
  }
  buf[n++] = static_cast<uint8_t>(v);
  Raw(ByteView(buf, n));
}

void Writer::VarInt(int64_t v, bool negative_zero) {
  const bool negative = v < 0 || negative_zero;
  uint64_t mag = v < 0 ? static_cast<uint64_t>(0) - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  uint8_t buf[11];
  size_t n = 0;
  buf[n++] = static_cast<uint8_t>((mag > 0x3F ? 0x80 : 0) | (negative ? 0x40 : 0) | (mag & 0x3F));
  mag >>= 6;
  while (mag > 0) {
    buf[n++] = static_cast<uint8_t>((mag > 0x7F ? 0x80 : 0) | (mag & 0x7F));
    mag >>= 7;
  }
  Raw(ByteView(buf, n));
}

void Writer::VarUint8Array(ByteView b) {
  VarUint(b.size());
  Raw(b);
}

void Writer::VarString(std::string_view s) {
  VarUint8Array(AsBytes(s));
}

void Writer::Float32(float v) {
  uint32_t u = std::bit_cast<uint32_t>(v);
  uint8_t buf[4] = {static_cast<uint8_t>(u >> 24), static_cast<uint8_t>(u >> 16), static_cast<uint8_t>(u >> 8),
                    static_cast<uint8_t>(u)};
  Raw(ByteView(buf, 4));
}

void Writer::Float64(double v) {
  uint64_t u = std::bit_cast<uint64_t>(v);
  uint8_t buf[8];
  for (int i = 0; i < 8; ++i)
    buf[i] = static_cast<uint8_t>(u >> (56 - 8 * i));
  Raw(ByteView(buf, 8));
}

Result<std::vector<uint8_t>, ParseError> EncodeAny(const nlohmann::json& value, size_t max_size) {
  Writer w(max_size);
  if (!EncodeValue(w, value, 0)) return MakeUnexpected(ParseError{ParseErrorCode::kTooLarge, "lib0 any: too large"});
  return std::move(w).Take();
}

Result<nlohmann::json, ParseError> DecodeAny(ByteView data) {
  Reader r(data);
  nlohmann::json out;
  bool undef = false;
  if (!DecodeValue(r, 0, &out, &undef)) return MakeUnexpected(r.error());
  if (!r.empty()) return MakeUnexpected(ParseError{ParseErrorCode::kTrailingBytes, "lib0 any: trailing bytes"});
  if (undef) return MakeUnexpected(ParseError{ParseErrorCode::kUnsupported, "lib0 any: top-level undefined"});
  return out;
}

}  // namespace peerlink::signaling::lib0
