// Drivers that run sans-I/O cores (ice::Agent, stun::BindingServer,
// turn::Server) inside the simulated network, and a two-peer ICE scenario
// with trickle signaling. Shared by the ICE simulation tests.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/ice/agent.h"
#include "src/stun/binding_server.h"
#include "src/turn/server.h"
#include "tests/sim/network.h"

namespace peerlink::sim {

// One ICE agent on one simulated host socket.
class SimIceAgent {
 public:
  SimIceAgent(Network& net, HostId host, const ice::AgentConfig& config, Rng& rng);
  void Start();
  ice::Agent& agent() { return *agent_; }
  void Drain();

  std::function<void(const ice::AgentEvent&)> on_event;
  std::vector<std::string> received_data;
  std::optional<ice::SelectedPairEvent> selected;
  std::vector<ice::State> states;
  std::string last_reason;

 private:
  void ArmTimer(Instant at);
  Network& net_;
  SocketAddress bound_;
  std::unique_ptr<ice::Agent> agent_;
  std::optional<TimerId> timer_;
  Instant timer_at_ = Instant::Max();
};

class SimStunServer {
 public:
  SimStunServer(Network& net, HostId host, uint16_t port = 3478);
  SocketAddress address() const { return address_; }

 private:
  stun::BindingServer server_;
  SocketAddress address_;
};

class SimTurnServer {
 public:
  SimTurnServer(Network& net, HostId host, IpAddress relay_ip, Rng& rng, uint16_t port = 3478);
  SocketAddress address() const { return address_; }
  turn::Server& server() { return *server_; }

 private:
  void Drain();
  Network& net_;
  HostId host_;
  SocketAddress address_;
  std::unique_ptr<turn::Server> server_;
  std::optional<TimerId> timer_;
};

}  // namespace peerlink::sim
