// The runtime behind include/peerlink/peer_connection.h: a peer::Connection core driven on one
// io thread, with UDP sockets per local address, one CoreTimer, TURN streams, and the JSEP
// bookkeeping of the sdp layer. See docs/peer_connection.md.
#include "include/peerlink/peer_connection.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "src/base/rng.h"
#include "src/dtls/certificate.h"
#include "src/peer/connection.h"
#include "src/runtime/clock.h"
#include "src/runtime/core_timer.h"
#include "src/runtime/interfaces.h"
#include "src/runtime/log.h"
#include "src/runtime/mdns_service.h"
#include "src/runtime/stream_connection.h"
#include "src/runtime/turn_url.h"
#include "src/runtime/udp_socket.h"
#include "src/sdp/jsep.h"
#include "src/sdp/session_description.h"
#include "src/stun/message.h"

namespace peerlink {

namespace asio = boost::asio;

// --- Runtime -------------------------------------------------------------------------------------

// Certificates generated ahead of need on a worker thread of their own, so that a connection
// created without Configuration::certificate does not generate its P-256 key and self-signed
// certificate (~0.15 ms of CPU) on the caller's thread when it is constructed. Each one is handed
// out once; the worker starts with the first request and keeps kReady waiting.
class CertificatePool {
 public:
  static constexpr size_t kReady = 2;
  ~CertificatePool() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
  }
  // A pre-generated certificate, or null when none is ready (the caller generates one).
  std::shared_ptr<const dtls::Certificate> Take() {
    std::shared_ptr<const dtls::Certificate> c;
    {
      std::lock_guard lock(mu_);
      if (!worker_.joinable()) worker_ = std::thread([this] { Run(); });
      if (!ready_.empty()) {
        c = std::move(ready_.front());
        ready_.pop_front();
        ++taken_;
      } else {
        ++missed_;
      }
    }
    cv_.notify_one();
    return c;
  }
  RuntimeStats Stats() {
    std::lock_guard lock(mu_);
    return RuntimeStats{taken_, missed_, ready_.size()};
  }

 private:
  void Run() {
    CryptoRng rng;
    std::unique_lock lock(mu_);
    while (!stop_) {
      if (ready_.size() >= kReady || failed_) {
        cv_.wait(lock);
        continue;
      }
      lock.unlock();
      auto generated = dtls::Certificate::Generate(rng);
      lock.lock();
      if (generated.ok()) {
        ready_.push_back(std::move(generated).value());
      } else {
        failed_ = true;  // callers generate their own and report the error
      }
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<const dtls::Certificate>> ready_;
  uint64_t taken_ = 0, missed_ = 0;
  bool stop_ = false, failed_ = false;
  std::thread worker_;
};

struct Runtime::Impl {
  CertificatePool certificates;  // destroyed after the loops are joined (~Runtime)
  struct Loop {
    asio::io_context io{1};
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
    std::thread thread;
    std::thread::id id;
    bool OnThread() const { return std::this_thread::get_id() == id; }
  };
  std::vector<std::shared_ptr<Loop>> loops;
  std::atomic<size_t> next{0};
  std::shared_ptr<Loop> Pick() { return loops[next.fetch_add(1) % loops.size()]; }
};

namespace {

// Loop threads of runtimes destroyed on their own thread (e.g. the last connection destroyed in
// its own callback). Such a thread cannot join itself; detached, it could still be running when
// the process exits, and its per-thread OpenSSL state would leak (LeakSanitizer saw it in
// CloseFromInsideOnMessageAndDestroyFromStateCallback). It is handed over here instead and
// joined at static destruction, after its loop ran out of work and returned. Not joined earlier:
// a join from another runtime's destructor could wait on a thread that waits on the caller.
// Built on first use, it is destroyed before statics built earlier, and OpenSSL is initialised
// first so that its exit-time cleanup runs after the joins, not under a running loop thread.
class LoopThreadReaper {
 public:
  static LoopThreadReaper& Get() {
    static LoopThreadReaper reaper;
    return reaper;
  }
  LoopThreadReaper() { OPENSSL_init_crypto(0, nullptr); }
  void Adopt(std::thread t) {
    std::lock_guard lock(mu_);
    threads_.push_back(std::move(t));
  }
  ~LoopThreadReaper() {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads) {
      if (t.get_id() == std::this_thread::get_id()) {
        t.detach();  // exit() called from a loop thread itself
      } else {
        t.join();
      }
    }
  }

 private:
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

}  // namespace

std::shared_ptr<Runtime> Runtime::Create(int threads) {
  return std::shared_ptr<Runtime>(new Runtime(threads));
}

Runtime::Runtime(int threads) : impl_(std::make_unique<Impl>()) {
  if (threads < 1) threads = 1;
  for (int i = 0; i < threads; ++i) {
    auto loop = std::make_shared<Impl::Loop>();
    loop->guard.emplace(asio::make_work_guard(loop->io));
    std::promise<void> started;
    auto ready = started.get_future();
    // The thread keeps its loop alive: a runtime destroyed on its own thread hands it to the
    // LoopThreadReaper.
    loop->thread = std::thread([loop, &started] {
      loop->id = std::this_thread::get_id();
      started.set_value();
      loop->io.run();
    });
    ready.wait();
    impl_->loops.push_back(std::move(loop));
  }
}

Runtime::~Runtime() {
  // Connections hold a reference, so none is left: the loops run out of work (sockets closed,
  // timers cancelled, deferred deletions done) and return.
  for (auto& loop : impl_->loops) {
    loop->guard.reset();
    if (loop->OnThread()) {
      LoopThreadReaper::Get().Adopt(std::move(loop->thread));
    } else {
      loop->thread.join();
    }
  }
}

int Runtime::threads() const {
  return static_cast<int>(impl_->loops.size());
}

RuntimeStats Runtime::stats() const {
  return impl_->certificates.Stats();
}

// --- Enum strings ------------------------------------------------------------------------------

std::string_view ToString(SdpType t) {
  return sdp::ToString(static_cast<sdp::SdpType>(t));
}
std::optional<SdpType> SdpTypeFromString(std::string_view s) {
  auto t = sdp::SdpTypeFromString(s);
  if (!t) return std::nullopt;
  return static_cast<SdpType>(*t);
}
std::string_view ToString(SignalingState s) {
  return sdp::ToString(static_cast<sdp::SignalingState>(s));
}
std::string_view ToString(IceGatheringState s) {
  switch (s) {
    case IceGatheringState::kNew: return "new";
    case IceGatheringState::kGathering: return "gathering";
    case IceGatheringState::kComplete: return "complete";
  }
  return "?";
}
std::string_view ToString(IceConnectionState s) {
  switch (s) {
    case IceConnectionState::kNew: return "new";
    case IceConnectionState::kChecking: return "checking";
    case IceConnectionState::kConnected: return "connected";
    case IceConnectionState::kCompleted: return "completed";
    case IceConnectionState::kDisconnected: return "disconnected";
    case IceConnectionState::kFailed: return "failed";
    case IceConnectionState::kClosed: return "closed";
  }
  return "?";
}
std::string_view ToString(PeerConnectionState s) {
  return peer::ToString(static_cast<peer::ConnectionState>(s));
}
std::string_view ToString(DataChannelState s) {
  return datachannel::ToString(static_cast<datachannel::ReadyState>(s));
}
std::string_view ToString(SendError e) {
  switch (e) {
    case SendError::kNotOpen: return "not open";
    case SendError::kClosed: return "closed";
    case SendError::kMessageTooLarge: return "message too large";
    case SendError::kBufferFull: return "buffer full";
  }
  return "?";
}

static_assert(static_cast<int>(SdpType::kRollback) == static_cast<int>(sdp::SdpType::kRollback));
static_assert(static_cast<int>(SignalingState::kClosed) == static_cast<int>(sdp::SignalingState::kClosed));
static_assert(static_cast<int>(PeerConnectionState::kClosed) == static_cast<int>(peer::ConnectionState::kClosed));
static_assert(static_cast<int>(DataChannelState::kClosed) == static_cast<int>(datachannel::ReadyState::kClosed));

namespace {

IceConnectionState Map(ice::State s) {
  switch (s) {
    case ice::State::kNew: return IceConnectionState::kNew;
    case ice::State::kChecking: return IceConnectionState::kChecking;
    case ice::State::kConnected: return IceConnectionState::kConnected;
    case ice::State::kCompleted: return IceConnectionState::kCompleted;
    case ice::State::kFailed: return IceConnectionState::kFailed;
    case ice::State::kDisconnected: return IceConnectionState::kDisconnected;
    case ice::State::kClosed: return IceConnectionState::kClosed;
  }
  return IceConnectionState::kNew;
}

IceGatheringState Map(ice::GatheringState s) {
  switch (s) {
    case ice::GatheringState::kNew: return IceGatheringState::kNew;
    case ice::GatheringState::kGathering: return IceGatheringState::kGathering;
    case ice::GatheringState::kComplete: return IceGatheringState::kComplete;
  }
  return IceGatheringState::kNew;
}

datachannel::Priority Map(Priority p) {
  switch (p) {
    case Priority::kVeryLow: return datachannel::Priority::kVeryLow;
    case Priority::kLow: return datachannel::Priority::kLow;
    case Priority::kMedium: return datachannel::Priority::kMedium;
    case Priority::kHigh: return datachannel::Priority::kHigh;
  }
  return datachannel::Priority::kLow;
}

Error SdpFailure(ErrorKind kind, const sdp::SdpError& e) {
  return Error{kind, e.ToString(), e.line};
}

Error Fail(ErrorKind kind, std::string message) {
  return Error{kind, std::move(message), 0};
}

// "host[:port]" or "[v6]:port" after the scheme of a stun: URL.
std::optional<std::pair<std::string, uint16_t>> SplitHostPort(std::string_view s, uint16_t default_port) {
  std::string host;
  std::string_view rest;
  if (!s.empty() && s.front() == '[') {
    const size_t close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = std::string(s.substr(1, close - 1));
    rest = s.substr(close + 1);
  } else {
    const size_t colon = s.find(':');
    host = std::string(s.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : s.substr(colon);
  }
  if (host.empty()) return std::nullopt;
  uint16_t port = default_port;
  if (!rest.empty()) {
    if (rest.front() != ':' || rest.size() < 2 || rest.size() > 6) return std::nullopt;
    uint32_t v = 0;
    for (char c : rest.substr(1)) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + static_cast<uint32_t>(c - '0');
    }
    if (v == 0 || v > 65535) return std::nullopt;
    port = static_cast<uint16_t>(v);
  }
  return std::make_pair(host, port);
}

// A host name or literal, resolved once (blocking) to its first address.
std::optional<IpAddress> Resolve(const std::string& host) {
  if (auto ip = IpAddress::Parse(host)) return ip;
  asio::io_context io;
  asio::ip::udp::resolver resolver(io);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, "", ec);
  if (ec) return std::nullopt;
  for (const auto& r : results) {
    if (auto ip = IpAddress::Parse(r.endpoint().address().to_string())) return ip;
  }
  return std::nullopt;
}

// Remote mDNS candidates waiting for their names: bounded against a peer that sends many.
constexpr size_t kMaxMdnsNames = 32;
constexpr size_t kMaxCandidatesPerMdnsName = 8;

// The fields of an a=candidate value, split on single spaces.
std::vector<std::string_view> CandidateFields(std::string_view line) {
  std::vector<std::string_view> out;
  while (!line.empty() && out.size() < 64) {
    const size_t sp = line.find(' ');
    out.push_back(line.substr(0, sp));
    if (sp == std::string_view::npos) break;
    line.remove_prefix(sp + 1);
  }
  return out;
}

// The connection-address of a candidate line when it is an mDNS name ("<uuid>.local").
std::optional<std::string> MdnsName(std::string_view line) {
  const auto f = CandidateFields(line);
  if (f.size() < 8) return std::nullopt;
  const std::string_view host = f[4];
  if (host.size() <= 6 || host.size() > 255) return std::nullopt;
  std::string lower(host.substr(host.size() - 6));
  for (char& ch : lower)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (lower != ".local") return std::nullopt;
  return std::string(host);
}

// The candidate line with its connection-address replaced.
std::string ReplaceAddress(std::string_view line, const std::string& address) {
  const auto f = CandidateFields(line);
  std::string out;
  for (size_t i = 0; i < f.size(); ++i) {
    if (i) out += ' ';
    out += i == 4 ? std::string_view(address) : f[i];
  }
  return out;
}

}  // namespace

// --- DataChannel::Impl -----------------------------------------------------------------------------

struct DataChannel::Impl {
  std::weak_ptr<PeerConnection::Impl> pc;
  std::string label;
  DataChannelInit init;
  // Loop thread only.
  std::optional<datachannel::ChannelId> cid;
  bool done = false;  // "close" fired (or the connection went away)
  // Any thread.
  std::atomic<DataChannelState> state{DataChannelState::kConnecting};
  std::atomic<int32_t> stream{-1};
  std::atomic<size_t> threshold{0};
  // "open" fired while no OnOpen handler was set (e.g. a negotiated channel created from another
  // thread on a connected transport opens before the caller can set one): the first handler set
  // afterwards still gets it, once.
  std::atomic<bool> open_unheard{false};

