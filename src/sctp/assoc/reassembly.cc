#include "src/sctp/assoc/reassembly.h"

#include <algorithm>

namespace peerlink::sctp {

bool ReassemblyQueue::SerialLessOrEqual(uint32_t a, uint32_t b) const {
  if (a == b) return true;
  return interleaving_ ? SerialLess<uint32_t>(a, b) : SerialLess<uint16_t>(uint16_t(a), uint16_t(b));
}

std::vector<uint8_t> ReassemblyQueue::NewMessageBuffer(size_t hint) {
  std::vector<uint8_t> b = pool_ ? pool_->Take(hint) : std::vector<uint8_t>();
  b.reserve(hint);
  return b;
}

bool ReassemblyQueue::Add(const Incoming& in) {
  return interleaving_ ? AddIData(in) : AddData(in);
}

bool ReassemblyQueue::AddData(const Incoming& in) {
  if (in.beginning && in.ending) {  // the common case: no fragmentation, no copy into the map
    if (in.payload.size() > max_message_size_) {
      error_ = "peer sent a " + std::to_string(in.payload.size()) + "-byte message, above max_message_size";
      return false;
    }
    Complete(in.stream_id, in.ssn_or_mid, in.unordered, in.ppid,
             std::vector<uint8_t>(in.payload.begin(), in.payload.end()));
    return true;
  }
  auto same = [&](const Fragment& f) {
    return f.stream_id == in.stream_id && f.unordered == in.unordered && f.ssn_or_mid == in.ssn_or_mid;
  };
  auto next = data_fragments_.lower_bound(in.tsn);
  if (next != data_fragments_.end() && next->first == in.tsn) return true;  // already held (the tracker filters these)
  auto prev = next == data_fragments_.begin() ? data_fragments_.end() : std::prev(next);
  if (prev != data_fragments_.end() && prev->second.last_tsn >= in.tsn) return true;
  buffered_ += in.payload.size();
  // Append to the run that ends just before this TSN, or start a new run.
  auto run = data_fragments_.end();
  if (!in.beginning && prev != data_fragments_.end() && prev->second.last_tsn + 1 == in.tsn && same(prev->second) &&
      !prev->second.ending) {
    run = prev;
    run->second.data.insert(run->second.data.end(), in.payload.begin(), in.payload.end());
    run->second.last_tsn = in.tsn;
    run->second.ending = in.ending;
  } else {
    Fragment f;
    f.tsn = in.tsn;
    f.last_tsn = in.tsn;
    f.stream_id = in.stream_id;
    f.ssn_or_mid = in.ssn_or_mid;
    f.ppid = in.ppid;
    f.unordered = in.unordered;
    f.beginning = in.beginning;
    f.ending = in.ending;
    if (in.beginning && data_fragments_.size() < kMaxPresizedPartials) {
      auto s = streams_.find(in.stream_id.value());
      size_t hint = s == streams_.end() ? 0 : std::min(s->second.last_message_size, max_message_size_);
      if (hint > in.payload.size()) f.data = NewMessageBuffer(hint);
    }
    f.data.assign(in.payload.begin(), in.payload.end());
    run = data_fragments_.emplace_hint(next, in.tsn, std::move(f));
  }
  // A run that arrived earlier and continues this one is joined to it.
  Fragment& r = run->second;
  if (!r.ending && next != data_fragments_.end() && next->first == r.last_tsn + 1 && same(next->second) &&
      !next->second.beginning) {
    r.data.insert(r.data.end(), next->second.data.begin(), next->second.data.end());
    r.last_tsn = next->second.last_tsn;
    r.ending = next->second.ending;
    data_fragments_.erase(next);
  }
  size_t bytes = r.data.size();
  if (bytes > max_message_size_) {
    error_ = "peer sent a message above max_message_size (" + std::to_string(bytes) + " bytes buffered)";
    return false;
  }
  if (!r.beginning || !r.ending) return true;
  std::vector<uint8_t> payload = std::move(r.data);
  StreamId sid = r.stream_id;
  uint32_t ssn = r.ssn_or_mid;
  bool unordered = r.unordered;
  Ppid ppid = r.ppid;
  data_fragments_.erase(run);
  buffered_ -= bytes;
  streams_[sid.value()].last_message_size = bytes;
  Complete(sid, ssn, unordered, ppid, std::move(payload));
  return true;
}

bool ReassemblyQueue::AddIData(const Incoming& in) {
  // Ordered messages already delivered or skipped are stale (a retransmission
  // that crossed a FORWARD-TSN): ignore them.
  if (!in.unordered) {
    auto s = streams_.find(in.stream_id.value());
    uint32_t next = s == streams_.end() ? 0 : s->second.next;
    if (in.ssn_or_mid != next && SerialLess<uint32_t>(in.ssn_or_mid, next)) return true;
  }
  if (in.beginning && in.ending) {
    if (in.payload.size() > max_message_size_) {
      error_ = "peer sent a " + std::to_string(in.payload.size()) + "-byte message, above max_message_size";
      return false;
    }
    Complete(in.stream_id, in.ssn_or_mid, in.unordered, in.ppid,
             std::vector<uint8_t>(in.payload.begin(), in.payload.end()));
    return true;
  }
  Key key{in.stream_id.value(), in.unordered, in.ssn_or_mid};
  Partial& p = partials_[key];
  uint32_t fsn = in.beginning ? 0 : in.fsn;
  if (!in.beginning && fsn == 0) {
    // RFC 8260 section 2.1: FSN 0 belongs to the B fragment only.
    error_ = "I-DATA fragment without B flag has FSN 0";
    return false;
  }
  // The same fragment under a new TSN: keep the first copy.
  if (fsn < p.next_fsn || p.later.count(fsn)) return true;
  size_t n = in.payload.size();
  p.bytes += n;
  buffered_ += n;
  if (in.ending) p.last_fsn = fsn;
  if (fsn == 0) p.ppid = in.ppid;
  if (fsn == 0 && p.data.capacity() == 0 && partials_.size() <= kMaxPresizedPartials) {
    auto s = streams_.find(in.stream_id.value());
    size_t hint = s == streams_.end() ? 0 : std::min(s->second.last_message_size, max_message_size_);
    if (hint > in.payload.size()) p.data = NewMessageBuffer(hint);
  }
  if (fsn == p.next_fsn) {
    p.data.insert(p.data.end(), in.payload.begin(), in.payload.end());
    ++p.next_fsn;
    // A filled hole: move the fragments that now follow on into `data`.
    for (auto it = p.later.begin(); it != p.later.end() && it->first == p.next_fsn; it = p.later.erase(it)) {
      p.data.insert(p.data.end(), it->second.begin(), it->second.end());
      ++p.next_fsn;
    }
  } else {
    p.later.emplace(fsn, std::vector<uint8_t>(in.payload.begin(), in.payload.end()));
  }
  if (p.bytes > max_message_size_) {
    error_ = "peer sent a message above max_message_size (" + std::to_string(p.bytes) + " bytes buffered)";
    return false;
  }
  if (!p.last_fsn || p.next_fsn != *p.last_fsn + 1 || !p.later.empty()) return true;
  std::vector<uint8_t> payload = std::move(p.data);
  Ppid ppid = p.ppid;
  buffered_ -= p.bytes;
  partials_.erase(key);
  streams_[in.stream_id.value()].last_message_size = payload.size();
  Complete(in.stream_id, in.ssn_or_mid, in.unordered, ppid, std::move(payload));
  return true;
}

void ReassemblyQueue::Complete(StreamId sid,
                               uint32_t ssn_or_mid,
                               bool unordered,
                               Ppid ppid,
                               std::vector<uint8_t> payload) {
  if (unordered) {
    ready_.push_back(MessageReceived{sid, ppid, std::move(payload), true});
    return;
  }
  InStream& s = streams_[sid.value()];
  if (ssn_or_mid == s.next) {
    ready_.push_back(MessageReceived{sid, ppid, std::move(payload), false});
    s.next = Next(s.next);
    DeliverWaiting(sid, s);
    return;
  }
  if (SerialLessOrEqual(ssn_or_mid, s.next)) return;  // already delivered or skipped: a stale duplicate
  buffered_ += payload.size();
  s.waiting.emplace(ssn_or_mid, MessageReceived{sid, ppid, std::move(payload), false});
}

void ReassemblyQueue::DeliverWaiting(StreamId sid, InStream& s) {
  (void)sid;
  for (auto it = s.waiting.find(s.next); it != s.waiting.end(); it = s.waiting.find(s.next)) {
    buffered_ -= it->second.payload.size();
    ready_.push_back(std::move(it->second));
    s.waiting.erase(it);
    s.next = Next(s.next);
  }
}

void ReassemblyQueue::HandleForwardTsn(UnwrappedTsn new_cumulative, std::span<const ForwardTsnChunk::Skipped> skipped) {
  // RFC 3758 section 3.6: fragments up to the new cumulative TSN belong to
  // abandoned messages (our sender never forwards past a partly acked message).
  while (!data_fragments_.empty() && data_fragments_.begin()->first <= new_cumulative) {
    buffered_ -= data_fragments_.begin()->second.data.size();
    data_fragments_.erase(data_fragments_.begin());
  }
  for (const auto& k : skipped) {
    InStream& s = streams_[k.stream_id.value()];
    uint32_t ssn = k.ssn.value();
    // Drop waiting messages at or before the skipped SSN, then move past it.
    for (auto it = s.waiting.begin(); it != s.waiting.end();) {
      if (SerialLessOrEqual(it->first, ssn)) {
        buffered_ -= it->second.payload.size();
        it = s.waiting.erase(it);
      } else {
        ++it;
      }
    }
    if (SerialLessOrEqual(s.next, ssn)) s.next = Next(ssn);
    DeliverWaiting(k.stream_id, s);
  }
}

void ReassemblyQueue::HandleIForwardTsn(std::span<const IForwardTsnChunk::Skipped> skipped) {
  for (const auto& k : skipped) {
    uint32_t mid = k.mid.value();
    for (auto it = partials_.begin(); it != partials_.end();) {
      const auto& [sid, unordered, m] = it->first;
      bool drop =
          sid == k.stream_id.value() && unordered == k.unordered && (unordered ? m == mid : SerialLessOrEqual(m, mid));
      if (drop) {
        buffered_ -= it->second.bytes;
        it = partials_.erase(it);
      } else {
        ++it;
      }
    }
    if (k.unordered) continue;
    InStream& s = streams_[k.stream_id.value()];
    for (auto it = s.waiting.begin(); it != s.waiting.end();) {
      if (SerialLessOrEqual(it->first, mid)) {
        buffered_ -= it->second.payload.size();
        it = s.waiting.erase(it);
      } else {
        ++it;
      }
    }
    if (SerialLessOrEqual(s.next, mid)) s.next = Next(mid);
    DeliverWaiting(k.stream_id, s);
  }
}

void ReassemblyQueue::ResetStreams(std::span<const StreamId> streams) {
  for (StreamId sid : streams) {
    InStream& s = streams_[sid.value()];
    for (auto& [n, m] : s.waiting)
      buffered_ -= m.payload.size();
    s.waiting.clear();
    s.next = 0;
  }
}

bool ReassemblyQueue::IsConsistent() const {
  size_t b = 0;
  UnwrappedTsn after = 0;
  for (const auto& [tsn, f] : data_fragments_) {
    if (f.tsn != tsn || f.last_tsn < tsn || tsn < after) return false;  // runs are disjoint
    after = f.last_tsn + 1;
    b += f.data.size();
  }
  for (const auto& [k, p] : partials_) {
    size_t pb = p.data.size();
    for (const auto& [fsn, data] : p.later) {
      if (fsn <= p.next_fsn) return false;
      pb += data.size();
    }
    if (pb != p.bytes) return false;
    b += pb;
  }
  for (const auto& [id, s] : streams_)
    for (const auto& [n, m] : s.waiting)
      b += m.payload.size();
  return b == buffered_;
}

}  // namespace peerlink::sctp
