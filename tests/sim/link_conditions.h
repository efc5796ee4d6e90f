// Impairments of one simulated link, and the drop reasons the simulator counts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/base/time.h"

namespace peerlink::sim {

// Conditions applied independently in each direction of a link. The default is a perfect link: no delay, no loss,
// no rate limit, Ethernet MTU.
//
// Per datagram, in this order:
//   1. MTU: the datagram's IP size (payload + 8 UDP + 20 IPv4 / 40 IPv6 header bytes) above `mtu` is dropped.
//   2. the link's drop filter (Network::SetLinkDropFilter).
//   3. rate limit: with `rate_bytes_per_sec` > 0 the link serialises IP bytes at that rate behind a FIFO queue
//      holding at most `queue_bytes` not-yet-sent bytes; a datagram that does not fit is tail-dropped.
//   4. loss, a Gilbert-Elliott two-state chain stepped once per datagram: in the good state a datagram is lost with
//      probability `loss`, in the bad state with `burst_loss_in_bad`. `burst_p_good_to_bad` = 0 (the default) never
//      leaves the good state, which is plain uniform loss.
//   5. duplication: with probability `duplicate` a second copy is delivered (with its own delay draw).
//   6. delay: `latency` + uniform [0, `jitter`]. Jitter does not reorder: a datagram never overtakes an earlier one
//      on the same link direction. With probability `reorder` a datagram instead gets `reorder_delay` extra and
//      skips that FIFO clamp, so later datagrams overtake it.
struct LinkConditions {
  Duration latency;  // one-way propagation delay
  Duration jitter;   // extra delay, uniform in [0, jitter]
  double loss = 0;   // loss probability (in the good state of the burst model)
  // Gilbert-Elliott burst loss: per-datagram transition probabilities and the loss probability in the bad state.
  // Mean burst length is 1 / burst_p_bad_to_good; long-run fraction of time in the bad state is
  // p_good_to_bad / (p_good_to_bad + p_bad_to_good).
  double burst_p_good_to_bad = 0;
  double burst_p_bad_to_good = 1;
  double burst_loss_in_bad = 1;
  double duplicate = 0;             // probability that a datagram is delivered twice
  double reorder = 0;               // probability that a datagram is held back by reorder_delay
  Duration reorder_delay;           // should exceed the spacing of the traffic to actually reorder it
  uint64_t rate_bytes_per_sec = 0;  // 0 = unlimited (no queue)
  size_t queue_bytes = 256 * 1024;  // bottleneck queue capacity, IP bytes (only with a rate limit)
  size_t mtu = 1500;                // largest IP datagram carried, bytes
};

// Why the simulator dropped a datagram. Each has a counter in Stats.
enum class DropReason : uint8_t {
  kLoss,          // random loss (uniform or Gilbert-Elliott)
  kMtu,           // IP size above the link MTU
  kQueue,         // rate-limit queue full (tail drop), or the global in-flight cap reached
  kNatNoMapping,  // inbound to a NAT port with no live mapping (never created, or timed out; or ports exhausted)
  kNatFiltered,   // a mapping exists but the NAT's filtering rejected the source; or hairpin disabled
  kNoListener,    // reached the host but nothing is bound to the destination port
  kFilter,        // a drop filter (global or per link) matched
  kNoRoute,       // destination IP belongs to no public host or NAT reachable from the sender
};
inline constexpr size_t kDropReasonCount = 8;
std::string_view ToString(DropReason reason);

// Bytes an IP/UDP datagram with `payload_size` payload bytes occupies on a link (what MTU and rate count).
constexpr size_t IpDatagramSize(bool ipv6, size_t payload_size) {
  return payload_size + 8 + (ipv6 ? 40 : 20);
}

}  // namespace peerlink::sim
