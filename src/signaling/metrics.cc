#include "src/signaling/metrics.h"

namespace peerlink::signaling {

std::string_view ToString(DropReason r) {
  switch (r) {
    case DropReason::kTooBig: return "too_big";
    case DropReason::kMalformed: return "malformed";
    case DropReason::kBinary: return "binary";
    case DropReason::kRate: return "rate";
    case DropReason::kTooManyTopics: return "too_many_topics";
    case DropReason::kConnsPerIp: return "conns_per_ip";
    case DropReason::kUnauthorized: return "unauthorized";
    case DropReason::kIdle: return "idle";
    case DropReason::kPingTimeout: return "ping_timeout";
    case DropReason::kSlowReader: return "slow_reader";
    case DropReason::kProtocol: return "protocol";
    case DropReason::kIgnored: return "ignored";
    case DropReason::kCount: break;
  }
  return "unknown";
}

namespace {
void Metric(std::string& out, std::string_view name, std::string_view type, std::string_view help, uint64_t v) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
  out += name;
  out += ' ';
  out += std::to_string(v);
  out += '\n';
}
}  // namespace

std::string FormatPrometheus(const Metrics& m) {
  std::string out;
  Metric(out, "peerlink_signal_connections", "gauge", "Open WebSocket connections.", m.connections);
  Metric(out, "peerlink_signal_connections_total", "counter", "WebSocket connections accepted.", m.connections_total);
  Metric(out, "peerlink_signal_rooms", "gauge", "Topics with at least one local subscriber.", m.rooms);
  Metric(out, "peerlink_signal_messages_in_total", "counter", "Messages received from clients.", m.messages_in_total);
  Metric(out, "peerlink_signal_messages_out_total", "counter", "Messages sent to clients (each receiver counts).",
         m.messages_out_total);
  Metric(out, "peerlink_signal_broker_in_total", "counter", "Messages received from other servers via Redis.",
         m.broker_in_total);
  Metric(out, "peerlink_signal_broker_out_total", "counter", "Messages published to other servers via Redis.",
         m.broker_out_total);
  out += "# HELP peerlink_signal_drops_total Messages or connections dropped, by reason.\n";
  out += "# TYPE peerlink_signal_drops_total counter\n";
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    out += "peerlink_signal_drops_total{reason=\"";
    out += ToString(static_cast<DropReason>(i));
    out += "\"} ";
    out += std::to_string(m.drops[i]);
    out += '\n';
  }
  return out;
}

}  // namespace peerlink::signaling
