// peerlink::sim::Network: a deterministic, virtual-time UDP network for simulation tests.
//
// Topology: an "internet" core that routes by destination IP to public hosts and to NAT boxes; private hosts sit
// behind one NAT each. Every host has one link (access link for public hosts, LAN link for private hosts); every
// NAT has one WAN link. A datagram crosses each link on its path, so its one-way delay is the sum of those links:
//
//   public A --access--> [internet] --access--> public B
//   private A --lan--> [NAT] --wan--> [internet] --wan--> [NAT] --lan--> private B
//   private A --lan--> [NAT] --lan--> private B            (same NAT, addressed to B's private IP)
//
// Determinism: all randomness comes from one SeededRng; events run in (time, sequence number) order. The same seed
// and the same calls give the same run. There are no sockets, threads or clocks; time advances only in Run*().
//
// Threading: single-threaded. Callbacks (receivers, timers) run inside Run*() and may call back into the Network
// (Send, Bind, Unbind, ScheduleAt, Cancel). Misuse (binding a bound port, sending from an unbound address, an
// unknown id, duplicate IPs) is a bug in the test and aborts via PL_CHECK.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/rng.h"
#include "src/base/socket_address.h"
#include "src/base/strong_id.h"
#include "src/base/time.h"
#include "tests/sim/link_conditions.h"
#include "tests/sim/nat_table.h"

namespace peerlink::sim {

using HostId = StrongId<struct HostIdTag, uint32_t>;
using NatId = StrongId<struct NatIdTag, uint32_t>;
using LinkId = StrongId<struct LinkIdTag, uint32_t>;
using TimerId = StrongId<struct TimerIdTag, uint64_t>;

// kUp is from the host (or NAT) toward the internet; kDown is toward the host (or NAT).
enum class LinkDirection : uint8_t { kUp, kDown, kBoth };

// Called when a datagram reaches a bound address. `from` is the source as the receiver sees it (after NAT
// rewriting), `to` the bound address. `payload` is valid only during the call.
using Receiver = std::function<void(Instant now, const SocketAddress& from, const SocketAddress& to, ByteView payload)>;
// Returns true to drop the datagram. Addresses are those on the wire where the filter sits.
using DropFilter = std::function<bool(const SocketAddress& from, const SocketAddress& to, ByteView payload)>;

struct Stats {
  uint64_t sent = 0;        // Send() calls
  uint64_t delivered = 0;   // receiver invocations (duplicates included)
  uint64_t duplicated = 0;  // extra copies made by link duplication
  uint64_t reordered = 0;   // datagrams held back by a link's reorder knob
  std::array<uint64_t, kDropReasonCount> dropped{};

  uint64_t drops(DropReason reason) const { return dropped[static_cast<size_t>(reason)]; }
  uint64_t total_dropped() const;
  std::string ToString() const;
};

// One step in a datagram's life, reported to the tracer. Addresses are as seen at that point.
struct TraceRecord {
  enum class Kind : uint8_t { kSend, kDeliver, kDrop };
  Kind kind = Kind::kSend;
  Instant at;
  SocketAddress from;
  SocketAddress to;
  size_t size = 0;                        // payload bytes
  DropReason reason = DropReason::kLoss;  // meaningful for kDrop only
  std::string ToString() const;
};

class Network {
 public:
  // Ephemeral ports handed out by Bind(host, 0), in order, skipping bound ones.
  static constexpr uint16_t kFirstEphemeralPort = 49152;
  // Datagrams scheduled but not yet arrived, network-wide; beyond it new ones are dropped as kQueue.
  static constexpr size_t kMaxDatagramsInFlight = 1 << 20;
  // Events one Run*() call may process before it declares a livelock (e.g. a timer re-arming itself at `now`).
  static constexpr uint64_t kDefaultEventBudget = 50'000'000;

  explicit Network(uint64_t seed);
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // --- Topology. IPs must be unique across all hosts and NATs (private ones included).
  HostId AddPublicHost(IpAddress ip, const LinkConditions& access_link = {});
  NatId AddNat(IpAddress public_ip, const NatConfig& config, const LinkConditions& wan_link = {});
  HostId AddPrivateHost(NatId nat, IpAddress private_ip, const LinkConditions& lan_link = {});

  IpAddress host_ip(HostId host) const;
  IpAddress nat_ip(NatId nat) const;
  LinkId HostLink(HostId host) const;  // the host's access or LAN link
  LinkId NatLink(NatId nat) const;     // the NAT's WAN link
  void SetLinkConditions(LinkId link, const LinkConditions& conditions, LinkDirection dir = LinkDirection::kBoth);
  const LinkConditions& link_conditions(LinkId link, LinkDirection dir) const;  // kUp or kDown
  // Drops matching datagrams entering `link` in either direction (counted as kFilter). An empty function clears it.
  void SetLinkDropFilter(LinkId link, DropFilter filter);
  // Drops matching datagrams at Send(), before any link (counted as kFilter). An empty function clears it.
  void SetDropFilter(DropFilter filter);
  // The NAT's translation state, for inspection (e.g. MappingCount).
  NatTable& nat_table(NatId nat);

