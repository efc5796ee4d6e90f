// Test helper: two Connections wired back to back in memory (one host address each, no NAT,
// 1 ms one-way delay, optional drop/tamper filter), with virtual time and trickle signaling
// done by hand. Header-only; used by the unit tests and the fuzzer.
//
// DTLS's retransmission timer reads the real clock (src/dtls/endpoint.h). Virtual time is
// fine here because nothing is lost unless a test drops it: no handshake flight needs resending.
#pragma once

#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "src/base/check.h"
#include "src/base/rng.h"
#include "src/peer/connection.h"

namespace peerlink::peer::testing {

inline std::shared_ptr<const dtls::Certificate> TestCertificate(int which) {
  static std::shared_ptr<const dtls::Certificate> certs[2];
  if (!certs[which]) {
    SeededRng rng(100 + which);
    auto c = dtls::Certificate::Generate(rng);
    PL_CHECK(c.ok());
    certs[which] = *c;
  }
  return certs[which];
}

class Pair {
 public:
  struct Side {
    std::unique_ptr<Connection> conn;
    SocketAddress address;
    std::vector<Event> events;
    std::vector<ConnectionState> states;
    Instant deadline = Instant::Max();
    bool keep_messages = true;
    std::vector<datachannel::Message> messages;
    std::vector<datachannel::ChannelId> opened;
    std::vector<datachannel::IncomingChannel> incoming;
    std::vector<datachannel::ChannelId> closed_channels;
    std::string last_reason;
  };
  struct InFlight {
    Instant at;
    bool to_a;
    SocketAddress from, to;
    std::vector<uint8_t> bytes;
  };
  // Return true to drop; may modify the datagram in place.
  using Filter = std::function<bool(bool from_a, std::vector<uint8_t>& datagram)>;
  using EventHook = std::function<void(bool is_a, Event& e)>;

  static Options DefaultOptions(int which) {
    Options o;
    o.certificate = TestCertificate(which);
    o.ice.role = which == 0 ? ice::Role::kControlling : ice::Role::kControlled;
    return o;
  }

