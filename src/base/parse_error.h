// The error every wire codec returns for bytes it cannot accept.
#pragma once

#include <cstdint>
#include <string_view>

namespace peerlink {

enum class ParseErrorCode : uint8_t {
  kTruncated,      // fewer bytes than a length field or fixed header promises
  kBadMagic,       // a magic number / fixed field has the wrong value
  kBadLength,      // a length field is inconsistent (too small, not a multiple, too large)
  kBadValue,       // a field carries a value the RFC forbids
  kBadChecksum,    // CRC / FINGERPRINT mismatch
  kTrailingBytes,  // bytes after a complete message where none are allowed
  kUnsupported,    // well-formed but outside what this implementation handles
  kTooLarge,       // exceeds a configured bound
};

// `what` names the field or rule (a string literal; no allocation on the error path).
struct ParseError {
  ParseErrorCode code = ParseErrorCode::kTruncated;
  const char* what = "";
};

constexpr std::string_view ToString(ParseErrorCode c) {
  switch (c) {
    case ParseErrorCode::kTruncated: return "truncated";
    case ParseErrorCode::kBadMagic: return "bad magic";
    case ParseErrorCode::kBadLength: return "bad length";
    case ParseErrorCode::kBadValue: return "bad value";
    case ParseErrorCode::kBadChecksum: return "bad checksum";
    case ParseErrorCode::kTrailingBytes: return "trailing bytes";
    case ParseErrorCode::kUnsupported: return "unsupported";
    case ParseErrorCode::kTooLarge: return "too large";
  }
  return "unknown";
}

}  // namespace peerlink
