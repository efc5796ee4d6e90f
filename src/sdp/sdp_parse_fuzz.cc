// Fuzzes the SDP parser: never crash; whatever parses must generate SDP that parses back to an
// equal description (parse -> generate -> parse), and generating again gives the same text.
// Every offer we can answer must yield an answer that validates against it and round-trips.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/base/check.h"
#include "src/sdp/jsep.h"
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

  static const peerlink::sdp::LocalParams local = [] {
    peerlink::sdp::LocalParams p;
    p.ice_ufrag = "fuzz";
    p.ice_pwd = "fuzzfuzzfuzzfuzzfuzzfuzz";
    p.fingerprints.push_back(
        peerlink::dtls::Fingerprint{peerlink::dtls::HashFunction::kSha256, std::vector<uint8_t>(32, 0xAB)});
    return p;
  }();
  auto answer = peerlink::sdp::NegotiateAnswer(*parsed, local);
  if (answer.ok()) {
    auto valid = peerlink::sdp::ValidateAnswer(*parsed, *answer);
    PL_CHECK(valid.ok());
    auto reparsed = SessionDescription::Parse(answer->ToSdp(), SdpType::kAnswer);
    PL_CHECK(reparsed.ok());
    PL_CHECK(*reparsed == *answer);
  } else {
    PL_CHECK(!answer.error().what.empty());
  }
  return 0;
}
