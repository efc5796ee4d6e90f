// Stateful fuzzer for the mDNS Resolver and Responder cores: the input is an
// op stream (resolve a name, publish/unpublish, deliver a datagram from port
// 5353 or elsewhere, advance time). After every op both cores are drained and
// must stay consistent, within their bounds, and emit well-formed queries.
#include <cstddef>
#include <cstdint>
#include <string>

#include "src/base/byte_io.h"
#include "src/base/check.h"
#include "src/base/rng.h"
#include "src/mdns/resolver.h"
#include "src/mdns/responder.h"

using namespace peerlink;
using namespace peerlink::mdns;

namespace {

void DrainResolver(Resolver& r, Instant now, std::vector<std::vector<uint8_t>>* sent) {
  for (int i = 0; i < 10000; ++i) {
    ResolverOutput out = r.PollOutput(now);
    if (auto* t = std::get_if<Transmit>(&out)) {
      auto q = Message::Parse(t->data);
      PL_CHECK(q.ok() && !q->header.is_response() && !q->questions.empty());
      if (sent->size() < 64) sent->push_back(std::move(t->data));
    } else if (auto* e = std::get_if<ResolverEvent>(&out)) {
      if (auto* res = std::get_if<Resolved>(e)) PL_CHECK(!res->addresses.empty());
    } else {
      PL_CHECK(std::get<Deadline>(out).at >= now);
      return;
    }
  }
  PL_CHECK(false);  // the drain must end
}

void DrainResponder(Responder& r, Instant now, std::vector<std::vector<uint8_t>>* sent) {
  for (int i = 0; i < 10000; ++i) {
    ResponderOutput out = r.PollOutput(now);
    if (auto* t = std::get_if<Transmit>(&out)) {
      PL_CHECK(Message::Parse(t->data).ok());
      if (sent->size() < 64) sent->push_back(std::move(t->data));
    } else {
      PL_CHECK(std::get<Deadline>(out).at >= now);
      return;
    }
  }
  PL_CHECK(false);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteReader in(ByteView(data, size));
  ResolverOptions ro;
  ro.max_pending = 4;
  ro.max_cache = 4;
  ro.use_ipv6 = true;
  Resolver resolver(ro);
  SeededRng rng(in.U8());
  ResponderOptions po;
  po.max_names = 4;
  Responder responder(po, rng);
  Instant now = Instant::FromNanos(1'000'000'000);
  std::vector<std::vector<uint8_t>> wire;  // what the cores sent, replayed by ops
  std::vector<std::string> published;
  static const char* kNames[] = {"a.local", "A.LOCAL", "b.local", "c.local", "d.local", "e.local", "x.com", ""};
  for (int op = 0; op < 256 && !in.empty(); ++op) {
    const uint8_t code = in.U8();
    switch (code % 7) {
      case 0: resolver.Resolve(now, kNames[in.U8() % 8]); break;
      case 1: {
        if (auto n = responder.Publish(now, IpAddress::V4(10, 0, 0, in.U8() % 8))) published.push_back(*n);
        break;
      }
      case 2:
        if (!published.empty()) (void)responder.Unpublish(now, published[in.U8() % published.size()]);
        break;
      case 3: {
        const size_t len = in.U8();
        const ByteView bytes = in.Bytes(std::min(len, in.remaining()));
        const SocketAddress from(IpAddress::V4(192, 168, 0, 1), (code & 0x80) ? 5353 : 40000);
        resolver.HandleDatagram(now, from, bytes);
        responder.HandleDatagram(now, from, bytes);
        break;
      }
      case 4: now += Duration::Millis(in.U16()); break;
      case 5: {
        // Replay one of the cores' own datagrams to both (queries to the responder, answers to the resolver).
        if (wire.empty()) break;
        const auto& bytes = wire[in.U8() % wire.size()];
        const SocketAddress from(IpAddress::V4(192, 168, 0, 2), 5353);
        resolver.HandleDatagram(now, from, bytes);
        responder.HandleDatagram(now, from, bytes);
        break;
      }
      case 6: {
        // A response naming a published or resolvable name, with a fuzzed TTL.
        Message m = MakeResponse();
        const std::string name =
            (!published.empty() && (code & 0x80)) ? published[in.U8() % published.size()] : kNames[in.U8() % 6];
        (void)AddAnswer(m, *DnsName::FromText(name), IpAddress::V4(10, 1, 0, in.U8()), in.U32() % 300, true);
        resolver.HandleDatagram(now, SocketAddress(IpAddress::V4(192, 168, 0, 3), 5353), Serialize(m));
        break;
      }
    }
    DrainResolver(resolver, now, &wire);
    DrainResponder(responder, now, &wire);
    PL_CHECK(resolver.IsConsistent() && responder.IsConsistent());
    PL_CHECK(resolver.pending_count() <= ro.max_pending && resolver.cache_size() <= ro.max_cache);
  }
  return 0;
}
