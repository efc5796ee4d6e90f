// Fuzzes the stream framer with arbitrary chunking of the input.
#include <cstddef>
#include <cstdint>

#include "src/base/check.h"
#include "src/stun/framing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  peerlink::stun::StreamFramer f(4096);
  size_t i = 0;
  while (i < size) {
    const size_t chunk = 1 + (data[i] % 64);
    const size_t n = chunk < size - i ? chunk : size - i;
    if (!f.Append(peerlink::ByteView(data + i, n))) break;
    while (auto frame = f.Next())
      PL_CHECK(frame->size() >= 4);
    PL_CHECK(f.buffered() <= 4096);
    i += n;
  }
  return 0;
}
