#include "src/mdns/message.h"

#include <cstdio>

namespace peerlink::mdns {
namespace {

constexpr uint8_t ToLowerAscii(uint8_t c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c + 32) : c;
}

ParseError Error(ParseErrorCode code, const char* what) {
  return ParseError{code, what};
}

// Reads one name at the reader's position, following compression pointers
// (RFC 1035 section 4.1.4) inside `msg`. Loop-safe: a pointer must point
// strictly before itself, at most kMaxPointerHops are followed, and the
// expanded name is capped at 255 bytes, so the walk ends after at most
// 128 + 127 steps. The reader advances past the name's in-place bytes only.
Status<ParseError> ReadName(ByteView msg, ByteReader& r, std::array<uint8_t, kMaxNameWireLength>& buf, size_t* len) {
  const size_t start = r.position();
  size_t pos = start;
  size_t end = 0;  // first byte after the in-place part of the name
  bool jumped = false;
  int hops = 0;
  size_t out = 0;
  for (;;) {
    if (pos >= msg.size()) return MakeUnexpected(Error(ParseErrorCode::kTruncated, "name"));
    const uint8_t b = msg[pos];
    if ((b & 0xC0) == 0xC0) {
      if (pos + 1 >= msg.size()) return MakeUnexpected(Error(ParseErrorCode::kTruncated, "name pointer"));
      const size_t target = (size_t{b & 0x3Fu} << 8) | msg[pos + 1];
      if (!jumped) {
        end = pos + 2;
        jumped = true;
      }
      if (++hops > kMaxPointerHops) return MakeUnexpected(Error(ParseErrorCode::kTooLarge, "name: too many pointers"));
      // RFC 1035 section 4.1.4: a pointer refers to a prior occurrence.
      if (target >= pos) return MakeUnexpected(Error(ParseErrorCode::kBadValue, "name pointer not backwards"));
      pos = target;
      continue;
    }
    if ((b & 0xC0) != 0) return MakeUnexpected(Error(ParseErrorCode::kUnsupported, "name: extended label type"));
    if (b == 0) {
      if (out + 1 > kMaxNameWireLength) return MakeUnexpected(Error(ParseErrorCode::kTooLarge, "name over 255 bytes"));
      buf[out++] = 0;
      if (!jumped) end = pos + 1;
      break;
    }
    if (pos + 1 + b > msg.size()) return MakeUnexpected(Error(ParseErrorCode::kTruncated, "name label"));
    // Room for this label and at least the root label after it.
    if (out + 1 + b + 1 > kMaxNameWireLength) {
      return MakeUnexpected(Error(ParseErrorCode::kTooLarge, "name over 255 bytes"));
    }
    for (size_t i = 0; i <= b; ++i)
      buf[out++] = msg[pos + i];
    pos += 1 + b;
  }
  r.Skip(end - start);
  if (!r.ok()) return MakeUnexpected(Error(ParseErrorCode::kTruncated, "name"));
  *len = out;
  return {};
}

class NameWriter {
 public:
  void Write(ByteWriter& w, const DnsName& name) {
    for (size_t i = 0; i < count_; ++i) {
      if (written_[i]->EqualsIgnoreCase(name)) {
        w.U16(static_cast<uint16_t>(0xC000 | offsets_[i]));
        return;
      }
    }
    if (count_ < written_.size() && w.size() < 0x3FFF) {
      written_[count_] = &name;
      offsets_[count_] = static_cast<uint16_t>(w.size());
      ++count_;
    }
    w.Bytes(name.wire());
  }

 private:
  std::array<const DnsName*, 48> written_{};
  std::array<uint16_t, 48> offsets_{};
  size_t count_ = 0;
};

void WriteRecord(ByteWriter& w, NameWriter& names, const AddressRecord& rec) {
  names.Write(w, rec.name);
  w.U16(rec.type());
  w.U16(static_cast<uint16_t>((rec.rrclass & 0x7FFF) | (rec.cache_flush ? kTopBit : 0)));
  w.U32(rec.ttl);
  w.U16(static_cast<uint16_t>(rec.address.byte_len()));
  w.Bytes(ByteView(rec.address.bytes().data(), rec.address.byte_len()));
}

std::string TypeName(uint16_t t) {
  switch (t) {
    case rr::kA: return "A";
    case rr::kAaaa: return "AAAA";
    case rr::kPtr: return "PTR";
    case rr::kTxt: return "TXT";
    case rr::kSrv: return "SRV";
    case rr::kNsec: return "NSEC";
    case rr::kAny: return "ANY";
  }
  return "TYPE" + std::to_string(t);
}

}  // namespace