  std::mutex mu;
  std::function<void()> on_open, on_bufferedamountlow, on_closing, on_close;
  std::function<void(std::span<const uint8_t>, bool)> on_message;
  std::function<void(const std::string&)> on_error;

  template <class F>
  F Get(F Impl::*member) {
    std::lock_guard lock(mu);
    return this->*member;
  }
  template <class F>
  void Set(F Impl::*member, F f) {
    std::lock_guard lock(mu);
    this->*member = std::move(f);
  }
  void ClearHandlers() {
    std::lock_guard lock(mu);
    on_open = on_bufferedamountlow = on_closing = on_close = nullptr;
    on_message = nullptr;
    on_error = nullptr;
  }
};

// --- PeerConnection::Impl ------------------------------------------------------------------------

struct PeerConnection::Impl : std::enable_shared_from_this<PeerConnection::Impl> {
  using Loop = Runtime::Impl::Loop;

  Impl(Configuration config, std::shared_ptr<Runtime> rt);
  ~Impl() {
    // Our runtime references go first, then the waiter in ~PeerConnection (if any) learns that
    // no handler holds us any more, so its own reference is the one that can destroy the
    // Runtime: on the caller's thread, which joins the loop thread. Released from here, on the
    // loop thread, the Runtime would detach a thread still running at process exit. The mux
    // holds the runtime too: released after the signal, with the member, it could be the last
    // reference (3 of ~1,000 runs of UdpMuxConfigurationErrorsAreClear with both cores busy), and
    // the runtime, with its certificate worker, was destroyed here while the process exited and
    // OpenSSL cleaned up under it: a crash at exit.
    runtime.reset();
    config.udp_mux.reset();
    if (released) released->set_value();
  }

  // Runs `f` on the loop thread and returns its result (inline when already there).
  template <class F>
  auto RunSync(F&& f) -> decltype(f()) {
    using R = decltype(f());
    if (loop->OnThread()) return f();
    std::packaged_task<R()> task(std::forward<F>(f));
    auto result = task.get_future();
    asio::post(loop->io, [self = shared_from_this(), &task] { task(); });
    return result.get();
  }

  // Loop thread.
  Expected<void> EnsureCore(ice::Role role);
  void BindChannel(const std::shared_ptr<DataChannel::Impl>& ch);
  sdp::LocalParams MakeLocalParams();
  Expected<Description> CreateOffer();
  Expected<Description> CreateAnswer();
  Expected<void> SetLocal(const Description& d);
  Expected<void> SetRemote(const Description& d);
  // The steps SetLocal and SetRemote share: the signaling transition (checked on a copy, so
  // nothing changes on error), rollback (applied here; returns nullopt), parsing and the data
  // m-section (parsed->FirstDataSection() is non-null on success).
  struct Staged {
    sdp::SignalingStateMachine next;
    sdp::SessionDescription parsed;
  };
  Expected<std::optional<Staged>> Stage(const Description& d, bool local);
  Expected<void> AddCandidate(const IceCandidate& c);
  // A remote candidate whose address is an mDNS name: resolved with a one-shot query, then added.
  Expected<void> AddMdnsCandidate(const IceCandidate& c, const std::string& name);
  // The connection's mDNS service (resolver and responder), started on first use; empty string
  // or an error message.
  std::string EnsureMdns();
  // The line to signal for a local candidate: host addresses replaced by published names when
  // configured; nullopt: do not signal it.
  std::optional<std::string> SignaledCandidate(const ice::Candidate& c);
  // Goodbyes (TTL 0) for the names our host candidates were published under.
  void WithdrawMdnsNames();
  void OnMdnsEvent(const mdns::ResolverEvent& e);
  Expected<std::shared_ptr<DataChannel>> CreateChannel(std::string label, const DataChannelInit& init);
  Expected<void> Send(DataChannel::Impl& ch, ByteView data, bool binary);
  void CloseChannel(DataChannel::Impl& ch);
  Stats GetStats();
  void Close();
  void Shutdown();
  void Drain();
  void Dispatch(peer::Event& event);
  void SendTransmit(peer::Transmit& tx);
  void FlushSends();
  int undrained_datagrams = 0;  // received since the last drain
  void SendStream(const peer::Transmit& tx);
  void SetSignaling(sdp::SignalingState s);
  std::optional<Description> LocalDescription();
  void FireChannelClosed(const std::shared_ptr<DataChannel::Impl>& ch);

  template <class F>
  F Handler(F Impl::*member) {
    std::lock_guard lock(handlers_mu);
    return this->*member;
  }

  Configuration config;
  std::shared_ptr<Runtime> runtime;
  std::shared_ptr<std::promise<void>> released;  // set by ~PeerConnection off the loop thread
  std::shared_ptr<Loop> loop;
  std::unique_ptr<CryptoRng> rng = std::make_unique<CryptoRng>();
  // Our DTLS identity until the core takes it (which lets go of it once the handshake is behind
  // it), and its fingerprint, which every later description repeats.
  std::shared_ptr<const dtls::Certificate> certificate;
  dtls::Fingerprint local_fingerprint;
  ice::AgentConfig ice_config;
  std::vector<IpAddress> bind_ips;
  runtime::TlsClientConfig tls;
  std::map<SocketAddress, std::string> tls_names;
  std::string session_id;

  std::mutex handlers_mu;
  std::function<void(const IceCandidate&)> on_ice_candidate;
  std::function<void(IceGatheringState)> on_gathering;
  std::function<void(IceConnectionState)> on_ice_state;
  std::function<void(PeerConnectionState)> on_state;
  std::function<void(SignalingState)> on_signaling;
  std::function<void(std::shared_ptr<DataChannel>)> on_data_channel;

  std::atomic<SignalingState> signaling_state{SignalingState::kStable};
  std::atomic<IceGatheringState> gathering_state{IceGatheringState::kNew};
  std::atomic<IceConnectionState> ice_state{IceConnectionState::kNew};
  std::atomic<PeerConnectionState> pc_state{PeerConnectionState::kNew};

  // Loop thread only.
  std::unique_ptr<peer::Connection> core;
  std::map<SocketAddress, std::unique_ptr<runtime::UdpSocket>> sockets;
  using StreamKey = std::pair<SocketAddress, SocketAddress>;
  std::map<StreamKey, std::unique_ptr<runtime::StreamConnection>> streams;
  std::shared_ptr<asio::ssl::context> tls_context;
  std::unique_ptr<runtime::CoreTimer> timer;
  bool gathering_started = false;
  // Our DTLS role once the first remote description applied: renegotiations keep it (W3C).
  std::optional<bool> dtls_client;
  bool shut_down = false;
  bool closed = false;
  bool draining = false;
  bool drain_again = false;
  uint64_t unknown_source_drops = 0;
  sdp::SignalingStateMachine signaling;
  uint64_t session_version = 0;
  std::optional<sdp::SessionDescription> current_local, pending_local, current_remote, pending_remote;
  std::vector<std::string> local_candidates;  // "candidate:..." as gathered
  // Candidate and gathering events the core produced before SetLocalDescription (it may gather
  // once its sockets exist): W3C fires them only after SetLocalDescription, and a peer rejects
  // candidates that arrive before the description they belong to.
  std::vector<peer::Event> held_events;
  std::string mid = "0";
  std::vector<std::shared_ptr<DataChannel::Impl>> unbound_channels;  // created before the core
  std::map<datachannel::ChannelId, std::shared_ptr<DataChannel::Impl>> channels;
  // Remote mDNS candidates: the service (started on the first one), the candidate lines waiting
  // for each name, and an end-of-candidates held until they are resolved or given up.
  std::unique_ptr<runtime::MdnsService> mdns;
  std::map<std::string, std::vector<std::string>> mdns_pending;
  std::map<IpAddress, std::string> mdns_published;  // our host address -> its .local name
  bool end_of_candidates_held = false;
  // Configuration::udp_mux: the remote addresses and ufrags routed to us (loop thread), and
  // whether a receive batch of the mux already listed us for a drain.
  // Vectors, not deques: an empty std::deque allocates ~600 bytes, on every connection.
  std::vector<SocketAddress> mux_routes;
  std::vector<std::string> mux_ufrags;
  bool mux_touched = false;
  void OnMuxDatagram(const SocketAddress& local, const SocketAddress& from, ByteView data);
  // Host addresses: our sockets', or the mux's.
  std::vector<SocketAddress> HostAddresses() const;
};

// --- UdpMux -------------------------------------------------------------------------------------

struct UdpMux::Impl : std::enable_shared_from_this<UdpMux::Impl> {
  static constexpr size_t kMaxRoutesPerConnection = 32;
  static constexpr size_t kMaxUfragsPerConnection = 4;  // the current one and earlier (ICE restart)

