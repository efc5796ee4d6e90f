// Receive-side TSN bookkeeping: the cumulative TSN, received TSNs above it
// (the gap ack blocks of the next SACK), and duplicates (RFC 9260 section 6.2).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "src/sctp/data_chunks.h"
#include "src/sctp/types.h"

namespace peerlink::sctp {

class DataTracker {
 public:
  // Bounds against a hostile peer: TSNs further than this above the cumulative
  // TSN are dropped, and at most this many disjoint ranges are remembered.
  static constexpr uint64_t kMaxTsnDistance = 1 << 20;
  static constexpr size_t kMaxRanges = 512;
  static constexpr size_t kMaxDuplicatesReported = 32;

  explicit DataTracker(UnwrappedTsn peer_initial_tsn) : cumulative_(peer_initial_tsn - 1) {}

  UnwrappedTsn Unwrap(Tsn t) const { return TsnUnwrapper::Unwrap(cumulative_, t); }
  UnwrappedTsn cumulative() const { return cumulative_; }
  Tsn cumulative_tsn() const { return TsnUnwrapper::Wrap(cumulative_); }

  enum class Verdict { kNew, kDuplicate, kDropped };
  // Whether a DATA chunk with this TSN would be new; does not record it.
  Verdict Check(UnwrappedTsn tsn) const;
  // Records a received TSN (after Check said kNew).
  void Record(UnwrappedTsn tsn);
  void RecordDuplicate(Tsn tsn);
  // FORWARD-TSN (RFC 3758 section 3.6): everything up to new_cumulative counts as received.
  void ForwardTo(UnwrappedTsn new_cumulative);

  bool has_gaps() const { return !ranges_.empty(); }
  std::vector<GapAckBlock> GapBlocks(size_t max_blocks) const;
  const std::vector<Tsn>& duplicates() const { return duplicates_; }
  void ClearDuplicates() { duplicates_.clear(); }
  bool IsConsistent() const;

 private:
  UnwrappedTsn cumulative_;
  std::vector<std::pair<UnwrappedTsn, UnwrappedTsn>> ranges_;  // sorted, disjoint, > cumulative_ + 1
  std::vector<Tsn> duplicates_;
};

}  // namespace peerlink::sctp
