// Certificate fingerprints in the SDP `a=fingerprint` form (RFC 8122 section 5):
//
//   fingerprint-attribute = "fingerprint" ":" hash-func SP fingerprint
//   hash-func             = "sha-1" / "sha-224" / "sha-256" / "sha-384" / "sha-512" / ...
//   fingerprint           = 2UHEX *(":" 2UHEX)
//
// Parse() takes the attribute value ("sha-256 AB:CD:..."). Hash names are compared
// case-insensitively and hex digits may be lower case (RFC 8122 requires upper case on output,
// which ToString() produces; accepting either is the robust choice). md2/md5 are refused: RFC
// 8122 section 5 forbids them, and a fingerprint is the only thing that authenticates a DTLS peer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/parse_error.h"
#include "src/base/result.h"

namespace peerlink::dtls {

enum class HashFunction : uint8_t { kSha1, kSha224, kSha256, kSha384, kSha512 };

// "sha-1", "sha-224", ... (the SDP token).
std::string_view ToString(HashFunction h);
// Digest length in bytes.
size_t DigestLength(HashFunction h);
// Higher is stronger; used to pick the hash to verify with (RFC 8122 section 5).
int Strength(HashFunction h);

struct Fingerprint {
  HashFunction hash = HashFunction::kSha256;
  std::vector<uint8_t> digest;

  // Parses an SDP a=fingerprint value. Surrounding whitespace is ignored; hash name and digest
  // are separated by one or more spaces/tabs.
  static Result<Fingerprint, ParseError> Parse(std::string_view sdp_value);
  // DER-encoded certificate -> fingerprint with `hash`.
  static Fingerprint OfDer(HashFunction hash, ByteView der);

  // "sha-256 AB:CD:..." (upper-case hex).
  std::string ToString() const;

  bool operator==(const Fingerprint&) const = default;
};

}  // namespace peerlink::dtls
