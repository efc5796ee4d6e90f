#include "src/datachannel/dcep.h"

#include <cstdio>

namespace peerlink::datachannel {

std::string_view ToString(ChannelType t) {
  switch (t) {
    case ChannelType::kReliable: return "DATA_CHANNEL_RELIABLE";
    case ChannelType::kPartialReliableRexmit: return "DATA_CHANNEL_PARTIAL_RELIABLE_REXMIT";
    case ChannelType::kPartialReliableTimed: return "DATA_CHANNEL_PARTIAL_RELIABLE_TIMED";
    case ChannelType::kReliableUnordered: return "DATA_CHANNEL_RELIABLE_UNORDERED";
    case ChannelType::kPartialReliableRexmitUnordered: return "DATA_CHANNEL_PARTIAL_RELIABLE_REXMIT_UNORDERED";
    case ChannelType::kPartialReliableTimedUnordered: return "DATA_CHANNEL_PARTIAL_RELIABLE_TIMED_UNORDERED";
  }
  return "unknown";
}

bool IsKnownChannelType(uint8_t raw) {
  switch (raw) {
    case 0x00:
    case 0x01:
    case 0x02:
    case 0x80:
    case 0x81:
    case 0x82: return true;
    default: return false;
  }
}

ChannelType MakeChannelType(bool ordered, bool rexmit, bool timed) {
  uint8_t v = ordered ? 0x00 : 0x80;
  if (rexmit)
    v |= 0x01;
  else if (timed)
    v |= 0x02;
  return static_cast<ChannelType>(v);
}

Result<DataChannelOpen, ParseError> DataChannelOpen::Parse(ByteView data, const DcepLimits& limits) {
  ByteReader r(data);
  const uint8_t type = r.U8();
  const uint8_t channel_type = r.U8();
  const uint16_t priority = r.U16();
  const uint32_t reliability = r.U32();
  const uint16_t label_length = r.U16();
  const uint16_t protocol_length = r.U16();
  if (!r.ok()) return MakeUnexpected(ParseError{ParseErrorCode::kTruncated, "DATA_CHANNEL_OPEN header"});
  if (type != static_cast<uint8_t>(DcepMessageType::kOpen))
    return MakeUnexpected(ParseError{ParseErrorCode::kBadValue, "DATA_CHANNEL_OPEN message type"});
  // RFC 8832 section 8.2.2: only the registered channel types.
  if (!IsKnownChannelType(channel_type))
    return MakeUnexpected(ParseError{ParseErrorCode::kBadValue, "DATA_CHANNEL_OPEN channel type"});
  if (label_length > limits.max_label_length)
    return MakeUnexpected(ParseError{ParseErrorCode::kTooLarge, "DATA_CHANNEL_OPEN label length"});
  if (protocol_length > limits.max_protocol_length)
    return MakeUnexpected(ParseError{ParseErrorCode::kTooLarge, "DATA_CHANNEL_OPEN protocol length"});
  const ByteView label = r.Bytes(label_length);
  const ByteView protocol = r.Bytes(protocol_length);
  if (!r.ok()) return MakeUnexpected(ParseError{ParseErrorCode::kTruncated, "DATA_CHANNEL_OPEN label/protocol"});
  if (!r.empty()) return MakeUnexpected(ParseError{ParseErrorCode::kTrailingBytes, "DATA_CHANNEL_OPEN"});
  DataChannelOpen m;
  m.channel_type = static_cast<ChannelType>(channel_type);
  m.priority = priority;
  m.reliability_parameter = reliability;
  m.label = AsString(label);
  m.protocol = AsString(protocol);
  return m;
}

void DataChannelOpen::SerializeTo(ByteWriter& w) const {
  if (label.size() > 0xffff || protocol.size() > 0xffff) {
    // Poison the writer: a length that does not fit its 16-bit field.
    w.Zeros(w.remaining() + 1);
    return;
  }
  w.U8(static_cast<uint8_t>(DcepMessageType::kOpen));
  w.U8(static_cast<uint8_t>(channel_type));
  w.U16(priority);
  w.U32(reliability_parameter);
  w.U16(static_cast<uint16_t>(label.size()));
  w.U16(static_cast<uint16_t>(protocol.size()));
  w.Bytes(AsBytes(label));
  w.Bytes(AsBytes(protocol));
}

std::vector<uint8_t> DataChannelOpen::Serialize() const {
  std::vector<uint8_t> out(SerializedSize());
  ByteWriter w(out);
  SerializeTo(w);
  if (!w.ok()) return {};
  return out;
}

std::string DataChannelOpen::ToString() const {
  char head[160];
  std::snprintf(head, sizeof(head), "DATA_CHANNEL_OPEN{type=%s priority=%u reliability=%u label_len=%zu proto_len=%zu ",
                std::string(datachannel::ToString(channel_type)).c_str(), unsigned{priority},
                unsigned{reliability_parameter}, label.size(), protocol.size());
  std::string s(head);
  // Labels are peer-controlled: show printable ASCII, escape the rest.
  auto append_escaped = [&s](std::string_view v) {
    s += '"';
    for (unsigned char c : v) {
      if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
        s += static_cast<char>(c);
      } else {
        char esc[8];
        std::snprintf(esc, sizeof(esc), "\\x%02x", c);
        s += esc;
      }
    }
    s += '"';
  };
  s += "label=";
  append_escaped(label);
  s += " protocol=";
  append_escaped(protocol);
  s += '}';
  return s;
}

Result<DataChannelAck, ParseError> DataChannelAck::Parse(ByteView data) {
  if (data.empty()) return MakeUnexpected(ParseError{ParseErrorCode::kTruncated, "DATA_CHANNEL_ACK"});
  if (data[0] != static_cast<uint8_t>(DcepMessageType::kAck))
    return MakeUnexpected(ParseError{ParseErrorCode::kBadValue, "DATA_CHANNEL_ACK message type"});
  // RFC 8832 section 5.2 defines one byte, but Pion (pion/datachannel before 1.5.6, e.g. Debian's
  // webrtc v3.1.56) sends 0x02 0x00 0x00 0x00. Trailing bytes carry nothing: accept them.
  return DataChannelAck{};
}

void DataChannelAck::SerializeTo(ByteWriter& w) const {
  w.U8(static_cast<uint8_t>(DcepMessageType::kAck));
}

std::vector<uint8_t> DataChannelAck::Serialize() const {
  return {static_cast<uint8_t>(DcepMessageType::kAck)};
}

std::string DataChannelAck::ToString() const {
  return "DATA_CHANNEL_ACK{}";
}

Result<DcepMessage, ParseError> ParseDcep(ByteView data, const DcepLimits& limits) {
  if (data.empty()) return MakeUnexpected(ParseError{ParseErrorCode::kTruncated, "DCEP message type"});
  switch (data[0]) {
    case static_cast<uint8_t>(DcepMessageType::kOpen): {
      auto open = DataChannelOpen::Parse(data, limits);
      if (!open) return MakeUnexpected(open.error());
      return DcepMessage(*open);
    }
    case static_cast<uint8_t>(DcepMessageType::kAck): {
      auto ack = DataChannelAck::Parse(data);
      if (!ack) return MakeUnexpected(ack.error());
      return DcepMessage(*ack);
    }
    default: return MakeUnexpected(ParseError{ParseErrorCode::kUnsupported, "DCEP message type"});
  }
}

std::string ToString(const DcepMessage& m) {
  return std::visit([](const auto& v) { return v.ToString(); }, m);
}

}  // namespace peerlink::datachannel
