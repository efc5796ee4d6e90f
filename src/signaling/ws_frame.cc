#include "src/signaling/ws_frame.h"

#include <cstring>

#include "src/base/byte_io.h"

namespace peerlink::signaling::ws {

size_t EncodeHeader(Opcode op, uint64_t payload_size, std::array<uint8_t, kMaxServerHeader>& out) {
  out[0] = static_cast<uint8_t>(0x80 | static_cast<uint8_t>(op));
  if (payload_size < 126) {
    out[1] = static_cast<uint8_t>(payload_size);
    return 2;
  }
  if (payload_size <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<uint8_t>(payload_size >> 8);
    out[3] = static_cast<uint8_t>(payload_size);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i)
    out[2 + i] = static_cast<uint8_t>(payload_size >> (56 - 8 * i));
  return 10;
}

namespace {

// Length of the UTF-8 sequence starting at s[i] if it is valid, else 0.
size_t Utf8SequenceAt(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
  const size_t left = s.size() - i;
  const uint8_t c = b(0);
  if (c < 0x80) return 1;
  const auto cont = [&](size_t k) { return (b(k) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return left >= 2 && cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (left < 3 || !cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;  // overlong
    if (c == 0xED && b(1) > 0x9F) return 0;  // UTF-16 surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (left < 4 || !cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;  // overlong
    if (c == 0xF4 && b(1) > 0x8F) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;  // continuation byte, C0/C1 (overlong) or F5-FF
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    // ASCII runs, 8 bytes at a time.
    while (i + 8 <= s.size()) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= s.size()) break;
    const size_t n = Utf8SequenceAt(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

bool IsValidCloseCode(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

std::string ClosePayload(uint16_t code, std::string_view reason) {
  std::string out;
  out.push_back(static_cast<char>(code >> 8));
  out.push_back(static_cast<char>(code & 0xFF));
  size_t n = std::min(reason.size(), kMaxControlPayload - 2);
  // Do not end inside a multi-byte sequence.
  while (n > 0 && n < reason.size() && (static_cast<uint8_t>(reason[n]) & 0xC0) == 0x80)
    --n;
  out.append(reason.substr(0, n));
  return out;
}

void FrameReader::Feed(std::string_view bytes) {
  if (failed_) return;
  if (pos_ > 0) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  // A connection that once carried a large message should not keep its buffer while idle.
  if (buf_.empty() && buf_.capacity() > 64 * 1024) std::string().swap(buf_);
  if (!fragmented_ && msg_.capacity() > 64) std::string().swap(msg_);
  buf_.append(bytes);
}

ReadEvent FrameReader::Fail(uint16_t code, std::string reason) {
  failed_ = true;
  buf_.clear();
  pos_ = 0;
  msg_.clear();
  return Failure{code, std::move(reason)};
}

ReadEvent FrameReader::Next() {
  // Each pass consumes one frame; passes that end in nothing to report (a fragment of an
  // unfinished message) loop. The count bound is only a guard: every pass consumes >= 2 bytes.
  for (size_t guard = 0; guard <= buf_.size(); ++guard) {
    if (failed_) return NeedMore{};
    const std::string_view avail = std::string_view(buf_).substr(pos_);
    ByteReader r(AsBytes(avail));
    if (r.remaining() < 2) return NeedMore{};
    const uint8_t b0 = r.U8();
    const uint8_t b1 = r.U8();
    const bool fin = (b0 & 0x80) != 0;
    const uint8_t op_bits = b0 & 0x0F;
    if (b0 & 0x70) return Fail(1002, "reserved frame bits set (no extension was negotiated)");
    if (op_bits > 0x2 && (op_bits < 0x8 || op_bits > 0xA))
      return Fail(1002, "unknown opcode " + std::to_string(op_bits));
    if (!(b1 & 0x80)) return Fail(1002, "client frame not masked");
    const Opcode op = static_cast<Opcode>(op_bits);
    uint64_t len = b1 & 0x7F;
    if (len == 126) {
      if (r.remaining() < 2) return NeedMore{};
      len = r.U16();
      if (len < 126) return Fail(1002, "frame length not minimally encoded");
    } else if (len == 127) {
      if (r.remaining() < 8) return NeedMore{};
      len = r.U64();
      if (len >> 63) return Fail(1002, "frame length has its top bit set");
      if (len <= 0xFFFF) return Fail(1002, "frame length not minimally encoded");
    }
    const bool control = op_bits >= 0x8;
    if (control) {
      if (!fin) return Fail(1002, "fragmented control frame");
      if (len > kMaxControlPayload) return Fail(1002, "control frame payload over 125 bytes");
    } else {
      if (op == Opcode::kContinuation && !fragmented_) return Fail(1002, "continuation frame outside a message");
      if (op != Opcode::kContinuation && fragmented_) return Fail(1002, "new message inside a fragmented one");
      const size_t so_far = op == Opcode::kContinuation ? msg_size_ : 0;
      if (len > max_message_size_ - so_far)
        return Fail(1009, "message too big (max " + std::to_string(max_message_size_) + " bytes)");
    }
    if (r.remaining() < 4 || r.remaining() - 4 < len) return NeedMore{};
    const ByteView mask = r.Bytes(4);
    const size_t payload_at = pos_ + r.position();
    char* payload = buf_.data() + payload_at;
    const size_t n = static_cast<size_t>(len);
    for (size_t i = 0; i < n; ++i)
      payload[i] = static_cast<char>(static_cast<uint8_t>(payload[i]) ^ mask[i & 3]);
    pos_ = payload_at + n;
    const std::string_view data(payload, n);

    switch (op) {
      case Opcode::kPing: return PingFrame{data};
      case Opcode::kPong: return PongFrame{};
      case Opcode::kClose: {
        if (n == 0) return CloseFrame{std::nullopt, {}};
        if (n == 1) return Fail(1002, "close frame with a 1-byte payload");
        const uint16_t code = static_cast<uint16_t>(static_cast<uint8_t>(data[0]) << 8 | static_cast<uint8_t>(data[1]));
        if (!IsValidCloseCode(code)) return Fail(1002, "invalid close code " + std::to_string(code));
        if (!IsValidUtf8(data.substr(2))) return Fail(1007, "close reason is not valid UTF-8");
        return CloseFrame{code, data.substr(2)};
      }
      case Opcode::kText:
      case Opcode::kBinary:
        if (fin) {
          if (op == Opcode::kBinary) return BinaryMessage{n};
          if (!IsValidUtf8(data)) return Fail(1007, "text message is not valid UTF-8");
          return TextMessage{data};
        }
        fragmented_ = op;
        msg_.clear();
        msg_size_ = n;
        if (op == Opcode::kText) msg_.assign(data);
        continue;
      case Opcode::kContinuation: {
        msg_size_ += n;
        if (*fragmented_ == Opcode::kText) msg_.append(data);
        if (!fin) continue;
        const Opcode whole = *fragmented_;
        fragmented_.reset();
        if (whole == Opcode::kBinary) return BinaryMessage{msg_size_};
        if (!IsValidUtf8(msg_)) return Fail(1007, "text message is not valid UTF-8");
        return TextMessage{msg_};
      }
    }
  }
  return NeedMore{};
}

}  // namespace peerlink::signaling::ws
