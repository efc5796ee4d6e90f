#include "src/sctp/assoc/send_queue.h"

#include <algorithm>

namespace peerlink::sctp {

bool SendQueue::CanAccept(StreamId sid, size_t bytes) const {
  if (total_buffered_ + bytes > total_limit_) return false;
  auto it = streams_.find(sid.value());
  size_t on_stream = it == streams_.end() ? 0 : it->second.buffered;
  return on_stream + bytes <= per_stream_limit_;
}

void SendQueue::Add(StreamId sid,
                    Ppid ppid,
                    std::vector<uint8_t> payload,
                    bool unordered,
                    std::optional<uint16_t> max_retransmits,
                    std::optional<Instant> expires_at,
                    uint64_t message_id) {
  Stream& s = streams_[sid.value()];
  size_t n = payload.size();
  Message m;
  m.ppid = ppid;
  // A non-const vector behind a const handle: once the last fragment is acknowledged the
  // association moves the block into its MessageBufferPool.
  m.payload = std::make_shared<std::vector<uint8_t>>(std::move(payload));
  m.unordered = unordered;
  m.message_id = message_id;
  m.max_retransmits = max_retransmits;
  m.expires_at = expires_at;
  s.queue.push_back(std::move(m));
  s.buffered += n;
  total_buffered_ += n;
  UpdateActive(sid, s);
}

bool SendQueue::Sendable(const Stream& s) const {
  if (s.queue.empty()) return false;
  // A paused stream still finishes a message it started (RFC 6525 section 5.1.1:
  // the reset applies after the data already assigned).
  return !s.paused || s.queue.front().started;
}

void SendQueue::UpdateActive(StreamId sid, const Stream& s) {
  if (Sendable(s))
    active_.insert(sid.value());
  else
    active_.erase(sid.value());
}

void SendQueue::Unbuffer(StreamId sid, Stream& s, size_t bytes) {
  size_t before = s.buffered;
  s.buffered -= bytes;
  if (before > s.low_threshold && s.buffered <= s.low_threshold) low_events_.push_back(sid);
  size_t total_before = total_buffered_;
  total_buffered_ -= bytes;
  if (total_before > total_low_threshold_ && total_buffered_ <= total_low_threshold_) total_low_event_ = true;
}

std::optional<Fragment> SendQueue::Produce(Instant now, size_t max_payload) {
  while (true) {
    uint16_t sid_value;
    if (locked_stream_) {
      sid_value = *locked_stream_;
    } else {
      if (active_.empty()) return std::nullopt;
      auto it = active_.upper_bound(rr_last_);
      if (it == active_.end()) it = active_.begin();
      sid_value = *it;
    }
    StreamId sid(sid_value);
    Stream& s = streams_[sid_value];
    if (s.queue.empty()) {  // defensive: the lock or the active set was stale
      locked_stream_.reset();
      UpdateActive(sid, s);
      continue;
    }
    Message& m = s.queue.front();
    if (!m.started && m.expires_at && now > *m.expires_at) {
      // RFC 3758 section 3.5 A1: an expired message that was never sent is simply dropped.
      size_t left = m.payload->size();
      s.queue.pop_front();
      Unbuffer(sid, s, left);
      ++expired_unsent_;
      UpdateActive(sid, s);
      continue;
    }
    Fragment f;
    f.stream_id = sid;
    f.ppid = m.ppid;
    f.unordered = m.unordered;
    if (!m.started) {
      m.started = true;
      if (interleaving_)
        m.ssn_or_mid = m.unordered ? s.next_mid_unordered++ : s.next_mid_ordered++;
      else
        m.ssn_or_mid = m.unordered ? 0 : s.next_ssn++;
    }
    f.ssn_or_mid = m.ssn_or_mid;
    f.fsn = m.next_fsn++;
    f.beginning = m.offset == 0;
    size_t len = std::min(max_payload, m.payload->size() - m.offset);
    f.payload = m.payload;
    f.offset = static_cast<uint32_t>(m.offset);
    f.length = static_cast<uint32_t>(len);
    f.message_id = m.message_id;
    f.max_retransmits = m.max_retransmits;
    f.expires_at = m.expires_at;
    m.offset += len;
    f.ending = m.offset == m.payload->size();
    Unbuffer(sid, s, len);
    if (f.ending) {
      s.queue.pop_front();
      locked_stream_.reset();
    } else if (!interleaving_) {
      locked_stream_ = sid_value;
    }
    rr_last_ = sid_value;
    UpdateActive(sid, s);
    return f;
  }
}

void SendQueue::DiscardRest(StreamId sid, uint64_t message_id) {
  auto it = streams_.find(sid.value());
  if (it == streams_.end()) return;
  Stream& s = it->second;
  if (s.queue.empty() || s.queue.front().message_id != message_id) return;
  Message& m = s.queue.front();
  size_t left = m.payload->size() - m.offset;
  s.queue.pop_front();
  Unbuffer(sid, s, left);
  if (locked_stream_ == sid.value()) locked_stream_.reset();
  UpdateActive(sid, s);
}

void SendQueue::Pause(StreamId sid) {
  Stream& s = streams_[sid.value()];
  s.paused = true;
  UpdateActive(sid, s);
}

bool SendQueue::IsPaused(StreamId sid) const {
  auto it = streams_.find(sid.value());
  return it != streams_.end() && it->second.paused;
}

bool SendQueue::IsDrained(StreamId sid) const {
  auto it = streams_.find(sid.value());
  if (it == streams_.end()) return true;
  // Queued messages that never started are kept for after the reset; only a
  // started message holds the reset back.
  return it->second.queue.empty() || !it->second.queue.front().started;
}

void SendQueue::ResetAndResume(StreamId sid) {
  Stream& s = streams_[sid.value()];
  s.next_ssn = 0;
  s.next_mid_ordered = 0;
  s.next_mid_unordered = 0;
  s.paused = false;
  UpdateActive(sid, s);
}

void SendQueue::Resume(StreamId sid) {
  Stream& s = streams_[sid.value()];
  s.paused = false;
  UpdateActive(sid, s);
}

void SendQueue::Clear() {
  streams_.clear();
  active_.clear();
  locked_stream_.reset();
  total_buffered_ = 0;
}

size_t SendQueue::buffered_amount(StreamId sid) const {
  auto it = streams_.find(sid.value());
  return it == streams_.end() ? 0 : it->second.buffered;
}

void SendQueue::SetLowThreshold(StreamId sid, size_t bytes) {
  streams_[sid.value()].low_threshold = bytes;
}

std::vector<StreamId> SendQueue::TakeLowEvents() {
  std::vector<StreamId> out;
  out.swap(low_events_);
  return out;
}

bool SendQueue::TakeTotalLowEvent() {
  bool e = total_low_event_;
  total_low_event_ = false;
  return e;
}

bool SendQueue::IsConsistent() const {
  size_t total = 0;
  for (const auto& [id, s] : streams_) {
    size_t b = 0;
    for (const Message& m : s.queue)
      b += m.payload->size() - m.offset;
    if (b != s.buffered) return false;
    if (Sendable(s) != (active_.count(id) == 1)) return false;
    total += b;
  }
  return total == total_buffered_;
}

}  // namespace peerlink::sctp