std::optional<DnsName> DnsName::FromText(std::string_view text) {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  if (text.empty()) return std::nullopt;
  DnsName n;
  size_t out = 0;
  while (true) {
    const size_t dot = text.find('.');
    const std::string_view label = text.substr(0, dot);
    if (label.empty() || label.size() > kMaxLabelLength) return std::nullopt;
    if (out + 1 + label.size() + 1 > kMaxNameWireLength) return std::nullopt;
    n.wire_[out++] = static_cast<uint8_t>(label.size());
    for (char c : label)
      n.wire_[out++] = static_cast<uint8_t>(c);
    if (dot == std::string_view::npos) break;
    text.remove_prefix(dot + 1);
  }
  n.wire_[out++] = 0;
  n.len_ = out;
  return n;
}

Result<DnsName, ParseError> DnsName::FromWire(ByteView wire) {
  ByteReader r(wire);
  DnsName n;
  size_t len = 0;
  if (auto s = ReadName(wire, r, n.wire_, &len); !s) return MakeUnexpected(s.error());
  n.len_ = len;
  return n;
}

std::string DnsName::ToString() const {
  std::string s;
  size_t pos = 0;
  while (pos < len_ && wire_[pos] != 0) {
    const size_t l = wire_[pos];
    if (!s.empty()) s += '.';
    s.append(reinterpret_cast<const char*>(&wire_[pos + 1]), l);
    pos += 1 + l;
  }
  return s;
}

bool DnsName::IsLocal() const {
  // Find the last label.
  size_t pos = 0;
  size_t last = len_;
  while (pos < len_ && wire_[pos] != 0) {
    last = pos;
    pos += 1 + wire_[pos];
  }
  if (last == len_ || wire_[last] != 5) return false;
  static constexpr char kLocal[] = "local";
  for (size_t i = 0; i < 5; ++i) {
    if (ToLowerAscii(wire_[last + 1 + i]) != static_cast<uint8_t>(kLocal[i])) return false;
  }
  return true;
}

bool DnsName::EqualsIgnoreCase(const DnsName& other) const {
  if (len_ != other.len_) return false;
  // Length bytes are < 64 and compare equal under ToLowerAscii only if equal.
  for (size_t i = 0; i < len_; ++i) {
    if (ToLowerAscii(wire_[i]) != ToLowerAscii(other.wire_[i])) return false;
  }
  return true;
}

Result<Message, ParseError> Message::Parse(ByteView bytes) {
  if (bytes.size() > kMaxMessageSize)
    return MakeUnexpected(Error(ParseErrorCode::kTooLarge, "message over 9000 bytes"));
  ByteReader r(bytes);
  Message m;
  m.header.id = r.U16();
  m.header.flags = r.U16();
  const uint16_t qdcount = r.U16();
  m.answer_count = r.U16();
  m.authority_count = r.U16();
  m.additional_count = r.U16();
  if (!r.ok()) return MakeUnexpected(Error(ParseErrorCode::kTruncated, "header"));

  std::array<uint8_t, kMaxNameWireLength> buf;
  for (uint16_t i = 0; i < qdcount; ++i) {
    size_t len = 0;
    if (auto s = ReadName(bytes, r, buf, &len); !s) return MakeUnexpected(s.error());
    const uint16_t type = r.U16();
    const uint16_t qclass = r.U16();
    if (!r.ok()) return MakeUnexpected(Error(ParseErrorCode::kTruncated, "question"));
    Question q;
    auto name = DnsName::FromWire(ByteView(buf.data(), len));
    if (!name) return MakeUnexpected(name.error());
    q.name = *name;
    q.type = type;
    q.qclass = qclass & 0x7FFF;
    q.unicast_response = (qclass & kTopBit) != 0;
    if (!m.questions.push_back(q)) return MakeUnexpected(Error(ParseErrorCode::kTooLarge, "too many questions"));
  }

  const uint32_t total = uint32_t{m.answer_count} + m.authority_count + m.additional_count;
  for (uint32_t i = 0; i < total; ++i) {
    const Section section = i < m.answer_count                                 ? Section::kAnswer
                            : i < uint32_t{m.answer_count} + m.authority_count ? Section::kAuthority
                                                                               : Section::kAdditional;
    size_t len = 0;
    if (auto s = ReadName(bytes, r, buf, &len); !s) return MakeUnexpected(s.error());
    const uint16_t type = r.U16();
    const uint16_t rrclass = r.U16();
    const uint32_t ttl = r.U32();
    const uint16_t rdlength = r.U16();
    const ByteView rdata = r.Bytes(rdlength);
    if (!r.ok()) return MakeUnexpected(Error(ParseErrorCode::kTruncated, "resource record"));
    if (type != rr::kA && type != rr::kAaaa) {
      ++m.skipped_records;
      continue;
    }
    AddressRecord rec;
    auto name = DnsName::FromWire(ByteView(buf.data(), len));
    if (!name) return MakeUnexpected(name.error());
    rec.name = *name;
    rec.section = section;
    rec.rrclass = rrclass & 0x7FFF;
    rec.cache_flush = (rrclass & kTopBit) != 0;
    rec.ttl = ttl;
    if (type == rr::kA) {
      // RFC 1035 section 3.4.1: A RDATA is one 32-bit address.
      if (rdata.size() != 4) return MakeUnexpected(Error(ParseErrorCode::kBadLength, "A rdata not 4 bytes"));
      rec.address = IpAddress::V4(rdata[0], rdata[1], rdata[2], rdata[3]);
    } else {
      // RFC 3596 section 2.2: AAAA RDATA is one 128-bit address.
      if (rdata.size() != 16) return MakeUnexpected(Error(ParseErrorCode::kBadLength, "AAAA rdata not 16 bytes"));
      std::array<uint8_t, 16> a;
      for (size_t k = 0; k < 16; ++k)
        a[k] = rdata[k];
      rec.address = IpAddress::V6(a);
    }
    if (!m.records.push_back(rec)) return MakeUnexpected(Error(ParseErrorCode::kTooLarge, "too many address records"));
  }
  return m;
}