  // a_dtls_client: A (the ICE controlling side) is the DTLS client; else B is.
  Pair(Options oa, Options ob, bool a_dtls_client = false, uint64_t seed = 1)
      : rng_a_(seed * 2 + 1),
        rng_b_(seed * 2 + 2),
        now_(Instant::FromNanos(1'000'000'000)),
        a_dtls_client_(a_dtls_client) {
    a_.address = *SocketAddress::Parse("10.0.0.1:5000");
    b_.address = *SocketAddress::Parse("10.0.0.2:5000");
    a_.conn = std::make_unique<Connection>(oa, rng_a_, now_);
    b_.conn = std::make_unique<Connection>(ob, rng_b_, now_);
  }
  Pair() : Pair(DefaultOptions(0), DefaultOptions(1)) {}

  Connection& a() { return *a_.conn; }
  Connection& b() { return *b_.conn; }
  Side& side(bool is_a) { return is_a ? a_ : b_; }
  Side& side_a() { return a_; }
  Side& side_b() { return b_; }
  Instant now() const { return now_; }
  void set_filter(Filter f) { filter_ = std::move(f); }
  EventHook on_event;

  RemoteParams ParamsFor(bool for_a) {
    Connection& other = for_a ? b() : a();
    RemoteParams p;
    p.ice = other.local_ice_credentials();
    p.fingerprints = {other.local_fingerprint()};
    p.dtls_role = (for_a == a_dtls_client_) ? dtls::Role::kClient : dtls::Role::kServer;
    p.max_message_size = other.options().max_message_size;
    p.sctp_port = other.options().sctp_port;
    return p;
  }

  // Gathering + remote parameters (optionally overridden), then runs until both are connected.
  void Start(std::optional<RemoteParams> for_a = std::nullopt, std::optional<RemoteParams> for_b = std::nullopt) {
    a().AddLocalAddress(now_, a_.address);
    b().AddLocalAddress(now_, b_.address);
    a().StartGathering(now_);
    b().StartGathering(now_);
    PL_CHECK(a().SetRemoteParameters(now_, for_a ? *for_a : ParamsFor(true)) == RemoteParamsStatus::kOk);
    PL_CHECK(b().SetRemoteParameters(now_, for_b ? *for_b : ParamsFor(false)) == RemoteParamsStatus::kOk);
    DrainAll();
  }
  bool Connect(Duration limit = Duration::Seconds(10)) {
    Start();
    return RunUntil([&] { return Connected(); }, limit);
  }
  bool Connected() {
    return a().connection_state() == ConnectionState::kConnected &&
           b().connection_state() == ConnectionState::kConnected && a().sctp_state() == sctp::State::kEstablished &&
           b().sctp_state() == sctp::State::kEstablished;
  }

  void DrainAll() {
    Drain(true);
    Drain(false);
  }

  void Drain(bool is_a) {
    Side& s = side(is_a);
    for (int i = 0; i < 1'000'000; ++i) {
      Output o = s.conn->PollOutput(now_);
      if (auto* t = std::get_if<Transmit>(&o)) {
        InFlight f{now_ + Duration::Millis(1), !is_a, t->local, t->remote, std::move(t->bytes)};
        if (filter_ && filter_(is_a, f.bytes)) continue;
        wire_.push_back(std::move(f));
      } else if (auto* e = std::get_if<Event>(&o)) {
        Record(is_a, *e);
      } else {
        s.deadline = std::get<Deadline>(o).at;
        PL_CHECK(s.conn->IsConsistent());
        return;
      }
    }
    PL_CHECK(false && "connection did not drain");
  }

  // One step of virtual time: deliver what is due, fire due timers, else jump ahead.
  void Step() {
    Instant next = std::min(a_.deadline, b_.deadline);
    for (const InFlight& f : wire_)
      next = std::min(next, f.at);
    if (next == Instant::Max()) next = now_ + Duration::Millis(100);
    now_ = std::max(now_, next);
    std::vector<InFlight> due;  // every datagram has the same delay: the wire is FIFO
    while (!wire_.empty() && wire_.front().at <= now_) {
      due.push_back(std::move(wire_.front()));
      wire_.pop_front();
    }
    for (InFlight& f : due) {
      Side& dst = f.to_a ? a_ : b_;
      if (f.to != dst.address) continue;
      dst.conn->HandleDatagram(now_, f.to, f.from, f.bytes);
      Drain(f.to_a);
    }
    for (bool is_a : {true, false}) {
      Side& s = side(is_a);
      if (s.deadline <= now_) {
        s.conn->HandleTimeout(now_);
        Drain(is_a);
      }
    }
    DrainAll();  // trickled candidates reached the other side from inside Record()
  }

  template <class Pred>
  bool RunUntil(Pred pred, Duration limit) {
    const Instant end = now_ + limit;
    for (int i = 0; i < 5'000'000 && now_ <= end; ++i) {
      if (pred()) return true;
      Step();
    }
    return pred();
  }

  size_t in_flight() const { return wire_.size(); }

 private:
  void Record(bool is_a, Event& e) {
    Side& s = side(is_a);
    Side& other = side(!is_a);
    if (on_event) on_event(is_a, e);
    if (auto* c = std::get_if<IceCandidate>(&e)) {
      other.conn->AddRemoteCandidate(now_, c->candidate);  // trickle, immediately
    } else if (auto* g = std::get_if<IceGatheringStateChange>(&e)) {
      if (g->state == ice::GatheringState::kComplete) other.conn->EndOfRemoteCandidates(now_);
    } else if (auto* cs = std::get_if<ConnectionStateChange>(&e)) {
      s.states.push_back(cs->state);
      if (!cs->reason.empty()) s.last_reason = cs->reason;
    } else if (auto* m = std::get_if<datachannel::Message>(&e)) {
      if (s.keep_messages) s.messages.push_back(std::move(*m));
      return;
    } else if (auto* o = std::get_if<datachannel::ChannelOpened>(&e)) {
      s.opened.push_back(o->id);
    } else if (auto* in = std::get_if<datachannel::IncomingChannel>(&e)) {
      s.incoming.push_back(*in);
    } else if (auto* cc = std::get_if<datachannel::ChannelClosed>(&e)) {
      s.closed_channels.push_back(cc->id);
    }
    if (s.events.size() < 100000) s.events.push_back(e);
  }

  SeededRng rng_a_, rng_b_;
  Side a_, b_;
  Instant now_;
  bool a_dtls_client_;
  std::deque<InFlight> wire_;
  Filter filter_;
};

}  // namespace peerlink::peer::testing
