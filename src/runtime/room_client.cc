// The room client: SignalingClient events in, one PeerConnection per peer out. Everything about
// peers is decided on the room's thread; connection events are posted to it (never waited for),
// so a connection's thread never blocks on the room and the room only ever waits on connections.
#include "src/runtime/room_client.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include "src/base/rng.h"
#include "src/dtls/certificate.h"

namespace peerlink::runtime {

namespace asio = boost::asio;
namespace yw = signaling::ywebrtc;

class RoomClient::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(RoomClientOptions options, RoomClientCallbacks callbacks, LogFn log, std::shared_ptr<Runtime> runtime)
      : options_(std::move(options)),
        callbacks_(std::move(callbacks)),
        log_(std::move(log)),
        runtime_(std::move(runtime)) {
    if (!runtime_) runtime_ = Runtime::Create(1);
    if (!options_.peer.certificate) {
      CryptoRng rng;
      auto generated = dtls::Certificate::Generate(rng);
      if (!generated.ok()) throw std::runtime_error("cannot generate a DTLS certificate: " + generated.error());
      options_.peer.certificate = std::move(generated).value();
    }
    if (options_.max_connections == 0) options_.max_connections = 1;
  }

  void Init() {
    std::weak_ptr<Impl> weak = weak_from_this();
    SignalingClientCallbacks cb;
    cb.on_peer_left = [weak](const std::string& peer) {
      // Also the echo of our own RemovePeer, after Drop has already forgotten the peer.
      auto self = weak.lock();
      if (self && self->peers_.count(peer)) self->Drop(peer, "the peer left the room", /*forget=*/false);
    };
    cb.on_role = [weak](const std::string& peer, signaling::PeerRole role) {
      if (auto self = weak.lock()) self->OnRole(peer, role);
    };
    cb.on_signal = [weak](const std::string& peer, const yw::PeerSignal& signal, const std::string& identity) {
      if (auto self = weak.lock()) self->OnSignal(peer, signal, identity);
    };
    cb.on_error = [weak](const signaling::ClientError& e) {
      auto self = weak.lock();
      if (self && self->callbacks_.on_error) self->callbacks_.on_error(e);
    };
    cb.on_connection = [weak](size_t server, bool up, std::string_view reason) {
      auto self = weak.lock();
      if (self && self->callbacks_.on_signaling) self->callbacks_.on_signaling(server, up, reason);
    };
    signaling_ = std::make_unique<SignalingClient>(io_, options_.signaling, std::move(cb), log_);
  }

  const std::string& peer_id() const { return signaling_->peer_id(); }

  void Start() {
    std::lock_guard lock(run_mu_);
    if (thread_.joinable() || stopped_) return;
    guard_.emplace(asio::make_work_guard(io_));
    std::promise<void> done;
    run_done_ = done.get_future();
    signaling_->Start();
    ScheduleHealthCheck();
    // The thread holds the room: if the last reference is dropped on it, the room is destroyed
    // after io_.run() has returned, never under it.
    thread_ = std::thread([self = shared_from_this(), done = std::move(done)]() mutable {
      self->io_.run();
      done.set_value();
    });
  }

  // See RoomClient::Stop. From the room's own thread (a callback) the connections are closed at
  // once and the thread ends by itself when the signaling connections are closed.
  void Stop() {
    std::lock_guard lock(run_mu_);
    if (stopped_) return;
    stopped_ = true;
    closing_.store(true);
    if (!thread_.joinable()) {
      signaling_->Stop();  // never started: nothing runs
      return;
    }
    if (std::this_thread::get_id() == thread_.get_id()) return Shutdown();
    asio::post(io_, [self = shared_from_this()] { self->Shutdown(); });
    // Graceful WebSocket closes are bounded by the signaling client; this bounds the rest.
    if (run_done_.wait_for(std::chrono::seconds(10)) == std::future_status::timeout) io_.stop();
    thread_.join();
  }

  ~Impl() {
    // Only reached on the room's thread itself (its last reference was released there, after
    // io_.run() returned) when Stop() was called from a callback.
    if (thread_.joinable()) thread_.detach();
  }

