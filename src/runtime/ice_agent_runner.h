// Drives one ice::Agent over real sockets.
//
// Start() binds one UDP socket per chosen local address (see
// IceAgentRunnerOptions), tells the agent with AddLocalAddress(), and calls
// StartGathering(). Then, on the io_context thread:
//   datagram on a host socket -> Agent::HandleDatagram(now, local, from, data)
//       kApplicationData -> on_application_data(data)
//   Transmit kUdp            -> sent from the host socket bound at `source`
//   Transmit kTcp/kTls       -> written to the stream connection keyed by
//       (source, destination), opened on first use (bound to source's IP);
//       its frames -> HandleStreamFrame, its failure -> HandleStreamError
//       (the next Transmit for that key opens a fresh connection)
//   timer expiry             -> HandleTimeout(now)
// and after every input the agent is drained until it returns a Deadline, for
// which one steady_timer is armed. ApplicationDataEvent (data that came
// through a TURN relay) goes to on_application_data; every other AgentEvent
// goes to on_event.
//
// Threading: one io_context thread. Every method except Post() must run on
// that thread (or before it runs); callbacks run on it and may call the
// runner's methods. Post() is thread-safe and is how other threads (a
// signaling reader, a test) issue commands.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "src/base/rng.h"
#include "src/ice/agent.h"
#include "src/runtime/core_timer.h"
#include "src/runtime/log.h"
#include "src/runtime/stream_connection.h"
#include "src/runtime/udp_socket.h"

namespace peerlink::runtime {

struct IceAgentRunnerOptions {
  ice::AgentConfig agent;

  // Local addresses to bind. When `bind_addresses` is non-empty exactly those
  // are used; otherwise interfaces are enumerated (see interfaces.h) with the
  // filters below. A loopback-only run binds 127.0.0.1 and ::1 (when the
  // kernel has IPv6 loopback).
  std::vector<IpAddress> bind_addresses;
  bool loopback_only = false;
  bool include_loopback = false;
  bool include_link_local = false;
  bool ipv4 = true;
  bool ipv6 = true;
  // Host socket ports are taken from [port_min, port_max]; 0/0 = ephemeral.
  uint16_t port_min = 0;
  uint16_t port_max = 0;
  UdpSocketOptions socket;

  // TLS to TURN servers (transport kTls): common policy, plus a per-server
  // name for SNI and certificate matching (default: the server's IP).
  TlsClientConfig tls;
  std::map<SocketAddress, std::string> tls_server_names;

  LogFn log;
};

class IceAgentRunner {
 public:
  using EventHandler = std::function<void(const ice::AgentEvent&)>;
  using DataHandler = std::function<void(ByteView data)>;
  using Command = std::function<void(ice::Agent& agent, Instant now)>;

  IceAgentRunner(boost::asio::io_context& io, IceAgentRunnerOptions options, Rng& rng);
  ~IceAgentRunner();
  IceAgentRunner(const IceAgentRunner&) = delete;
  IceAgentRunner& operator=(const IceAgentRunner&) = delete;

  void set_on_event(EventHandler handler) { on_event_ = std::move(handler); }
  void set_on_application_data(DataHandler handler) { on_data_ = std::move(handler); }

  // Binds the host sockets and starts gathering. Returns false (with *error)
  // if no socket could be bound; addresses that fail individually are logged
  // and skipped.
  [[nodiscard]] bool Start(std::string* error);

  // Thread-safe: runs `command` on the loop thread with the agent and the
  // current time, then drains. Dropped if the runner is gone by then.
  void Post(Command command);

  // Loop-thread conveniences (each calls the agent, then drains).
  void Run(const Command& command);
  [[nodiscard]] ice::SendResult SendData(ByteView data);
  void Close();

  const ice::Agent& agent() const { return *agent_; }
  ice::AgentStats GetStats() const { return agent_->GetStats(); }
  std::vector<SocketAddress> local_addresses() const;
  std::optional<Instant> next_deadline() const { return timer_.armed(); }

 private:
  using StreamKey = std::pair<SocketAddress, SocketAddress>;  // (source, server)
  void OnDatagram(const SocketAddress& local, const SocketAddress& from, ByteView data);
  void SendStream(const ice::Transmit& tx);
  void Drain();
  void Bury(std::unique_ptr<StreamConnection> conn);

  boost::asio::io_context& io_;
  IceAgentRunnerOptions options_;
  std::unique_ptr<ice::Agent> agent_;
  EventHandler on_event_;
  DataHandler on_data_;
  std::map<SocketAddress, std::unique_ptr<UdpSocket>> sockets_;
  std::map<StreamKey, std::unique_ptr<StreamConnection>> streams_;
  std::vector<std::unique_ptr<StreamConnection>> graveyard_;
  std::shared_ptr<boost::asio::ssl::context> tls_context_;
  CoreTimer timer_;
  uint64_t unknown_source_drops_ = 0;
  bool draining_ = false;
  bool drain_again_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace peerlink::runtime
