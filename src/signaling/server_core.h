// The signaling server core: y-webrtc's rendezvous protocol (bin/server.js of
// npm y-webrtc 10.x), sans-I/O, plus access control and abuse limits.
//
// Protocol (JSON text frames):
//   {"type":"subscribe","topics":[...]}    join topics (non-string entries ignored)
//   {"type":"unsubscribe","topics":[...]}  leave topics
//   {"type":"publish","topic":T, ...}      sent to every subscriber of T (the sender
//                                          too, if subscribed) with "clients": <number
//                                          of local subscribers of T> added/replaced
//   {"type":"ping"}                        answered {"type":"pong"}
//   anything else that is valid JSON       ignored (as y-webrtc does)
// WebSocket pings every ping_interval; a connection that has not answered the
// previous ping by the next one is closed.
//
// Inputs: HandleConnect/HandleMessage/HandleBinary/HandlePong/HandleDisconnect/
// HandleWriteOverflow/HandleTimeout/HandleShutdown, and HandleBrokerMessage
// for scale-out. Outputs via PollOutput(now), drained until a Deadline.
// After a Close output the core has forgotten the connection; later input
// for that ConnId is ignored. ConnIds must not be reused.
//
// Threading: none; one owner calls everything (the runtime's io_context thread).
// The core never throws (JSON is parsed with exceptions off).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "src/base/socket_address.h"
#include "src/base/strong_id.h"
#include "src/base/time.h"
#include "src/signaling/metrics.h"
#include "src/signaling/token.h"

namespace peerlink::signaling {

using ConnId = StrongId<struct ConnIdTag, uint64_t>;

// RFC 6455 section 7.4.1 status codes the core uses.
inline constexpr uint16_t kCloseNormal = 1000;
inline constexpr uint16_t kCloseGoingAway = 1001;
inline constexpr uint16_t kCloseUnsupportedData = 1003;
inline constexpr uint16_t kClosePolicyViolation = 1008;
inline constexpr uint16_t kCloseTooBig = 1009;

struct ServerOptions {
  bool require_token = false;                      // a token secret is configured
  size_t max_message_size = 64 * 1024;             // bytes per text frame
  double rate_per_second = 100;                    // token-bucket refill; <= 0: unlimited
  double rate_burst = 200;                         // bucket size (messages)
  size_t max_topics = 256;                         // per connection; 0: unlimited
  size_t max_conns_per_ip = 64;                    // 0: unlimited
  Duration ping_interval = Duration::Seconds(30);  // y-webrtc's pingTimeout
  Duration idle_timeout = Duration::Seconds(120);  // no message for this long; Zero(): off
  // Scale-out: emit Broker* outputs and accept HandleBrokerMessage.
  bool broker = false;
  std::string server_id;  // unique per process when broker is on (no '\n')
};

// Outputs.
struct Send {
  ConnId conn;
  std::shared_ptr<const std::string> text;  // shared by every receiver of one fan-out
};
struct Close {
  ConnId conn;
  uint16_t code;
  std::string reason;  // <= 123 bytes (RFC 6455 section 5.5)
};
struct Ping {
  ConnId conn;
};
struct BrokerSubscribe {
  std::string topic;
};
struct BrokerUnsubscribe {
  std::string topic;
};
struct BrokerPublish {
  std::string topic;
  std::shared_ptr<const std::string> payload;  // envelope: origin server id, '\n', message
};
struct Event {
  enum class Level { kDebug, kInfo, kWarn };
  Level level = Level::kInfo;
  std::string name;  // "connect", "disconnect", "close", ...
  std::optional<ConnId> conn;
  std::string detail;
};
struct Deadline {
  Instant at;  // Instant::Max(): nothing scheduled
};
using Output = std::variant<Send, Close, Ping, BrokerSubscribe, BrokerUnsubscribe, BrokerPublish, Event, Deadline>;

class ServerCore {
 public:
  explicit ServerCore(ServerOptions options);

  void HandleConnect(Instant now, ConnId id, const SocketAddress& source, TokenInfo token);
  void HandleMessage(Instant now, ConnId id, std::string_view text);
  // A binary frame of `size` bytes: y-webrtc clients send text only.
  void HandleBinary(Instant now, ConnId id, size_t size);
  // The transport refused a frame above the size limit before buffering it.
  void HandleTooBig(Instant now, ConnId id);
  void HandlePong(Instant now, ConnId id);
  void HandleDisconnect(Instant now, ConnId id);
  // The runtime's write queue for `id` passed its bound (a slow reader).
  void HandleWriteOverflow(Instant now, ConnId id);
  // The client broke RFC 6455 framing (ws::Failure from the frame reader, other than too big).
  void HandleProtocolError(Instant now, ConnId id, uint16_t code, std::string reason);
  void HandleTimeout(Instant now);
  // Close every connection with 1001 and refuse new ones.
  void HandleShutdown(Instant now);
  // A message another server published to `topic` through the broker.
  void HandleBrokerMessage(Instant now, std::string_view topic, std::string_view payload);

  [[nodiscard]] Output PollOutput(Instant now);

  const Metrics& metrics() const { return metrics_; }
  size_t connection_count() const { return conns_.size(); }
  size_t subscriber_count(std::string_view topic) const;
  bool IsConsistent() const;

 private:
  struct Conn {
    SocketAddress source;
    TokenInfo token;
    std::unordered_set<std::string> topics;
    double bucket = 0;
    Instant bucket_at;
    Instant last_message;
    Instant next_ping;
    bool awaiting_pong = false;
    Instant scheduled;  // key in timers_
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  using RoomMap = std::unordered_map<std::string, std::unordered_set<uint64_t>, StringHash, std::equal_to<>>;

  void CloseConn(ConnId id, uint16_t code, std::string reason, std::optional<DropReason> drop);
  void Forget(ConnId id, Conn& conn);
  void Subscribe(ConnId id, Conn& conn, std::string_view topic);
  void Unsubscribe(ConnId id, Conn& conn, const std::string& topic);
  void Publish(Instant now, ConnId id, std::string_view text, const nlohmann::json& message);
  void FanOut(std::string_view topic, std::string_view text_without_clients);
  bool Authorize(Instant now, ConnId id, const Conn& conn, std::string_view topic);
  bool TakeRateToken(Instant now, Conn& conn);
  void Schedule(ConnId id, Conn& conn, Instant at);
  Instant NextWake(const Conn& conn) const;
  void Log(Event::Level level, std::string name, std::optional<ConnId> conn, std::string detail);

  ServerOptions options_;
  std::unordered_map<uint64_t, Conn> conns_;
  RoomMap rooms_;
  std::unordered_map<IpAddress, size_t> per_ip_;
  std::set<std::pair<Instant, uint64_t>> timers_;
  std::deque<Output> out_;
  Metrics metrics_;
  bool shutting_down_ = false;
  std::shared_ptr<const std::string> pong_;
};

}  // namespace peerlink::signaling
