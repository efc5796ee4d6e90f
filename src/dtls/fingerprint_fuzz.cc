// Fuzz target for the SDP a=fingerprint parser: never crash; whatever parses must print in
// the canonical form and parse back to the same value (parse -> serialize -> parse).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/base/check.h"
#include "src/dtls/fingerprint.h"

using namespace peerlink::dtls;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto fp = Fingerprint::Parse(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!fp.ok()) {
    PL_CHECK(fp.error().what != nullptr && fp.error().what[0] != '\0');
    return 0;
  }
  PL_CHECK(fp->digest.size() == DigestLength(fp->hash));
  auto again = Fingerprint::Parse(fp->ToString());
  PL_CHECK(again.ok());
  PL_CHECK(*again == *fp);
  PL_CHECK(again->ToString() == fp->ToString());
  return 0;
}
