// Fuzzes the a=candidate parser; a parsed candidate must survive ToSdp -> ParseSdp.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/base/check.h"
#include "src/ice/candidate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = peerlink::ice::Candidate::ParseSdp(text);
  if (!c) return 0;
  auto again = peerlink::ice::Candidate::ParseSdp(c->ToSdp());
  PL_CHECK(again.ok());
  PL_CHECK(again->address == c->address);
  PL_CHECK(again->type == c->type);
  PL_CHECK(again->priority == c->priority);
  return 0;
}
