// Stateful fuzzer for ClientCore: the input is a stream of operations (frames from either of two
// servers, connects, disconnects, timeouts, outgoing signals), each frame text taken from the
// input. Checks IsConsistent() after every call and that outputs stay bounded.
#include <cstddef>
#include <cstdint>
#include <string>

#include "src/signaling/client_core.h"

using namespace peerlink;
using namespace peerlink::signaling;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  SeededRng rng(size);
  ClientOptions o;
  o.urls = {"ws://a", "ws://b"};
  o.room = "room";
  o.peer_id = "m";
  o.max_peers = 8;
  o.max_pending_frames = 4;
  o.max_dedup_entries = 16;
  ClientCore core(o, rng);
  Instant now = Instant::FromNanos(0);
  core.Start(now);
  size_t i = 0;
  auto drain = [&] {
    for (int n = 0; n < 10000; ++n) {
      if (std::holds_alternative<ClientDeadline>(core.PollOutput(now))) return;
    }
    __builtin_trap();
  };
  while (i < size) {
    const uint8_t op = data[i++];
    const size_t server = op & 1;
    now = now + Duration::Millis(op);
    switch ((op >> 1) % 6) {
      case 0: core.HandleConnected(now, server); break;
      case 1: core.HandleDisconnected(now, server, "fuzz"); break;
      case 2: core.HandleTimeout(now); break;
      case 3: {
        // A frame: up to the next 0xff byte.
        size_t end = i;
        while (end < size && data[end] != 0xff)
          ++end;
        core.HandleFrame(now, server, std::string_view(reinterpret_cast<const char*>(data + i), end - i));
        i = end + 1;
        break;
      }
      case 4: {
        ywebrtc::PeerSignal s =
            ywebrtc::SessionDescriptionSignal{(op & 0x80) ? ywebrtc::SessionDescriptionSignal::Type::kOffer
                                                          : ywebrtc::SessionDescriptionSignal::Type::kAnswer,
                                              "v=0"};
        (void)core.SendSignal(now, (op & 0x40) ? "z" : "a", s);
        break;
      }
      case 5: (void)core.RemovePeer(now, (op & 0x40) ? "z" : "a"); break;
    }
    if (!core.IsConsistent()) __builtin_trap();
    drain();
  }
  return 0;
}