  std::shared_ptr<Runtime> runtime;
  std::shared_ptr<Runtime::Impl::Loop> loop;
  SocketAddress local;
  // Loop thread only.
  std::unique_ptr<runtime::UdpSocket> socket;
  std::map<SocketAddress, std::weak_ptr<PeerConnection::Impl>> by_remote;
  std::map<std::string, std::weak_ptr<PeerConnection::Impl>> by_ufrag;
  std::vector<std::shared_ptr<PeerConnection::Impl>> touched;  // received during this batch
  // Set from a receive batch's first datagram until its end (BatchEnd, which the socket runs
  // after every batch it handed over): the sends of the connections drained meanwhile (inline
  // after 64 datagrams, or at the end) stay queued on the mux's socket and leave together
  // (sendmmsg, one message per destination) when BatchEnd flushes.
  bool defer_flush = false;
  // Any thread.
  std::atomic<uint64_t> routed{0}, unroutable{0}, learned{0};
  std::atomic<size_t> connections{0}, routes{0};

  std::shared_ptr<PeerConnection::Impl> Route(const SocketAddress& from, ByteView data) {
    if (auto it = by_remote.find(from); it != by_remote.end()) {
      if (auto c = it->second.lock()) return c;
      by_remote.erase(it);
      routes = by_remote.size();
    }
    // RFC 8445 section 7.2.2: a check's USERNAME is "<receiver's ufrag>:<sender's ufrag>".
    if (!stun::LooksLikeStun(data)) return nullptr;
    auto msg = stun::StunMessage::Parse(data);
    if (!msg.ok() || msg->cls() != stun::StunClass::kRequest || msg->method() != stun::Method::kBinding) {
      return nullptr;
    }
    auto user = msg->GetString(stun::attr::kUsername);
    if (!user) return nullptr;
    const size_t colon = user->find(':');
    if (colon == std::string_view::npos) return nullptr;
    auto u = by_ufrag.find(std::string(user->substr(0, colon)));
    if (u == by_ufrag.end()) return nullptr;
    auto c = u->second.lock();
    if (c) Learn(*c, c, from);
    return c;
  }

  // Binds `remote` to `conn` unless another connection has it.
  void Learn(PeerConnection::Impl& conn,
             const std::shared_ptr<PeerConnection::Impl>& ref,
             const SocketAddress& remote) {
    auto [it, inserted] = by_remote.try_emplace(remote, ref);
    if (!inserted) {
      if (it->second.lock()) return;
      it->second = ref;  // its connection is gone
    }
    ++learned;
    conn.mux_routes.push_back(remote);
    if (conn.mux_routes.size() > kMaxRoutesPerConnection) {
      Forget(conn, conn.mux_routes.front());
      conn.mux_routes.erase(conn.mux_routes.begin());
    }
    routes = by_remote.size();
  }
  void Forget(PeerConnection::Impl& conn, const SocketAddress& remote) {
    auto it = by_remote.find(remote);
    if (it == by_remote.end()) return;
    auto c = it->second.lock();
    if (!c || c.get() == &conn) by_remote.erase(it);
  }

  void RegisterUfrag(PeerConnection::Impl& conn,
                     const std::shared_ptr<PeerConnection::Impl>& ref,
                     const std::string& ufrag) {
    if (!conn.mux_ufrags.empty() && conn.mux_ufrags.back() == ufrag) return;
    if (conn.mux_ufrags.empty()) ++connections;
    auto [it, inserted] = by_ufrag.try_emplace(ufrag, ref);
    if (!inserted && !it->second.lock()) it->second = ref;
    conn.mux_ufrags.push_back(ufrag);
    if (conn.mux_ufrags.size() > kMaxUfragsPerConnection) {
      auto old = by_ufrag.find(conn.mux_ufrags.front());
      if (old != by_ufrag.end()) {
        auto c = old->second.lock();
        if (!c || c.get() == &conn) by_ufrag.erase(old);
      }
      conn.mux_ufrags.erase(conn.mux_ufrags.begin());
    }
  }

  void Unregister(PeerConnection::Impl& conn) {
    for (const auto& r : conn.mux_routes)
      Forget(conn, r);
    for (const auto& u : conn.mux_ufrags) {
      auto it = by_ufrag.find(u);
      if (it == by_ufrag.end()) continue;
      auto c = it->second.lock();
      if (!c || c.get() == &conn) by_ufrag.erase(it);
    }
    if (!conn.mux_ufrags.empty()) --connections;
    conn.mux_routes.clear();
    conn.mux_ufrags.clear();
    routes = by_remote.size();
  }

  void Send(PeerConnection::Impl& conn,
            const std::shared_ptr<PeerConnection::Impl>& ref,
            const SocketAddress& to,
            ByteView data) {
    if (!socket) return;
    if (!by_remote.contains(to)) Learn(conn, ref, to);
    socket->QueueSend(to, data);
  }