bool Message::SerializeTo(ByteWriter& w) const {
  uint16_t counts[3] = {0, 0, 0};
  for (const AddressRecord& rec : records)
    ++counts[static_cast<int>(rec.section)];
  w.U16(header.id);
  w.U16(header.flags);
  w.U16(static_cast<uint16_t>(questions.size()));
  w.U16(counts[0]);
  w.U16(counts[1]);
  w.U16(counts[2]);
  NameWriter names;
  for (const Question& q : questions) {
    names.Write(w, q.name);
    w.U16(q.type);
    w.U16(static_cast<uint16_t>((q.qclass & 0x7FFF) | (q.unicast_response ? kTopBit : 0)));
  }
  for (Section s : {Section::kAnswer, Section::kAuthority, Section::kAdditional}) {
    for (const AddressRecord& rec : records) {
      if (rec.section == s) WriteRecord(w, names, rec);
    }
  }
  return w.ok();
}

std::string Message::ToString() const {
  std::string s = header.is_response() ? "response" : "query";
  char buf[64];
  std::snprintf(buf, sizeof(buf), " id=%u flags=0x%04x", header.id, header.flags);
  s += buf;
  for (const Question& q : questions) {
    s += " q{" + q.name.ToString() + " " + TypeName(q.type) + (q.unicast_response ? " QU" : " QM") + "}";
  }
  for (const AddressRecord& rec : records) {
    s += " rr{" + rec.name.ToString() + " " + TypeName(rec.type()) + " " + rec.address.ToString() +
         " ttl=" + std::to_string(rec.ttl) + (rec.cache_flush ? " cf" : "") + "}";
  }
  if (skipped_records) s += " skipped=" + std::to_string(skipped_records);
  return s;
}

Message MakeQuery(const DnsName& name, bool want_a, bool want_aaaa, bool unicast_response) {
  Message m;
  for (uint16_t type : {rr::kA, rr::kAaaa}) {
    if ((type == rr::kA && !want_a) || (type == rr::kAaaa && !want_aaaa)) continue;
    Question q;
    q.name = name;
    q.type = type;
    q.qclass = kClassIn;
    q.unicast_response = unicast_response;
    (void)m.questions.push_back(q);
  }
  return m;
}

Message MakeResponse() {
  Message m;
  // RFC 6762 section 18: ID 0, QR=1, AA=1 in multicast responses.
  m.header.flags = Header::kQr | Header::kAa;
  return m;
}

bool AddAnswer(Message& m, const DnsName& name, const IpAddress& address, uint32_t ttl, bool cache_flush) {
  AddressRecord rec;
  rec.name = name;
  rec.section = Section::kAnswer;
  rec.rrclass = kClassIn;
  rec.cache_flush = cache_flush;
  rec.ttl = ttl;
  rec.address = address;
  return m.records.push_back(rec);
}

std::vector<uint8_t> Serialize(const Message& m) {
  std::vector<uint8_t> out(kMaxMessageSize);
  ByteWriter w(out);
  if (!m.SerializeTo(w)) return {};
  out.resize(w.size());
  return out;
}

}  // namespace peerlink::mdns
