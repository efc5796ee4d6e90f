#include "src/signaling/resp.h"

#include <charconv>

namespace peerlink::signaling {

std::string EncodeRespCommand(std::initializer_list<std::string_view> args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (auto a : args) {
    out += "$" + std::to_string(a.size()) + "\r\n";
    out.append(a);
    out += "\r\n";
  }
  return out;
}

Result<std::optional<RespValue>, RespError> RespParser::Next() {
  if (error_) return MakeUnexpected(*error_);
  size_t pos = pos_;
  auto r = Parse(&pos, 0);
  if (!r) {
    error_ = r.error();
    return r;
  }
  if (r.value()) {
    pos_ = pos;
    // Compact once the consumed prefix dominates the buffer.
    if (pos_ > 4096 && pos_ * 2 > buf_.size()) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
  }
  return r;
}

Result<std::optional<RespValue>, RespError> RespParser::Parse(size_t* pos, int depth) {
  using Out = std::optional<RespValue>;
  if (depth > kMaxDepth) return MakeUnexpected(RespError::kTooLarge);
  const size_t eol = buf_.find("\r\n", *pos);
  if (eol == std::string::npos) {
    if (buf_.size() - *pos > 64 * 1024) return MakeUnexpected(RespError::kTooLarge);  // a line that never ends
    return Out();
  }
  if (eol == *pos) return MakeUnexpected(RespError::kSyntax);
  const char kind = buf_[*pos];
  const std::string_view line(buf_.data() + *pos + 1, eol - *pos - 1);
  auto number = [&]() -> std::optional<int64_t> {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), v);
    if (ec != std::errc() || p != line.data() + line.size()) return std::nullopt;
    return v;
  };
  RespValue v;
  switch (kind) {
    case '+':
    case '-':
      v.type = kind == '+' ? RespValue::Type::kSimple : RespValue::Type::kError;
      v.str = std::string(line);
      *pos = eol + 2;
      return Out(std::move(v));
    case ':': {
      auto n = number();
      if (!n) return MakeUnexpected(RespError::kSyntax);
      v.type = RespValue::Type::kInteger;
      v.integer = *n;
      *pos = eol + 2;
      return Out(std::move(v));
    }
    case '$': {
      auto n = number();
      if (!n || *n < -1) return MakeUnexpected(RespError::kSyntax);
      if (*n == -1) {
        *pos = eol + 2;
        return Out(std::move(v));  // kNull
      }
      if (static_cast<uint64_t>(*n) > kMaxBulk) return MakeUnexpected(RespError::kTooLarge);
      const size_t len = static_cast<size_t>(*n);
      if (buf_.size() < eol + 2 + len + 2) return Out();
      if (buf_.compare(eol + 2 + len, 2, "\r\n") != 0) return MakeUnexpected(RespError::kSyntax);
      v.type = RespValue::Type::kBulk;
      v.str = buf_.substr(eol + 2, len);
      *pos = eol + 2 + len + 2;
      return Out(std::move(v));
    }
    case '*': {
      auto n = number();
      if (!n || *n < -1) return MakeUnexpected(RespError::kSyntax);
      if (*n == -1) {
        *pos = eol + 2;
        return Out(std::move(v));
      }
      if (static_cast<uint64_t>(*n) > kMaxArray) return MakeUnexpected(RespError::kTooLarge);
      size_t p = eol + 2;
      v.type = RespValue::Type::kArray;
      for (int64_t i = 0; i < *n; ++i) {
        auto e = Parse(&p, depth + 1);
        if (!e) return e;
        if (!e.value()) return Out();
        v.array.push_back(std::move(*e.value()));
      }
      *pos = p;
      return Out(std::move(v));
    }
    default: return MakeUnexpected(RespError::kSyntax);
  }
}

}  // namespace peerlink::signaling
