// Splits a TCP/TLS byte stream into STUN messages and TURN ChannelData frames
// (RFC 8489 section 6.2.2 and RFC 8656 section 12.5: over a stream transport,
// ChannelData is padded to a multiple of four bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "src/base/byte_io.h"

namespace peerlink::stun {

class StreamFramer {
 public:
  // `max_buffered` bounds memory against a peer that never completes a frame.
  explicit StreamFramer(size_t max_buffered = 2 * 65536 + 64) : max_buffered_(max_buffered) {}

  // Appends received bytes. Returns false once the stream is unframeable (a
  // first byte that is neither STUN nor ChannelData, or the buffer bound was
  // exceeded); the caller should close the connection.
  [[nodiscard]] bool Append(ByteView data);
  // The next complete frame (without stream padding), valid until the next
  // call to Append() or Next().
  std::optional<ByteView> Next();
  bool failed() const { return failed_; }
  size_t buffered() const { return buf_.size() - start_; }

 private:
  std::vector<uint8_t> buf_;
  size_t start_ = 0;
  size_t max_buffered_;
  bool failed_ = false;
};

}  // namespace peerlink::stun
