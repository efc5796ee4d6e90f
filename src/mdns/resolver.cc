#include "src/mdns/resolver.h"

#include <algorithm>

namespace peerlink::mdns {

std::string_view ToString(FailureReason r) {
  switch (r) {
    case FailureReason::kTimeout: return "no mDNS answer before the timeout";
    case FailureReason::kInvalidName: return "not a valid .local name";
    case FailureReason::kTooManyPending: return "too many mDNS lookups pending";
  }
  return "unknown";
}

Resolver::Resolver(const ResolverOptions& options) : options_(options) {
  options_.max_attempts = std::clamp(options_.max_attempts, 1, 16);
  if (options_.max_pending == 0) options_.max_pending = 1;
}

void Resolver::Resolve(Instant now, std::string_view text) {
  auto name = DnsName::FromText(text);
  if (!name || !name->IsLocal()) {
    events_.push_back(Failed{std::string(text), FailureReason::kInvalidName});
    return;
  }
  ExpireCache(now);
  for (const CacheEntry& e : cache_) {
    if (e.name.EqualsIgnoreCase(*name)) {
      ++stats_.cache_hits;
      events_.push_back(Resolved{std::string(text), e.addresses});
      return;
    }
  }
  for (const Pending& p : pending_) {
    if (p.name.EqualsIgnoreCase(*name)) return;  // joins the lookup in flight
  }
  if (pending_.size() >= options_.max_pending) {
    events_.push_back(Failed{std::string(text), FailureReason::kTooManyPending});
    return;
  }
  Pending p;
  p.text = std::string(text);
  p.name = *name;
  p.started = now;
  p.next_query = now;
  p.interval = options_.first_retransmit;
  pending_.push_back(std::move(p));
  HandleTimeout(now);
  PL_DCHECK(IsConsistent());
}

void Resolver::Cancel(std::string_view text) {
  auto name = DnsName::FromText(text);
  if (!name) return;
  std::erase_if(pending_, [&](const Pending& p) { return p.name.EqualsIgnoreCase(*name); });
}

void Resolver::HandleDatagram(Instant now, const SocketAddress& from, ByteView bytes) {
  // RFC 6762 section 11: responses whose source port is not 5353 are ignored.
  if (from.port() != kMdnsPort) {
    ++stats_.ignored;
    return;
  }
  auto parsed = Message::Parse(bytes);
  if (!parsed) {
    ++stats_.malformed;
    return;
  }
  const Message& m = *parsed;
  // RFC 6762 section 18.2 (QR), 18.3 (opcode), 18.11 (rcode): silently ignore.
  if (!m.header.is_response() || m.header.opcode() != 0 || m.header.rcode() != 0) {
    ++stats_.ignored;
    return;
  }
  bool used = false;
  // Goodbyes (TTL 0, RFC 6762 section 10.1) drop cached names.
  for (const AddressRecord& rec : m.records) {
    if (rec.ttl != 0 || rec.rrclass != kClassIn) continue;
    const size_t before = cache_.size();
    std::erase_if(cache_, [&](const CacheEntry& e) { return e.name.EqualsIgnoreCase(rec.name); });
    used |= cache_.size() != before;
  }
  for (auto it = pending_.begin(); it != pending_.end();) {
    std::vector<IpAddress> addresses;
    uint32_t ttl = UINT32_MAX;
    for (const AddressRecord& rec : m.records) {
      if (rec.section == Section::kAuthority) continue;  // probe proposals, not answers
      if (rec.rrclass != kClassIn || rec.ttl == 0 || !rec.name.EqualsIgnoreCase(it->name)) continue;
      if (std::find(addresses.begin(), addresses.end(), rec.address) == addresses.end()) {
        addresses.push_back(rec.address);
      }
      ttl = std::min(ttl, rec.ttl);
    }
    if (addresses.empty()) {
      ++it;
      continue;
    }
    used = true;
    ++stats_.resolved;
    Insert(now, it->name, addresses, ttl);
    events_.push_back(Resolved{std::move(it->text), std::move(addresses)});
    it = pending_.erase(it);
  }
  if (!used) ++stats_.ignored;
  PL_DCHECK(IsConsistent());
}

void Resolver::HandleTimeout(Instant now) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now >= it->started + options_.timeout) {
      ++stats_.timeouts;
      events_.push_back(Failed{std::move(it->text), FailureReason::kTimeout});
      it = pending_.erase(it);
      continue;
    }
    if (it->attempts < options_.max_attempts && now >= it->next_query) {
      // RFC 6762 section 5.4: QU on the first query only.
      const Message query = MakeQuery(it->name, true, options_.query_aaaa, it->attempts == 0);
      std::vector<uint8_t> bytes = Serialize(query);
      PL_CHECK(!bytes.empty());  // one name of <= 255 bytes always fits
      if (options_.use_ipv4) transmits_.push_back(Transmit{MdnsGroup(IpFamily::kV4), bytes});
      if (options_.use_ipv6) transmits_.push_back(Transmit{MdnsGroup(IpFamily::kV6), std::move(bytes)});
      ++stats_.queries_sent;
      ++it->attempts;
      it->next_query = now + it->interval;
      it->interval = it->interval * 2;
    }
    ++it;
  }
}

ResolverOutput Resolver::PollOutput(Instant now) {
  if (!transmits_.empty()) {
    Transmit t = std::move(transmits_.front());
    transmits_.pop_front();
    return t;
  }
  if (!events_.empty()) {
    ResolverEvent e = std::move(events_.front());
    events_.pop_front();
    return e;
  }
  HandleTimeout(now);
  if (!transmits_.empty() || !events_.empty()) return PollOutput(now);  // one level: both queues now drain first
  Instant at = Instant::Max();
  for (const Pending& p : pending_) {
    at = std::min(at, p.started + options_.timeout);
    if (p.attempts < options_.max_attempts) at = std::min(at, p.next_query);
  }
  return Deadline{at};
}

bool Resolver::IsConsistent() const {
  if (pending_.size() > options_.max_pending || cache_.size() > options_.max_cache) return false;
  for (const Pending& p : pending_) {
    if (!p.name.IsLocal() || p.attempts > options_.max_attempts) return false;
  }
  for (const CacheEntry& e : cache_) {
    if (e.addresses.empty()) return false;
  }
  return true;
}

void Resolver::ExpireCache(Instant now) {
  std::erase_if(cache_, [&](const CacheEntry& e) { return e.expires <= now; });
}

void Resolver::Insert(Instant now, const DnsName& name, std::vector<IpAddress> addresses, uint32_t ttl) {
  if (options_.max_cache == 0) return;
  ExpireCache(now);
  std::erase_if(cache_, [&](const CacheEntry& e) { return e.name.EqualsIgnoreCase(name); });
  if (cache_.size() >= options_.max_cache) {
    auto first = std::min_element(cache_.begin(), cache_.end(),
                                  [](const CacheEntry& a, const CacheEntry& b) { return a.expires < b.expires; });
    cache_.erase(first);
  }
  const Duration life = std::min(Duration::Seconds(ttl), options_.max_cache_ttl);
  cache_.push_back(CacheEntry{name, std::move(addresses), now + life});
}

}  // namespace peerlink::mdns
