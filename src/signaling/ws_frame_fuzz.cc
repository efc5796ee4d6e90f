// The server's WebSocket frame reader on arbitrary client bytes, fed in chunks whose sizes come
// from the input. Asserts the reader never crashes, reports only what RFC 6455 allows (text
// within the limit and valid UTF-8, control payloads <= 125 bytes, close reasons that fit a
// close frame) and keeps its buffer bounded by the limit plus one chunk.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "fuzz/fuzz_input.h"
#include "src/base/check.h"
#include "src/signaling/ws_frame.h"

using namespace peerlink;
using namespace peerlink::signaling::ws;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzzing::Input in(data, size);
  constexpr size_t kMax = 300;
  FrameReader reader(kMax);
  for (int round = 0; round < 10000 && !in.empty(); ++round) {
    const size_t chunk = 1 + in.U8() % 64;
    const ByteView bytes = in.View(chunk);
    reader.Feed(AsString(bytes));
    for (int i = 0;; ++i) {
      PL_CHECK(i < 10000);
      ReadEvent e = reader.Next();
      if (std::holds_alternative<NeedMore>(e)) break;
      if (auto* t = std::get_if<TextMessage>(&e)) {
        PL_CHECK(t->text.size() <= kMax);
        PL_CHECK(IsValidUtf8(t->text));
      }
      if (auto* b = std::get_if<BinaryMessage>(&e)) PL_CHECK(b->size <= kMax);
      if (auto* p = std::get_if<PingFrame>(&e)) PL_CHECK(p->payload.size() <= kMaxControlPayload);
      if (auto* c = std::get_if<CloseFrame>(&e)) {
        PL_CHECK(!c->code || IsValidCloseCode(*c->code));
        PL_CHECK(ClosePayload(c->code.value_or(1000), c->reason).size() <= kMaxControlPayload);
      }
      if (auto* f = std::get_if<Failure>(&e)) {
        PL_CHECK(f->reason.size() <= 123);
        PL_CHECK(f->code == 1002 || f->code == 1007 || f->code == 1009);
        PL_CHECK(reader.failed());
      }
    }
    PL_CHECK(reader.buffered() <= kMax + 14 + 64);
  }
  return 0;
}
