// One-shot Multicast DNS resolver core (RFC 6762 section 5.1), sans-I/O.
//
// Used by ICE for remote host candidates that browsers hide behind
// "<uuid>.local" names (draft-ietf-mmusic-mdns-ice-candidates section 3.2).
//
// Inputs:  Resolve(now, name), HandleDatagram(now, from, bytes), HandleTimeout(now).
// Outputs: PollOutput(now) -> Transmit | ResolverEvent | Deadline.
//
// Behaviour:
// - Resolve() of a valid ".local" name sends a query for A (and AAAA when
//   Options::query_aaaa) to 224.0.0.251:5353 (and/or [ff02::fb]:5353). The
//   first query has the QU bit set; retransmissions are QM (RFC 6762 section
//   5.4: the QU bit only on the first query), so an answer reaches us even when
//   another socket on this host shares port 5353 and steals unicast replies.
// - Schedule (Options defaults): queries at 0 s, 1 s and 3 s (the interval
//   doubles), Failed{kTimeout} at 5 s.
// - An answer is any response (QR=1, opcode 0, rcode 0) from source port 5353
//   (RFC 6762 section 11) with A/AAAA records, in the answer or additional
//   section, of class IN, TTL > 0, whose owner name equals a pending name
//   (case-insensitive). All addresses for that name in the datagram go into
//   one Resolved event. Records for names nobody asked about are ignored.
// - Positive results are cached for their TTL (capped by max_cache_ttl); a
//   Resolve() that hits the cache emits Resolved at once without a query. A
//   goodbye (TTL 0) for a cached name removes it.
// - Resolve() of a name already pending joins that lookup (one event).
// - Bounds: at most max_pending lookups (beyond: Failed{kTooManyPending}),
//   max_cache entries (the one expiring first is evicted), and queued events
//   are bounded by the pending count plus the caller's own Resolve() calls.
#pragma once

#include <deque>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/socket_address.h"
#include "src/base/time.h"
#include "src/mdns/common.h"
#include "src/mdns/message.h"

namespace peerlink::mdns {

struct ResolverOptions {
  bool use_ipv4 = true;   // query 224.0.0.251:5353
  bool use_ipv6 = false;  // query [ff02::fb]:5353
  bool query_aaaa = true;
  Duration first_retransmit = Duration::Seconds(1);
  int max_attempts = 3;
  Duration timeout = Duration::Seconds(5);  // from Resolve() to Failed{kTimeout}
  size_t max_pending = 64;
  size_t max_cache = 256;
  Duration max_cache_ttl = Duration::Seconds(3600);
};

enum class FailureReason : uint8_t { kTimeout, kInvalidName, kTooManyPending };
std::string_view ToString(FailureReason r);

struct Resolved {
  std::string name;                  // as passed to Resolve()
  std::vector<IpAddress> addresses;  // in wire order, no duplicates, never empty
};
struct Failed {
  std::string name;
  FailureReason reason = FailureReason::kTimeout;
};
using ResolverEvent = std::variant<Resolved, Failed>;
using ResolverOutput = std::variant<Transmit, ResolverEvent, Deadline>;

struct ResolverStats {
  uint64_t queries_sent = 0;
  uint64_t resolved = 0;
  uint64_t cache_hits = 0;
  uint64_t timeouts = 0;
  uint64_t malformed = 0;  // datagrams that failed to parse
  uint64_t ignored = 0;    // queries, wrong port/opcode/rcode, no record of interest
};

class Resolver {
 public:
  explicit Resolver(const ResolverOptions& options = {});

  void Resolve(Instant now, std::string_view name);
  // Forgets a pending lookup (no event follows). No-op if not pending.
  void Cancel(std::string_view name);
  void HandleDatagram(Instant now, const SocketAddress& from, ByteView bytes);
  void HandleTimeout(Instant now);
  [[nodiscard]] ResolverOutput PollOutput(Instant now);

  size_t pending_count() const { return pending_.size(); }
  size_t cache_size() const { return cache_.size(); }
  const ResolverStats& stats() const { return stats_; }
  bool IsConsistent() const;

 private:
  struct Pending {
    std::string text;  // as the caller spelled it
    DnsName name;
    Instant started;
    Instant next_query;
    Duration interval;
    int attempts = 0;  // queries sent so far
  };
  struct CacheEntry {
    DnsName name;
    std::vector<IpAddress> addresses;
    Instant expires;
  };

  void ExpireCache(Instant now);
  void Insert(Instant now, const DnsName& name, std::vector<IpAddress> addresses, uint32_t ttl);

  ResolverOptions options_;
  std::vector<Pending> pending_;   // at most max_pending
  std::vector<CacheEntry> cache_;  // at most max_cache
  std::deque<Transmit> transmits_;
  std::deque<ResolverEvent> events_;
  ResolverStats stats_;
};

}  // namespace peerlink::mdns