  std::shared_ptr<PeerConnection> connection(const std::string& peer) const {
    std::lock_guard lock(view_mu_);
    auto it = view_.find(peer);
    return it == view_.end() ? nullptr : it->second;
  }
  size_t connection_count() const {
    std::lock_guard lock(view_mu_);
    return view_.size();
  }

 private:
  struct Peer {
    RoomPeerInfo info;
    std::shared_ptr<PeerConnection> pc;
    uint64_t generation = 0;  // events of a replaced connection are ignored
    bool remote_set = false;
    bool connected = false;
    std::vector<IceCandidate> held;
    std::unique_ptr<asio::steady_timer> deadline;
  };

  // --- room thread ---------------------------------------------------------------------------

  void Shutdown() {
    std::vector<std::shared_ptr<PeerConnection>> pcs;
    for (auto& [id, p] : peers_) {
      if (p.deadline) p.deadline->cancel();
      if (p.pc) pcs.push_back(std::move(p.pc));
    }
    peers_.clear();
    waiting_.clear();
    {
      std::lock_guard lock(view_mu_);
      view_.clear();
    }
    // Close gracefully (SCTP SHUTDOWN, then DTLS close_notify) so the peers see us leave at
    // once, and release the connections when that is done or after 2 s. A connection whose last
    // reference is ours is destroyed here, waiting at most for a running callback (they only post).
    // Leave the room first: a peer that sees us close re-announces itself, and we must not
    // answer that as if we were staying.
    signaling_->Stop();
    for (auto& pc : pcs)
      pc->Close();
    health_.cancel();
    ReleaseWhenClosed(std::move(pcs), std::chrono::steady_clock::now() + std::chrono::seconds(2));
  }

  void ReleaseWhenClosed(std::vector<std::shared_ptr<PeerConnection>> pcs,
                         std::chrono::steady_clock::time_point deadline) {
    std::erase_if(pcs, [](const auto& pc) { return pc->connection_state() == PeerConnectionState::kClosed; });
    if (pcs.empty() || std::chrono::steady_clock::now() >= deadline) {
      pcs.clear();
      guard_.reset();
      return;
    }
    health_.expires_after(std::chrono::milliseconds(20));
    health_.async_wait(
        [weak = weak_from_this(), pcs = std::move(pcs), deadline](const boost::system::error_code&) mutable {
          if (auto self = weak.lock()) self->ReleaseWhenClosed(std::move(pcs), deadline);
        });
  }

