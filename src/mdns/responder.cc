#include "src/mdns/responder.h"

#include <algorithm>
#include <array>

namespace peerlink::mdns {

std::string MakeUuidV4(Rng& rng) {
  std::array<uint8_t, 16> b;
  rng.Fill(b);
  b[6] = static_cast<uint8_t>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<uint8_t>((b[8] & 0x3F) | 0x80);  // variant 10xx
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += kHex[b[i] >> 4];
    s += kHex[b[i] & 0xF];
  }
  return s;
}

Responder::Responder(const ResponderOptions& options, Rng& rng) : options_(options), rng_(rng) {
  options_.announcements = std::clamp(options_.announcements, 0, 8);
}

std::optional<std::string> Responder::Publish(Instant now, const IpAddress& address) {
  for (const Entry& e : names_) {
    if (e.address == address) return e.text;
  }
  if (names_.size() >= options_.max_names) return std::nullopt;
  Entry e;
  // A collision with one of our own names is astronomically unlikely but
  // cheap to rule out; the loop is bounded.
  for (int attempt = 0; attempt < 4; ++attempt) {
    e.text = MakeUuidV4(rng_) + ".local";
    if (!Lookup(e.text)) break;
  }
  e.name = *DnsName::FromText(e.text);
  e.address = address;
  e.announcements_left = options_.announcements;
  if (e.announcements_left > 0) e.next_announce = now;
  names_.push_back(e);
  HandleTimeout(now);
  PL_DCHECK(IsConsistent());
  return names_.back().text;
}

bool Responder::Unpublish(Instant now, std::string_view text) {
  (void)now;
  auto name = DnsName::FromText(text);
  if (!name) return false;
  auto it = std::find_if(names_.begin(), names_.end(), [&](const Entry& e) { return e.name.EqualsIgnoreCase(*name); });
  if (it == names_.end()) return false;
  Message goodbye = MakeResponse();
  (void)AddAnswer(goodbye, it->name, it->address, 0, true);
  Multicast(goodbye);
  names_.erase(it);
  return true;
}

std::optional<IpAddress> Responder::Lookup(std::string_view text) const {
  auto name = DnsName::FromText(text);
  if (!name) return std::nullopt;
  for (const Entry& e : names_) {
    if (e.name.EqualsIgnoreCase(*name)) return e.address;
  }
  return std::nullopt;
}

void Responder::HandleDatagram(Instant now, const SocketAddress& from, ByteView bytes) {
  auto parsed = Message::Parse(bytes);
  if (!parsed) {
    ++stats_.malformed;
    return;
  }
  const Message& q = *parsed;
  // RFC 6762 section 18.2/18.3: only standard queries are answered.
  if (q.header.is_response() || q.header.opcode() != 0) {
    ++stats_.ignored;
    return;
  }
  const bool legacy = from.port() != kMdnsPort;
  Message unicast = MakeResponse();
  bool answered = false;
  for (const Question& question : q.questions) {
    if (question.qclass != kClassIn && question.qclass != kClassAny) continue;
    for (Entry& e : names_) {
      if (!e.name.EqualsIgnoreCase(question.name)) continue;
      const uint16_t type = e.address.is_v4() ? rr::kA : rr::kAaaa;
      if (question.type != type && question.type != rr::kAny) continue;
      // Known-answer suppression (RFC 6762 section 7.1).
      bool known = false;
      for (const AddressRecord& rec : q.records) {
        if (rec.section == Section::kAnswer && rec.address == e.address && rec.name.EqualsIgnoreCase(e.name) &&
            rec.ttl >= kHostRecordTtl / 2) {
          known = true;
        }
      }
      if (known) continue;
      answered = true;
      if (legacy) {
        // RFC 6762 section 6.7: echo the question, short TTL, no cache-flush.
        if (unicast.questions.empty()) (void)unicast.questions.push_back(question);
        (void)AddAnswer(unicast, e.name, e.address, kLegacyUnicastTtl, false);
      } else if (!e.answer_due) {
        // Section 6: not within one second of the last multicast of this record.
        Instant due = now;
        if (e.last_multicast && *e.last_multicast + Duration::Seconds(1) > now) {
          due = *e.last_multicast + Duration::Seconds(1);
        }
        e.answer_due = due;
      }
    }
  }
  if (!answered) {
    ++stats_.ignored;
    return;
  }
  ++stats_.queries_answered;
  if (legacy) {
    unicast.header.id = q.header.id;
    std::vector<uint8_t> bytes = Serialize(unicast);
    if (!bytes.empty()) {
      transmits_.push_back(Transmit{from, std::move(bytes)});
      ++stats_.responses_sent;
    }
  }
  HandleTimeout(now);
}

void Responder::HandleTimeout(Instant now) {
  Message m = MakeResponse();
  std::vector<Entry*> in_message;
  for (Entry& e : names_) {
    bool send = false;
    if (e.answer_due && *e.answer_due <= now) {
      e.answer_due.reset();
      send = true;
    }
    if (e.next_announce && *e.next_announce <= now) {
      send = true;
      if (--e.announcements_left > 0) {
        e.next_announce = now + e.announce_interval;
        e.announce_interval = e.announce_interval * 2;
      } else {
        e.next_announce.reset();
      }
    }
    if (!send) continue;
    if (!AddAnswer(m, e.name, e.address, kHostRecordTtl, true)) {
      Multicast(m);
      m = MakeResponse();
      (void)AddAnswer(m, e.name, e.address, kHostRecordTtl, true);
    }
    e.last_multicast = now;
  }
  if (!m.records.empty()) Multicast(m);
}

void Responder::Multicast(const Message& m) {
  std::vector<uint8_t> bytes = Serialize(m);
  if (bytes.empty()) return;
  if (options_.use_ipv4) transmits_.push_back(Transmit{MdnsGroup(IpFamily::kV4), bytes});
  if (options_.use_ipv6) transmits_.push_back(Transmit{MdnsGroup(IpFamily::kV6), std::move(bytes)});
  ++stats_.responses_sent;
}

ResponderOutput Responder::PollOutput(Instant now) {
  if (transmits_.empty()) HandleTimeout(now);
  if (!transmits_.empty()) {
    Transmit t = std::move(transmits_.front());
    transmits_.pop_front();
    return t;
  }
  Instant at = Instant::Max();
  for (const Entry& e : names_) {
    if (e.answer_due) at = std::min(at, *e.answer_due);
    if (e.next_announce) at = std::min(at, *e.next_announce);
  }
  return Deadline{at};
}

bool Responder::IsConsistent() const {
  if (names_.size() > options_.max_names) return false;
  for (size_t i = 0; i < names_.size(); ++i) {
    if (!names_[i].name.IsLocal() || names_[i].announcements_left < 0) return false;
    for (size_t j = i + 1; j < names_.size(); ++j) {
      if (names_[i].name.EqualsIgnoreCase(names_[j].name) || names_[i].address == names_[j].address) return false;
    }
  }
  return true;
}

}  // namespace peerlink::mdns
