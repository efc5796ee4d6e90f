#include "tests/sim/network.h"

#include <algorithm>
#include <sstream>
#include <utility>
#include <variant>

#include "src/base/check.h"
#include "tests/sim/pipe.h"

namespace peerlink::sim {

enum class Network::Hop : uint8_t {
  kTimer,       // fire timers_[timer]
  kInternet,    // arrived at the internet core: route by destination IP
  kNatFromLan,  // arrived at NAT `node` from one of its private hosts
  kNatFromWan,  // arrived at NAT `node` from the internet
  kHost,        // arrived at the destination host
};

struct Network::Link {
  Pipe up;
  Pipe down;
  DropFilter filter;
};

struct Network::Host {
  IpAddress ip;
  uint32_t link = 0;
  bool behind_nat = false;
  uint32_t nat = 0;
  uint16_t next_ephemeral = kFirstEphemeralPort;
};

struct Network::Nat {
  NatTable table;
  uint32_t link = 0;
  std::map<IpAddress, uint32_t> hosts;  // private IP -> host index
};

struct Network::Packet {
  SocketAddress from;
  SocketAddress to;
  std::vector<uint8_t> payload;
};

struct Network::Event {
  Instant at;
  uint64_t seq = 0;
  Hop hop = Hop::kTimer;
  uint32_t node = 0;   // NAT index for kNatFrom*
  uint64_t timer = 0;  // for kTimer
  Packet packet;
};

namespace {

// std::*_heap build a max-heap; "greater" puts the earliest (at, seq) on top.
struct Later {
  template <class E>
  bool operator()(const E& a, const E& b) const {
    if (a.at != b.at) return a.at > b.at;
    return a.seq > b.seq;
  }
};

}  // namespace

uint64_t Stats::total_dropped() const {
  uint64_t n = 0;
  for (uint64_t d : dropped)
    n += d;
  return n;
}

std::string Stats::ToString() const {
  std::ostringstream os;
  os << "sent=" << sent << " delivered=" << delivered << " duplicated=" << duplicated << " reordered=" << reordered;
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    if (dropped[i] != 0) os << " drop[" << sim::ToString(static_cast<DropReason>(i)) << "]=" << dropped[i];
  }
  return os.str();
}

std::string TraceRecord::ToString() const {
  std::ostringstream os;
  os << at.nanos() << "ns ";
  switch (kind) {
    case Kind::kSend: os << "send "; break;
    case Kind::kDeliver: os << "deliver "; break;
    case Kind::kDrop: os << "drop(" << sim::ToString(reason) << ") "; break;
  }
  os << from.ToString() << " -> " << to.ToString() << " " << size << "B";
  return os.str();
}

Network::Network(uint64_t seed) : rng_(seed) {}
Network::~Network() = default;

// --- Topology -------------------------------------------------------------------------------------------------

void Network::ClaimIp(const IpAddress& ip) {
  PL_CHECK(!host_by_ip_.contains(ip) && !nat_by_ip_.contains(ip));  // IPs are unique network-wide
}

uint32_t Network::AddLink(const LinkConditions& conditions) {
  links_.push_back(Link{Pipe(conditions), Pipe(conditions), nullptr});
  return static_cast<uint32_t>(links_.size() - 1);
}

HostId Network::AddPublicHost(IpAddress ip, const LinkConditions& access_link) {
  ClaimIp(ip);
  Host h;
  h.ip = ip;
  h.link = AddLink(access_link);
  hosts_.push_back(h);
  const auto index = static_cast<uint32_t>(hosts_.size() - 1);
  host_by_ip_[ip] = index;
  public_hosts_[ip] = index;
  return HostId(index);
}

NatId Network::AddNat(IpAddress public_ip, const NatConfig& config, const LinkConditions& wan_link) {
  ClaimIp(public_ip);
  nats_.push_back(Nat{NatTable(public_ip, config), AddLink(wan_link), {}});
  const auto index = static_cast<uint32_t>(nats_.size() - 1);
  nat_by_ip_[public_ip] = index;
  return NatId(index);
}

