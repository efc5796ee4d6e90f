// SCTP association benchmarks. Prints JSON.
//
//  1. In memory: two associations back to back (no DTLS, zero checksum on by
//     negotiation, once with CRC32c forced, once with plain DATA instead of
//     I-DATA), 64 KiB messages over a
//     1200-byte MTU: MB/s of user data (by wall clock and by CPU time, as
//     the machine may be shared), CPU ns and heap allocations per SCTP packet
//     (both directions counted), one core. The JSON records whether DCHECKs
//     (IsConsistent after every call) were compiled in and GLIBC_TUNABLES.
//  2. Throughput vs RTT and loss in the simulator (tests/sim): a 100 Mbit/s
//     bottleneck, RTT 0/20/50/100/200 ms, loss 0 and 1%, one large window
//     (4 MiB receive buffer), goodput over 10 s of virtual time.
//  3. hostile_sack: CPU time per SACK for a sender whose window a lying peer
//     holds (64 MiB held for retransmission), when the SACK's one gap block is
//     repeated in every slot of the chunk, and for the plain one-block SACK.
//  4. partial_reliability: CPU time for one timeout that abandons 20,000 messages sent with
//     max_retransmits 0, and per SACK against a peer that never acts on the FORWARD-TSN.
//
//  The in-memory runs build each message in Association::TakeMessageBuffer and hand
//  delivered ones back (RecycleMessageBuffer), as src/peer does; --no-message-pool
//  copies into a fresh vector and drops delivered messages instead.
//
//   sctp_bench [--quick] [--in-memory-only] [--no-message-pool] [--out FILE]
#include <chrono>
#include <cstdio>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "src/base/check.h"
#include "src/sctp/association.h"
#include "src/sctp/data_chunks.h"
#include "src/sctp/packet.h"
#include "src/sctp/test_pair.h"
#include "tests/util/alloc_counter.h"
#if PEERLINK_BENCH_HAVE_SIM
#include "tests/sim/network.h"
#include "tests/sim/sctp_sim.h"
#endif

using namespace peerlink;
using namespace peerlink::sctp;

