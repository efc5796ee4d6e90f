// Wire identifiers of SCTP (RFC 9260) and its extensions, as strong types.
// Tsn, Ssn and Mid wrap: compare them with SerialLess (RFC 1982), or unwrap
// them into 64-bit sequence numbers with TsnUnwrapper.
#pragma once

#include <cstdint>

#include "src/base/strong_id.h"

namespace peerlink::sctp {

using Tsn = StrongId<struct TsnTag, uint32_t>;
using StreamId = StrongId<struct StreamIdTag, uint16_t>;
using Ssn = StrongId<struct SsnTag, uint16_t>;
using Mid = StrongId<struct MidTag, uint32_t>;
using Ppid = StrongId<struct PpidTag, uint32_t>;
using VerificationTag = StrongId<struct VerificationTagTag, uint32_t>;

// A TSN extended to 64 bits so that arithmetic and ordering never wrap.
using UnwrappedTsn = uint64_t;

// Maps 32-bit wire TSNs to 64-bit values closest to a reference point.
// The first TSN of an association is placed at 2^32 so that TSNs before it
// (e.g. "initial TSN - 1") are still representable.
class TsnUnwrapper {
 public:
  TsnUnwrapper() = default;
  explicit TsnUnwrapper(Tsn initial) : base_((uint64_t{1} << 32) + initial.value()) {}
  // Returns the unwrapped value of `tsn` nearest to `reference`.
  static UnwrappedTsn Unwrap(UnwrappedTsn reference, Tsn tsn) {
    int32_t delta = static_cast<int32_t>(tsn.value() - static_cast<uint32_t>(reference));
    return reference + static_cast<int64_t>(delta);
  }
  UnwrappedTsn initial() const { return base_; }
  static Tsn Wrap(UnwrappedTsn t) { return Tsn(static_cast<uint32_t>(t)); }

 private:
  UnwrappedTsn base_ = uint64_t{1} << 32;
};

// Data-channel PPIDs (RFC 8831 section 8).
inline constexpr Ppid kPpidDcep{50};
inline constexpr Ppid kPpidString{51};
inline constexpr Ppid kPpidBinary{53};
inline constexpr Ppid kPpidStringEmpty{56};
inline constexpr Ppid kPpidBinaryEmpty{57};

}  // namespace peerlink::sctp
