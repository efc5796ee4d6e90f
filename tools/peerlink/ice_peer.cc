// `peerlink ice-peer`: one ICE agent with JSON-lines signaling on stdin/stdout.
//
// Out (stdout), in order of occurrence:
//   {"type":"credentials","ufrag":..,"pwd":..}
//   {"type":"candidate","candidate":"candidate:..."}     (trickled)
//   {"type":"end-of-candidates"}
//   {"type":"result","role":..,"selected":{..},"rtt_ms":..,"echo_ok":..,...}
//   {"type":"bye"}                                        (controlling, after its result)
// In (stdin): credentials, candidate, end-of-candidates, bye; other types are ignored.
//
// After a pair is selected the controlling side sends --echo-count datagrams
// "ping:<i>" with SendData (resending the unanswered ones every 200 ms); the
// controlled side answers each with "pong:<i>". The controlling side finishes
// when all are answered; the controlled side when it reads "bye" or stdin ends.
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "src/base/rng.h"
#include "src/runtime/clock.h"
#include "src/runtime/endpoint.h"
#include "src/runtime/ice_agent_runner.h"
#include "src/runtime/turn_url.h"
#include "src/stun/credentials.h"
#include "tools/peerlink/commands.h"
#include "tools/peerlink/lines.h"

namespace peerlink::cli {

namespace {

namespace asio = boost::asio;
using nlohmann::json;

struct UsageError {
  std::string message;
};

// Builds the runner options from the command line; throws UsageError for bad
// input and returns nullopt (after logging) for runtime failures such as DNS.
std::optional<runtime::IceAgentRunnerOptions> BuildOptions(const IcePeerOptions& o, const std::string& tag) {
  runtime::IceAgentRunnerOptions out;
  out.agent.role = o.role == "controlling" ? ice::Role::kControlling : ice::Role::kControlled;
  out.agent.policy = o.relay_only ? ice::TransportPolicy::kRelay : ice::TransportPolicy::kAll;
  out.loopback_only = o.loopback;
  for (const auto& b : o.bind) {
    auto ip = IpAddress::Parse(b);
    if (!ip) throw UsageError{"--bind wants an IP address, got '" + b + "'"};
    out.bind_addresses.push_back(*ip);
  }
  if (!o.port_range.empty()) {
    unsigned lo = 0, hi = 0;
    char dash = 0;
    if (std::sscanf(o.port_range.c_str(), "%u%c%u", &lo, &dash, &hi) != 3 || dash != '-' || lo == 0 || hi > 65535 ||
        lo > hi) {
      throw UsageError{"--port-range wants MIN-MAX with 1 <= MIN <= MAX <= 65535, got '" + o.port_range + "'"};
    }
    out.port_min = static_cast<uint16_t>(lo);
    out.port_max = static_cast<uint16_t>(hi);
  }
  std::string error;
  for (const auto& s : o.stun) {
    auto hp = runtime::SplitHostPort(s);
    if (!hp) throw UsageError{"--stun wants HOST:PORT, got '" + s + "'"};
    auto addr = runtime::Resolve(hp->host, hp->port, std::nullopt, &error);
    if (!addr) {
      LogLine(tag, "--stun " + s + ": " + error);
      return std::nullopt;
    }
    out.agent.stun_servers.push_back(*addr);
  }
  if (o.relay_only && o.turn.empty()) throw UsageError{"--relay-only needs at least one --turn server"};
  if (!o.turn.empty() && o.turn_pass.empty() && o.turn_secret.empty()) {
    throw UsageError{"--turn needs --turn-user with --turn-pass, or --turn-secret"};
  }
  if (!o.turn_pass.empty() && o.turn_user.empty()) throw UsageError{"--turn-pass needs --turn-user"};
  out.tls.ca_file = o.turn_ca;
  out.tls.insecure_skip_verify = o.turn_insecure;
  if (o.turn_insecure) LogLine(tag, "WARNING: --turn-insecure: TURN server certificates are NOT verified (test only)");
  for (const auto& u : o.turn) {
    auto url = runtime::ParseTurnUrl(u, &error);
    if (!url) throw UsageError{"--turn " + u + ": " + error};
    auto addr = runtime::Resolve(url->host, url->port, std::nullopt, &error);
    if (!addr) {
      LogLine(tag, "--turn " + u + ": " + error);
      return std::nullopt;
    }
    ice::TurnServerConfig server;
    server.address = *addr;
    server.transport = url->transport;
    if (!o.turn_secret.empty()) {
      // Valid for a day: plenty for a session, short enough to be worthless if leaked.
      auto creds = stun::MakeTurnRestCredentials(o.turn_secret, o.turn_user.empty() ? "peerlink" : o.turn_user,
                                                 runtime::UnixSeconds() + 86400);
      server.username = creds.username;
      server.password = creds.password;
    } else {
      server.username = o.turn_user;
      server.password = o.turn_pass;
    }
    if (url->transport == TransportProtocol::kTls && !IpAddress::Parse(url->host)) {
      out.tls_server_names[*addr] = url->host;
    }
    out.agent.turn_servers.push_back(server);
  }
  out.log = [tag](std::string_view line) { LogLine(tag, line); };
  return out;
}

class IcePeer {
 public:
  IcePeer(asio::io_context& io,
          const IcePeerOptions& options,
          runtime::IceAgentRunnerOptions runner_options,
          std::string tag)
      : io_(io),
        options_(options),
        tag_(std::move(tag)),
        controlling_(options.role == "controlling"),
        runner_(io, std::move(runner_options), rng_),
        stdin_(
            io,
            [this](std::string_view line) { OnSignal(line); },
            [this](const std::string& why) { OnSignalingEnd(why); }),
        deadline_timer_(io),
        echo_timer_(io) {}

