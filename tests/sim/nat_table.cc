#include "tests/sim/nat_table.h"

#include <utility>

#include "src/base/check.h"

namespace peerlink::sim {

namespace {
constexpr uint16_t kFirstDynamicPort = 1024;  // RFC 4787 REQ-3: never hand out well-known ports
constexpr uint32_t kPortCount = 65536 - kFirstDynamicPort;
constexpr int kRandomPortAttempts = 64;
}  // namespace

std::string_view ToString(NatMapping m) {
  switch (m) {
    case NatMapping::kEndpointIndependent: return "EIM";
    case NatMapping::kAddressDependent: return "ADM";
    case NatMapping::kAddressAndPortDependent: return "APDM";
  }
  return "?";
}

std::string_view ToString(NatFiltering f) {
  switch (f) {
    case NatFiltering::kEndpointIndependent: return "EIF";
    case NatFiltering::kAddressDependent: return "ADF";
    case NatFiltering::kAddressAndPortDependent: return "APDF";
  }
  return "?";
}

namespace {
NatConfig Preset(NatMapping mapping, NatFiltering filtering, bool random_ports) {
  NatConfig c;
  c.mapping = mapping;
  c.filtering = filtering;
  c.random_ports = random_ports;
  return c;
}
}  // namespace

NatConfig FullConeNat() {
  return Preset(NatMapping::kEndpointIndependent, NatFiltering::kEndpointIndependent, false);
}
NatConfig RestrictedConeNat() {
  return Preset(NatMapping::kEndpointIndependent, NatFiltering::kAddressDependent, false);
}
NatConfig PortRestrictedConeNat() {
  return Preset(NatMapping::kEndpointIndependent, NatFiltering::kAddressAndPortDependent, false);
}
NatConfig SymmetricNat() {
  return Preset(NatMapping::kAddressAndPortDependent, NatFiltering::kAddressAndPortDependent, true);
}

NatTable::Key NatTable::MakeKey(const SocketAddress& internal, const SocketAddress& remote) const {
  switch (config_.mapping) {
    case NatMapping::kEndpointIndependent: return {internal, IpAddress(), 0};
    case NatMapping::kAddressDependent: return {internal, remote.ip(), 0};
    case NatMapping::kAddressAndPortDependent: return {internal, remote.ip(), remote.port()};
  }
  return {internal, remote.ip(), remote.port()};
}

std::optional<uint16_t> NatTable::AllocatePort(uint16_t preferred, Rng& rng) const {
  if (!config_.random_ports && preferred >= kFirstDynamicPort && !by_port_.contains(preferred)) return preferred;
  for (int i = 0; i < kRandomPortAttempts; ++i) {
    const auto port = static_cast<uint16_t>(kFirstDynamicPort + rng.Below(kPortCount));
    if (!by_port_.contains(port)) return port;
  }
  // A nearly full table: fall back to a bounded scan.
  for (uint32_t p = kFirstDynamicPort; p <= 65535; ++p) {
    if (!by_port_.contains(static_cast<uint16_t>(p))) return static_cast<uint16_t>(p);
  }
  return std::nullopt;
}

void NatTable::SweepExpired(Instant now) {
  // Amortised: at most one full pass per timeout period, so memory stays bounded by what one period can create.
  if (now < next_sweep_) return;
  next_sweep_ = now + config_.mapping_timeout;
  for (auto it = by_port_.begin(); it != by_port_.end();) {
    Mapping& m = it->second;
    if (m.expires <= now) {
      by_key_.erase(m.key);
      it = by_port_.erase(it);
      continue;
    }
    std::erase_if(m.permitted_ips, [now](const auto& p) { return p.second <= now; });
    std::erase_if(m.permitted_endpoints, [now](const auto& p) { return p.second <= now; });
    ++it;
  }
}

std::optional<SocketAddress> NatTable::Outbound(Instant now,
                                                const SocketAddress& internal,
                                                const SocketAddress& remote,
                                                Rng& rng) {
  SweepExpired(now);
  const Key key = MakeKey(internal, remote);
  auto key_it = by_key_.find(key);
  if (key_it != by_key_.end() && by_port_.at(key_it->second).expires <= now) {
    // Timed out but not yet swept: a fresh mapping, which may get a different port.
    by_port_.erase(key_it->second);
    by_key_.erase(key_it);
    key_it = by_key_.end();
  }
  uint16_t port;
  if (key_it != by_key_.end()) {
    port = key_it->second;
  } else {
    std::optional<uint16_t> allocated = AllocatePort(internal.port(), rng);
    if (!allocated) return std::nullopt;
    port = *allocated;
    by_key_.emplace(key, port);
    Mapping fresh;
    fresh.key = key;
    by_port_.emplace(port, std::move(fresh));
  }
  Mapping& m = by_port_.at(port);
  const Instant expires = now + config_.mapping_timeout;
  m.expires = expires;
  m.permitted_ips[remote.ip()] = expires;
  m.permitted_endpoints[remote] = expires;
  return SocketAddress(external_ip_, port);
}

std::variant<SocketAddress, DropReason> NatTable::Inbound(Instant now,
                                                          const SocketAddress& remote,
                                                          uint16_t external_port) {
  auto it = by_port_.find(external_port);
  if (it == by_port_.end() || it->second.expires <= now) return DropReason::kNatNoMapping;
  const Mapping& m = it->second;
  auto live = [now](const auto& perms, const auto& k) {
    auto p = perms.find(k);
    return p != perms.end() && p->second > now;
  };
  bool pass = false;
  switch (config_.filtering) {
    case NatFiltering::kEndpointIndependent: pass = true; break;
    case NatFiltering::kAddressDependent: pass = live(m.permitted_ips, remote.ip()); break;
    case NatFiltering::kAddressAndPortDependent: pass = live(m.permitted_endpoints, remote); break;
  }
  if (!pass) return DropReason::kNatFiltered;
  return m.key.internal;
}

size_t NatTable::MappingCount(Instant now) {
  next_sweep_ = now;  // force a sweep
  SweepExpired(now);
  return by_port_.size();
}

}  // namespace peerlink::sim