HostId Network::AddPrivateHost(NatId nat, IpAddress private_ip, const LinkConditions& lan_link) {
  const uint32_t nat_index = NatIndex(nat);
  ClaimIp(private_ip);
  Host h;
  h.ip = private_ip;
  h.link = AddLink(lan_link);
  h.behind_nat = true;
  h.nat = nat_index;
  hosts_.push_back(h);
  const auto index = static_cast<uint32_t>(hosts_.size() - 1);
  host_by_ip_[private_ip] = index;
  nats_[nat_index].hosts[private_ip] = index;
  return HostId(index);
}

uint32_t Network::HostIndex(HostId host) const {
  PL_CHECK(host.value() < hosts_.size());
  return host.value();
}

uint32_t Network::NatIndex(NatId nat) const {
  PL_CHECK(nat.value() < nats_.size());
  return nat.value();
}

IpAddress Network::host_ip(HostId host) const {
  return hosts_[HostIndex(host)].ip;
}
IpAddress Network::nat_ip(NatId nat) const {
  return nats_[NatIndex(nat)].table.external_ip();
}
LinkId Network::HostLink(HostId host) const {
  return LinkId(hosts_[HostIndex(host)].link);
}
LinkId Network::NatLink(NatId nat) const {
  return LinkId(nats_[NatIndex(nat)].link);
}
NatTable& Network::nat_table(NatId nat) {
  return nats_[NatIndex(nat)].table;
}

void Network::SetLinkConditions(LinkId link, const LinkConditions& conditions, LinkDirection dir) {
  PL_CHECK(link.value() < links_.size());
  Link& l = links_[link.value()];
  if (dir != LinkDirection::kDown) l.up.set_conditions(conditions);
  if (dir != LinkDirection::kUp) l.down.set_conditions(conditions);
}

const LinkConditions& Network::link_conditions(LinkId link, LinkDirection dir) const {
  PL_CHECK(link.value() < links_.size() && dir != LinkDirection::kBoth);
  const Link& l = links_[link.value()];
  return dir == LinkDirection::kUp ? l.up.conditions() : l.down.conditions();
}

void Network::SetLinkDropFilter(LinkId link, DropFilter filter) {
  PL_CHECK(link.value() < links_.size());
  links_[link.value()].filter = std::move(filter);
}

void Network::SetDropFilter(DropFilter filter) {
  global_filter_ = std::move(filter);
}

// --- Endpoints ------------------------------------------------------------------------------------------------

SocketAddress Network::Bind(HostId host, uint16_t port, Receiver on_receive) {
  Host& h = hosts_[HostIndex(host)];
  PL_CHECK(on_receive != nullptr);
  if (port == 0) {
    // Bounded: at most one pass over the ephemeral range.
    constexpr uint32_t kRange = 65536 - kFirstEphemeralPort;
    for (uint32_t i = 0; i < kRange && port == 0; ++i) {
      const uint16_t candidate = h.next_ephemeral;
      h.next_ephemeral = candidate == 65535 ? kFirstEphemeralPort : static_cast<uint16_t>(candidate + 1);
      if (!endpoints_.contains(SocketAddress(h.ip, candidate))) port = candidate;
    }
    PL_CHECK(port != 0);  // ephemeral ports exhausted
  }
  SocketAddress local(h.ip, port);
  PL_CHECK(!endpoints_.contains(local));  // already bound
  endpoints_.emplace(local, std::make_shared<Receiver>(std::move(on_receive)));
  return local;
}

bool Network::Unbind(const SocketAddress& local) {
  return endpoints_.erase(local) > 0;
}

void Network::Send(const SocketAddress& from, const SocketAddress& to, ByteView payload) {
  PL_CHECK(endpoints_.contains(from));  // send from a bound address
  PL_CHECK(payload.size() <= 65535);
  Packet p{from, to, std::vector<uint8_t>(payload.begin(), payload.end())};
  ++stats_.sent;
  Trace(TraceRecord::Kind::kSend, p);
  if (global_filter_ && global_filter_(p.from, p.to, p.payload)) return Drop(p, DropReason::kFilter);
  const Host& h = hosts_[host_by_ip_.at(from.ip())];
  if (h.behind_nat) {
    Transmit(h.link, LinkDirection::kUp, std::move(p), Hop::kNatFromLan, h.nat);
  } else {
    Transmit(h.link, LinkDirection::kUp, std::move(p), Hop::kInternet, 0);
  }
}

