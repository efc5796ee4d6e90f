// Counters of the signaling server core, and their Prometheus text rendering.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace peerlink::signaling {

// Why a message or a connection was dropped. Each connection-closing limit
// counts once per closed connection; kIgnored counts messages.
enum class DropReason : uint8_t {
  kTooBig,         // frame above max_message_size (close 1009)
  kMalformed,      // text that is not JSON (close 1003)
  kBinary,         // a binary frame (close 1003)
  kRate,           // token bucket empty (close 1008)
  kTooManyTopics,  // per-connection topic limit (close 1008)
  kConnsPerIp,     // per-source-address connection limit (close 1008)
  kUnauthorized,   // missing/invalid/expired token or room out of scope (close 1008)
  kIdle,           // no message within idle_timeout (close 1000)
  kPingTimeout,    // no pong to the previous ping (close 1000)
  kSlowReader,     // write queue over its bound (connection dropped)
  kProtocol,       // a WebSocket framing violation or invalid UTF-8 (close 1002/1007)
  kIgnored,        // valid JSON the protocol ignores (no/unknown type, empty topic)
  kCount,
};
inline constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::kCount);
std::string_view ToString(DropReason r);  // the Prometheus label value, e.g. "too_big"

struct Metrics {
  uint64_t connections = 0;  // gauge: open WebSocket connections
  uint64_t connections_total = 0;
  uint64_t rooms = 0;               // gauge: topics with at least one local subscriber
  uint64_t messages_in_total = 0;   // text frames received
  uint64_t messages_out_total = 0;  // text frames queued to clients (fan-out counts each receiver)
  uint64_t broker_in_total = 0;     // messages received from the Redis broker (other servers)
  uint64_t broker_out_total = 0;    // messages published to the Redis broker
  std::array<uint64_t, kDropReasonCount> drops{};

  uint64_t drops_of(DropReason r) const { return drops[static_cast<size_t>(r)]; }
};

// Prometheus text exposition format (version 0.0.4), names peerlink_signal_*.
std::string FormatPrometheus(const Metrics& m);

}  // namespace peerlink::signaling