  int Run() {
    runner_.set_on_event([this](const ice::AgentEvent& ev) { OnEvent(ev); });
    runner_.set_on_application_data([this](ByteView data) { OnData(data); });
    started_ = runtime::Now();
    const auto& creds = runner_.agent().local_credentials();
    Emit({{"type", "credentials"}, {"ufrag", creds.ufrag}, {"pwd", creds.pwd}});
    std::string error;
    if (!runner_.Start(&error)) {
      LogLine(tag_, error);
      return kExitFailure;
    }
    if (!stdin_.Start(::dup(STDIN_FILENO), &error)) {
      LogLine(tag_, "stdin: " + error + " (no remote signaling)");
    }
    deadline_timer_.expires_after(std::chrono::milliseconds(static_cast<int64_t>(options_.timeout_s * 1000)));
    deadline_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      Finish("timed out after " + FormatSeconds(options_.timeout_s) + " s (ICE state " +
             std::string(ice::ToString(runner_.agent().state())) + ", " + std::to_string(echoed_.size()) + "/" +
             std::to_string(options_.echo_count) + " echoes)");
    });
    asio::signal_set signals(io_, SIGINT, SIGTERM);
    signals.async_wait([this](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      interrupted_by_ = sig;
      Finish(sig == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)");
    });
    io_.run();
    if (interrupted_by_) return 128 + interrupted_by_;
    return exit_code_;
  }

 private:
  void Emit(const json& j) {
    if (!WriteLine(STDOUT_FILENO, j.dump())) LogLine(tag_, "stdout closed");
  }

