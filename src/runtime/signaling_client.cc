#include "src/runtime/signaling_client.h"

#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <charconv>
#include <deque>
#include <nlohmann/json.hpp>
#include <vector>

#include "src/runtime/clock.h"

namespace peerlink::runtime {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Strand = asio::strand<asio::io_context::executor_type>;

std::optional<WebSocketUrl> ParseWebSocketUrl(std::string_view url) {
  WebSocketUrl out;
  if (url.rfind("ws://", 0) == 0) {
    url.remove_prefix(5);
  } else if (url.rfind("wss://", 0) == 0) {
    out.tls = true;
    url.remove_prefix(6);
  } else {
    return std::nullopt;
  }
  const size_t end = url.find_first_of("/?#");
  std::string_view authority = url.substr(0, end);
  if (end != std::string_view::npos) {
    std::string_view rest = url.substr(end);
    if (const size_t hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
    out.target = rest.empty() ? "/" : (rest[0] == '/' ? std::string(rest) : "/" + std::string(rest));
  }
  if (authority.find('@') != std::string_view::npos) return std::nullopt;  // no user info
  std::string_view port;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return std::nullopt;
      port = after.substr(1);
    }
  } else {
    const size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return std::nullopt;
  if (port.empty()) {
    out.port = out.tls ? "443" : "80";
  } else {
    unsigned value = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || p != port.data() + port.size() || value == 0 || value > 65535) return std::nullopt;
    out.port = std::string(port);
  }
  return out;
}

namespace {

class ConnBase {
 public:
  virtual ~ConnBase() = default;
  virtual void Run() = 0;
  virtual void Send(std::string text) = 0;
  virtual void Close() = 0;
};

std::string LogLine(std::string_view event, size_t server, std::string_view url, std::string_view detail) {
  return nlohmann::json({{"event", event}, {"server", server}, {"url", url}, {"detail", detail}}).dump();
}

}  // namespace

