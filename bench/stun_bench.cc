// STUN codec micro-benchmarks: ns per message and heap allocations per message
// for parse, parse+verify and serialize (crypto is real here: HMAC-SHA1 and CRC32).
#include <benchmark/benchmark.h>

#include <vector>

#include "src/base/rng.h"
#include "src/stun/credentials.h"
#include "src/stun/message.h"
#include "tests/util/alloc_counter.h"

namespace {
using namespace peerlink;
using namespace peerlink::stun;

// A typical ICE connectivity check: USERNAME, PRIORITY, ICE-CONTROLLING,
// USE-CANDIDATE, MESSAGE-INTEGRITY, FINGERPRINT.
std::vector<uint8_t> MakeCheck(Rng& rng) {
  StunMessageBuilder b(Method::kBinding, StunClass::kRequest, RandomTransactionId(rng));
  b.AddString(attr::kUsername, "abcdefgh:ijklmnop")
      .AddU32(attr::kPriority, 0x6e0001ff)
      .AddU64(attr::kIceControlling, 0x932ff9b151263b36ull)
      .AddFlag(attr::kUseCandidate)
      .AddMessageIntegrity(ShortTermKey("0123456789abcdefghijklmn"))
      .AddFingerprint();
  return std::move(b).Finish();
}

void SetAllocCounter(benchmark::State& state, uint64_t before) {
  state.counters["allocs_per_msg"] = benchmark::Counter(
      static_cast<double>(peerlink::testing::AllocationCount() - before), benchmark::Counter::kAvgIterations);
}

void BM_StunParse(benchmark::State& state) {
  SeededRng rng(1);
  const auto msg = MakeCheck(rng);
  const uint64_t before = peerlink::testing::AllocationCount();
  for (auto _ : state) {
    auto m = StunMessage::Parse(msg);
    benchmark::DoNotOptimize(m);
  }
  SetAllocCounter(state, before);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * msg.size()));
}
BENCHMARK(BM_StunParse);

void BM_StunParseVerifyIntegrityAndFingerprint(benchmark::State& state) {
  SeededRng rng(1);
  const auto msg = MakeCheck(rng);
  const auto key = ShortTermKey("0123456789abcdefghijklmn");
  const uint64_t before = peerlink::testing::AllocationCount();
  for (auto _ : state) {
    auto m = StunMessage::Parse(msg);
    bool ok = m.ok() && m->VerifyFingerprint() && m->VerifyMessageIntegrity(key);
    benchmark::DoNotOptimize(ok);
  }
  SetAllocCounter(state, before);
}
BENCHMARK(BM_StunParseVerifyIntegrityAndFingerprint);

void BM_StunSerializeCheck(benchmark::State& state) {
  SeededRng rng(1);
  const uint64_t before = peerlink::testing::AllocationCount();
  for (auto _ : state) {
    auto bytes = MakeCheck(rng);
    benchmark::DoNotOptimize(bytes);
  }
  SetAllocCounter(state, before);
}
BENCHMARK(BM_StunSerializeCheck);

void BM_StunSerializeBindingResponse(benchmark::State& state) {
  SeededRng rng(1);
  const auto req = MakeCheck(rng);
  const auto parsed = StunMessage::Parse(req);
  const auto from = *SocketAddress::Parse("192.0.2.1:5000");
  const auto key = ShortTermKey("0123456789abcdefghijklmn");
  const uint64_t before = peerlink::testing::AllocationCount();
  for (auto _ : state) {
    auto b = StunMessageBuilder::ResponseTo(*parsed, StunClass::kSuccessResponse);
    b.AddXorAddress(attr::kXorMappedAddress, from).AddMessageIntegrity(key).AddFingerprint();
    auto bytes = std::move(b).Finish();
    benchmark::DoNotOptimize(bytes);
  }
  SetAllocCounter(state, before);
}
BENCHMARK(BM_StunSerializeBindingResponse);

}  // namespace

BENCHMARK_MAIN();
