// RFC 6455 framing for the server end of a WebSocket, sans-I/O.
//
// The signaling server lets Beast do the HTTP upgrade, then frames the connection itself so that
// several queued messages leave in one gather write (one syscall) instead of one write each.
//
// FrameReader: bytes read from the client in; whole messages and control frames out. It enforces
// what section 5 asks of a server: client frames are masked, no reserved bits (no extensions are
// negotiated), known opcodes, control frames unfragmented and <= 125 bytes, minimal length
// encodings, continuation frames only inside a fragmented message, text that is valid UTF-8
// (section 8.1), close codes from section 7.4. The message size limit is checked on each frame
// header, before its payload is buffered, so memory stays bounded by the limit plus one read.
// Any violation is a Failure naming the close code and a reason; the reader then stops.
//
// The writer side is EncodeHeader(): server frames are never masked or fragmented here.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace peerlink::signaling::ws {

enum class Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

inline constexpr size_t kMaxServerHeader = 10;  // 2 + 8-byte length, no mask
inline constexpr size_t kMaxControlPayload = 125;

// The header of one final, unmasked frame carrying `payload_size` bytes; returns its length
// (2, 4 or 10 bytes, the minimal encoding).
size_t EncodeHeader(Opcode op, uint64_t payload_size, std::array<uint8_t, kMaxServerHeader>& out);

// A close frame's payload: the status code, then the reason cut at a UTF-8 boundary so that the
// whole payload fits in 125 bytes.
std::string ClosePayload(uint16_t code, std::string_view reason);

// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool IsValidUtf8(std::string_view s);

// A close code a peer may send (RFC 6455 section 7.4.1 and the IANA registry): 1000-1003,
// 1007-1014 and 3000-4999.
bool IsValidCloseCode(uint16_t code);

// Reader events. Views point into the reader and stay valid until the next Feed() or Next().
struct NeedMore {};
struct TextMessage {
  std::string_view text;
};
struct BinaryMessage {
  size_t size;
};
struct PingFrame {
  std::string_view payload;
};
struct PongFrame {};
struct CloseFrame {
  std::optional<uint16_t> code;  // none: an empty close payload
  std::string_view reason;
};
struct Failure {
  uint16_t code;       // 1002 protocol error, 1007 invalid UTF-8, 1009 too big
  std::string reason;  // <= 123 bytes
};
using ReadEvent = std::variant<NeedMore, TextMessage, BinaryMessage, PingFrame, PongFrame, CloseFrame, Failure>;

class FrameReader {
 public:
  explicit FrameReader(size_t max_message_size) : max_message_size_(max_message_size) {}

  // Appends bytes read from the client. Call Next() until NeedMore before feeding again: the
  // buffer then holds at most one incomplete frame (<= the size limit + 14 bytes) plus `bytes`.
  void Feed(std::string_view bytes);
  ReadEvent Next();

  bool failed() const { return failed_; }
  size_t buffered() const { return buf_.size() - pos_; }
  // Heap bytes held (for tests of the memory bound).
  size_t capacity() const { return buf_.capacity() + msg_.capacity(); }

 private:
  ReadEvent Fail(uint16_t code, std::string reason);

  size_t max_message_size_;
  std::string buf_;  // bytes fed and not yet consumed, from pos_
  size_t pos_ = 0;
  std::optional<Opcode> fragmented_;  // kText/kBinary while a fragmented message is open
  std::string msg_;                   // its text so far (binary messages are only counted)
  size_t msg_size_ = 0;
  bool failed_ = false;
};

}  // namespace peerlink::signaling::ws