class SignalingClient::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, SignalingClientOptions options, SignalingClientCallbacks callbacks, LogFn log)
      : strand_(asio::make_strand(io)),
        timer_(strand_),
        options_(std::move(options)),
        callbacks_(std::move(callbacks)),
        log_(std::move(log)),
        core_(options_.core, rng_),
        tls_(ssl::context::tls_client),
        conns_(options_.core.urls.size()) {
    tls_.set_default_verify_paths();
    if (!options_.ca_file.empty()) {
      beast::error_code ec;
      tls_.load_verify_file(options_.ca_file, ec);
      if (ec) ca_error_ = "cannot load CA file " + options_.ca_file + ": " + ec.message();
    }
    tls_.set_verify_mode(options_.verify_certificates ? ssl::verify_peer : ssl::verify_none);
  }

  Strand& strand() { return strand_; }
  const std::string& peer_id() const { return core_.peer_id(); }
  const SignalingClientOptions& options() const { return options_; }
  ssl::context& tls() { return tls_; }

  void Start() {
    if (stopped_) return;
    if (!ca_error_.empty()) Log(log_, LogLine("ca_error", 0, "", ca_error_));
    core_.Start(Now());
    Drain();
  }
  void SendSignal(const std::string& peer,
                  const signaling::ywebrtc::PeerSignal& signal,
                  const std::function<void(signaling::SendStatus)>& done) {
    if (stopped_) return;
    const auto status = core_.SendSignal(Now(), peer, signal);
    Drain();
    if (done) done(status);
  }
  void RemovePeer(const std::string& peer) {
    if (stopped_) return;
    core_.RemovePeer(Now(), peer);
    Drain();
  }
  void Stop() {
    if (stopped_) return;
    stopped_ = true;
    ++timer_generation_;
    timer_.cancel();
    for (auto& c : conns_) {
      if (c) c->Close();
      c.reset();
    }
  }
  const signaling::ClientCounters& counters() const { return core_.counters(); }

  // From connections (on the strand). `conn` identifies the attempt; stale ones are ignored.
  void OnUp(size_t index, ConnBase* conn) {
    if (stopped_ || conns_[index].get() != conn) return;
    Log(log_, LogLine("connected", index, options_.core.urls[index], ""));
    core_.HandleConnected(Now(), index);
    if (callbacks_.on_connection) callbacks_.on_connection(index, true, "");
    Drain();
  }
  void OnDown(size_t index, ConnBase* conn, const std::string& reason) {
    if (stopped_ || conns_[index].get() != conn) return;
    Log(log_, LogLine("disconnected", index, options_.core.urls[index], reason));
    conns_[index].reset();
    core_.HandleDisconnected(Now(), index, reason);
    if (callbacks_.on_connection) callbacks_.on_connection(index, false, reason);
    Drain();
  }
  void OnFrame(size_t index, ConnBase* conn, std::string_view text) {
    if (stopped_ || conns_[index].get() != conn) return;
    core_.HandleFrame(Now(), index, text);
    Drain();
  }

 private:
  void Drain();
  void Connect(size_t index, const std::string& url);
  void ArmTimer(Instant at) {
    const uint64_t generation = ++timer_generation_;
    if (at == Instant::Max()) {
      timer_.cancel();
      return;
    }
    timer_.expires_at(ToTimePoint(at));
    timer_.async_wait([weak = weak_from_this(), generation](beast::error_code ec) {
      auto self = weak.lock();
      if (!self || ec || self->stopped_ || generation != self->timer_generation_) return;
      self->core_.HandleTimeout(Now());
      self->Drain();
    });
  }

  Strand strand_;
  asio::steady_timer timer_;
  uint64_t timer_generation_ = 0;
  SignalingClientOptions options_;
  SignalingClientCallbacks callbacks_;
  LogFn log_;
  CryptoRng rng_;
  signaling::ClientCore core_;
  ssl::context tls_;
  std::string ca_error_;
  std::vector<std::shared_ptr<ConnBase>> conns_;
  bool stopped_ = false;
};

namespace {

// One connection attempt to one server: resolve, TCP connect, (TLS handshake), WebSocket
// upgrade, then a read loop and a bounded write queue. Reports up/down/frames to the Impl on the
// strand; after Close() it reports nothing.
template <class WsStream>
class Conn final : public ConnBase, public std::enable_shared_from_this<Conn<WsStream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<WsStream, websocket::stream<beast::tcp_stream>>;

  Conn(const std::shared_ptr<SignalingClient::Impl>& impl, size_t index, WebSocketUrl url)
      : impl_(impl), index_(index), url_(std::move(url)), resolver_(impl->strand()), ws_(MakeStream(*impl)) {}

  void Run() override {
    const auto& o = impl_.lock()->options();
    timeout_ = std::chrono::nanoseconds(o.connect_timeout.nanos());
    max_queue_ = o.max_write_queue_frames;
    ws_.read_message_max(o.core.max_frame_bytes + 1024);
    resolver_.async_resolve(url_.host, url_.port, [self = this->shared_from_this()](auto ec, auto results) {
      if (ec) return self->Fail("resolve: " + ec.message());
      self->OnResolved(results);
    });
  }

  void Send(std::string text) override {
    if (done_) return;
    if (queue_.size() >= max_queue_) return Fail("write queue full");
    queue_.push_back(std::move(text));
    if (!writing_) DoWrite();
  }

  void Close() override {
    if (done_) return;
    done_ = true;
    if (open_) {
      ws_.async_close(websocket::close_code::normal, [self = this->shared_from_this()](beast::error_code) {
        beast::error_code ignored;
        beast::get_lowest_layer(self->ws_).socket().close(ignored);
      });
    } else {
      beast::get_lowest_layer(ws_).close();
      resolver_.cancel();
    }
  }

 private:
  static WsStream MakeStream(SignalingClient::Impl& impl) {
    if constexpr (kTls) {
      return WsStream(impl.strand(), impl.tls());
    } else {
      return WsStream(impl.strand());
    }
  }

