// Drives an sctp::Association inside the simulator: one UDP socket per
// association, one SCTP packet per datagram (as DTLS would carry it), one
// timer for the association's deadline.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "src/base/rng.h"
#include "src/sctp/association.h"
#include "tests/sim/network.h"

namespace peerlink::sim {

class SctpEndpoint {
 public:
  SctpEndpoint(Network& net, HostId host, uint16_t port, const sctp::Options& options, uint64_t seed)
      : net_(net), rng_(seed), assoc_(options, rng_, net.now()) {
    local_ = net_.Bind(host, port, [this](Instant now, const SocketAddress&, const SocketAddress&, ByteView p) {
      assoc_.HandlePacket(now, p);
      Drain(now);
    });
  }
  ~SctpEndpoint() {
    if (timer_) net_.Cancel(*timer_);
  }

  void set_peer(const SocketAddress& peer) { peer_ = peer; }
  const SocketAddress& local() const { return local_; }
  sctp::Association& assoc() { return assoc_; }
  std::function<void(Instant, sctp::Event&)> on_event;

  // Call after any direct API use (Connect, Send, ...).
  void Drain(Instant now) {
    for (int i = 0; i < 1000000; ++i) {
      sctp::Output out = assoc_.PollOutput(now);
      if (auto* t = std::get_if<sctp::Transmit>(&out)) {
        net_.Send(local_, peer_, t->packet);
      } else if (auto* e = std::get_if<sctp::Event>(&out)) {
        if (on_event) on_event(now, *e);
      } else {
        ArmTimer(std::get<sctp::Deadline>(out).at);
        return;
      }
    }
  }

 private:
  void ArmTimer(Instant at) {
    if (timer_ && timer_at_ == at) return;
    if (timer_) net_.Cancel(*timer_);
    timer_.reset();
    if (at == Instant::Max()) return;
    timer_at_ = at;
    timer_ = net_.ScheduleAt(at, [this](Instant now) {
      timer_.reset();
      assoc_.HandleTimeout(now);
      Drain(now);
    });
  }

  Network& net_;
  SeededRng rng_;
  sctp::Association assoc_;
  SocketAddress local_, peer_;
  std::optional<TimerId> timer_;
  Instant timer_at_;
};

}  // namespace peerlink::sim
