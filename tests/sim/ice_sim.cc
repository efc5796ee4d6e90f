#include "tests/sim/ice_sim.h"

#include "src/base/check.h"

namespace peerlink::sim {

SimIceAgent::SimIceAgent(Network& net, HostId host, const ice::AgentConfig& config, Rng& rng) : net_(net) {
  agent_ = std::make_unique<ice::Agent>(config, rng, net.now());
  bound_ = net.Bind(host, 5000, [this](Instant now, const SocketAddress& from, const SocketAddress& to, ByteView p) {
    if (agent_->HandleDatagram(now, to, from, p) == ice::Received::kApplicationData)
      received_data.emplace_back(p.begin(), p.end());
    PL_CHECK(agent_->IsConsistent());
    Drain();
  });
}

void SimIceAgent::Start() {
  agent_->AddLocalAddress(net_.now(), bound_);
  agent_->StartGathering(net_.now());
  Drain();
}

void SimIceAgent::Drain() {
  const Instant now = net_.now();
  for (int guard = 0; guard < 100000; ++guard) {
    ice::Output out = agent_->PollOutput(now);
    if (auto* t = std::get_if<ice::Transmit>(&out)) {
      PL_CHECK(t->transport == TransportProtocol::kUdp);  // the simulator models UDP only
      net_.Send(t->source, t->destination, t->data);
    } else if (auto* e = std::get_if<ice::AgentEvent>(&out)) {
      if (auto* s = std::get_if<ice::StateEvent>(e)) {
        states.push_back(s->state);
        last_reason = s->reason;
      } else if (auto* sp = std::get_if<ice::SelectedPairEvent>(e)) {
        selected = *sp;
      } else if (auto* d = std::get_if<ice::ApplicationDataEvent>(e)) {
        received_data.emplace_back(d->data.begin(), d->data.end());
      }
      if (on_event) on_event(*e);
    } else {
      ArmTimer(std::get<ice::Deadline>(out).at);
      return;
    }
  }
  PL_CHECK(false && "ICE agent output did not drain");
}

void SimIceAgent::ArmTimer(Instant at) {
  if (timer_ && at == timer_at_) return;
  if (timer_) net_.Cancel(*timer_);
  timer_.reset();
  timer_at_ = at;
  if (at == Instant::Max()) return;
  timer_ = net_.ScheduleAt(std::max(at, net_.now()), [this](Instant now) {
    timer_.reset();
    timer_at_ = Instant::Max();
    agent_->HandleTimeout(now);
    PL_CHECK(agent_->IsConsistent());
    Drain();
  });
}

SimStunServer::SimStunServer(Network& net, HostId host, uint16_t port) {
  address_ =
      net.Bind(host, port, [this, &net](Instant, const SocketAddress& from, const SocketAddress& to, ByteView p) {
        if (auto resp = server_.HandleDatagram(from, p)) net.Send(to, from, *resp);
      });
}

SimTurnServer::SimTurnServer(Network& net, HostId host, IpAddress relay_ip, Rng& rng, uint16_t port)
    : net_(net), host_(host) {
  turn::ServerOptions o;
  o.realm = "sim.test";
  o.users["user"] = "pass";
  o.relay_ip = relay_ip;
  server_ = std::make_unique<turn::Server>(std::move(o), rng, net.now());
  address_ = net.Bind(host, port, [this](Instant now, const SocketAddress& from, const SocketAddress&, ByteView p) {
    server_->HandleFromClient(now, from, p);
    Drain();
  });
}

void SimTurnServer::Drain() {
  const Instant now = net_.now();
  for (int guard = 0; guard < 100000; ++guard) {
    turn::ServerOutput out = server_->PollOutput(now);
    if (auto* c = std::get_if<turn::ToClient>(&out)) {
      net_.Send(address_, c->client, c->data);
    } else if (auto* p = std::get_if<turn::ToPeer>(&out)) {
      net_.Send(p->relayed, p->peer, p->data);
    } else if (auto* o = std::get_if<turn::RelayOpened>(&out)) {
      net_.Bind(host_, o->relayed.port(),
                [this](Instant n, const SocketAddress& from, const SocketAddress& to, ByteView payload) {
                  server_->HandleFromPeer(n, to, from, payload);
                  Drain();
                });
    } else if (auto* rc = std::get_if<turn::RelayClosed>(&out)) {
      net_.Unbind(rc->relayed);
    } else {
      const Instant at = std::get<turn::Deadline>(out).at;
      if (timer_) net_.Cancel(*timer_);
      timer_.reset();
      if (at != Instant::Max()) {
        timer_ = net_.ScheduleAt(std::max(at, now), [this](Instant n) {
          timer_.reset();
          server_->HandleTimeout(n);
          Drain();
        });
      }
      return;
    }
  }
  PL_CHECK(false && "TURN server output did not drain");
}

}  // namespace peerlink::sim