  // --- Endpoints (a host's UDP sockets).
  // Binds `port` on `host` (0 = next free ephemeral port) and returns the bound address.
  SocketAddress Bind(HostId host, uint16_t port, Receiver on_receive);
  // Returns false if nothing was bound there. Datagrams already in flight to it are then dropped as kNoListener.
  bool Unbind(const SocketAddress& local);
  // Sends `payload` (copied; at most 65535 bytes) from the bound address `from` at now().
  void Send(const SocketAddress& from, const SocketAddress& to, ByteView payload);

  // --- Virtual time.
  Instant now() const { return now_; }
  // Runs `fn(now)` at `at` (or at now() if `at` is in the past). Same-time events run in scheduling order.
  TimerId ScheduleAt(Instant at, std::function<void(Instant now)> fn);
  TimerId ScheduleAfter(Duration delay, std::function<void(Instant now)> fn) {
    return ScheduleAt(now_ + delay, std::move(fn));
  }
  // Returns false if the timer already fired or was cancelled.
  bool Cancel(TimerId timer);

  // Processes every event up to and including `t`, then sets now() = t (never moves time backwards).
  void RunUntil(Instant t);
  void RunFor(Duration d) { RunUntil(now_ + d); }
  // Processes events until none remain (returns true; now() is the last event's time) or the next one is after
  // `limit` (returns false; now() = limit). A driver with an armed timer is never idle.
  bool RunUntilIdle(Instant limit);
  // Processes events until `pred()` holds (returns true; now() is the time of the event that made it hold) or
  // until `limit` / idleness (returns false; now() = limit). `pred` is checked before the first and after each event.
  template <class Pred>
  bool RunUntilCondition(Pred pred, Instant limit) {
    BeginRun();
    for (;;) {
      if (pred()) return true;
      if (!StepUpTo(limit)) break;
    }
    if (limit > now_) now_ = limit;
    return false;
  }
  void set_event_budget(uint64_t events) { event_budget_ = events; }

  // --- Observation.
  const Stats& stats() const { return stats_; }
  void ResetStats() { stats_ = Stats(); }
  // Every send, delivery and drop, in order. An empty function clears it.
  void SetTracer(std::function<void(const TraceRecord&)> tracer) { tracer_ = std::move(tracer); }
  size_t pending_events() const;  // scheduled datagrams and live timers
  Rng& rng() { return rng_; }     // the simulation's generator, for tests that need more seeded randomness

 private:
  struct Host;
  struct Nat;
  struct Link;
  struct Packet;
  struct Event;
  enum class Hop : uint8_t;

  void BeginRun() { events_this_run_ = 0; }
  bool StepUpTo(Instant limit);
  void Dispatch(Event& ev);
  void Push(Event ev);
  void CompactIfNeeded();
  // Sends `p` into one direction of `link`; on arrival it continues at (`next`, `node`).
  void Transmit(uint32_t link, LinkDirection dir, Packet p, Hop next, uint32_t node);
  void RouteFromInternet(Packet p);
  void ArriveAtNatFromLan(uint32_t nat, Packet p);
  void DeliverInbound(uint32_t nat, Packet p);
  void ArriveAtHost(Packet p);
  void Drop(const Packet& p, DropReason reason);
  void Trace(TraceRecord::Kind kind, const Packet& p, DropReason reason = DropReason::kLoss);
  uint32_t HostIndex(HostId host) const;
  uint32_t NatIndex(NatId nat) const;
  uint32_t AddLink(const LinkConditions& conditions);
  void ClaimIp(const IpAddress& ip);

  SeededRng rng_;
  Instant now_;
  uint64_t next_seq_ = 0;
  uint64_t next_timer_ = 0;
  uint64_t event_budget_ = kDefaultEventBudget;
  uint64_t events_this_run_ = 0;

  std::vector<Host> hosts_;
  std::vector<Nat> nats_;
  std::vector<Link> links_;
  std::map<IpAddress, uint32_t> public_hosts_;  // internet routing: public host IP -> host index
  std::map<IpAddress, uint32_t> nat_by_ip_;     // internet routing: NAT public IP -> NAT index
  std::map<IpAddress, uint32_t> host_by_ip_;    // every host, public and private
  std::map<SocketAddress, std::shared_ptr<Receiver>> endpoints_;
  DropFilter global_filter_;

  std::vector<Event> events_;  // a min-heap on (at, seq)
  size_t datagrams_in_flight_ = 0;
  size_t cancelled_in_queue_ = 0;
  std::unordered_map<uint64_t, std::function<void(Instant)>> timers_;

  Stats stats_;
  std::function<void(const TraceRecord&)> tracer_;
};

}  // namespace peerlink::sim
