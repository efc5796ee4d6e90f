// Test helper: two associations wired back to back in memory, with a packet
// filter (drop / tamper) and virtual time. Header-only; used by the unit
// tests, the fuzzer and the benchmark.
#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/rng.h"
#include "src/sctp/association.h"
#include "src/sctp/data_chunks.h"
#include "src/sctp/packet.h"

namespace peerlink::sctp::testing {

class Pair {
 public:
  struct Side {
    std::unique_ptr<Association> assoc;
    std::vector<Event> events;
    std::vector<std::vector<uint8_t>> outbox;
    Instant deadline = Instant::Max();
    bool connected = false;
    std::optional<Closed> closed;
    std::vector<MessageReceived> messages;
  };

  Pair(const Options& a, const Options& b, uint64_t seed = 1)
      : rng_a_(seed * 2 + 1), rng_b_(seed * 2 + 2), now_(Instant::FromNanos(1'000'000'000)) {
    a_.assoc = std::make_unique<Association>(a, rng_a_, now_);
    b_.assoc = std::make_unique<Association>(b, rng_b_, now_);
  }
  explicit Pair(const Options& o = {}, uint64_t seed = 1) : Pair(o, o, seed) {}

  Association& a() { return *a_.assoc; }
  Association& b() { return *b_.assoc; }
  Side& side_a() { return a_; }
  Side& side_b() { return b_; }
  Instant now() const { return now_; }

  // Return true to drop; may modify the packet in place.
  using Filter = std::function<bool(bool from_a, std::vector<uint8_t>& packet)>;
  void set_filter(Filter f) { filter_ = std::move(f); }
  bool keep_messages = true;
  // With keep_messages off: hand each delivered payload back (Association::RecycleMessageBuffer),
  // as an application that is done with it would.
  bool recycle_messages = false;

  void Drain(Side& s) {
    for (int i = 0; i < 100000; ++i) {
      Output o = s.assoc->PollOutput(now_);
      if (auto* t = std::get_if<Transmit>(&o)) {
        s.outbox.push_back(std::move(t->packet));
      } else if (auto* e = std::get_if<Event>(&o)) {
        if (std::holds_alternative<Connected>(*e)) s.connected = true;
        if (auto* c = std::get_if<Closed>(e)) s.closed = *c;
        if (auto* m = std::get_if<MessageReceived>(e)) {
          if (keep_messages) {
            s.messages.push_back(std::move(*m));
          } else if (recycle_messages) {
            s.assoc->RecycleMessageBuffer(std::move(m->payload));
          }
          bytes_delivered_ += 1;
          continue;
        }
        s.events.push_back(std::move(*e));
      } else {
        s.deadline = std::get<Deadline>(o).at;
        return;
      }
    }
  }

  // Delivers packets back and forth until both are quiet (no time passes).
  void Exchange() {
    for (int round = 0; round < 100000; ++round) {
      Drain(a_);
      Drain(b_);
      if (a_.outbox.empty() && b_.outbox.empty()) return;
      auto from_a = std::move(a_.outbox);
      auto from_b = std::move(b_.outbox);
      a_.outbox.clear();
      b_.outbox.clear();
      for (auto& p : from_a) {
        if (!filter_ || !filter_(true, p)) {
          b().HandlePacket(now_, p);
          packets_++;
        }
        a().RecycleBuffer(std::move(p));
      }
      for (auto& p : from_b) {
        if (!filter_ || !filter_(false, p)) {
          a().HandlePacket(now_, p);
          packets_++;
        }
        b().RecycleBuffer(std::move(p));
      }
    }
  }

  // Runs timers and exchanges until `until` (virtual time).
  void RunUntil(Instant until) {
    Exchange();
    for (int i = 0; i < 1000000; ++i) {
      Instant next = std::min(a_.deadline, b_.deadline);
      if (next > until) break;
      now_ = std::max(now_, next);
      if (a_.deadline <= now_) a().HandleTimeout(now_);
      if (b_.deadline <= now_) b().HandleTimeout(now_);
      Exchange();
    }
    now_ = std::max(now_, until);
  }
  void RunFor(Duration d) { RunUntil(now_ + d); }
  void Advance(Duration d) { now_ += d; }

  bool Connect() {
    a().Connect(now_);
    RunFor(Duration::Seconds(5));
    return a_.connected && b_.connected;
  }

  uint64_t packets() const { return packets_; }

 private:
  SeededRng rng_a_, rng_b_;
  Instant now_;
  Side a_, b_;
  Filter filter_;
  uint64_t packets_ = 0;
  uint64_t bytes_delivered_ = 0;
};

// A receiver that lies to make A hold memory: its SACKs (B's, rewritten) report every chunk
// after the first one A sent in a gap block, never move the cumulative ack past that chunk, and
// announce a 4 GiB window. B itself receives and delivers everything (and keeps no messages).
// Replaces the filter.
struct Liar {
  std::optional<uint32_t> stuck;    // the cumulative TSN ack it never moves past
  std::optional<uint32_t> highest;  // the highest TSN A sent
  VerificationTag tag;              // of B's packets to A
};
inline std::shared_ptr<const Liar> LieAboutAcks(Pair& p) {
  p.keep_messages = false;
  auto liar = std::make_shared<Liar>();
  p.set_filter([liar](bool from_a, std::vector<uint8_t>& pkt) {
    std::optional<uint32_t>& stuck = liar->stuck;
    std::optional<uint32_t>& highest = liar->highest;
    auto v = PacketView::Parse(pkt, true, false);
    if (!v) return false;
    auto it = v->chunks();
    ChunkView c;
    std::optional<uint32_t> cum;
    while (it.Next(&c)) {
      const bool data =
          c.type == static_cast<uint8_t>(ChunkType::kData) || c.type == static_cast<uint8_t>(ChunkType::kIData);
      if (from_a && data && c.value.size() >= 4) {
        ByteReader r(c.value);
        const uint32_t tsn = r.U32();
        if (!highest || static_cast<int32_t>(tsn - *highest) > 0) highest = tsn;
      }
      if (!from_a && c.type == static_cast<uint8_t>(ChunkType::kSack)) {
        if (auto sack = SackChunk::Parse(c)) cum = sack->cumulative_tsn_ack.value();
      }
    }
    if (!cum) return false;
    if (!stuck) stuck = *cum;
    // The farthest a gap block reaches: 65535 TSNs past the cumulative ack.
    const int32_t ahead = highest ? static_cast<int32_t>(*highest - *stuck) : 0;
    std::vector<GapAckBlock> gaps;
    if (ahead >= 2) gaps.push_back({2, static_cast<uint16_t>(std::min(ahead, 65535))});
    std::vector<uint8_t> forged(1200);
    liar->tag = v->header().verification_tag;
    PacketBuilder b(forged, 5000, 5000, liar->tag);
    SackChunk::Serialize(b.writer(), Tsn(*stuck), 0xFFFFFFFF, gaps, {});
    forged.resize(b.Finish(false));
    pkt = std::move(forged);
    return false;
  });
  return liar;
}

}  // namespace peerlink::sctp::testing
