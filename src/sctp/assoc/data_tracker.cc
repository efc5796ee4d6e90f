#include "src/sctp/assoc/data_tracker.h"

#include <algorithm>

namespace peerlink::sctp {

DataTracker::Verdict DataTracker::Check(UnwrappedTsn tsn) const {
  if (tsn <= cumulative_) return Verdict::kDuplicate;
  if (tsn - cumulative_ > kMaxTsnDistance) return Verdict::kDropped;
  auto it =
      std::upper_bound(ranges_.begin(), ranges_.end(), tsn, [](UnwrappedTsn t, const auto& r) { return t < r.first; });
  if (it != ranges_.begin() && std::prev(it)->second >= tsn) return Verdict::kDuplicate;
  if (ranges_.size() >= kMaxRanges && tsn != cumulative_ + 1) {
    // Only accept TSNs that extend an existing range.
    bool extends =
        (it != ranges_.begin() && std::prev(it)->second + 1 == tsn) || (it != ranges_.end() && it->first == tsn + 1);
    if (!extends) return Verdict::kDropped;
  }
  return Verdict::kNew;
}

void DataTracker::Record(UnwrappedTsn tsn) {
  if (tsn == cumulative_ + 1) {
    cumulative_ = tsn;
    if (!ranges_.empty() && ranges_.front().first == cumulative_ + 1) {
      cumulative_ = ranges_.front().second;
      ranges_.erase(ranges_.begin());
    }
    return;
  }
  // Fast path: in-order arrival after a gap extends the last range.
  if (!ranges_.empty() && ranges_.back().second + 1 == tsn) {
    ranges_.back().second = tsn;
    return;
  }
  auto it =
      std::upper_bound(ranges_.begin(), ranges_.end(), tsn, [](UnwrappedTsn t, const auto& r) { return t < r.first; });
  bool merge_prev = it != ranges_.begin() && std::prev(it)->second + 1 == tsn;
  bool merge_next = it != ranges_.end() && it->first == tsn + 1;
  if (merge_prev && merge_next) {
    std::prev(it)->second = it->second;
    ranges_.erase(it);
  } else if (merge_prev) {
    std::prev(it)->second = tsn;
  } else if (merge_next) {
    it->first = tsn;
  } else {
    ranges_.insert(it, {tsn, tsn});
  }
}

void DataTracker::RecordDuplicate(Tsn tsn) {
  if (duplicates_.size() < kMaxDuplicatesReported) duplicates_.push_back(tsn);
}

void DataTracker::ForwardTo(UnwrappedTsn new_cumulative) {
  if (new_cumulative <= cumulative_) return;
  cumulative_ = new_cumulative;
  while (!ranges_.empty() && ranges_.front().first <= cumulative_ + 1) {
    cumulative_ = std::max(cumulative_, ranges_.front().second);
    ranges_.erase(ranges_.begin());
  }
}

std::vector<GapAckBlock> DataTracker::GapBlocks(size_t max_blocks) const {
  std::vector<GapAckBlock> out;
  for (const auto& [first, last] : ranges_) {
    if (out.size() >= max_blocks) break;
    // Offsets are 16 bits (RFC 9260 section 3.3.4); ranges further away are reported later.
    if (last - cumulative_ > 0xFFFF) break;
    out.push_back({static_cast<uint16_t>(first - cumulative_), static_cast<uint16_t>(last - cumulative_)});
  }
  return out;
}

bool DataTracker::IsConsistent() const {
  UnwrappedTsn prev = cumulative_ + 1;
  for (const auto& [first, last] : ranges_) {
    if (first <= prev || last < first) return false;
    prev = last + 1;
  }
  return ranges_.size() <= kMaxRanges;
}

}  // namespace peerlink::sctp
