// Fuzzes the SDP parser: never crash; whatever parses must generate SDP that parses back to an
// equal description (parse -> generate -> parse), and generating again gives the same text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/base/check.h"
#include "src/sdp/session_description.h"

using peerlink::sdp::SdpType;
using peerlink::sdp::SessionDescription;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = SessionDescription::Parse(text, SdpType::kOffer);
  if (!parsed.ok()) {
    PL_CHECK(!parsed.error().what.empty());
    PL_CHECK(parsed.error().line_text.size() <= 200);
    return 0;
  }
  const std::string generated = parsed->ToSdp();
  auto again = SessionDescription::Parse(generated, SdpType::kOffer);
  PL_CHECK(again.ok());
  PL_CHECK(*again == *parsed);
  PL_CHECK(again->ToSdp() == generated);
  return 0;
}
