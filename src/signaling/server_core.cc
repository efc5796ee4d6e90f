#include "src/signaling/server_core.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "src/base/check.h"

namespace peerlink::signaling {

namespace {

using nlohmann::json;

constexpr size_t kMaxReason = 123;  // RFC 6455 section 5.5: control payload <= 125 bytes, 2 for the code

std::string Truncate(std::string s) {
  if (s.size() > kMaxReason) s.resize(kMaxReason);
  return s;
}

// For log details and close reasons: at most `n` bytes of a client-chosen string.
std::string Quote(std::string_view s, size_t n = 48) {
  std::string out = "'";
  for (char c : s.substr(0, n))
    out.push_back(static_cast<unsigned char>(c) < 0x20 ? '?' : c);
  if (s.size() > n) out += "...";
  return out + "'";
}

// `text` is a JSON object without a top-level "clients" member: append it
// before the closing brace, keeping every other byte as the client sent it.
std::shared_ptr<const std::string> WithClients(std::string_view text, size_t clients) {
  size_t end = text.size();
  while (end > 0 && text[end - 1] != '}')
    --end;
  PL_DCHECK(end > 0);
  auto out = std::make_shared<std::string>();
  out->reserve(end + 24);
  out->append(text.substr(0, end - 1));
  out->append(",\"clients\":");
  out->append(std::to_string(clients));
  out->push_back('}');
  return out;
}

}  // namespace

ServerCore::ServerCore(ServerOptions options)
    : options_(std::move(options)), pong_(std::make_shared<const std::string>(R"({"type":"pong"})")) {}

void ServerCore::Log(Event::Level level, std::string name, std::optional<ConnId> conn, std::string detail) {
  out_.push_back(Event{level, std::move(name), conn, std::move(detail)});
}

Instant ServerCore::NextWake(const Conn& conn) const {
  Instant at = conn.next_ping;
  if (options_.idle_timeout > Duration::Zero()) at = std::min(at, conn.last_message + options_.idle_timeout);
  return at;
}

void ServerCore::Schedule(ConnId id, Conn& conn, Instant at) {
  timers_.erase({conn.scheduled, id.value()});
  conn.scheduled = at;
  timers_.insert({at, id.value()});
}

void ServerCore::HandleConnect(Instant now, ConnId id, const SocketAddress& source, TokenInfo token) {
  if (conns_.count(id.value())) {
    Log(Event::Level::kWarn, "duplicate_conn_id", id, "");
    return;
  }
  ++metrics_.connections_total;
  if (shutting_down_) {
    out_.push_back(Close{id, kCloseGoingAway, "server shutting down"});
    return;
  }
  const auto ip_count = per_ip_.find(source.ip());
  if (options_.max_conns_per_ip > 0 && ip_count != per_ip_.end() && ip_count->second >= options_.max_conns_per_ip) {
    ++metrics_.drops[static_cast<size_t>(DropReason::kConnsPerIp)];
    Log(Event::Level::kWarn, "refused", id, "too many connections from " + source.ip().ToString());
    out_.push_back(
        Close{id, kClosePolicyViolation,
              "too many connections from this address (max " + std::to_string(options_.max_conns_per_ip) + ")"});
    return;
  }
  if (token.status == TokenInfo::Status::kRejected) {
    ++metrics_.drops[static_cast<size_t>(DropReason::kUnauthorized)];
    Log(Event::Level::kWarn, "refused", id, token.error + " from " + source.ToString());
    out_.push_back(Close{id, kClosePolicyViolation, Truncate("unauthorized: " + token.error)});
    return;
  }
  ++per_ip_[source.ip()];
  Conn& conn = conns_[id.value()];
  conn.source = source;
  conn.token = std::move(token);
  conn.bucket = options_.rate_burst;
  conn.bucket_at = now;
  conn.last_message = now;
  conn.next_ping = now + options_.ping_interval;
  conn.scheduled = Instant::Max();
  timers_.insert({conn.scheduled, id.value()});
  Schedule(id, conn, NextWake(conn));
  metrics_.connections = conns_.size();
  Log(Event::Level::kInfo, "connect", id,
      source.ToString() + (conn.token.status == TokenInfo::Status::kValid ? " (token)" : ""));
}

void ServerCore::Forget(ConnId id, Conn& conn) {
  std::vector<std::string> topics(conn.topics.begin(), conn.topics.end());
  for (const auto& t : topics)
    Unsubscribe(id, conn, t);
  timers_.erase({conn.scheduled, id.value()});
  auto ip = per_ip_.find(conn.source.ip());
  if (ip != per_ip_.end() && --ip->second == 0) per_ip_.erase(ip);
  conns_.erase(id.value());
  metrics_.connections = conns_.size();
}

void ServerCore::CloseConn(ConnId id, uint16_t code, std::string reason, std::optional<DropReason> drop) {
  auto it = conns_.find(id.value());
  if (it == conns_.end()) return;
  if (drop) ++metrics_.drops[static_cast<size_t>(*drop)];
  reason = Truncate(std::move(reason));
  Log(code == kCloseGoingAway || code == kCloseNormal ? Event::Level::kInfo : Event::Level::kWarn, "close", id,
      std::to_string(code) + " " + reason);
  Forget(id, it->second);
  out_.push_back(Close{id, code, std::move(reason)});
}

bool ServerCore::TakeRateToken(Instant now, Conn& conn) {
  if (options_.rate_per_second <= 0) return true;
  const double elapsed = (now - conn.bucket_at).seconds_f();
  if (elapsed > 0) {
    conn.bucket = std::min(options_.rate_burst, conn.bucket + elapsed * options_.rate_per_second);
    conn.bucket_at = now;
  }
  if (conn.bucket < 1) return false;
  conn.bucket -= 1;
  return true;
}

bool ServerCore::Authorize(Instant now, ConnId id, const Conn& conn, std::string_view topic) {
  if (!options_.require_token) return true;
  std::string why;
  if (conn.token.status != TokenInfo::Status::kValid) {
    why = "unauthorized: token required";
  } else if (now >= conn.token.expires) {
    why = "unauthorized: token expired";
  } else if (!conn.token.Covers(topic)) {
    why = "unauthorized: token does not cover room " + Quote(topic);
  } else {
    return true;
  }
  CloseConn(id, kClosePolicyViolation, std::move(why), DropReason::kUnauthorized);
  return false;
}

void ServerCore::Subscribe(ConnId id, Conn& conn, std::string_view topic) {
  auto [it, inserted] = conn.topics.emplace(topic);
  if (!inserted) return;
  auto room = rooms_.find(topic);
  if (room == rooms_.end()) {
    room = rooms_.emplace(std::string(topic), std::unordered_set<uint64_t>{}).first;
    if (options_.broker) out_.push_back(BrokerSubscribe{std::string(topic)});
  }
  room->second.insert(id.value());
  metrics_.rooms = rooms_.size();
}

void ServerCore::Unsubscribe(ConnId id, Conn& conn, const std::string& topic) {
  if (conn.topics.erase(topic) == 0) return;
  auto room = rooms_.find(topic);
  PL_DCHECK(room != rooms_.end());
  if (room == rooms_.end()) return;
  room->second.erase(id.value());
  if (room->second.empty()) {
    rooms_.erase(room);
    if (options_.broker) out_.push_back(BrokerUnsubscribe{topic});
  }
  metrics_.rooms = rooms_.size();
}

void ServerCore::FanOut(std::string_view topic, std::string_view text_without_clients) {
  auto room = rooms_.find(topic);
  if (room == rooms_.end()) return;
  auto text = WithClients(text_without_clients, room->second.size());
  for (uint64_t receiver : room->second)
    out_.push_back(Send{ConnId(receiver), text});
  metrics_.messages_out_total += room->second.size();
}

void ServerCore::Publish(Instant now, ConnId id, std::string_view text, const json& message) {
  const auto topic_it = message.find("topic");
  // y-webrtc: `if (message.topic)`; topics are only ever strings, so only a
  // non-empty string can reach subscribers.
  if (topic_it == message.end() || !topic_it->is_string()) {
    ++metrics_.drops[static_cast<size_t>(DropReason::kIgnored)];
    return;
  }
  const auto& topic = topic_it->get_ref<const std::string&>();
  if (topic.empty()) {
    ++metrics_.drops[static_cast<size_t>(DropReason::kIgnored)];
    return;
  }
  auto& conn = conns_.at(id.value());
  if (!Authorize(now, id, conn, topic)) return;
  // Every receiver gets the client's bytes plus "clients"; a client-sent
  // "clients" is replaced, as y-webrtc's assignment does.
  std::string rewritten;
  if (message.contains("clients")) {
    json copy = message;
    copy.erase("clients");
    rewritten = copy.dump(-1, ' ', false, json::error_handler_t::replace);
    text = rewritten;
  }
  FanOut(topic, text);
  if (options_.broker) {
    auto payload = std::make_shared<std::string>();
    payload->reserve(options_.server_id.size() + 1 + text.size());
    payload->append(options_.server_id).push_back('\n');
    payload->append(text);
    out_.push_back(BrokerPublish{topic, std::move(payload)});
    ++metrics_.broker_out_total;
  }
}

void ServerCore::HandleMessage(Instant now, ConnId id, std::string_view text) {
  auto it = conns_.find(id.value());
  if (it == conns_.end()) return;
  Conn& conn = it->second;
  ++metrics_.messages_in_total;
  if (text.size() > options_.max_message_size) {
    CloseConn(id, kCloseTooBig,
              "message too big (" + std::to_string(text.size()) + " > " + std::to_string(options_.max_message_size) +
                  " bytes)",
              DropReason::kTooBig);
    return;
  }
  if (!TakeRateToken(now, conn)) {
    CloseConn(id, kClosePolicyViolation,
              "rate limit exceeded (" + std::to_string(static_cast<int64_t>(options_.rate_per_second)) + " messages/s)",
              DropReason::kRate);
    return;
  }
  conn.last_message = now;
  const json message = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (message.is_discarded()) {
    CloseConn(id, kCloseUnsupportedData, "malformed JSON", DropReason::kMalformed);
    return;
  }
  // y-webrtc: `if (message && message.type)`; anything else is ignored.
  const auto type_it = message.is_object() ? message.find("type") : message.end();
  if (!message.is_object() || type_it == message.end() || !type_it->is_string()) {
    ++metrics_.drops[static_cast<size_t>(DropReason::kIgnored)];
    return;
  }
  const auto& type = type_it->get_ref<const std::string&>();
  if (type == "subscribe" || type == "unsubscribe") {
    const auto topics = message.find("topics");
    if (topics == message.end() || !topics->is_array()) return;
    for (const auto& t : *topics) {
      if (!t.is_string()) continue;
      const auto& topic = t.get_ref<const std::string&>();
      if (type == "unsubscribe") {
        Unsubscribe(id, conn, topic);
        continue;
      }
      if (!Authorize(now, id, conn, topic)) return;
      if (options_.max_topics > 0 && conn.topics.size() >= options_.max_topics && !conn.topics.count(topic)) {
        CloseConn(id, kClosePolicyViolation, "too many topics (max " + std::to_string(options_.max_topics) + ")",
                  DropReason::kTooManyTopics);
        return;
      }
      Subscribe(id, conn, topic);
    }
  } else if (type == "publish") {
    Publish(now, id, text, message);
  } else if (type == "ping") {
    out_.push_back(Send{id, pong_});
    ++metrics_.messages_out_total;
  } else {
    ++metrics_.drops[static_cast<size_t>(DropReason::kIgnored)];
  }
}

void ServerCore::HandleBinary(Instant, ConnId id, size_t size) {
  if (!conns_.count(id.value())) return;
  ++metrics_.messages_in_total;
  CloseConn(id, kCloseUnsupportedData, "binary frames are not supported (" + std::to_string(size) + " bytes)",
            DropReason::kBinary);
}

void ServerCore::HandleTooBig(Instant, ConnId id) {
  if (!conns_.count(id.value())) return;
  ++metrics_.messages_in_total;
  CloseConn(id, kCloseTooBig, "message too big (max " + std::to_string(options_.max_message_size) + " bytes)",
            DropReason::kTooBig);
}

void ServerCore::HandlePong(Instant, ConnId id) {
  auto it = conns_.find(id.value());
  if (it != conns_.end()) it->second.awaiting_pong = false;
}

void ServerCore::HandleDisconnect(Instant, ConnId id) {
  auto it = conns_.find(id.value());
  if (it == conns_.end()) return;
  Log(Event::Level::kInfo, "disconnect", id, it->second.source.ToString());
  Forget(id, it->second);
}

void ServerCore::HandleWriteOverflow(Instant, ConnId id) {
  CloseConn(id, kClosePolicyViolation, "write queue full (slow reader)", DropReason::kSlowReader);
}

void ServerCore::HandleProtocolError(Instant, ConnId id, uint16_t code, std::string reason) {
  if (!conns_.count(id.value())) return;
  ++metrics_.messages_in_total;
  if (reason.size() > 123) reason.resize(123);
  CloseConn(id, code, std::move(reason), DropReason::kProtocol);
}

void ServerCore::HandleTimeout(Instant now) {
  // Bounded by the number of connections: each is visited at most once per call.
  std::vector<uint64_t> due;
  for (auto it = timers_.begin(); it != timers_.end() && it->first <= now; ++it)
    due.push_back(it->second);
  for (uint64_t raw : due) {
    auto it = conns_.find(raw);
    if (it == conns_.end()) continue;
    const ConnId id(raw);
    Conn& conn = it->second;
    if (options_.idle_timeout > Duration::Zero() && now >= conn.last_message + options_.idle_timeout) {
      CloseConn(id, kCloseNormal, "idle timeout (" + options_.idle_timeout.ToString() + " without a message)",
                DropReason::kIdle);
      continue;
    }
    if (now >= conn.next_ping) {
      if (conn.awaiting_pong) {
        CloseConn(id, kCloseNormal, "ping timeout", DropReason::kPingTimeout);
        continue;
      }
      conn.awaiting_pong = true;
      conn.next_ping = now + options_.ping_interval;
      out_.push_back(Ping{id});
    }
    Schedule(id, conn, NextWake(conn));
  }
}

void ServerCore::HandleShutdown(Instant) {
  shutting_down_ = true;
  std::vector<uint64_t> ids;
  ids.reserve(conns_.size());
  for (const auto& [raw, conn] : conns_)
    ids.push_back(raw);
  std::sort(ids.begin(), ids.end());
  for (uint64_t raw : ids)
    CloseConn(ConnId(raw), kCloseGoingAway, "server shutting down", std::nullopt);
}

void ServerCore::HandleBrokerMessage(Instant, std::string_view topic, std::string_view payload) {
  if (!options_.broker) return;
  const size_t nl = payload.find('\n');
  if (nl == std::string_view::npos) {
    Log(Event::Level::kWarn, "broker_malformed", std::nullopt, "no origin tag");
    return;
  }
  // Our own publishes were delivered locally already: exactly once per client.
  if (payload.substr(0, nl) == options_.server_id) return;
  const std::string_view text = payload.substr(nl + 1);
  // The origin validated the message and stripped "clients"; check the shape
  // WithClients relies on anyway (a foreign publisher on the channel).
  size_t end = text.size();
  while (end > 0 && (text[end - 1] == ' ' || text[end - 1] == '\n' || text[end - 1] == '\r' || text[end - 1] == '\t'))
    --end;
  if (text.empty() || text.front() != '{' || end < 2 || text[end - 1] != '}') {
    Log(Event::Level::kWarn, "broker_malformed", std::nullopt, "not a JSON object");
    return;
  }
  ++metrics_.broker_in_total;
  FanOut(topic, text);
}

Output ServerCore::PollOutput(Instant) {
  if (!out_.empty()) {
    Output o = std::move(out_.front());
    out_.pop_front();
    return o;
  }
  return Deadline{timers_.empty() ? Instant::Max() : timers_.begin()->first};
}

size_t ServerCore::subscriber_count(std::string_view topic) const {
  auto it = rooms_.find(topic);
  return it == rooms_.end() ? 0 : it->second.size();
}

bool ServerCore::IsConsistent() const {
  if (timers_.size() != conns_.size() || metrics_.connections != conns_.size() || metrics_.rooms != rooms_.size())
    return false;
  size_t memberships = 0;
  std::unordered_map<IpAddress, size_t> per_ip;
  for (const auto& [raw, conn] : conns_) {
    if (!timers_.count({conn.scheduled, raw})) return false;
    ++per_ip[conn.source.ip()];
    for (const auto& t : conn.topics) {
      auto room = rooms_.find(t);
      if (room == rooms_.end() || !room->second.count(raw)) return false;
    }
    memberships += conn.topics.size();
  }
  size_t members = 0;
  for (const auto& [topic, set] : rooms_) {
    if (set.empty()) return false;
    members += set.size();
  }
  return members == memberships && per_ip == per_ip_;
}

}  // namespace peerlink::signaling