  void OnEvent(const ice::AgentEvent& ev) {
    if (auto* c = std::get_if<ice::LocalCandidateEvent>(&ev)) {
      LogLine(tag_, "local candidate " + c->candidate.ToString());
      Emit({{"type", "candidate"}, {"candidate", c->candidate.ToSdp()}});
    } else if (auto* g = std::get_if<ice::GatheringStateEvent>(&ev)) {
      LogLine(tag_, "gathering " + std::string(ice::ToString(g->state)));
      if (g->state == ice::GatheringState::kComplete) Emit({{"type", "end-of-candidates"}});
    } else if (auto* s = std::get_if<ice::StateEvent>(&ev)) {
      LogLine(tag_, "ICE state " + std::string(ice::ToString(s->state)) + (s->reason.empty() ? "" : ": " + s->reason));
      if (s->state == ice::State::kFailed) Finish("ICE failed: " + (s->reason.empty() ? "no working pair" : s->reason));
    } else if (auto* p = std::get_if<ice::SelectedPairEvent>(&ev)) {
      LogLine(tag_, "selected " + p->local.ToString() + " <-> " + p->remote.ToString());
      selected_ = *p;
      if (!connected_at_) connected_at_ = runtime::Now();
      if (controlling_ && !echo_started_) {
        echo_started_ = true;
        SendPings();
      }
    } else if (auto* r = std::get_if<ice::RoleEvent>(&ev)) {
      LogLine(tag_, "role changed to " + std::string(ice::ToString(r->role)));
    }
  }