  // A peer that closes its end (SCTP shutdown, DTLS close_notify) leaves our connection
  // "connected" by the W3C rules until consent expires (30 s). Each second, connected peers whose
  // SCTP association or DTLS transport has closed are dropped at once.
  void ScheduleHealthCheck() {
    health_.expires_after(std::chrono::seconds(1));
    health_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->closing_) return;
      std::vector<std::string> closed;
      for (const auto& [id, p] : self->peers_) {
        if (!p.pc || !p.connected) continue;
        const Stats st = p.pc->GetStats();
        // "closing": the peer sent SHUTDOWN (we never close a connection we still track).
        if (st.transport.dtlsState == "closed" || st.sctp.state == "closing" || st.sctp.state == "closed")
          closed.push_back(id);
      }
      for (const auto& id : closed)
        self->Drop(id, "the peer closed the connection", true);
      self->ScheduleHealthCheck();
    });
  }

  size_t LiveConnections() const {
    size_t n = 0;
    for (const auto& [id, p] : peers_)
      n += p.pc ? 1 : 0;
    return n;
  }

  void OnRole(const std::string& peer, signaling::PeerRole role) {
    if (closing_) return;
    if (role == signaling::PeerRole::kCallee) {
      // We wait for its offer. A caller attempt of ours (a y-webrtc peer won glare) is dropped
      // quietly: the answer to its offer replaces it.
      auto it = peers_.find(peer);
      if (it != peers_.end() && it->second.info.caller) ResetConnection(it->second);
      waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), peer), waiting_.end());
      return;
    }
    auto it = peers_.find(peer);
    if (it != peers_.end() && it->second.pc) return;  // already calling it
    if (LiveConnections() >= options_.max_connections) {
      if (std::find(waiting_.begin(), waiting_.end(), peer) == waiting_.end()) {
        if (waiting_.size() >= 256) waiting_.pop_front();
        waiting_.push_back(peer);
      }
      Log(log_, "room: " + std::to_string(options_.max_connections) + " connections already; peer " + peer +
                    " waits for one to end");
      return;
    }
    Call(peer);
  }

  void Call(const std::string& peer) {
    Peer& p = peers_[peer];
    p.info.peer_id = peer;
    p.info.caller = true;
    if (!MakeConnection(p)) return;
    auto channel = p.pc->CreateDataChannel(options_.channel_label, options_.channel);
    if (!channel.ok()) return Drop(peer, "CreateDataChannel: " + channel.error().message, true);
    if (callbacks_.on_channel) callbacks_.on_channel(p.info, *channel);
    auto offer = p.pc->CreateOffer();
    if (!offer.ok()) return Drop(peer, "CreateOffer: " + offer.error().message, true);
    if (auto r = p.pc->SetLocalDescription(*offer); !r.ok())
      return Drop(peer, "SetLocalDescription: " + r.error().message, true);
    signaling_->SendSignal(peer, yw::SessionDescriptionSignal{yw::SessionDescriptionSignal::Type::kOffer, offer->sdp},
                           SendDone(peer, "offer"));
  }

  void OnSignal(const std::string& peer, const yw::PeerSignal& signal, const std::string& identity) {
    if (closing_) return;
    if (const auto* d = std::get_if<yw::SessionDescriptionSignal>(&signal)) {
      if (d->type == yw::SessionDescriptionSignal::Type::kOffer) return OnOffer(peer, d->sdp, identity);
      return OnAnswer(peer, d->sdp, identity);
    }
    if (const auto* c = std::get_if<yw::CandidateSignal>(&signal)) {
      IceCandidate candidate{c->candidate, c->sdp_mid.value_or("0"),
                             static_cast<uint16_t>(c->sdp_mline_index.value_or(0))};
      Peer& p = peers_[peer];  // candidates may overtake the offer (another server)
      p.info.peer_id = peer;
      if (p.pc && p.remote_set) return AddCandidate(p, candidate);
      if (p.held.size() >= options_.max_held_candidates) {
        Log(log_, "room: peer " + peer + " sent more than " + std::to_string(options_.max_held_candidates) +
                      " candidates before its description; dropped one");
        return;
      }
      p.held.push_back(std::move(candidate));
      return;
    }
    Log(log_, "room: peer " + peer + " asked for renegotiation or a media transceiver; data channels only here");
  }

  void OnOffer(const std::string& peer, const std::string& sdp, const std::string& identity) {
    Peer& p = peers_[peer];
    p.info.peer_id = peer;
    if (p.pc) {
      if (p.info.caller) {
        // The signaling core forwards a crossing offer only when we yielded (BecomeCallee came
        // first), so this is a peer that started over; follow it.
        Log(log_, "room: peer " + peer + " offered while we were calling it; answering instead");
      } else {
        Log(log_, "room: peer " + peer + " sent a new offer; replacing its connection");
      }
      std::vector<IceCandidate> held = std::move(p.held);
      ResetConnection(p);
      p.held = std::move(held);  // may already belong to the new offer
    }
    if (LiveConnections() >= options_.max_connections) {
      Log(log_, "room: " + std::to_string(options_.max_connections) + " connections already; offer from " + peer +
                    " ignored");
      peers_.erase(peer);
      return;
    }
    p.info.caller = false;
    p.info.verified_identity = identity;
    if (!MakeConnection(p)) return;
    auto r = p.pc->SetRemoteDescription({SdpType::kOffer, sdp});
    if (!r.ok()) return Drop(peer, "SetRemoteDescription(offer): " + r.error().message, true);
    p.remote_set = true;
    FlushHeld(p);
    auto answer = p.pc->CreateAnswer();
    if (!answer.ok()) return Drop(peer, "CreateAnswer: " + answer.error().message, true);
    if (auto l = p.pc->SetLocalDescription(*answer); !l.ok())
      return Drop(peer, "SetLocalDescription: " + l.error().message, true);
    signaling_->SendSignal(peer, yw::SessionDescriptionSignal{yw::SessionDescriptionSignal::Type::kAnswer, answer->sdp},
                           SendDone(peer, "answer"));
  }

  void OnAnswer(const std::string& peer, const std::string& sdp, const std::string& identity) {
    auto it = peers_.find(peer);
    if (it == peers_.end() || !it->second.pc || !it->second.info.caller || it->second.remote_set) {
      Log(log_, "room: unexpected answer from peer " + peer + " ignored");
      return;
    }
    Peer& p = it->second;
    auto r = p.pc->SetRemoteDescription({SdpType::kAnswer, sdp});
    if (!r.ok()) return Drop(peer, "SetRemoteDescription(answer): " + r.error().message, true);
    p.info.verified_identity = identity;
    p.remote_set = true;
    FlushHeld(p);
  }

  void FlushHeld(Peer& p) {
    std::vector<IceCandidate> held = std::move(p.held);
    p.held.clear();
    for (const auto& c : held)
      AddCandidate(p, c);
  }
  void AddCandidate(Peer& p, const IceCandidate& c) {
    // An unusable candidate (another address family, an unresolvable name) is not fatal.
    if (auto r = p.pc->AddIceCandidate(c); !r.ok())
      Log(log_, "room: candidate from " + p.info.peer_id + " refused: " + r.error().message);
  }

  // Creates p.pc with its event handlers and the connect deadline. False (and the peer dropped)
  // if the connection cannot be created.
  bool MakeConnection(Peer& p) {
    const std::string peer = p.info.peer_id;
    try {
      p.pc = std::make_shared<PeerConnection>(options_.peer, runtime_);
    } catch (const std::exception& e) {
      Drop(peer, std::string("cannot create a peer connection: ") + e.what(), true);
      return false;
    }
    p.generation = ++generation_;
    p.remote_set = false;
    p.connected = false;
    const uint64_t gen = p.generation;
    std::weak_ptr<Impl> weak = weak_from_this();
    // Connection thread -> room thread, never blocking.
    auto post = [weak](auto fn) {
      if (auto self = weak.lock()) {
        asio::post(self->io_, [weak, fn = std::move(fn)] {
          if (auto s = weak.lock()) fn(*s);
        });
      }
    };
    p.pc->OnIceCandidate([post, peer, gen](const IceCandidate& c) {
      post([peer, gen, c](Impl& self) { self.OnLocalCandidate(peer, gen, c); });
    });
    p.pc->OnConnectionStateChange(
        [post, peer, gen](PeerConnectionState s) { post([peer, gen, s](Impl& self) { self.OnState(peer, gen, s); }); });
    if (!p.info.caller) {
      RoomPeerInfo info = p.info;
      p.pc->OnDataChannel([weak, info](std::shared_ptr<DataChannel> channel) {
        auto self = weak.lock();
        if (!self || self->closing_) return;
        if (self->callbacks_.on_channel) self->callbacks_.on_channel(info, std::move(channel));
      });
    }
    p.deadline = std::make_unique<asio::steady_timer>(io_);
    p.deadline->expires_after(std::chrono::nanoseconds(options_.connect_timeout.nanos()));
    p.deadline->async_wait([weak, peer, gen](const boost::system::error_code& ec) {
      if (ec) return;
      auto self = weak.lock();
      if (!self) return;
      auto it = self->peers_.find(peer);
      if (it == self->peers_.end() || it->second.generation != gen || it->second.connected) return;
      self->Drop(peer, "not connected within the connect timeout", true);
    });
    {
      std::lock_guard lock(view_mu_);
      view_[peer] = p.pc;
    }
    return true;
  }

  void OnLocalCandidate(const std::string& peer, uint64_t gen, const IceCandidate& c) {
    auto it = peers_.find(peer);
    if (closing_ || it == peers_.end() || it->second.generation != gen) return;
    yw::CandidateSignal s{c.candidate, c.sdp_mid, c.sdp_mline_index};
    signaling_->SendSignal(peer, s, SendDone(peer, "candidate"));
  }

  void OnState(const std::string& peer, uint64_t gen, PeerConnectionState s) {
    auto it = peers_.find(peer);
    if (closing_ || it == peers_.end() || it->second.generation != gen) return;
    Peer& p = it->second;
    if (s == PeerConnectionState::kConnected && !p.connected) {
      p.connected = true;
      if (p.deadline) p.deadline->cancel();
    }
    if (callbacks_.on_state) callbacks_.on_state(p.info, s);
    if (s == PeerConnectionState::kFailed) Drop(peer, "the connection failed (ICE or DTLS)", true);
    if (s == PeerConnectionState::kClosed) Drop(peer, "the connection closed", true);
  }

  std::function<void(signaling::SendStatus)> SendDone(const std::string& peer, const char* what) {
    std::weak_ptr<Impl> weak = weak_from_this();
    return [weak, peer, what](signaling::SendStatus st) {
      if (st == signaling::SendStatus::kSent || st == signaling::SendStatus::kQueued) return;
      auto self = weak.lock();
      if (!self) return;
      Log(self->log_,
          std::string("room: ") + what + " to " + peer + " not sent: " + std::string(signaling::ToString(st)));
    };
  }

  // Forgets the connection attempt but keeps the peer's entry (its role).
  void ResetConnection(Peer& p) {
    if (p.deadline) p.deadline->cancel();
    if (p.pc) {
      p.pc->Close();
      p.pc.reset();
      std::lock_guard lock(view_mu_);
      view_.erase(p.info.peer_id);
    }
    p.generation = ++generation_;
    p.remote_set = false;
    p.connected = false;
    p.held.clear();
  }

  // Ends the connection to `peer`. `forget`: also tell the signaling client, which forgets the
  // peer and announces us again so that it can be rediscovered.
  void Drop(const std::string& peer, const std::string& reason, bool forget) {
    auto it = peers_.find(peer);
    const bool had = it != peers_.end();
    if (had) {
      ResetConnection(it->second);
      peers_.erase(it);
    }
    waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), peer), waiting_.end());
    if (closing_) return;
    Log(log_, "room: peer " + peer + ": " + reason);
    if (forget) signaling_->RemovePeer(peer);
    if (had && callbacks_.on_peer_gone) callbacks_.on_peer_gone(peer, reason);
    // A free slot goes to the longest-waiting peer we are the caller of.
    while (!waiting_.empty() && LiveConnections() < options_.max_connections) {
      std::string next = waiting_.front();
      waiting_.pop_front();
      Call(next);
    }
  }

  RoomClientOptions options_;
  RoomClientCallbacks callbacks_;
  LogFn log_;
  std::shared_ptr<Runtime> runtime_;
  asio::io_context io_{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  std::unique_ptr<SignalingClient> signaling_;
  asio::steady_timer health_{io_};
  std::mutex run_mu_;
  std::thread thread_;
  std::future<void> run_done_;
  bool stopped_ = false;
  std::atomic<bool> closing_{false};
  // Room thread only.
  std::map<std::string, Peer> peers_;
  std::deque<std::string> waiting_;  // callers held back by max_connections
  uint64_t generation_ = 0;
  // Any thread.
  mutable std::mutex view_mu_;
  std::map<std::string, std::shared_ptr<PeerConnection>> view_;
};

RoomClient::RoomClient(RoomClientOptions options,
                       RoomClientCallbacks callbacks,
                       LogFn log,
                       std::shared_ptr<Runtime> runtime)
    : impl_(std::make_shared<Impl>(std::move(options), std::move(callbacks), std::move(log), std::move(runtime))) {
  impl_->Init();
}

RoomClient::~RoomClient() {
  impl_->Stop();
}

const std::string& RoomClient::peer_id() const {
  return impl_->peer_id();
}
void RoomClient::Start() {
  impl_->Start();
}
void RoomClient::Stop() {
  impl_->Stop();
}
std::shared_ptr<PeerConnection> RoomClient::connection(const std::string& peer_id) const {
  return impl_->connection(peer_id);
}
size_t RoomClient::connection_count() const {
  return impl_->connection_count();
}

}  // namespace peerlink::runtime