  void OnResolved(const tcp::resolver::results_type& results) {
    if (done_) return;
    beast::get_lowest_layer(ws_).expires_after(timeout_);
    beast::get_lowest_layer(ws_).async_connect(
        results, [self = this->shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
          if (ec) return self->Fail("connect: " + ec.message());
          self->OnConnected();
        });
  }

  void OnConnected() {
    if (done_) return;
    if constexpr (kTls) {
      auto& tls = ws_.next_layer();
      // SNI carries host names only (RFC 6066 section 3: no IP literals).
      beast::error_code not_ip;
      asio::ip::make_address(url_.host, not_ip);
      if (not_ip && !SSL_set_tlsext_host_name(tls.native_handle(), url_.host.c_str())) {
        return Fail("tls: cannot set SNI");
      }
      if (impl_.lock()->options().verify_certificates) tls.set_verify_callback(ssl::host_name_verification(url_.host));
      beast::get_lowest_layer(ws_).expires_after(timeout_);
      tls.async_handshake(ssl::stream_base::client, [self = this->shared_from_this()](beast::error_code ec) {
        if (ec) return self->Fail("tls: " + ec.message());
        self->Upgrade();
      });
    } else {
      Upgrade();
    }
  }

  void Upgrade() {
    if (done_) return;
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout t;
    t.handshake_timeout = timeout_;
    t.idle_timeout = std::chrono::seconds(40);  // Beast pings after 20 s of silence, drops after 40 s
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::request_type& req) { req.set(beast::http::field::user_agent, "peerlink-signaling-client"); }));
    const std::string host = url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host;
    ws_.async_handshake(host + ":" + url_.port, url_.target, [self = this->shared_from_this()](beast::error_code ec) {
      if (ec) return self->Fail("websocket upgrade: " + ec.message());
      self->open_ = true;
      if (self->done_) return;
      if (auto impl = self->impl_.lock()) impl->OnUp(self->index_, self.get());
      self->ReadLoop();
    });
  }

  void ReadLoop() {
    if (done_) return;
    ws_.async_read(buffer_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) {
        std::string reason = ec.message();
        if (ec == websocket::error::closed) {
          reason = "closed by server (" + std::to_string(self->ws_.reason().code) + " " +
                   std::string(self->ws_.reason().reason.c_str()) + ")";
        }
        return self->Fail(reason);
      }
      if (self->ws_.got_text() && !self->done_) {
        const std::string text = beast::buffers_to_string(self->buffer_.data());
        if (auto impl = self->impl_.lock()) impl->OnFrame(self->index_, self.get(), text);
      }
      self->buffer_.consume(self->buffer_.size());
      self->ReadLoop();
    });
  }

  void DoWrite() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(asio::buffer(queue_.front()), [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->Fail("write: " + ec.message());
      self->queue_.pop_front();
      if (self->done_ || self->queue_.empty()) {
        self->writing_ = false;
        return;
      }
      self->DoWrite();
    });
  }

  void Fail(const std::string& reason) {
    if (done_) return;
    done_ = true;
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
    if (auto impl = impl_.lock()) impl->OnDown(index_, this, reason);
  }

  std::weak_ptr<SignalingClient::Impl> impl_;
  size_t index_;
  WebSocketUrl url_;
  tcp::resolver resolver_;
  WsStream ws_;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  std::chrono::nanoseconds timeout_{};
  size_t max_queue_ = 1024;
  bool writing_ = false;
  bool open_ = false;
  bool done_ = false;
};

using PlainWs = websocket::stream<beast::tcp_stream>;
using TlsWs = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

}  // namespace