// --- Datagram path --------------------------------------------------------------------------------------------

void Network::Transmit(uint32_t link, LinkDirection dir, Packet p, Hop next, uint32_t node) {
  Link& l = links_[link];
  Pipe& pipe = dir == LinkDirection::kUp ? l.up : l.down;
  const size_t ip_size = IpDatagramSize(p.to.ip().is_v6(), p.payload.size());
  if (!pipe.FitsMtu(ip_size)) return Drop(p, DropReason::kMtu);
  if (l.filter && l.filter(p.from, p.to, p.payload)) return Drop(p, DropReason::kFilter);
  const Pipe::Verdict v = pipe.Admit(now_, ip_size, rng_);
  if (v.drop) return Drop(p, *v.drop);
  if (v.reordered) ++stats_.reordered;
  for (int i = 0; i < v.copies; ++i) {
    if (datagrams_in_flight_ >= kMaxDatagramsInFlight) return Drop(p, DropReason::kQueue);
    Event ev;
    ev.at = v.arrival[i];
    ev.hop = next;
    ev.node = node;
    if (i + 1 < v.copies) {
      ++stats_.duplicated;
      ev.packet = p;
    } else {
      ev.packet = std::move(p);
    }
    ++datagrams_in_flight_;
    Push(std::move(ev));
  }
}

void Network::RouteFromInternet(Packet p) {
  if (auto it = public_hosts_.find(p.to.ip()); it != public_hosts_.end()) {
    return Transmit(hosts_[it->second].link, LinkDirection::kDown, std::move(p), Hop::kHost, 0);
  }
  if (auto it = nat_by_ip_.find(p.to.ip()); it != nat_by_ip_.end()) {
    return Transmit(nats_[it->second].link, LinkDirection::kDown, std::move(p), Hop::kNatFromWan, it->second);
  }
  Drop(p, DropReason::kNoRoute);
}

void Network::ArriveAtNatFromLan(uint32_t nat_index, Packet p) {
  Nat& nat = nats_[nat_index];
  if (auto it = nat.hosts.find(p.to.ip()); it != nat.hosts.end()) {
    // Same LAN: delivered directly, no translation.
    return Transmit(hosts_[it->second].link, LinkDirection::kDown, std::move(p), Hop::kHost, 0);
  }
  const bool hairpin = p.to.ip() == nat.table.external_ip();
  if (hairpin && !nat.table.config().hairpin) return Drop(p, DropReason::kNatFiltered);
  std::optional<SocketAddress> mapped = nat.table.Outbound(now_, p.from, p.to, rng_);
  if (!mapped) return Drop(p, DropReason::kNatNoMapping);
  p.from = *mapped;
  if (hairpin) return DeliverInbound(nat_index, std::move(p));  // RFC 4787 REQ-9: external source presented
  Transmit(nat.link, LinkDirection::kUp, std::move(p), Hop::kInternet, 0);
}

void Network::DeliverInbound(uint32_t nat_index, Packet p) {
  Nat& nat = nats_[nat_index];
  auto result = nat.table.Inbound(now_, p.from, p.to.port());
  if (const auto* reason = std::get_if<DropReason>(&result)) return Drop(p, *reason);
  p.to = std::get<SocketAddress>(result);
  const uint32_t host = nat.hosts.at(p.to.ip());
  Transmit(hosts_[host].link, LinkDirection::kDown, std::move(p), Hop::kHost, 0);
}

void Network::ArriveAtHost(Packet p) {
  auto it = endpoints_.find(p.to);
  if (it == endpoints_.end()) return Drop(p, DropReason::kNoListener);
  ++stats_.delivered;
  Trace(TraceRecord::Kind::kDeliver, p);
  // Keeps the receiver alive even if it unbinds itself during the call.
  std::shared_ptr<Receiver> receiver = it->second;
  (*receiver)(now_, p.from, p.to, p.payload);
}

