// Multicast DNS responder core for ICE host-candidate names, sans-I/O.
//
// draft-ietf-mmusic-mdns-ice-candidates section 3.1: an ICE agent may replace
// a host candidate's IP address with a random "<UUID v4>.local" name that it
// answers for over mDNS. This core owns such names and nothing else.
//
// Inputs:  Publish(now, address), Unpublish(now, name),
//          HandleDatagram(now, from, bytes), HandleTimeout(now).
// Outputs: PollOutput(now) -> Transmit | Deadline.
//
// Behaviour:
// - Publish() draws a fresh name from the injected Rng (RFC 4122 version 4
//   UUID, lowercase) and binds it to the address (A for IPv4, AAAA for IPv6).
//   Publishing an address that already has a name returns that name. No
//   probing (RFC 6762 section 8.1): 122 random bits make a clash negligible,
//   which is the draft's reasoning too.
// - Announces the record Options::announcements times (RFC 6762 section 8.3:
//   at least twice, one second apart, the interval doubling).
// - Answers questions (class IN or ANY; type A, AAAA or ANY) for its names.
//   The record is unique, so the answer is sent at once (section 6), with the
//   cache-flush bit and TTL 120 s (section 10), except that a record is not
//   multicast again within one second of its last multicast (section 6): the
//   answer is then delayed to that second. Known-answer suppression (section
//   7.1): a query listing our record with at least half our TTL gets no answer.
// - Answers to port-5353 queriers are always multicast to the group of the
//   query's family, even for QU questions (section 5.4 allows it and it keeps
//   working when several sockets share port 5353 on the querier's host).
//   Legacy unicast queries (source port != 5353, section 6.7) get a unicast
//   reply echoing the query ID and question, TTL 10 s, no cache-flush bit.
// - Unpublish() sends a goodbye (TTL 0, section 10.1) at once.
// - Ignores responses (no conflict detection), and everything else.
// - Bounds: at most Options::max_names names; Publish beyond returns nullopt.
#pragma once

#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/rng.h"
#include "src/base/socket_address.h"
#include "src/base/time.h"
#include "src/mdns/common.h"
#include "src/mdns/message.h"

namespace peerlink::mdns {

inline constexpr uint32_t kHostRecordTtl = 120;    // seconds, RFC 6762 section 10
inline constexpr uint32_t kLegacyUnicastTtl = 10;  // seconds, RFC 6762 section 6.7

struct ResponderOptions {
  bool use_ipv4 = true;   // announce / goodbye on 224.0.0.251:5353
  bool use_ipv6 = false;  // and on [ff02::fb]:5353
  int announcements = 2;  // 0..8
  size_t max_names = 64;
};

using ResponderOutput = std::variant<Transmit, Deadline>;

struct ResponderStats {
  uint64_t queries_answered = 0;
  uint64_t responses_sent = 0;
  uint64_t malformed = 0;
  uint64_t ignored = 0;
};

// RFC 4122 version 4 UUID text (8-4-4-4-12 lowercase hex) from 16 random bytes.
std::string MakeUuidV4(Rng& rng);

class Responder {
 public:
  Responder(const ResponderOptions& options, Rng& rng);

  // Returns the "<uuid>.local" name now bound to `address`, or nullopt when
  // max_names are published.
  [[nodiscard]] std::optional<std::string> Publish(Instant now, const IpAddress& address);
  // Returns false if `name` is not published here.
  bool Unpublish(Instant now, std::string_view name);
  void HandleDatagram(Instant now, const SocketAddress& from, ByteView bytes);
  void HandleTimeout(Instant now);
  [[nodiscard]] ResponderOutput PollOutput(Instant now);

  size_t published_count() const { return names_.size(); }
  std::optional<IpAddress> Lookup(std::string_view name) const;
  const ResponderStats& stats() const { return stats_; }
  bool IsConsistent() const;

 private:
  struct Entry {
    std::string text;
    DnsName name;
    IpAddress address;
    int announcements_left = 0;
    Duration announce_interval = Duration::Seconds(1);
    std::optional<Instant> next_announce;
    std::optional<Instant> answer_due;  // a multicast answer is owed at this time
    std::optional<Instant> last_multicast;
  };
  void Multicast(const Message& m);

  ResponderOptions options_;
  Rng& rng_;
  std::vector<Entry> names_;
  std::deque<Transmit> transmits_;
  ResponderStats stats_;
};

}  // namespace peerlink::mdns