void SignalingClient::Impl::Connect(size_t index, const std::string& url) {
  if (conns_[index]) {
    conns_[index]->Close();
    conns_[index].reset();
  }
  auto parsed = ParseWebSocketUrl(url);
  if (!parsed) {
    Log(log_, LogLine("bad_url", index, url, "not a ws:// or wss:// URL"));
    core_.HandleDisconnected(Now(), index, "bad url");
    return;
  }
  Log(log_, LogLine("connecting", index, url, ""));
  if (parsed->tls) {
    conns_[index] = std::make_shared<Conn<TlsWs>>(shared_from_this(), index, std::move(*parsed));
  } else {
    conns_[index] = std::make_shared<Conn<PlainWs>>(shared_from_this(), index, std::move(*parsed));
  }
  conns_[index]->Run();
}

void SignalingClient::Impl::Drain() {
  const Instant now = Now();
  for (int guard = 0; guard < 1000000 && !stopped_; ++guard) {
    signaling::ClientOutput out = core_.PollOutput(now);
    if (auto* d = std::get_if<signaling::ClientDeadline>(&out)) {
      ArmTimer(d->at);
      return;
    }
    if (auto* f = std::get_if<signaling::SendFrame>(&out)) {
      if (conns_[f->server_index]) conns_[f->server_index]->Send(std::move(f->text));
    } else if (auto* c = std::get_if<signaling::Connect>(&out)) {
      Connect(c->server_index, c->url);
    } else if (auto* p = std::get_if<signaling::PeerDiscovered>(&out)) {
      if (callbacks_.on_peer_discovered) callbacks_.on_peer_discovered(p->peer_id);
    } else if (auto* l = std::get_if<signaling::PeerLeft>(&out)) {
      if (callbacks_.on_peer_left) callbacks_.on_peer_left(l->peer_id);
    } else if (auto* bc = std::get_if<signaling::BecomeCaller>(&out)) {
      if (callbacks_.on_role) callbacks_.on_role(bc->peer_id, signaling::PeerRole::kCaller);
    } else if (auto* be = std::get_if<signaling::BecomeCallee>(&out)) {
      if (callbacks_.on_role) callbacks_.on_role(be->peer_id, signaling::PeerRole::kCallee);
    } else if (auto* r = std::get_if<signaling::RemoteSignal>(&out)) {
      if (callbacks_.on_signal) callbacks_.on_signal(r->peer_id, r->signal, r->verified_identity);
    } else if (auto* e = std::get_if<signaling::ClientError>(&out)) {
      Log(log_, LogLine("error", 0, "", std::string(signaling::ToString(e->code)) + ": " + e->message));
      if (callbacks_.on_error) callbacks_.on_error(*e);
    }
  }
}

SignalingClient::SignalingClient(asio::io_context& io,
                                 SignalingClientOptions options,
                                 SignalingClientCallbacks callbacks,
                                 LogFn log)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(callbacks), std::move(log))) {}

SignalingClient::~SignalingClient() {
  Stop();
}

const std::string& SignalingClient::peer_id() const {
  return impl_->peer_id();
}

void SignalingClient::Start() {
  asio::post(impl_->strand(), [impl = impl_] { impl->Start(); });
}

void SignalingClient::SendSignal(std::string remote_peer,
                                 signaling::ywebrtc::PeerSignal signal,
                                 std::function<void(signaling::SendStatus)> done) {
  asio::post(impl_->strand(), [impl = impl_, peer = std::move(remote_peer), signal = std::move(signal),
                               done = std::move(done)] { impl->SendSignal(peer, signal, done); });
}

void SignalingClient::RemovePeer(std::string peer_id) {
  asio::post(impl_->strand(), [impl = impl_, peer = std::move(peer_id)] { impl->RemovePeer(peer); });
}

void SignalingClient::Stop() {
  asio::post(impl_->strand(), [impl = impl_] { impl->Stop(); });
}

void SignalingClient::GetCounters(std::function<void(const signaling::ClientCounters&)> done) {
  asio::post(impl_->strand(), [impl = impl_, done = std::move(done)] { done(impl->counters()); });
}

}  // namespace peerlink::runtime