void Network::Drop(const Packet& p, DropReason reason) {
  ++stats_.dropped[static_cast<size_t>(reason)];
  Trace(TraceRecord::Kind::kDrop, p, reason);
}

void Network::Trace(TraceRecord::Kind kind, const Packet& p, DropReason reason) {
  if (!tracer_) return;
  TraceRecord r;
  r.kind = kind;
  r.at = now_;
  r.from = p.from;
  r.to = p.to;
  r.size = p.payload.size();
  r.reason = reason;
  tracer_(r);
}

// --- Events and time ------------------------------------------------------------------------------------------

void Network::Push(Event ev) {
  ev.seq = next_seq_++;
  events_.push_back(std::move(ev));
  std::push_heap(events_.begin(), events_.end(), Later());
}

size_t Network::pending_events() const {
  return events_.size() - cancelled_in_queue_;
}

TimerId Network::ScheduleAt(Instant at, std::function<void(Instant now)> fn) {
  PL_CHECK(fn != nullptr);
  const uint64_t id = ++next_timer_;
  timers_.emplace(id, std::move(fn));
  Event ev;
  ev.at = std::max(at, now_);
  ev.hop = Hop::kTimer;
  ev.timer = id;
  Push(std::move(ev));
  return TimerId(id);
}

bool Network::Cancel(TimerId timer) {
  if (timers_.erase(timer.value()) == 0) return false;
  ++cancelled_in_queue_;
  CompactIfNeeded();
  return true;
}

void Network::CompactIfNeeded() {
  // A driver re-arming a far deadline per datagram would otherwise pile up dead heap entries. Amortised O(1).
  if (cancelled_in_queue_ < 1024 || cancelled_in_queue_ * 2 < events_.size()) return;
  std::erase_if(events_, [this](const Event& ev) { return ev.hop == Hop::kTimer && !timers_.contains(ev.timer); });
  std::make_heap(events_.begin(), events_.end(), Later());
  cancelled_in_queue_ = 0;
}

bool Network::StepUpTo(Instant limit) {
  for (;;) {
    if (events_.empty() || events_.front().at > limit) return false;
    std::pop_heap(events_.begin(), events_.end(), Later());
    Event ev = std::move(events_.back());
    events_.pop_back();
    if (ev.hop == Hop::kTimer && !timers_.contains(ev.timer)) {
      --cancelled_in_queue_;  // a cancelled timer: skip without counting against the budget
      continue;
    }
    // A livelock (something re-arming at `now` forever) is a bug in the test or the code under test.
    PL_CHECK(++events_this_run_ <= event_budget_);
    now_ = ev.at;
    Dispatch(ev);
    return true;
  }
}

void Network::Dispatch(Event& ev) {
  if (ev.hop == Hop::kTimer) {
    auto it = timers_.find(ev.timer);
    std::function<void(Instant)> fn = std::move(it->second);
    timers_.erase(it);
    fn(now_);
    return;
  }
  --datagrams_in_flight_;
  switch (ev.hop) {
    case Hop::kInternet: return RouteFromInternet(std::move(ev.packet));
    case Hop::kNatFromLan: return ArriveAtNatFromLan(ev.node, std::move(ev.packet));
    case Hop::kNatFromWan: return DeliverInbound(ev.node, std::move(ev.packet));
    case Hop::kHost: return ArriveAtHost(std::move(ev.packet));
    case Hop::kTimer: break;
  }
}

void Network::RunUntil(Instant t) {
  BeginRun();
  while (StepUpTo(t)) {
  }
  if (t > now_) now_ = t;
}

bool Network::RunUntilIdle(Instant limit) {
  BeginRun();
  while (StepUpTo(limit)) {
  }
  if (pending_events() == 0) return true;
  if (limit > now_) now_ = limit;
  return false;
}

}  // namespace peerlink::sim
