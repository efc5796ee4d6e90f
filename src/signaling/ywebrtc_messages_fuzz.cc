// Fuzzes the y-webrtc message parsers: the input is one JSON text, tried as an outer publish
// message and as an inner announce/signal message. Accepted messages must serialize and parse
// back to the same value (parse -> serialize -> parse).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "src/base/check.h"
#include "src/signaling/identity.h"
#include "src/signaling/ywebrtc_messages.h"

using namespace peerlink;
using namespace peerlink::signaling;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto publish = ywebrtc::ParsePublishMessage(text);
  if (publish.ok()) {
    // Re-serialising may grow the text (1e5 -> 100000.0); only compare within the size bound.
    std::string text2 = ywebrtc::ToJson(*publish).dump();
    if (text2.size() <= ywebrtc::kMaxMessageTextBytes) {
      auto again = ywebrtc::ParsePublishMessage(text2);
      PL_CHECK(again.ok());
      PL_CHECK(again->topic == publish->topic);
    }
    if (!publish->encrypted()) (void)ywebrtc::ParseInnerMessage(std::get<nlohmann::json>(publish->data));
  }
  auto json = ywebrtc::ParseJson(text);
  if (!json.ok()) return 0;
  auto inner = ywebrtc::ParseInnerMessage(*json);
  if (inner.ok()) {
    nlohmann::json out = ywebrtc::ToJson(*inner);
    auto back = ywebrtc::ParseInnerMessage(out);
    PL_CHECK(back.ok());
    PL_CHECK(ywebrtc::ToJson(*back) == out);
    if (const auto* s = std::get_if<ywebrtc::SignalMessage>(&*inner); s && s->identity) {
      (void)DescriptionSignature::FromJson(*s->identity);
    }
    if (const auto* s = std::get_if<ywebrtc::SignalMessage>(&*inner)) {
      if (const auto* d = std::get_if<ywebrtc::SessionDescriptionSignal>(&s->signal)) {
        (void)ExtractFingerprints(d->sdp);
      }
    }
  }
  return 0;
}
