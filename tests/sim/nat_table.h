// The translation state of one simulated NAT, per RFC 4787 (NAT Behavioral Requirements for Unicast UDP).
// Pure and sans-I/O: Network feeds it the datagrams crossing the NAT and applies the rewritten addresses.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <tuple>
#include <variant>

#include "src/base/rng.h"
#include "src/base/socket_address.h"
#include "src/base/time.h"
#include "tests/sim/link_conditions.h"

namespace peerlink::sim {

// RFC 4787 section 4.1: when is the same external port reused for an internal endpoint X?
enum class NatMapping : uint8_t {
  kEndpointIndependent,     // same mapping for every destination
  kAddressDependent,        // one mapping per destination IP
  kAddressAndPortDependent  // one mapping per destination IP:port
};
// RFC 4787 section 5: which external sources may send to a mapping?
enum class NatFiltering : uint8_t {
  kEndpointIndependent,     // anyone
  kAddressDependent,        // IPs the internal endpoint has sent to through this mapping
  kAddressAndPortDependent  // IP:ports the internal endpoint has sent to through this mapping
};
std::string_view ToString(NatMapping m);
std::string_view ToString(NatFiltering f);

struct NatConfig {
  NatMapping mapping = NatMapping::kEndpointIndependent;
  NatFiltering filtering = NatFiltering::kEndpointIndependent;
  // false: "port preservation" (RFC 4787 section 4.2.1): keep the internal port when it is >= 1024 and free.
  // true, or when preservation is impossible: a random free port in [1024, 65535].
  bool random_ports = false;
  // A mapping, and each filtering permission, expires this long after the last outbound datagram that used it
  // (RFC 4787 REQ-5 asks >= 2 min; REQ-6: outbound refresh). Inbound traffic does not refresh.
  Duration mapping_timeout = Duration::Seconds(120);
  // RFC 4787 section 6 / REQ-9: an internal host may reach another internal host through the NAT's external
  // address; the receiver sees the sender's external (mapped) address. Filtering applies to hairpinned datagrams.
  bool hairpin = false;
};

// Convenience presets. The "symmetric" NAT of RFC 3489 is APD mapping + APD filtering.
NatConfig FullConeNat();            // EIM + EIF
NatConfig RestrictedConeNat();      // EIM + ADF
NatConfig PortRestrictedConeNat();  // EIM + APDF
NatConfig SymmetricNat();           // APDM + APDF, random ports

class NatTable {
 public:
  NatTable(IpAddress external_ip, const NatConfig& config) : external_ip_(external_ip), config_(config) {}

  const IpAddress& external_ip() const { return external_ip_; }
  const NatConfig& config() const { return config_; }

  // An internal endpoint sends to `remote` at `now`: finds or creates the mapping, refreshes it and records the
  // filtering permission. Returns the external source address, or nullopt if all ports are in use.
  std::optional<SocketAddress> Outbound(Instant now,
                                        const SocketAddress& internal,
                                        const SocketAddress& remote,
                                        Rng& rng);

  // `remote` sends to external port `external_port` at `now`: the internal destination, or why it is dropped
  // (kNatNoMapping or kNatFiltered).
  std::variant<SocketAddress, DropReason> Inbound(Instant now, const SocketAddress& remote, uint16_t external_port);

  // Live mappings at `now` (expired ones are swept first). For tests and debugging.
  size_t MappingCount(Instant now);

 private:
  // RFC 4787 section 4.1 mapping key: the parts of the destination that the mapping behaviour depends on.
  struct Key {
    SocketAddress internal;
    IpAddress remote_ip;   // unspecified for EIM
    uint16_t remote_port;  // 0 unless APDM
    auto operator<=>(const Key&) const = default;
  };
  struct Mapping {
    Key key;
    Instant expires;
    // Filtering permissions with their expiry (same timeout as the mapping, refreshed by outbound traffic).
    std::map<IpAddress, Instant> permitted_ips;
    std::map<SocketAddress, Instant> permitted_endpoints;
  };

  Key MakeKey(const SocketAddress& internal, const SocketAddress& remote) const;
  std::optional<uint16_t> AllocatePort(uint16_t preferred, Rng& rng) const;
  void SweepExpired(Instant now);

  IpAddress external_ip_;
  NatConfig config_;
  std::map<uint16_t, Mapping> by_port_;  // external port -> mapping; bounded by the port space
  std::map<Key, uint16_t> by_key_;
  Instant next_sweep_;
};

}  // namespace peerlink::sim
