// RESP2 (the Redis serialization protocol), the subset a pub/sub client needs:
// command encoding (arrays of bulk strings) and an incremental reply parser.
// Used by the runtime's Redis broker for multi-server scale-out.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/base/result.h"

namespace peerlink::signaling {

// "*<n>\r\n" then "$<len>\r\n<bytes>\r\n" per argument (binary-safe).
std::string EncodeRespCommand(std::initializer_list<std::string_view> args);

struct RespValue {
  enum class Type { kSimple, kError, kInteger, kBulk, kNull, kArray };
  Type type = Type::kNull;
  std::string str;  // kSimple, kError, kBulk
  int64_t integer = 0;
  std::vector<RespValue> array;
};

enum class RespError { kSyntax, kTooLarge };

// Incremental parser: Append() received bytes, then call Next() until it
// returns nullopt (needs more bytes). An error is sticky: the connection
// must be dropped.
class RespParser {
 public:
  static constexpr size_t kMaxBulk = 16 * 1024 * 1024;
  static constexpr size_t kMaxArray = 1024;
  static constexpr int kMaxDepth = 4;

  void Append(std::string_view bytes) { buf_.append(bytes); }
  Result<std::optional<RespValue>, RespError> Next();
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  // Parses one value at `*pos`; advances it. nullopt: incomplete.
  Result<std::optional<RespValue>, RespError> Parse(size_t* pos, int depth);
  std::string buf_;
  size_t pos_ = 0;
  std::optional<RespError> error_;
};

}  // namespace peerlink::signaling