  void Receive(const SocketAddress& at, const SocketAddress& from, ByteView data) {
    defer_flush = true;
    auto c = Route(from, data);
    if (!c) {
      ++unroutable;
      return;
    }
    ++routed;
    c->OnMuxDatagram(at, from, data);
    if (!c->mux_touched) {
      c->mux_touched = true;
      touched.push_back(std::move(c));
    }
  }
  // After a receive batch: every connection that got datagrams drains once.
  void BatchEnd();
};

PeerConnection::Impl::Impl(Configuration cfg, std::shared_ptr<Runtime> rt)
    : config(std::move(cfg)), runtime(std::move(rt)) {
  if (config.udp_mux) {
    // The mux's socket belongs to one loop thread; its connections run there too.
    const auto& mux = config.udp_mux->impl();
    if (!runtime) runtime = mux.runtime;
    if (runtime != mux.runtime) throw std::invalid_argument("udp_mux belongs to another Runtime");
    loop = mux.loop;
  } else {
    if (!runtime) runtime = Runtime::Create(config.io_threads);
    loop = runtime->impl().Pick();
  }
  if (config.max_message_size == 0) throw std::invalid_argument("max_message_size must be positive");
  if (config.sctp_retransmit_buffer == 0) throw std::invalid_argument("sctp_retransmit_buffer must be positive");
  if (config.sctp_resume && !config.sctp_resume->valid())
    throw std::invalid_argument("sctp_resume needs a congestion_window above 0 and a round_trip_time in (0, 60] s");

  certificate = config.certificate;
  if (!certificate) certificate = runtime->impl().certificates.Take();
  if (!certificate) {
    auto generated = dtls::Certificate::Generate(*rng);
    if (!generated.ok()) throw std::runtime_error("cannot generate a DTLS certificate: " + generated.error());
    certificate = std::move(generated).value();
  }
  local_fingerprint = certificate->GetFingerprint();

  ice_config.policy = config.ice_transport_policy == IceTransportPolicy::kRelay ? ice::TransportPolicy::kRelay
                                                                                : ice::TransportPolicy::kAll;
  ice_config.local_credentials.ufrag = rng->IceChars(8);
  ice_config.local_credentials.pwd = rng->IceChars(24);
  tls.insecure_skip_verify = config.turns_insecure_skip_verify;
  for (const IceServer& server : config.ice_servers) {
    for (const std::string& url : server.urls) {
      if (url.starts_with("stun:") || url.starts_with("stuns:")) {
        if (config.udp_mux)
          throw std::invalid_argument("udp_mux: STUN servers are not supported on a shared port: " + url);
        const bool secure = url.starts_with("stuns:");
        if (secure) throw std::invalid_argument("stuns: is not supported: " + url);
        auto hp = SplitHostPort(std::string_view(url).substr(5), 3478);
        if (!hp) throw std::invalid_argument("bad STUN URL: " + url);
        auto ip = Resolve(hp->first);
        if (!ip) throw std::invalid_argument("cannot resolve STUN server host: " + url);
        ice_config.stun_servers.push_back(SocketAddress(*ip, hp->second));
      } else if (url.starts_with("turn:") || url.starts_with("turns:")) {
        std::string error;
        auto turn = runtime::ParseTurnUrl(url, &error);
        if (!turn) throw std::invalid_argument("bad TURN URL " + url + ": " + error);
        auto ip = Resolve(turn->host);
        if (!ip) throw std::invalid_argument("cannot resolve TURN server host: " + url);
        ice::TurnServerConfig tc;
        tc.address = SocketAddress(*ip, turn->port);
        tc.transport = turn->secure ? TransportProtocol::kTls : turn->transport;
        if (config.udp_mux && tc.transport == TransportProtocol::kUdp) {
          throw std::invalid_argument(
              "udp_mux: TURN over UDP is not supported on a shared port (use ?transport=tcp or turns:): " + url);
        }
        tc.username = server.username;
        tc.password = server.credential;
        if (turn->secure && !IpAddress::Parse(turn->host)) tls_names[tc.address] = turn->host;
        ice_config.turn_servers.push_back(std::move(tc));
      } else {
        throw std::invalid_argument("unsupported ICE server URL: " + url);
      }
    }
  }
  for (const std::string& a : config.bind_addresses) {
    auto ip = IpAddress::Parse(a);
    if (!ip) throw std::invalid_argument("bad bind address: " + a);
    bind_ips.push_back(*ip);
  }
  // Up to 20 decimal digits, first non-zero (RFC 8829 5.2.1 wants < 2^63).
  session_id = std::to_string(rng->U64() >> 2 | 1);
  timer = std::make_unique<runtime::CoreTimer>(loop->io, [this] {
    if (!core || shut_down) return;
    auto self = shared_from_this();
    core->HandleTimeout(runtime::Now());
    Drain();
  });
}

Expected<void> PeerConnection::Impl::EnsureCore(ice::Role role) {
  if (core) return {};
  std::vector<IpAddress> ips = bind_ips;
  if (ips.empty()) {
    runtime::InterfaceFilter filter;
    filter.include_loopback = config.include_loopback;
    for (const auto& itf : runtime::EnumerateInterfaces(filter))
      ips.push_back(itf.address);
  }
  runtime::UdpSocketOptions socket_options;
  socket_options.receive_buffer = config.socket_receive_buffer;
  socket_options.send_buffer = config.socket_send_buffer;
  std::weak_ptr<Impl> weak = shared_from_this();
  std::string failures;
  if (config.udp_mux) ips.clear();  // the mux's socket is our only host socket
  for (const IpAddress& ip : ips) {
    auto socket = std::make_unique<runtime::UdpSocket>(loop->io, socket_options);
    if (auto ec = socket->BindInRange(ip, config.port_range_begin, config.port_range_end)) {
      failures += (failures.empty() ? "" : "; ") + ip.ToString() + ": " + ec.message();
      continue;
    }
    runtime::Log(config.log, "pc: host socket " + socket->local_address().ToString() + " (rcvbuf " +
                                 std::to_string(socket->granted_receive_buffer()) + ", sndbuf " +
                                 std::to_string(socket->granted_send_buffer()) + ")");
    // The core takes every datagram of a wake-up before it is drained once: one SACK then
    // acknowledges a whole burst and the sender answers a burst of SACKs with one batch of
    // DATA (which GSO sends together). At most 64 datagrams go undrained.
    socket->StartReceiving(
        [this, weak](const SocketAddress& local, const SocketAddress& from, ByteView data) {
          auto self = weak.lock();
          if (!self || shut_down || !core) return;
          core->HandleDatagram(runtime::Now(), local, from, data);
          if (++undrained_datagrams >= 64) Drain();
        },
        [this, weak] {
          auto self = weak.lock();
          if (!self || shut_down || !core || undrained_datagrams == 0) return;
          Drain();
        });
    sockets.emplace(socket->local_address(), std::move(socket));
  }
  if (sockets.empty() && !config.udp_mux) {
    return Fail(ErrorKind::kOperationError, ips.empty()
                                                ? "no usable local address (set bind_addresses or include_loopback)"
                                                : "could not bind any local address: " + failures);
  }
  peer::Options options;
  options.ice = ice_config;
  options.ice.role = role;
  options.certificate = certificate;
  options.max_message_size = config.max_message_size;
  options.sctp_receive_buffer = config.sctp_receive_buffer;
  options.sctp_send_buffer = config.sctp_send_buffer;
  options.sctp_zero_checksum = config.sctp_zero_checksum;
  options.sctp_congestion_control = config.sctp_congestion_control == SctpCongestionControl::kBbr
                                        ? sctp::CongestionControl::kBbr
                                        : sctp::CongestionControl::kReno;
  options.sctp_per_stream_send_buffer = config.sctp_send_buffer;
  options.sctp_retransmit_buffer = config.sctp_retransmit_buffer;
  options.sctp_rapid_start = config.sctp_rapid_start;
  if (config.sctp_resume)
    options.sctp_resume =
        sctp::Options::ResumeState{static_cast<size_t>(config.sctp_resume->congestion_window),
                                   Duration::Nanos(static_cast<int64_t>(config.sctp_resume->round_trip_time * 1e9))};
  const Instant now = runtime::Now();
  core = std::make_unique<peer::Connection>(options, *rng, now);
  certificate.reset();
  for (const SocketAddress& bound : HostAddresses())
    core->AddLocalAddress(now, bound);
  if (config.udp_mux)
    config.udp_mux->impl().RegisterUfrag(*this, shared_from_this(), core->local_ice_credentials().ufrag);
  auto pending = std::move(unbound_channels);
  unbound_channels.clear();
  for (const auto& ch : pending)
    BindChannel(ch);
  return {};
}

void PeerConnection::Impl::BindChannel(const std::shared_ptr<DataChannel::Impl>& ch) {
  datachannel::ChannelOptions o;
  o.ordered = ch->init.ordered;
  o.max_retransmits = ch->init.max_retransmits;
  if (ch->init.max_packet_life_time) o.max_packet_lifetime = Duration::Millis(*ch->init.max_packet_life_time);
  o.protocol = ch->init.protocol;
  o.negotiated = ch->init.negotiated;
  o.id = ch->init.id;
  o.priority = Map(ch->init.priority);
  auto created = core->CreateDataChannel(runtime::Now(), ch->label, o);
  if (!created.ok()) {
    // Only transport-level failures get here (options were checked at creation).
    ch->state = DataChannelState::kClosed;
    if (auto f = ch->Get(&DataChannel::Impl::on_error)) f(std::string(datachannel::ToString(created.error())));
    FireChannelClosed(ch);
    return;
  }
  ch->cid = created.value();
  channels[*ch->cid] = ch;
  if (const auto* c = core->FindChannel(*ch->cid); c && c->id()) ch->stream = *c->id();
  if (ch->threshold.load() != 0) (void)core->SetBufferedAmountLowThreshold(*ch->cid, ch->threshold.load());
}

sdp::LocalParams PeerConnection::Impl::MakeLocalParams() {
  sdp::LocalParams p;
  p.session_id = session_id;
  p.session_version = session_version++;
  const ice::Credentials& creds = core ? core->local_ice_credentials() : ice_config.local_credentials;
  p.ice_ufrag = creds.ufrag;
  p.ice_pwd = creds.pwd;
  p.fingerprints = {local_fingerprint};
  p.max_message_size = config.max_message_size;
  return p;
}

Expected<Description> PeerConnection::Impl::CreateOffer() {
  if (closed) return Fail(ErrorKind::kInvalidState, "the connection is closed");
  sdp::LocalParams params = MakeLocalParams();
  // A re-offer (ICE restart, renegotiation) states the DTLS role of the running association, so
  // that the answer keeps it (Pion 3.1 answers active to actpass whatever its current role).
  if (dtls_client) params.offer_setup = *dtls_client ? sdp::SetupRole::kActive : sdp::SetupRole::kPassive;
  auto offer = sdp::CreateOffer(params);
  if (!offer.ok()) return SdpFailure(ErrorKind::kOperationError, offer.error());
  return Description{SdpType::kOffer, offer->ToSdp()};
}

Expected<Description> PeerConnection::Impl::CreateAnswer() {
  if (closed) return Fail(ErrorKind::kInvalidState, "the connection is closed");
  if (signaling.state() != sdp::SignalingState::kHaveRemoteOffer &&
      signaling.state() != sdp::SignalingState::kHaveLocalPranswer) {
    return Fail(ErrorKind::kInvalidState, "CreateAnswer needs a remote offer (signaling state " +
                                              std::string(sdp::ToString(signaling.state())) + ")");
  }
  sdp::LocalParams params = MakeLocalParams();
  // A re-answer (ICE restart, renegotiation) keeps the DTLS role of the running association.
  if (dtls_client) params.answer_setup = *dtls_client ? sdp::SetupRole::kActive : sdp::SetupRole::kPassive;
  auto answer = sdp::NegotiateAnswer(*pending_remote, params);
  if (!answer.ok()) return SdpFailure(ErrorKind::kOperationError, answer.error());
  return Description{SdpType::kAnswer, answer->ToSdp()};
}

void PeerConnection::Impl::SetSignaling(sdp::SignalingState s) {
  const auto mapped = static_cast<SignalingState>(s);
  if (signaling_state.exchange(mapped) == mapped) return;
  if (auto f = Handler(&Impl::on_signaling)) f(mapped);
}

Expected<std::optional<PeerConnection::Impl::Staged>> PeerConnection::Impl::Stage(const Description& d, bool local) {
  if (closed) return Fail(ErrorKind::kInvalidState, "the connection is closed");
  const auto type = static_cast<sdp::SdpType>(d.type);
  sdp::SignalingStateMachine next = signaling;
  auto moved = local ? next.SetLocal(type) : next.SetRemote(type);
  if (!moved.ok()) return SdpFailure(ErrorKind::kInvalidState, moved.error());
  if (type == sdp::SdpType::kRollback) {
    (local ? pending_local : pending_remote).reset();
    signaling = next;
    SetSignaling(signaling.state());
    return std::optional<Staged>();
  }
  auto parsed = sdp::SessionDescription::Parse(d.sdp, type);
  if (!parsed.ok()) return SdpFailure(ErrorKind::kInvalidSdp, parsed.error());
  if (!parsed->FirstDataSection()) return Fail(ErrorKind::kInvalidSdp, "the description has no usable data m-section");
  return std::optional<Staged>(Staged{next, std::move(parsed).value()});
}

Expected<void> PeerConnection::Impl::SetLocal(const Description& d) {
  auto staged = Stage(d, /*local=*/true);
  if (!staged.ok()) return staged.error();
  if (!*staged) return {};  // rolled back
  const auto type = static_cast<sdp::SdpType>(d.type);
  sdp::SignalingStateMachine& next = (*staged)->next;
  sdp::SessionDescription& parsed = (*staged)->parsed;
  const sdp::MediaSection* data = parsed.FirstDataSection();
  if (type == sdp::SdpType::kOffer) {
    if (auto ok = EnsureCore(ice::Role::kControlling); !ok.ok()) return ok;
  } else {
    auto valid = sdp::ValidateAnswer(*pending_remote, parsed);
    if (!valid.ok()) return SdpFailure(ErrorKind::kOperationError, valid.error());
  }
  if (data->ice_ufrag != core->local_ice_credentials().ufrag || data->ice_pwd != core->local_ice_credentials().pwd) {
    return Fail(ErrorKind::kInvalidArgument, "the description's ICE credentials are not this connection's");
  }
  mid = data->mid;
  if (type == sdp::SdpType::kOffer) {
    pending_local = std::move(parsed);
  } else {
    current_local = std::move(parsed);
    if (type == sdp::SdpType::kAnswer) {
      current_remote = pending_remote;
      pending_remote.reset();
      pending_local.reset();
    }
  }
  signaling = next;
  SetSignaling(signaling.state());
  if (shut_down) return {};
  if (!gathering_started) {
    gathering_started = true;
    core->StartGathering(runtime::Now());
    auto held = std::move(held_events);
    held_events.clear();
    for (auto& e : held) {
      Dispatch(e);
      if (shut_down) return {};
    }
  }
  Drain();
  return {};
}

Expected<void> PeerConnection::Impl::SetRemote(const Description& d) {
  auto staged = Stage(d, /*local=*/false);
  if (!staged.ok()) return staged.error();
  if (!*staged) return {};  // rolled back
  const auto type = static_cast<sdp::SdpType>(d.type);
  sdp::SignalingStateMachine& next = (*staged)->next;
  sdp::SessionDescription& parsed = (*staged)->parsed;
  const sdp::MediaSection* data = parsed.FirstDataSection();
  if (data->ice_ufrag.empty() || data->ice_pwd.empty()) {
    return Fail(ErrorKind::kInvalidSdp, "the data m-section has no a=ice-ufrag/a=ice-pwd");
  }
  if (data->fingerprints.empty()) return Fail(ErrorKind::kInvalidSdp, "the data m-section has no a=fingerprint");
  bool dtls_client = true;
  if (type == sdp::SdpType::kOffer) {
    // Our answer takes LocalParams::answer_setup (active) for actpass, else the opposite role.
    const sdp::SetupRole setup = data->setup.value_or(sdp::SetupRole::kActpass);
    if (setup == sdp::SetupRole::kHoldconn) return Fail(ErrorKind::kInvalidSdp, "a=setup:holdconn is not supported");
    dtls_client = setup != sdp::SetupRole::kActive;
    if (setup == sdp::SetupRole::kActpass && this->dtls_client) dtls_client = *this->dtls_client;
  } else {
    const sdp::SessionDescription* offer = pending_local ? &*pending_local : nullptr;
    if (!offer) return Fail(ErrorKind::kInvalidState, "no local offer to answer");
    // Our re-offer over a running association states our role (active/passive). An answer that
    // states the same role cannot be met without a new association; Pion 3.1 answers active to
    // every offer. The association keeps its roles (the fingerprints must still match below),
    // so such an answer is read as the complement, with a log line.
    if (const sdp::MediaSection* ours = offer->FirstDataSection();
        this->dtls_client && ours && ours->setup && data->setup && *ours->setup == *data->setup &&
        (*ours->setup == sdp::SetupRole::kActive || *ours->setup == sdp::SetupRole::kPassive)) {
      runtime::Log(config.log, std::string("pc: the answer's a=setup:") + std::string(sdp::ToString(*data->setup)) +
                                   " repeats our re-offer's; the running DTLS association keeps its roles");
      parsed.media[static_cast<size_t>(data - parsed.media.data())].setup =
          *ours->setup == sdp::SetupRole::kActive ? sdp::SetupRole::kPassive : sdp::SetupRole::kActive;
    }
    auto valid = sdp::ValidateAnswer(*offer, parsed);
    if (!valid.ok()) return SdpFailure(ErrorKind::kOperationError, valid.error());
    auto client = sdp::IsDtlsClient(*offer->FirstDataSection(), *data);
    if (!client.ok()) return SdpFailure(ErrorKind::kOperationError, client.error());
    dtls_client = client.value();
  }
  if (type == sdp::SdpType::kOffer) {
    if (auto ok = EnsureCore(ice::Role::kControlled); !ok.ok()) return ok;
  }
  peer::RemoteParams remote;
  remote.ice = ice::Credentials{data->ice_ufrag, data->ice_pwd};
  remote.ice_lite = parsed.ice_lite;
  remote.fingerprints = data->fingerprints;
  remote.dtls_role = dtls_client ? dtls::Role::kClient : dtls::Role::kServer;
  remote.sctp_port = data->sctp_port.value_or(sdp::kDefaultSctpPort);
  remote.max_message_size = data->max_message_size.value_or(sdp::kDefaultMaxMessageSize);
  const Instant now = runtime::Now();
  if (auto status = core->SetRemoteParameters(now, remote); status != peer::RemoteParamsStatus::kOk) {
    return Fail(ErrorKind::kOperationError, "remote description rejected: " + std::string(peer::ToString(status)));
  }
  this->dtls_client = dtls_client;
  for (const ice::Candidate& c : data->candidates)
    (void)core->AddRemoteCandidate(now, c);
  // "<uuid>.local" candidates in the description itself (a peer that does not trickle, or a
  // description set after gathering) go to the resolver like trickled ones; a failure to start
  // resolving one drops that candidate, not the description.
  for (const std::string& c : data->mdns_candidates) {
    auto name = config.resolve_mdns_candidates ? MdnsName(c) : std::nullopt;
    if (!name) {
      runtime::Log(config.log, "pc: mDNS candidate ignored (resolve_mdns_candidates is off): " + c);
      continue;
    }
    if (auto r = AddMdnsCandidate(IceCandidate{c, mid, 0}, *name); !r.ok()) {
      runtime::Log(config.log, "pc: mDNS candidate dropped: " + r.error().message);
    }
  }
  if (data->end_of_candidates) {
    if (mdns_pending.empty()) {
      core->EndOfRemoteCandidates(now);
    } else {
      end_of_candidates_held = true;  // released when the last name resolves or fails
    }
  }
  if (type == sdp::SdpType::kOffer || type == sdp::SdpType::kPranswer) {
    pending_remote = std::move(parsed);
  } else {
    current_remote = std::move(parsed);
    current_local = pending_local;
    pending_local.reset();
    pending_remote.reset();
  }
  signaling = next;
  SetSignaling(signaling.state());
  Drain();
  return {};
}

Expected<void> PeerConnection::Impl::AddCandidate(const IceCandidate& c) {
  if (closed) return Fail(ErrorKind::kInvalidState, "the connection is closed");
  if (!core || (!pending_remote && !current_remote)) {
    return Fail(ErrorKind::kInvalidState, "AddIceCandidate needs a remote description");
  }
  if (!c.sdp_mid.empty() && c.sdp_mid != mid) {
    return Fail(ErrorKind::kOperationError, "unknown sdp_mid '" + c.sdp_mid + "'");
  }
  const Instant now = runtime::Now();
  if (c.candidate.empty()) {
    // Names still being resolved belong to the candidates that end refers to.
    if (!mdns_pending.empty()) {
      end_of_candidates_held = true;
      return {};
    }
    core->EndOfRemoteCandidates(now);
    Drain();
    return {};
  }
  auto parsed = ice::Candidate::ParseSdp(c.candidate);
  if (!parsed.ok()) {
    const bool unsupported = parsed.error().code == ParseErrorCode::kUnsupported;
    if (unsupported && config.resolve_mdns_candidates) {
      if (auto name = MdnsName(c.candidate)) return AddMdnsCandidate(c, *name);
    }
    return Fail(unsupported ? ErrorKind::kUnsupported : ErrorKind::kInvalidArgument,
                "bad candidate '" + c.candidate + "': " + parsed.error().what);
  }
  if (!core->AddRemoteCandidate(now, parsed.value())) {
    runtime::Log(config.log, "pc: remote candidate not usable here: " + c.candidate);
  }
  Drain();
  return {};
}

std::string PeerConnection::Impl::EnsureMdns() {
  if (mdns) return {};
  // One service per connection, on the interface of our first IPv4 host socket.
  std::optional<IpAddress> itf;
  for (const SocketAddress& bound : HostAddresses())
    if (bound.ip().is_v4()) {
      itf = bound.ip();
      break;
    }
  if (!itf) return "no IPv4 socket for mDNS";
  runtime::MdnsServiceOptions o;
  o.interface_address = *itf;
  o.log = config.log;
  auto service = std::make_unique<runtime::MdnsService>(loop->io, o, *rng);
  std::string error;
  if (!service->Start(&error)) return "cannot start mDNS (" + error + ")";
  std::weak_ptr<Impl> weak = shared_from_this();
  service->set_on_event([this, weak](const mdns::ResolverEvent& e) {
    if (auto self = weak.lock(); self && !shut_down) OnMdnsEvent(e);
  });
  mdns = std::move(service);
  return {};
}

std::optional<std::string> PeerConnection::Impl::SignaledCandidate(const ice::Candidate& c) {
  if (!config.publish_mdns_host_candidates) return c.ToSdp();
  if (c.type != ice::CandidateType::kHost) return c.ToSdpHidingAddresses("");
  const IpAddress ip = c.address.ip();
  auto it = mdns_published.find(ip);
  if (it == mdns_published.end()) {
    if (std::string error = EnsureMdns(); !error.empty()) {
      runtime::Log(config.log, "pc: host candidate not signaled: " + error);
      return std::nullopt;
    }
    const std::optional<std::string> name = mdns->Publish(ip);
    if (!name) {
      runtime::Log(config.log, "pc: host candidate not signaled: cannot publish " + ip.ToString() + " over mDNS");
      return std::nullopt;
    }
    runtime::Log(config.log, "pc: mdns: publishing " + ip.ToString() + " as " + *name);
    it = mdns_published.emplace(ip, *name).first;
  }
  return c.ToSdpHidingAddresses(it->second);
}

void PeerConnection::Impl::WithdrawMdnsNames() {
  if (!mdns) return;
  for (const auto& [ip, name] : mdns_published)
    mdns->Unpublish(name);
  mdns_published.clear();
}

Expected<void> PeerConnection::Impl::AddMdnsCandidate(const IceCandidate& c, const std::string& name) {
  if (std::string error = EnsureMdns(); !error.empty()) {
    return Fail(ErrorKind::kUnsupported, "mDNS candidate '" + name + "': " + error);
  }
  auto& waiting = mdns_pending[name];
  if (waiting.size() >= kMaxCandidatesPerMdnsName || mdns_pending.size() > kMaxMdnsNames) {
    if (waiting.empty()) mdns_pending.erase(name);
    return Fail(ErrorKind::kUnsupported, "too many mDNS candidates waiting for resolution");
  }
  waiting.push_back(c.candidate);
  if (waiting.size() == 1) mdns->Resolve(name);
  return {};
}

void PeerConnection::Impl::OnMdnsEvent(const mdns::ResolverEvent& e) {
  const Instant now = runtime::Now();
  if (const auto* ok = std::get_if<mdns::Resolved>(&e)) {
    auto it = mdns_pending.find(ok->name);
    if (it == mdns_pending.end()) return;
    std::string list;
    for (const IpAddress& ip : ok->addresses)
      list += (list.empty() ? "" : ", ") + ip.ToString();
    runtime::Log(config.log, "pc: mdns: resolved " + ok->name + " -> " + list);
    for (const std::string& line : it->second) {
      for (const IpAddress& ip : ok->addresses) {
        auto parsed = ice::Candidate::ParseSdp(ReplaceAddress(line, ip.ToString()));
        if (!parsed.ok() || !core || !core->AddRemoteCandidate(now, parsed.value())) {
          runtime::Log(config.log, "pc: resolved candidate not usable here: " + line + " (" + ip.ToString() + ")");
        }
      }
    }
    mdns_pending.erase(it);
  } else if (const auto* failed = std::get_if<mdns::Failed>(&e)) {
    if (!mdns_pending.erase(failed->name)) return;
    runtime::Log(config.log, "pc: mdns: " + failed->name + " not resolved (" +
                                 (failed->reason == mdns::FailureReason::kTimeout ? "no answer" : "refused") +
                                 "); its candidates are dropped");
  }
  if (mdns_pending.empty() && end_of_candidates_held && core) {
    end_of_candidates_held = false;
    core->EndOfRemoteCandidates(now);
  }
  Drain();
}

Expected<std::shared_ptr<DataChannel>> PeerConnection::Impl::CreateChannel(std::string label,
                                                                           const DataChannelInit& init) {
  if (closed) return Fail(ErrorKind::kInvalidState, "the connection is closed");
  // The checks the core would make, done here so that a channel created before the core
  // exists fails the same way (W3C: TypeError at createDataChannel).
  if (init.max_retransmits && init.max_packet_life_time) {
    return Fail(ErrorKind::kInvalidArgument, "max_retransmits and max_packet_life_time are exclusive");
  }
  if (init.negotiated && !init.id) return Fail(ErrorKind::kInvalidArgument, "negotiated channels need an id");
  if (!init.negotiated && init.id) return Fail(ErrorKind::kInvalidArgument, "an id needs negotiated = true");
  if (init.id && *init.id >= 65535) return Fail(ErrorKind::kInvalidArgument, "id out of range");
  if (label.size() > 65535 || init.protocol.size() > 65535) {
    return Fail(ErrorKind::kInvalidArgument, "label or protocol too long");
  }
  auto ch = std::make_shared<DataChannel::Impl>();
  ch->pc = weak_from_this();
  ch->label = std::move(label);
  ch->init = init;
  if (init.id) ch->stream = *init.id;
  if (core) {
    datachannel::ChannelOptions o;
    o.ordered = init.ordered;
    o.max_retransmits = init.max_retransmits;
    if (init.max_packet_life_time) o.max_packet_lifetime = Duration::Millis(*init.max_packet_life_time);
    o.protocol = init.protocol;
    o.negotiated = init.negotiated;
    o.id = init.id;
    o.priority = Map(init.priority);
    auto created = core->CreateDataChannel(runtime::Now(), ch->label, o);
    if (!created.ok()) {
      return Fail(ErrorKind::kInvalidArgument,
                  "cannot create the channel: " + std::string(datachannel::ToString(created.error())));
    }
    ch->cid = created.value();
    channels[*ch->cid] = ch;
    if (const auto* c = core->FindChannel(*ch->cid); c && c->id()) ch->stream = *c->id();
    Drain();
  } else {
    unbound_channels.push_back(ch);
  }
  return std::make_shared<DataChannel>(ch);
}

Expected<void> PeerConnection::Impl::Send(DataChannel::Impl& ch, ByteView data, bool binary) {
  if (shut_down || ch.done) return Fail(ErrorKind::kInvalidState, std::string(ToString(SendError::kClosed)));
  if (!ch.cid || !core) return Fail(ErrorKind::kInvalidState, std::string(ToString(SendError::kNotOpen)));
  const auto status = core->Send(runtime::Now(), *ch.cid, data, binary);
  Drain();
  switch (status) {
    case datachannel::SendStatus::kOk: return {};
    case datachannel::SendStatus::kNotOpen: return Fail(ErrorKind::kInvalidState, "not open");
    case datachannel::SendStatus::kUnknownChannel:
    case datachannel::SendStatus::kClosing: return Fail(ErrorKind::kInvalidState, "closed");
    case datachannel::SendStatus::kMessageTooLarge: return Fail(ErrorKind::kInvalidArgument, "message too large");
    case datachannel::SendStatus::kBufferFull: return Fail(ErrorKind::kOperationError, "buffer full");
  }
  return Fail(ErrorKind::kOperationError, "send failed");
}

void PeerConnection::Impl::CloseChannel(DataChannel::Impl& ch) {
  if (shut_down || ch.done) return;
  if (!ch.cid) {
    // Never reached the core: close it here.
    for (auto it = unbound_channels.begin(); it != unbound_channels.end(); ++it) {
      if (it->get() == &ch) {
        auto keep = *it;
        unbound_channels.erase(it);
        keep->state = DataChannelState::kClosed;
        FireChannelClosed(keep);
        return;
      }
    }
    return;
  }
  core->CloseChannel(runtime::Now(), *ch.cid);
  Drain();
}

void PeerConnection::Impl::FireChannelClosed(const std::shared_ptr<DataChannel::Impl>& ch) {
  if (ch->done) return;
  ch->done = true;
  ch->state = DataChannelState::kClosed;
  auto f = ch->Get(&DataChannel::Impl::on_close);
  ch->ClearHandlers();
  if (f) f();
}

Stats PeerConnection::Impl::GetStats() {
  Stats out;
  out.connectionState = ToString(pc_state.load());
  for (const auto& [addr, s] : sockets) {
    SocketStats ss;
    ss.address = addr.ToString();
    ss.receiveBufferGranted = s->granted_receive_buffer();
    ss.sendBufferGranted = s->granted_send_buffer();
    ss.datagramsSent = s->stats().datagrams_sent;
    ss.datagramsReceived = s->stats().datagrams_received;
    ss.sendDrops = s->stats().send_would_block + s->stats().send_errors;
    ss.gsoSends = s->stats().gso_sends;
    ss.groReads = s->stats().gro_reads;
    out.sockets.push_back(std::move(ss));
  }
  if (config.udp_mux && config.udp_mux->impl().socket) {
    const runtime::UdpSocket& s = *config.udp_mux->impl().socket;  // shared with the mux's other connections
    SocketStats ss;
    ss.address = s.local_address().ToString();
    ss.receiveBufferGranted = s.granted_receive_buffer();
    ss.sendBufferGranted = s.granted_send_buffer();
    ss.datagramsSent = s.stats().datagrams_sent;
    ss.datagramsReceived = s.stats().datagrams_received;
    ss.sendDrops = s.stats().send_would_block + s.stats().send_errors;
    ss.gsoSends = s.stats().gso_sends;
    ss.groReads = s.stats().gro_reads;
    out.sockets.push_back(std::move(ss));
  }
  if (!core) return out;
  const peer::Stats s = core->GetStats();
  out.connectionState = s.connectionState;
  if (s.selectedCandidatePair) {
    const auto& p = *s.selectedCandidatePair;
    out.selectedCandidatePair = CandidatePairStats{
        p.localAddress, p.remoteAddress, p.localCandidateType, p.remoteCandidateType, p.currentRoundTripTime,
        p.bytesSent,    p.bytesReceived, p.packetsSent,        p.packetsReceived,     p.nominated};
  }
  const auto& t = s.transport;
  out.transport = TransportStats{t.dtlsState,
                                 t.iceState,
                                 t.iceRole,
                                 t.dtlsRole,
                                 t.tlsVersion,
                                 t.dtlsCipher,
                                 t.selectedCandidatePairChanges,
                                 t.bytesSent,
                                 t.bytesReceived,
                                 t.packetsSent,
                                 t.packetsReceived,
                                 t.packetsDiscarded};
  const auto& c = s.sctp;
  out.sctp = SctpTransportStats{c.state,
                                c.congestionWindow,
                                c.receiverWindow,
                                c.localReceiverWindow,
                                c.smoothedRoundTripTime,
                                c.rto,
                                c.retransmissions,
                                c.packetsSent,
                                c.packetsReceived,
                                c.bytesSent,
                                c.bytesReceived,
                                c.maxChannels,
                                c.messageBuffersReused,
                                c.congestionControl,
                                c.bottleneckBandwidth,
                                c.retainedCongestionWindow,
                                c.minRoundTripTime,
                                c.carefulResume,
                                c.carefulResumeRetreated,
                                c.rapidStartRounds,
                                c.rapidStartRecovered,
                                c.fastRetransmits,
                                c.retransmissionTimeouts,
                                c.hystartExits,
                                c.hystartAckTrainExits,
                                c.hystartUndos,
                                c.tailLossProbes,
                                c.retransmitBuffer};
  for (const auto& d : s.dataChannels) {
    out.dataChannels.push_back(DataChannelStats{d.label, d.protocol, d.state, d.dataChannelIdentifier, d.messagesSent,
                                                d.bytesSent, d.messagesReceived, d.bytesReceived});
  }
  out.dataChannelsOpened = s.dataChannelsOpened;
  out.dataChannelsClosed = s.dataChannelsClosed;
  return out;
}

void PeerConnection::Impl::Close() {
  if (closed) return;
  closed = true;
  signaling.Close();
  SetSignaling(sdp::SignalingState::kClosed);
  if (shut_down) return;
  WithdrawMdnsNames();
  auto pending = std::move(unbound_channels);
  unbound_channels.clear();
  for (const auto& ch : pending)
    FireChannelClosed(ch);
  if (shut_down) return;
  if (core) {
    core->Close(runtime::Now());
    Drain();
  } else {
    pc_state = PeerConnectionState::kClosed;
    if (auto f = Handler(&Impl::on_state)) f(PeerConnectionState::kClosed);
  }
}

// The owner is gone: no callback runs again; I/O objects are closed now and destroyed after the
// current handler returns (one of them may be the caller).
void PeerConnection::Impl::Shutdown() {
  if (shut_down) return;
  shut_down = true;
  closed = true;
  {
    std::lock_guard lock(handlers_mu);
    on_ice_candidate = nullptr;
    on_gathering = nullptr;
    on_ice_state = nullptr;
    on_state = nullptr;
    on_signaling = nullptr;
    on_data_channel = nullptr;
  }
  for (auto& [id, ch] : channels) {
    ch->done = true;
    ch->state = DataChannelState::kClosed;
    ch->ClearHandlers();
  }
  for (auto& ch : unbound_channels) {
    ch->done = true;
    ch->state = DataChannelState::kClosed;
    ch->ClearHandlers();
  }
  if (core) {
    // Best effort: tell the peer (SCTP ABORT-free shutdown start, close_notify) without waiting.
    core->Close(runtime::Now());
    for (int i = 0; i < 64; ++i) {
      peer::Output out = core->PollOutput(runtime::Now());
      if (auto* tx = std::get_if<peer::Transmit>(&out)) {
        if (tx->transport == TransportProtocol::kUdp) SendTransmit(*tx);
      } else if (std::holds_alternative<peer::Deadline>(out)) {
        break;
      }
    }
    FlushSends();
  }
  timer->Arm(Instant::Max());
  if (mdns) {
    WithdrawMdnsNames();
    mdns->Stop();
  }
  for (auto& [addr, s] : sockets)
    s->Close();
  if (config.udp_mux) config.udp_mux->impl().Unregister(*this);
  for (auto& [key, s] : streams)
    s->Close();
  struct Graveyard {
    std::unique_ptr<CryptoRng> rng;              // the core refers to it: destroyed last
    std::unique_ptr<runtime::MdnsService> mdns;  // refers to rng too
    std::map<SocketAddress, std::unique_ptr<runtime::UdpSocket>> sockets;
    std::map<StreamKey, std::unique_ptr<runtime::StreamConnection>> streams;
    std::unique_ptr<runtime::CoreTimer> timer;
    std::unique_ptr<peer::Connection> core;
  };
  auto grave = std::make_shared<Graveyard>();
  grave->sockets = std::move(sockets);
  grave->streams = std::move(streams);
  grave->timer = std::move(timer);
  grave->core = std::move(core);
  grave->rng = std::move(rng);
  grave->mdns = std::move(mdns);
  sockets.clear();
  streams.clear();
  channels.clear();
  unbound_channels.clear();
  asio::post(loop->io, [grave]() mutable { grave.reset(); });
}

void PeerConnection::Impl::SendTransmit(peer::Transmit& tx) {
  if (tx.transport != TransportProtocol::kUdp) {
    SendStream(tx);
    return;
  }
  if (config.udp_mux && tx.local == config.udp_mux->impl().local) {
    config.udp_mux->impl().Send(*this, shared_from_this(), tx.remote, tx.bytes);
    return;
  }
  auto sock = sockets.find(tx.local);
  if (sock == sockets.end()) {
    if (unknown_source_drops++ == 0) {
      runtime::Log(config.log, "pc: transmit from unknown source " + tx.local.ToString() + " dropped");
    }
    return;
  }
  // Batched: what one drain produces for a destination leaves in few sendmsg calls (GSO).
  sock->second->QueueSend(tx.remote, tx.bytes);
}

void PeerConnection::Impl::FlushSends() {
  for (auto& [addr, s] : sockets)
    if (s->has_queued_sends()) s->FlushSends();
  if (config.udp_mux && !config.udp_mux->impl().defer_flush) {
    auto& socket = config.udp_mux->impl().socket;
    if (socket && socket->has_queued_sends()) socket->FlushSends();
  }
}

std::vector<SocketAddress> PeerConnection::Impl::HostAddresses() const {
  std::vector<SocketAddress> out;
  for (const auto& [bound, socket] : sockets)
    out.push_back(bound);
  if (config.udp_mux) out.push_back(config.udp_mux->impl().local);
  return out;
}

void PeerConnection::Impl::OnMuxDatagram(const SocketAddress& local, const SocketAddress& from, ByteView data) {
  if (shut_down || !core) return;
  core->HandleDatagram(runtime::Now(), local, from, data);
  if (++undrained_datagrams >= 64) Drain();
}

void UdpMux::Impl::BatchEnd() {
  auto batch = std::move(touched);
  touched.clear();
  for (auto& c : batch) {
    c->mux_touched = false;
    if (!c->shut_down && c->core && c->undrained_datagrams > 0) c->Drain();
  }
  defer_flush = false;
  if (socket && socket->has_queued_sends()) socket->FlushSends();
}

Expected<std::shared_ptr<UdpMux>> UdpMux::Create(std::shared_ptr<Runtime> runtime,
                                                 const std::string& address,
                                                 uint16_t port,
                                                 int socket_buffer) {
  auto fail = [](ErrorKind kind, std::string message) { return Error{kind, std::move(message), 0}; };
  if (!runtime) return fail(ErrorKind::kInvalidArgument, "udp mux: no runtime");
  auto ip = IpAddress::Parse(address);
  if (!ip) return fail(ErrorKind::kInvalidArgument, "udp mux: bad address: " + address);
  if (ip->IsUnspecified()) {
    return fail(
        ErrorKind::kInvalidArgument,
        "udp mux: " + address + " is a wildcard; bind the address peers should reach (it is the host candidate)");
  }
  std::shared_ptr<UdpMux> mux(new UdpMux());
  auto impl = std::make_shared<Impl>();
  impl->runtime = runtime;
  impl->loop = runtime->impl().Pick();
  auto open = [impl, ip = *ip, port, socket_buffer]() -> std::error_code {
    runtime::UdpSocketOptions o;
    o.receive_buffer = socket_buffer;
    o.send_buffer = socket_buffer;
    auto socket = std::make_unique<runtime::UdpSocket>(impl->loop->io, o);
    if (auto ec = socket->Bind(SocketAddress(ip, port))) return ec;
    impl->local = socket->local_address();
    std::weak_ptr<Impl> weak = impl;
    socket->StartReceiving(
        [weak](const SocketAddress& at, const SocketAddress& from, ByteView data) {
          if (auto m = weak.lock()) m->Receive(at, from, data);
        },
        [weak] {
          if (auto m = weak.lock()) m->BatchEnd();
        });
    impl->socket = std::move(socket);
    return {};
  };
  std::error_code ec;
  if (impl->loop->OnThread()) {
    ec = open();
  } else {
    std::packaged_task<std::error_code()> task(open);
    auto result = task.get_future();
    asio::post(impl->loop->io, [&task] { task(); });
    ec = result.get();
  }
  if (ec)
    return fail(ErrorKind::kOperationError,
                "udp mux: cannot bind " + SocketAddress(*ip, port).ToString() + ": " + ec.message());
  mux->impl_ = std::move(impl);
  return mux;
}

UdpMux::~UdpMux() {
  if (!impl_) return;
  // The socket is closed and destroyed on its own thread. Off that thread the destructor waits
  // for it (bounded), so that the runtime reference goes away here: a runtime whose last
  // reference was dropped by a task still queued at process exit would never be joined.
  // Weak: the task must not end up holding the last reference (and with it the runtime's) after
  // this destructor returned.
  auto close = [weak = std::weak_ptr<Impl>(impl_)] {
    auto impl = weak.lock();
    if (!impl) return;
    if (impl->socket) impl->socket->Close();
    impl->socket.reset();
  };
  if (impl_->loop->OnThread()) {
    close();
    return;
  }
  auto done = std::make_shared<std::promise<void>>();
  auto finished = done->get_future();
  asio::post(impl_->loop->io, [close, done] {
    close();
    done->set_value();
  });
  finished.wait_for(std::chrono::seconds(5));
}

std::string UdpMux::local_address() const {
  return impl_->local.ToString();
}
uint16_t UdpMux::port() const {
  return impl_->local.port();
}
UdpMuxStats UdpMux::stats() const {
  UdpMuxStats s;
  s.datagramsRouted = impl_->routed;
  s.datagramsUnroutable = impl_->unroutable;
  s.routesLearned = impl_->learned;
  s.connections = impl_->connections;
  s.routes = impl_->routes;
  // The socket's own counters are plain integers of the loop thread: read them there.
  auto read = [impl = impl_, &s] {
    if (!impl->socket) return;
    s.datagramsSent = impl->socket->stats().datagrams_sent;
    s.sendDrops = impl->socket->stats().send_would_block + impl->socket->stats().send_errors;
    s.sendCalls = impl->socket->stats().send_calls;
    s.multiDestinationSends = impl->socket->stats().multi_destination_sends;
  };
  if (impl_->loop->OnThread()) {
    read();
  } else {
    std::packaged_task<void()> task(read);
    auto done = task.get_future();
    asio::post(impl_->loop->io, [&task] { task(); });
    done.wait();
  }
  return s;
}

void PeerConnection::Impl::SendStream(const peer::Transmit& tx) {
  const StreamKey key(tx.local, tx.remote);
  auto it = streams.find(key);
  if (it == streams.end()) {
    std::shared_ptr<asio::ssl::context> context;
    runtime::TlsClientConfig stream_tls = tls;
    if (tx.transport == TransportProtocol::kTls) {
      if (!tls_context) {
        std::string error;
        tls_context = runtime::MakeTlsClientContext(tls, &error);
        if (!tls_context) {
          core->HandleStreamError(runtime::Now(), tx.local, tx.remote, error);
          return;  // the drain loop picks up what the core emits
        }
      }
      context = tls_context;
      if (auto name = tls_names.find(tx.remote); name != tls_names.end()) stream_tls.server_name = name->second;
    }
    runtime::StreamConnection::Callbacks callbacks;
    std::weak_ptr<Impl> weak = weak_from_this();
    callbacks.on_frame = [this, weak, key](ByteView frame) {
      auto self = weak.lock();
      if (!self || shut_down) return;
      core->HandleStreamFrame(runtime::Now(), key.first, key.second, frame);
      Drain();
    };
    callbacks.on_error = [this, weak, key](const std::string& reason) {
      auto self = weak.lock();
      if (!self || shut_down) return;
      if (auto dead = streams.find(key); dead != streams.end()) {
        // Inside its own callback: destroy it after the callback returns.
        std::shared_ptr<runtime::StreamConnection> grave(std::move(dead->second));
        streams.erase(dead);
        asio::post(loop->io, [grave] {});
      }
      core->HandleStreamError(runtime::Now(), key.first, key.second, reason);
      Drain();
    };
    auto conn = std::make_unique<runtime::StreamConnection>(loop->io, tx.transport, std::move(context),
                                                            std::move(stream_tls), std::move(callbacks), config.log);
    runtime::StreamConnection* raw = conn.get();
    streams.emplace(key, std::move(conn));
    raw->Connect(tx.remote, tx.local.ip());
    it = streams.find(key);
    if (it == streams.end()) return;
  }
  it->second->Write(tx.bytes);
}

void PeerConnection::Impl::Drain() {
  if (shut_down || !core) return;
  if (draining) {
    drain_again = true;
    return;
  }
  auto self = shared_from_this();
  draining = true;
  undrained_datagrams = 0;
  Instant deadline = Instant::Max();
  for (int pass = 0; pass < 1000; ++pass) {
    drain_again = false;
    const Instant now = runtime::Now();
    for (;;) {
      peer::Output out = core->PollOutput(now);
      if (auto* tx = std::get_if<peer::Transmit>(&out)) {
        SendTransmit(*tx);
      } else if (auto* ev = std::get_if<peer::Event>(&out)) {
        Dispatch(*ev);
        if (shut_down) return;  // a handler destroyed the connection
      } else {
        deadline = std::get<peer::Deadline>(out).at;
        break;
      }
    }
    if (!drain_again) break;
  }
  draining = false;
  FlushSends();
  timer->Arm(deadline);
  // After an ICE restart (ours or the peer's) checks name the new ufrag.
  if (config.udp_mux && !shut_down) {
    config.udp_mux->impl().RegisterUfrag(*this, shared_from_this(), core->local_ice_credentials().ufrag);
  }
}

void PeerConnection::Impl::Dispatch(peer::Event& event) {
  auto find = [this](datachannel::ChannelId id) -> std::shared_ptr<DataChannel::Impl> {
    auto it = channels.find(id);
    return it == channels.end() ? nullptr : it->second;
  };
  if (!gathering_started && (std::holds_alternative<peer::IceCandidate>(event) ||
                             std::holds_alternative<peer::IceGatheringStateChange>(event))) {
    held_events.push_back(std::move(event));
    return;
  }
  if (auto* e = std::get_if<peer::IceCandidate>(&event)) {
    auto line = SignaledCandidate(e->candidate);
    if (!line) return;
    IceCandidate c{std::move(*line), mid, 0};
    // An ICE restart announces the same candidates again (for the new credentials): the
    // handler hears them again, the description keeps one copy.
    if (std::find(local_candidates.begin(), local_candidates.end(), c.candidate) == local_candidates.end())
      local_candidates.push_back(c.candidate);
    if (auto f = Handler(&Impl::on_ice_candidate)) f(c);
  } else if (auto* e = std::get_if<peer::IceGatheringStateChange>(&event)) {
    gathering_state = Map(e->state);
    if (auto f = Handler(&Impl::on_gathering)) f(Map(e->state));
    if (shut_down) return;
    if (e->state == ice::GatheringState::kComplete) {
      if (auto f = Handler(&Impl::on_ice_candidate)) f(IceCandidate{"", mid, 0});  // the null candidate
    }
  } else if (auto* e = std::get_if<peer::IceConnectionStateChange>(&event)) {
    ice_state = Map(e->state);
    if (!e->reason.empty())
      runtime::Log(config.log, "pc: ice " + std::string(ice::ToString(e->state)) + ": " + e->reason);
    if (auto f = Handler(&Impl::on_ice_state)) f(Map(e->state));
  } else if (auto* e = std::get_if<peer::ConnectionStateChange>(&event)) {
    const auto s = static_cast<PeerConnectionState>(e->state);
    pc_state = s;
    if (!e->reason.empty()) runtime::Log(config.log, "pc: " + std::string(ToString(s)) + ": " + e->reason);
    if (auto f = Handler(&Impl::on_state)) f(s);
  } else if (auto* e = std::get_if<peer::SelectedCandidatePairChange>(&event)) {
    runtime::Log(config.log, "pc: selected pair " + e->local.ToString() + " -> " + e->remote.ToString());
  } else if (auto* e = std::get_if<datachannel::IncomingChannel>(&event)) {
    auto ch = std::make_shared<DataChannel::Impl>();
    ch->pc = weak_from_this();
    ch->label = e->label;
    ch->init.ordered = e->options.ordered;
    ch->init.max_retransmits = e->options.max_retransmits;
    if (e->options.max_packet_lifetime) {
      ch->init.max_packet_life_time = static_cast<uint32_t>(e->options.max_packet_lifetime->millis());
    }
    ch->init.protocol = e->protocol;
    ch->init.id = e->options.id;
    if (e->options.id) ch->stream = *e->options.id;
    ch->cid = e->id;
    channels[e->id] = ch;
    if (auto f = Handler(&Impl::on_data_channel)) f(std::make_shared<DataChannel>(ch));
  } else if (auto* e = std::get_if<datachannel::ChannelOpened>(&event)) {
    if (auto ch = find(e->id)) {
      if (const auto* c = core->FindChannel(e->id); c && c->id()) ch->stream = *c->id();
      ch->state = DataChannelState::kOpen;
      if (auto f = ch->Get(&DataChannel::Impl::on_open)) {
        f();
      } else {
        ch->open_unheard = true;
      }
    }
  } else if (auto* e = std::get_if<datachannel::Message>(&event)) {
    if (auto ch = find(e->id)) {
      if (auto f = ch->Get(&DataChannel::Impl::on_message)) f(std::span<const uint8_t>(e->payload), e->binary);
    }
    // The handler has seen the bytes (the span is not valid past it): the block goes back to
    // the association for the next large message.
    if (!shut_down && core) core->RecycleMessageBuffer(std::move(e->payload));
  } else if (auto* e = std::get_if<datachannel::BufferedAmountLow>(&event)) {
    if (auto ch = find(e->id)) {
      if (auto f = ch->Get(&DataChannel::Impl::on_bufferedamountlow)) f();
    }
  } else if (auto* e = std::get_if<datachannel::ChannelClosing>(&event)) {
    if (auto ch = find(e->id)) {
      ch->state = DataChannelState::kClosing;
      if (auto f = ch->Get(&DataChannel::Impl::on_closing)) f();
    }
  } else if (auto* e = std::get_if<datachannel::ChannelClosed>(&event)) {
    if (auto ch = find(e->id)) {
      channels.erase(e->id);
      FireChannelClosed(ch);
    }
  } else if (auto* e = std::get_if<datachannel::ChannelError>(&event)) {
    if (auto ch = find(e->id)) {
      if (auto f = ch->Get(&DataChannel::Impl::on_error)) f(e->reason);
    }
  }
}

std::optional<Description> PeerConnection::Impl::LocalDescription() {
  const auto& desc = pending_local ? pending_local : current_local;
  if (!desc) return std::nullopt;
  sdp::SessionDescription copy = *desc;
  if (auto* data = copy.FirstDataSection()) {
    for (const std::string& text : local_candidates) {
      if (auto c = ice::Candidate::ParseSdp(text); c.ok()) {
        data->candidates.push_back(c.value());
      } else if (MdnsName(text)) {
        data->mdns_candidates.push_back(text);  // a published host candidate
      }
    }
    data->end_of_candidates = gathering_state.load() == IceGatheringState::kComplete;
  }
  return Description{static_cast<SdpType>(copy.type), copy.ToSdp()};
}

// --- PeerConnection ------------------------------------------------------------------------------

PeerConnection::PeerConnection(Configuration config, std::shared_ptr<Runtime> runtime)
    : impl_(std::make_shared<Impl>(std::move(config), std::move(runtime))) {}

PeerConnection::~PeerConnection() {
  auto impl = std::move(impl_);
  // Keep the runtime alive past the shutdown task; it may be the last reference, released here
  // (on the loop thread that detaches its thread, see ~Runtime).
  std::shared_ptr<Runtime> runtime = impl->runtime;
  impl->RunSync([&] { impl->Shutdown(); });
  if (impl->loop->OnThread()) {
    impl.reset();
    return;
  }
  // Off the loop thread: wait (bounded) until the cancelled socket and timer handlers have let
  // go of the Impl, so the Runtime reference dropped last is ours, on this thread.
  auto released = std::make_shared<std::promise<void>>();
  auto done = released->get_future();
  impl->RunSync([&] { impl->released = released; });
  impl.reset();
  (void)done.wait_for(std::chrono::seconds(5));
}

Expected<Description> PeerConnection::CreateOffer() {
  return impl_->RunSync([&] { return impl_->CreateOffer(); });
}
Expected<Description> PeerConnection::CreateAnswer() {
  return impl_->RunSync([&] { return impl_->CreateAnswer(); });
}
Expected<void> PeerConnection::SetLocalDescription(const Description& d) {
  return impl_->RunSync([&] { return impl_->SetLocal(d); });
}
Expected<void> PeerConnection::SetRemoteDescription(const Description& d) {
  return impl_->RunSync([&] { return impl_->SetRemote(d); });
}
std::optional<Description> PeerConnection::local_description() const {
  return impl_->RunSync([&] { return impl_->LocalDescription(); });
}
std::optional<Description> PeerConnection::remote_description() const {
  return impl_->RunSync([&]() -> std::optional<Description> {
    const auto& d = impl_->pending_remote ? impl_->pending_remote : impl_->current_remote;
    if (!d) return std::nullopt;
    return Description{static_cast<SdpType>(d->type), d->ToSdp()};
  });
}
Expected<void> PeerConnection::AddIceCandidate(const IceCandidate& c) {
  return impl_->RunSync([&] { return impl_->AddCandidate(c); });
}
void PeerConnection::RestartIce() {
  impl_->RunSync([&] {
    if (impl_->core && !impl_->closed) {
      impl_->core->RestartIce(runtime::Now());
      impl_->Drain();
    } else if (!impl_->core) {
      impl_->ice_config.local_credentials = {impl_->rng->IceChars(8), impl_->rng->IceChars(24)};
    }
  });
}
Expected<std::shared_ptr<DataChannel>> PeerConnection::CreateDataChannel(std::string label,
                                                                         const DataChannelInit& init) {
  return impl_->RunSync([&] { return impl_->CreateChannel(std::move(label), init); });
}
Stats PeerConnection::GetStats() const {
  return impl_->RunSync([&] { return impl_->GetStats(); });
}
void PeerConnection::Post(std::function<void()> task) {
  std::weak_ptr<Impl> weak = impl_;
  asio::post(impl_->loop->io, [weak, task = std::move(task)] {
    auto self = weak.lock();
    if (!self || self->shut_down) return;
    task();
  });
}

void PeerConnection::Close() {
  impl_->RunSync([&] { impl_->Close(); });
}
SignalingState PeerConnection::signaling_state() const {
  return impl_->signaling_state.load();
}
IceGatheringState PeerConnection::ice_gathering_state() const {
  return impl_->gathering_state.load();
}
IceConnectionState PeerConnection::ice_connection_state() const {
  return impl_->ice_state.load();
}
PeerConnectionState PeerConnection::connection_state() const {
  return impl_->pc_state.load();
}

#define PEERLINK_SETTER(Name, member, Type)                \
  void PeerConnection::Name(std::function<Type> handler) { \
    std::lock_guard lock(impl_->handlers_mu);              \
    impl_->member = std::move(handler);                    \
  }
PEERLINK_SETTER(OnIceCandidate, on_ice_candidate, void(const IceCandidate&))
PEERLINK_SETTER(OnIceGatheringStateChange, on_gathering, void(IceGatheringState))
PEERLINK_SETTER(OnIceConnectionStateChange, on_ice_state, void(IceConnectionState))
PEERLINK_SETTER(OnConnectionStateChange, on_state, void(PeerConnectionState))
PEERLINK_SETTER(OnSignalingStateChange, on_signaling, void(SignalingState))
PEERLINK_SETTER(OnDataChannel, on_data_channel, void(std::shared_ptr<DataChannel>))
#undef PEERLINK_SETTER

// --- DataChannel ---------------------------------------------------------------------------------

DataChannel::DataChannel(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
DataChannel::~DataChannel() = default;

const std::string& DataChannel::label() const {
  return impl_->label;
}
const std::string& DataChannel::protocol() const {
  return impl_->init.protocol;
}
bool DataChannel::ordered() const {
  return impl_->init.ordered;
}
bool DataChannel::negotiated() const {
  return impl_->init.negotiated;
}
std::optional<uint16_t> DataChannel::max_retransmits() const {
  return impl_->init.max_retransmits;
}
std::optional<uint32_t> DataChannel::max_packet_life_time() const {
  return impl_->init.max_packet_life_time;
}
std::optional<uint16_t> DataChannel::id() const {
  const int32_t s = impl_->stream.load();
  if (s < 0) return std::nullopt;
  return static_cast<uint16_t>(s);
}
DataChannelState DataChannel::ready_state() const {
  return impl_->state.load();
}
size_t DataChannel::buffered_amount() const {
  auto pc = impl_->pc.lock();
  if (!pc) return 0;
  return pc->RunSync([&]() -> size_t {
    if (pc->shut_down || !pc->core || !impl_->cid || impl_->done) return 0;
    return pc->core->buffered_amount(*impl_->cid);
  });
}
size_t DataChannel::buffered_amount_low_threshold() const {
  return impl_->threshold.load();
}
void DataChannel::set_buffered_amount_low_threshold(size_t bytes) {
  impl_->threshold = bytes;
  auto pc = impl_->pc.lock();
  if (!pc) return;
  pc->RunSync([&] {
    if (!pc->shut_down && pc->core && impl_->cid) (void)pc->core->SetBufferedAmountLowThreshold(*impl_->cid, bytes);
  });
}
Expected<void> DataChannel::Send(std::string_view text) {
  auto pc = impl_->pc.lock();
  if (!pc) return Error{ErrorKind::kInvalidState, "closed", 0};
  return pc->RunSync([&] { return pc->Send(*impl_, AsBytes(text), false); });
}
Expected<void> DataChannel::Send(std::span<const uint8_t> bytes) {
  auto pc = impl_->pc.lock();
  if (!pc) return Error{ErrorKind::kInvalidState, "closed", 0};
  return pc->RunSync([&] { return pc->Send(*impl_, ByteView(bytes.data(), bytes.size()), true); });
}
void DataChannel::Close() {
  auto pc = impl_->pc.lock();
  if (!pc) return;
  pc->RunSync([&] { pc->CloseChannel(*impl_); });
}
void DataChannel::OnOpen(std::function<void()> handler) {
  const bool set = static_cast<bool>(handler);
  impl_->Set(&Impl::on_open, std::move(handler));
  if (!set || !impl_->open_unheard.load()) return;
  auto pc = impl_->pc.lock();
  if (!pc) return;
  // Delivered on the connection's thread like every event, after the caller's current handler.
  asio::post(pc->loop->io, [ch = impl_, pc] {
    if (pc->shut_down || ch->done || ch->state.load() != DataChannelState::kOpen) return;
    if (!ch->open_unheard.exchange(false)) return;
    if (auto f = ch->Get(&Impl::on_open)) f();
  });
}
void DataChannel::OnMessage(std::function<void(std::span<const uint8_t>, bool)> handler) {
  impl_->Set(&Impl::on_message, std::move(handler));
}
void DataChannel::OnBufferedAmountLow(std::function<void()> handler) {
  impl_->Set(&Impl::on_bufferedamountlow, std::move(handler));
}
void DataChannel::OnClosing(std::function<void()> handler) {
  impl_->Set(&Impl::on_closing, std::move(handler));
}
void DataChannel::OnClose(std::function<void()> handler) {
  impl_->Set(&Impl::on_close, std::move(handler));
}
void DataChannel::OnError(std::function<void(const std::string&)> handler) {
  impl_->Set(&Impl::on_error, std::move(handler));
}

}  // namespace peerlink