namespace {

struct InMemoryResult {
  double mb_per_s = 0;      // user bytes delivered / wall-clock time
  double cpu_mb_per_s = 0;  // user bytes delivered / CPU time of this (single-threaded) process
  double ns_per_packet = 0;
  double allocs_per_packet = 0;
  uint64_t packets = 0;
  uint64_t messages = 0;
};

bool g_message_pool = true;

InMemoryResult InMemory(size_t total_bytes, bool zero_checksum, bool interleaving = true) {
  Options o;
  o.enable_zero_checksum = zero_checksum;
  o.enable_interleaving = interleaving;
  o.enable_heartbeat = false;
  sctp::testing::Pair p(o, 3);
  p.keep_messages = false;
  p.recycle_messages = g_message_pool;
  if (!p.Connect()) return {};
  const size_t kMessage = 64 * 1024;
  std::vector<uint8_t> message(kMessage, 0x5A);
  size_t to_send = total_bytes / kMessage;
  size_t sent = 0;
  uint64_t received = 0;
  uint64_t packets_before = p.packets();
  uint64_t allocs_before = peerlink::testing::AllocationCount();
  double cpu_start = bench::ProcessCpuSeconds();
  auto start = std::chrono::steady_clock::now();
  while (received < to_send) {
    while (sent < to_send && p.a().total_buffered_amount() < 2 * 1024 * 1024) {
      std::vector<uint8_t> payload = g_message_pool ? p.a().TakeMessageBuffer(kMessage) : std::vector<uint8_t>();
      payload.assign(message.begin(), message.end());
      if (p.a().Send(p.now(), StreamId(1), kPpidBinary, std::move(payload)) != SendStatus::kOk) break;
      ++sent;
    }
    p.Exchange();
    received = p.b().metrics().messages_received;
    p.Advance(Duration::Micros(50));
    p.a().HandleTimeout(p.now());
    p.b().HandleTimeout(p.now());
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double cpu_secs = bench::ProcessCpuSeconds() - cpu_start;
  uint64_t allocs = peerlink::testing::AllocationCount() - allocs_before;
  InMemoryResult r;
  r.messages = received;
  r.packets = p.packets() - packets_before;
  r.mb_per_s = static_cast<double>(received * kMessage) / secs / 1e6;
  r.cpu_mb_per_s = static_cast<double>(received * kMessage) / cpu_secs / 1e6;
  r.ns_per_packet = cpu_secs * 1e9 / static_cast<double>(r.packets);
  r.allocs_per_packet = static_cast<double>(allocs) / static_cast<double>(r.packets);
  return r;
}

// A peer that holds the sender's window with SACKs that never move the cumulative ack
// (testing::LieAboutAcks), then sends SACKs whose one gap block fills every slot of the chunk:
// the sender's CPU time per such SACK, against the honest one-block SACK that says the same.
struct HostileSackResult {
  size_t held_bytes = 0;
  size_t blocks = 0;
  double us_per_hostile_sack = 0, us_per_one_block_sack = 0;
};

// The liar's SACK: its stuck cumulative ack, a 4 GiB window, and `blocks` copies of the one gap
// block that reaches from the chunk after the stuck one to the highest TSN sent (at most 65535).
std::vector<uint8_t> LiarSack(const sctp::testing::Liar& liar, size_t blocks) {
  const auto reach = static_cast<uint16_t>(std::min<uint32_t>(*liar.highest - *liar.stuck, 65535));
  std::vector<GapAckBlock> gaps(blocks, GapAckBlock{2, reach});
  std::vector<uint8_t> packet(1200);
  PacketBuilder b(packet, 5000, 5000, liar.tag);
  SackChunk::Serialize(b.writer(), Tsn(*liar.stuck), 0xFFFFFFFF, gaps, {});
  packet.resize(b.Finish(false));
  return packet;
}

// A's CPU time per SACK `packet` in microseconds, with whatever it sends in answer (20 times).
double CpuMicrosPerSack(sctp::testing::Pair& p, const std::vector<uint8_t>& packet) {
  constexpr int kReps = 20;
  const double start = bench::ProcessCpuSeconds();
  for (int i = 0; i < kReps; ++i) {
    p.a().HandlePacket(p.now(), packet);
    for (int k = 0; k < 1000; ++k)
      if (std::holds_alternative<Deadline>(p.a().PollOutput(p.now()))) break;
  }
  return (bench::ProcessCpuSeconds() - start) * 1e6 / kReps;
}

HostileSackResult HostileSack() {
  Options o;
  o.enable_heartbeat = false;
  sctp::testing::Pair p(o, 5);
  HostileSackResult r;
  if (!p.Connect()) return r;
  auto liar = sctp::testing::LieAboutAcks(p);
  for (int step = 0; step < 2000 && p.a().metrics().retransmit_buffer + 64 * 1024 < o.max_retransmit_buffer; ++step) {
    for (int i = 0; i < 256; ++i)
      if (p.a().Send(p.now(), StreamId(1), kPpidBinary, std::vector<uint8_t>(64 * 1024, 7)) != SendStatus::kOk) break;
    p.RunFor(Duration::Millis(10));
  }
  if (!liar->stuck || !liar->highest) return r;
  r.held_bytes = p.a().metrics().retransmit_buffer;
  r.blocks = (1200 - kCommonHeaderSize - SackChunk::kHeaderSize) / 4;
  r.us_per_one_block_sack = CpuMicrosPerSack(p, LiarSack(*liar, 1));
  r.us_per_hostile_sack = CpuMicrosPerSack(p, LiarSack(*liar, r.blocks));
  return r;
}

// Partial reliability (RFC 3758) against a window of single-chunk messages sent with
// max_retransmits = 0:
//  - t3_abandon: the sender's CPU time for the one timeout that abandons all of them, none
//    having been acknowledged (every DATA packet is lost);
//  - liar: the sender's CPU time per SACK (and the FORWARD-TSN it answers with) when the peer
//    reports every chunk but the first in a gap block and never moves its cumulative ack past
//    it, although that chunk is abandoned and announced (testing::LieAboutAcks).
struct AbandonResult {
  size_t messages = 0;
  double t3_abandon_ms = 0;
  size_t liar_held_bytes = 0;
  double us_per_liar_sack = 0;
};

AbandonResult Abandon() {
  AbandonResult r;
  Options o;
  o.enable_heartbeat = false;
  o.initial_cwnd_mtus = 30000;  // the whole batch leaves in the first flight
  o.max_send_buffer = o.per_stream_send_buffer = 64 * 1024 * 1024;
  o.max_receive_buffer = 64 * 1024 * 1024;
  SendOptions rtx0;
  rtx0.max_retransmits = 0;
  {
    sctp::testing::Pair p(o, 7);
    if (!p.Connect()) return r;
    p.set_filter([](bool from_a, std::vector<uint8_t>&) { return from_a; });
    constexpr size_t kMessages = 20000;
    for (size_t i = 0; i < kMessages; ++i)
      if (p.a().Send(p.now(), StreamId(1), kPpidBinary, std::vector<uint8_t>(1000, 3), rtx0) != SendStatus::kOk)
        return r;
    p.Drain(p.side_a());
    p.side_a().outbox.clear();
    if (p.a().metrics().bytes_in_flight < kMessages * 1000) return r;
    const Instant t3 = p.side_a().deadline;
    const double start = bench::ProcessCpuSeconds();
    p.a().HandleTimeout(t3);
    r.t3_abandon_ms = (bench::ProcessCpuSeconds() - start) * 1e3;
    if (p.a().metrics().messages_abandoned != kMessages) return r;
    r.messages = kMessages;
  }
  {
    Options lo = o;
    lo.initial_cwnd_mtus = 10;
    sctp::testing::Pair p(lo, 8);
    if (!p.Connect()) return r;
    auto liar = sctp::testing::LieAboutAcks(p);
    for (int step = 0; step < 400 && p.a().metrics().retransmit_buffer < 16 * 1024 * 1024; ++step) {
      for (int i = 0; i < 256; ++i)
        if (p.a().Send(p.now(), StreamId(1), kPpidBinary, std::vector<uint8_t>(1000, 4), rtx0) != SendStatus::kOk)
          break;
      p.RunFor(Duration::Millis(10));
    }
    if (!liar->stuck || !liar->highest || p.a().metrics().messages_abandoned == 0) return r;
    r.liar_held_bytes = p.a().metrics().retransmit_buffer;
    r.us_per_liar_sack = CpuMicrosPerSack(p, LiarSack(*liar, 1));
  }
  return r;
}

// Loss recovery with a large window: 20,000 single-chunk reliable messages leave in one flight
// (initial cwnd 30,000 MTUs) and either all of them are lost once ("timeout": go-back-N from
// one MTU) or every DATA packet, retransmissions too, is lost with probability 1/50 ("random"),
// and in "front_held" also every packet with the first message until 3 s have passed, so the
// cumulative ack stays in front of the window while the losses behind it are repaired.
// The CPU time from the first flight until the peer has every message, in milliseconds, both
// associations included (one process).
enum class LossMode { kTimeout, kRandom, kRandomFrontHeld };
double LossRecoveryMs(LossMode mode) {
  Options o;
  o.enable_heartbeat = false;
  o.initial_cwnd_mtus = 30000;
  o.max_send_buffer = o.per_stream_send_buffer = 64 * 1024 * 1024;
  o.max_receive_buffer = 64 * 1024 * 1024;
  sctp::testing::Pair p(o, 9);
  p.keep_messages = false;
  if (!p.Connect()) return 0;
  const bool lose_first_flight = mode == LossMode::kTimeout;
  bool lose_all = lose_first_flight;
  SeededRng rng(17);
  std::optional<uint32_t> first_tsn;
  const Instant hold_until = p.now() + Duration::Seconds(3);
  p.set_filter([&](bool from_a, std::vector<uint8_t>& packet) {
    if (!from_a) return false;
    if (lose_first_flight) return lose_all;
    if (mode == LossMode::kRandomFrontHeld && p.now() < hold_until) {
      auto v = PacketView::Parse(packet, true, false);
      if (!v) return false;
      auto it = v->chunks();
      ChunkView c;
      while (it.Next(&c)) {
        const bool data =
            c.type == static_cast<uint8_t>(ChunkType::kData) || c.type == static_cast<uint8_t>(ChunkType::kIData);
        if (!data || c.value.size() < 4) continue;
        ByteReader r(c.value);
        const uint32_t tsn = r.U32();
        if (!first_tsn) first_tsn = tsn;
        if (tsn == *first_tsn) return true;
      }
    }
    return rng.Below(50) == 0;
  });
  constexpr size_t kMessages = 20000;
  for (size_t i = 0; i < kMessages; ++i)
    if (p.a().Send(p.now(), StreamId(1), kPpidBinary, std::vector<uint8_t>(1000, 5)) != SendStatus::kOk) return 0;
  const double start = bench::ProcessCpuSeconds();
  p.Exchange();
  lose_all = false;
  p.RunFor(Duration::Seconds(60));
  const double ms = (bench::ProcessCpuSeconds() - start) * 1e3;
  return p.b().metrics().messages_received == kMessages ? ms : 0;
}

#if PEERLINK_BENCH_HAVE_SIM
struct SimResult {
  int rtt_ms = 0;
  double loss = 0;
  double goodput_mbit = 0;
  uint64_t retransmissions = 0, fast_retransmits = 0, t3 = 0;
  size_t final_cwnd = 0;
};

SimResult Sim(int rtt_ms, double loss, Duration measure) {
  sim::Network net(11);
  sim::LinkConditions link;
  link.latency = Duration::Millis(rtt_ms) / 4;
  link.loss = loss / 2;
  link.rate_bytes_per_sec = 100'000'000 / 8 * 2;  // each host link; the pair forms a ~100 Mbit/s path
  link.queue_bytes = 512 * 1024;
  sim::HostId ha = net.AddPublicHost(IpAddress::V4(10, 0, 0, 1), link);
  sim::LinkConditions down = link;
  down.rate_bytes_per_sec = 100'000'000 / 8;  // the bottleneck: 100 Mbit/s into B
  sim::HostId hb = net.AddPublicHost(IpAddress::V4(10, 0, 0, 2), down);
  Options o;
  o.enable_heartbeat = false;
  sim::SctpEndpoint a(net, ha, 5000, o, 1);
  sim::SctpEndpoint b(net, hb, 5000, o, 2);
  a.set_peer(b.local());
  b.set_peer(a.local());
  bool connected = false;
  uint64_t bytes = 0;
  bool counting = false;
  b.on_event = [&](Instant, Event& e) {
    if (auto* m = std::get_if<MessageReceived>(&e))
      if (counting) bytes += m->payload.size();
  };
  a.on_event = [&](Instant, Event& e) { connected |= std::holds_alternative<Connected>(e); };
  a.assoc().Connect(net.now());
  a.Drain(net.now());
  net.RunUntilCondition([&] { return connected; }, net.now() + Duration::Seconds(30));
  std::vector<uint8_t> message(64 * 1024, 1);
  std::function<void(Instant)> refill = [&](Instant now) {
    while (a.assoc().total_buffered_amount() < 4 * 1024 * 1024)
      if (a.assoc().Send(now, StreamId(0), kPpidBinary, message) != SendStatus::kOk) break;
    a.Drain(now);
    net.ScheduleAfter(Duration::Millis(5), refill);
  };
  refill(net.now());
  // Warm-up of 2 s (slow start), then measure.
  net.RunFor(Duration::Seconds(2));
  counting = true;
  net.RunFor(measure);
  SimResult r;
  r.rtt_ms = rtt_ms;
  r.loss = loss;
  r.goodput_mbit = static_cast<double>(bytes) * 8 / measure.seconds_f() / 1e6;
  Metrics m = a.assoc().metrics();
  r.retransmissions = m.retransmissions;
  r.fast_retransmits = m.fast_retransmits;
  r.t3 = m.t3_expiries;
  r.final_cwnd = m.cwnd;
  return r;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv, "[--quick] [--in-memory-only] [--no-message-pool] [--out FILE]");
  const bool quick = args.Flag("--quick");
  [[maybe_unused]] const bool in_memory_only = args.Flag("--in-memory-only");  // the simulator table needs tests/sim
  g_message_pool = !args.Flag("--no-message-pool");
  const std::optional<std::string> out_file = args.Value("--out");
  args.Finish();
  std::ostringstream json;
  size_t total = quick ? 8u << 20 : 512u << 20;
  InMemoryResult zc = InMemory(total, true);
  InMemoryResult crc = InMemory(total / 2, false);
  InMemoryResult data = InMemory(total / 2, true, false);  // plain DATA, as with Chrome's default
  char buf[640];
  json << "{\n  " << bench::RunConditionsJson(g_message_pool) << ",\n  \"in_memory\": [\n";
  auto row = [&](const char* checksum, const char* chunks, const InMemoryResult& r, bool last) {
    std::snprintf(
        buf, sizeof(buf),
        "    {\"checksum\": \"%s\", \"chunks\": \"%s\", \"message_bytes\": 65536, \"mtu\": 1200, \"MB_per_s\": %.1f, "
        "\"cpu_MB_per_s\": %.1f, \"ns_per_packet\": %.1f, \"allocs_per_packet\": %.2f, "
        "\"packets\": %llu}%s\n",
        checksum, chunks, r.mb_per_s, r.cpu_mb_per_s, r.ns_per_packet, r.allocs_per_packet,
        static_cast<unsigned long long>(r.packets), last ? "" : ",");
    json << buf;
  };
  row("zero (RFC 9653)", "I-DATA", zc, false);
  row("crc32c", "I-DATA", crc, false);
  row("zero (RFC 9653)", "DATA", data, true);
  json << "  ]";
  const HostileSackResult hostile = HostileSack();
  std::snprintf(buf, sizeof(buf),
                ",\n  \"hostile_sack\": {\"held_bytes\": %zu, \"gap_blocks\": %zu, \"us_per_hostile_sack\": %.1f, "
                "\"us_per_one_block_sack\": %.1f}",
                hostile.held_bytes, hostile.blocks, hostile.us_per_hostile_sack, hostile.us_per_one_block_sack);
  json << buf;
  const AbandonResult abandon = Abandon();
  std::snprintf(buf, sizeof(buf),
                ",\n  \"partial_reliability\": {\"messages\": %zu, \"t3_abandon_ms\": %.2f, \"liar_held_bytes\": %zu, "
                "\"us_per_liar_sack\": %.1f}",
                abandon.messages, abandon.t3_abandon_ms, abandon.liar_held_bytes, abandon.us_per_liar_sack);
  json << buf;
  const double timeout_recovery = LossRecoveryMs(LossMode::kTimeout);
  const double random_recovery = LossRecoveryMs(LossMode::kRandom);
  std::snprintf(buf, sizeof(buf),
                ",\n  \"loss_recovery_ms\": {\"timeout\": %.1f, \"random\": %.1f, \"random_front_held\": %.1f}",
                timeout_recovery, random_recovery, LossRecoveryMs(LossMode::kRandomFrontHeld));
  json << buf;
#if PEERLINK_BENCH_HAVE_SIM
  if (!in_memory_only) {
    json << ",\n  \"sim_100mbit\": [\n";
    bool first = true;
    for (int rtt : {0, 20, 50, 100, 200}) {
      for (double loss : {0.0, 0.01}) {
        if (quick && rtt > 20) continue;
        SimResult r = Sim(rtt, loss, quick ? Duration::Seconds(1) : Duration::Seconds(10));
        std::snprintf(
            buf, sizeof(buf),
            "%s    {\"rtt_ms\": %d, \"loss\": %.2f, \"goodput_mbit\": %.1f, \"retransmissions\": %llu, "
            "\"fast_retransmits\": %llu, \"t3_expiries\": %llu, \"final_cwnd\": %zu}",
            first ? "" : ",\n", r.rtt_ms, r.loss, r.goodput_mbit, static_cast<unsigned long long>(r.retransmissions),
            static_cast<unsigned long long>(r.fast_retransmits), static_cast<unsigned long long>(r.t3), r.final_cwnd);
        json << buf;
        first = false;
      }
    }
    json << "\n  ]";
  }
#endif
  json << "\n}\n";
  bench::EmitJson(json.str(), out_file);
  return zc.messages > 0 && crc.messages > 0 && data.messages > 0 ? 0 : 1;
}
