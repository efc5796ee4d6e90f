#include "src/stun/framing.h"

namespace peerlink::stun {

bool StreamFramer::Append(ByteView data) {
  if (failed_) return false;
  if (start_ > 0) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(start_));
    start_ = 0;
  }
  if (buf_.size() + data.size() > max_buffered_) {
    failed_ = true;
    return false;
  }
  buf_.insert(buf_.end(), data.begin(), data.end());
  return true;
}

std::optional<ByteView> StreamFramer::Next() {
  if (failed_) return std::nullopt;
  const size_t avail = buf_.size() - start_;
  if (avail < 4) return std::nullopt;
  const uint8_t* p = buf_.data() + start_;
  const size_t length = (size_t{p[2]} << 8) | p[3];
  size_t frame_len = 0;
  size_t consumed = 0;
  if ((p[0] & 0xC0) == 0x00) {  // STUN
    frame_len = 20 + length;
    consumed = frame_len;
  } else if ((p[0] & 0xC0) == 0x40) {  // ChannelData 0x4000..0x7FFF
    frame_len = 4 + length;
    consumed = (frame_len + 3) & ~size_t{3};
  } else {
    failed_ = true;
    return std::nullopt;
  }
  if (avail < consumed) return std::nullopt;
  ByteView frame(p, frame_len);
  start_ += consumed;
  return frame;
}

}  // namespace peerlink::stun