  void SendPings() {
    if (finished_) return;
    for (int i = 0; i < options_.echo_count; ++i) {
      if (echoed_.count(i)) continue;
      const std::string ping = "ping:" + std::to_string(i);
      const ice::SendResult r = runner_.SendData(AsBytes(ping));
      if (r != ice::SendResult::kOk) LogLine(tag_, "SendData failed (" + std::to_string(static_cast<int>(r)) + ")");
      ++pings_sent_;
    }
    echo_timer_.expires_after(std::chrono::milliseconds(200));
    echo_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) SendPings();
    });
  }

  void OnData(ByteView data) {
    const std::string_view text = AsString(data);
    if (!controlling_ && text.starts_with("ping:")) {
      const std::string pong = "pong:" + std::string(text.substr(5));
      // Only answered pings count: a ping that arrives before this side has
      // selected a pair cannot be answered yet, and the sender repeats it.
      if (runner_.SendData(AsBytes(pong)) == ice::SendResult::kOk) {
        ++pongs_sent_;
        pings_seen_.insert(std::string(text.substr(5)));
      }
    } else if (controlling_ && text.starts_with("pong:")) {
      const int i = std::atoi(std::string(text.substr(5)).c_str());
      if (i >= 0 && i < options_.echo_count) echoed_.insert(i);
      if (static_cast<int>(echoed_.size()) == options_.echo_count) Finish({});
    }
  }

  void OnSignal(std::string_view line) {
    if (line.empty()) return;
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
      LogLine(tag_, "ignoring signaling line that is not a JSON object with a \"type\": " + std::string(line));
      return;
    }
    const std::string type = j["type"];
    if (type == "credentials") {
      ice::Credentials remote{j.value("ufrag", ""), j.value("pwd", "")};
      runner_.Run([&](ice::Agent& agent, Instant now) { agent.SetRemoteCredentials(now, remote); });
    } else if (type == "candidate") {
      const std::string sdp = j.value("candidate", "");
      auto cand = ice::Candidate::ParseSdp(sdp);
      if (!cand) {
        LogLine(tag_, "ignoring unparsable candidate '" + sdp + "': " + std::string(ToString(cand.error().code)) +
                          " (" + cand.error().what + ")");
        return;
      }
      bool accepted = false;
      runner_.Run([&](ice::Agent& agent, Instant now) { accepted = agent.AddRemoteCandidate(now, *cand); });
      LogLine(tag_, std::string(accepted ? "remote candidate " : "unusable remote candidate ") + cand->ToString());
    } else if (type == "end-of-candidates") {
      runner_.Run([](ice::Agent& agent, Instant now) { agent.SetRemoteEndOfCandidates(now); });
    } else if (type == "bye") {
      Finish({});
    }
  }

  void OnSignalingEnd(const std::string& why) {
    if (finished_) return;
    // The controlling side does not need signaling once candidates are
    // exchanged; the controlled side ends with its signaling channel.
    if (!controlling_) Finish(selected_ ? std::string() : "signaling ended (" + why + ") before ICE connected");
  }

  json CandidateJson(const ice::Candidate& c) const {
    return {{"address", c.address.ToString()}, {"type", std::string(ice::ToString(c.type))}};
  }

  // Prints the result line and stops the loop. `error` empty = success so far.
  void Finish(const std::string& error_in) {
    if (finished_) return;
    finished_ = true;
    std::string error = error_in;
    json result = {{"type", "result"}, {"role", options_.role}};
    if (selected_) {
      result["selected"] = {{"local", selected_->local.address.ToString()},
                            {"remote", selected_->remote.address.ToString()},
                            {"local_type", std::string(ice::ToString(selected_->local.type))},
                            {"remote_type", std::string(ice::ToString(selected_->remote.type))},
                            {"local_candidate", selected_->local.ToSdp()},
                            {"remote_candidate", selected_->remote.ToSdp()}};
    } else {
      result["selected"] = nullptr;
      if (error.empty()) error = "no pair selected";
    }
    std::optional<Duration> rtt;
    const ice::AgentStats stats = runner_.GetStats();
    if (stats.selected_index && *stats.selected_index < stats.pairs.size()) {
      const auto& pair = stats.pairs[*stats.selected_index];
      rtt = pair.smoothed_rtt ? pair.smoothed_rtt : pair.rtt;
    }
    if (!rtt && selected_) rtt = selected_->rtt;
    result["rtt_ms"] = rtt ? json(rtt->millis_f()) : json(nullptr);
    bool echo_ok;
    if (controlling_) {
      echo_ok = static_cast<int>(echoed_.size()) == options_.echo_count;
      result["echo_sent"] = pings_sent_;
      result["echo_received"] = echoed_.size();
    } else {
      echo_ok = static_cast<int>(pings_seen_.size()) >= options_.echo_count;
      result["echo_answered"] = pongs_sent_;
      result["echo_distinct"] = pings_seen_.size();
    }
    if (error.empty() && !echo_ok) error = "echo check incomplete";
    result["echo_ok"] = echo_ok;
    if (connected_at_) result["connect_ms"] = (*connected_at_ - started_).millis_f();
    if (!error.empty()) result["error"] = error;
    Emit(result);
    if (controlling_) Emit({{"type", "bye"}});
    LogLine(tag_, error.empty() ? "done" : "failed: " + error);
    exit_code_ = error.empty() ? kExitOk : kExitFailure;
    runner_.Close();
    io_.stop();
  }

  asio::io_context& io_;
  const IcePeerOptions& options_;
  std::string tag_;
  bool controlling_;
  CryptoRng rng_;
  runtime::IceAgentRunner runner_;
  LineReader stdin_;
  asio::steady_timer deadline_timer_;
  asio::steady_timer echo_timer_;
  Instant started_;
  std::optional<Instant> connected_at_;
  std::optional<ice::SelectedPairEvent> selected_;
  bool echo_started_ = false;
  std::set<int> echoed_;
  std::set<std::string> pings_seen_;
  uint64_t pings_sent_ = 0;
  uint64_t pongs_sent_ = 0;
  bool finished_ = false;
  int exit_code_ = kExitFailure;
  int interrupted_by_ = 0;
};

}  // namespace

int RunIcePeer(const IcePeerOptions& options) {
  const std::string tag = options.log_prefix.empty() ? options.role : options.log_prefix;
  std::optional<runtime::IceAgentRunnerOptions> runner_options;
  try {
    runner_options = BuildOptions(options, tag);
  } catch (const UsageError& e) {
    LogLine(tag, e.message);
    return kExitUsage;
  }
  if (!runner_options) return kExitFailure;
  asio::io_context io;
  IcePeer peer(io, options, std::move(*runner_options), tag);
  return peer.Run();
}

}  // namespace peerlink::cli
