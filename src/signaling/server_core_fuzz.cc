// Stateful fuzzer for the signaling server core: the input is a stream of
// operations (connect, text frame, binary frame, pong, disconnect, time step,
// broker message) on a handful of connections, with small limits so every
// close path is reachable. Asserts the core never crashes and stays consistent.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "src/base/check.h"
#include "src/signaling/server_core.h"

using namespace peerlink;
using namespace peerlink::signaling;

namespace {

void Drain(ServerCore& core, Instant now) {
  for (int i = 0; i < 100000; ++i) {
    Output o = core.PollOutput(now);
    if (std::holds_alternative<Deadline>(o)) return;
    if (auto* c = std::get_if<Close>(&o)) PL_CHECK(c->reason.size() <= 123);
    if (auto* s = std::get_if<Send>(&o)) PL_CHECK(s->text && !s->text->empty());
  }
  PL_CHECK(false);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  ServerOptions o;
  o.max_message_size = 512;
  o.max_topics = 4;
  o.max_conns_per_ip = 3;
  o.rate_per_second = 50;
  o.rate_burst = 20;
  o.broker = !in.empty() && (in[0] & 1);
  o.server_id = "self";
  o.require_token = !in.empty() && (in[0] & 2);
  ServerCore core(o);
  Instant now = Instant::FromNanos(1'000'000'000);
  const std::string token = MintToken("k", {"a", "b"}, 1'700'000'100);
  if (!in.empty()) in.remove_prefix(1);
  // Ops: 1 byte opcode, 1 byte conn, then for frames a 1-byte length and that many bytes.
  for (int step = 0; step < 4096 && in.size() >= 2; ++step) {
    const uint8_t op = static_cast<uint8_t>(in[0]) % 9;
    const ConnId id(static_cast<uint8_t>(in[1]) % 8);
    in.remove_prefix(2);
    switch (op) {
      case 0: {
        const std::string addr = "10.0.0." + std::to_string(id.value() % 3) + ":1";
        std::optional<std::string_view> t;
        if (id.value() % 4 == 1) t = token;
        if (id.value() % 4 == 2) t = "v1.forged.sig";
        core.HandleConnect(now, id, *SocketAddress::Parse(addr), InspectToken("k", t, 1'700'000'000, now));
        break;
      }
      case 1:
      case 2: {
        const size_t n = in.empty() ? 0 : std::min<size_t>(static_cast<uint8_t>(in[0]) * 4, in.size() - 1);
        const std::string_view text = in.empty() ? std::string_view() : in.substr(1, n);
        if (!in.empty()) in.remove_prefix(1 + n);
        core.HandleMessage(now, id, text);
        break;
      }
      case 3: core.HandleBinary(now, id, 3); break;
      case 4: core.HandlePong(now, id); break;
      case 5: core.HandleDisconnect(now, id); break;
      case 6:
        now += Duration::Millis(static_cast<int64_t>(id.value()) * 9000);
        core.HandleTimeout(now);
        break;
      case 7: {
        const size_t n = in.empty() ? 0 : std::min<size_t>(static_cast<uint8_t>(in[0]), in.size() - 1);
        const std::string_view payload = in.empty() ? std::string_view() : in.substr(1, n);
        if (!in.empty()) in.remove_prefix(1 + n);
        core.HandleBrokerMessage(now, id.value() % 2 ? "a" : "b", payload);
        break;
      }
      case 8:
        if (id.value() == 7)
          core.HandleShutdown(now);
        else if (id.value() == 6)
          core.HandleProtocolError(now, ConnId(step % 6), 1002, "bad frame");
        else
          core.HandleWriteOverflow(now, id);
        break;
    }
    Drain(core, now);
    PL_CHECK(core.IsConsistent());
  }
  return 0;
}
