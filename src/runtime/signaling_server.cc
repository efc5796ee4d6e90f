#include "src/runtime/signaling_server.h"

#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <deque>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <span>
#include <unordered_map>

#include "src/base/crypto.h"
#include "src/base/rng.h"
#include "src/runtime/clock.h"
#include "src/runtime/core_timer.h"
#include "src/runtime/endpoint.h"
#include "src/signaling/resp.h"
#include "src/signaling/token.h"
#include "src/signaling/ws_frame.h"

namespace peerlink::runtime {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using signaling::ConnId;

namespace {

constexpr std::string_view kTokenProtocolPrefix = "peerlink-token.";
constexpr std::string_view kRedisChannelPrefix = "peerlink-signal/";

std::string_view Sv(beast::string_view s) {
  return std::string_view(s.data(), s.size());
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// The value of `key` in the query string of `target` ("/path?a=1&token=x").
std::optional<std::string_view> QueryParam(std::string_view target, std::string_view key) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == key) return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

}  // namespace

// One TCP (or TLS) connection: HTTP request, then WebSocket or a plain HTTP reply.
class ConnBase {
 public:
  virtual ~ConnBase() = default;
  virtual void Start() = 0;
  virtual void Send(std::shared_ptr<const std::string> text) = 0;
  virtual void Ping() = 0;
  virtual void Close(uint16_t code, std::string reason) = 0;
  virtual void Kill() = 0;
  // Writes what Send/Ping/Close queued (called from the server's posted flush, or once a
  // deferred connection's coalescing interval has passed: `deferred`).
  virtual void Flush(bool deferred = false) = 0;
  // Reads again after the server paused this connection's reads (see PauseReads).
  virtual void ResumeReads() = 0;

  uint64_t id = 0;
  SocketAddress peer;
  bool upgraded = false;
  bool flush_pending = false;  // in the server's list of connections to flush (or deferred)
  // When this connection's last write started (write coalescing; 0: never).
  std::chrono::steady_clock::time_point last_write{};
};

// Redis pub/sub over two RESP connections (a subscribed connection cannot PUBLISH).
class RedisBroker {
 public:
  struct Callbacks {
    std::function<void(std::string_view topic, std::string_view payload)> on_message;
    std::function<void(std::string_view level, std::string_view event, std::string detail)> log;
  };
  RedisBroker(asio::io_context& io, std::string host, std::string port, Callbacks cb)
      : io_(io), host_(std::move(host)), port_(std::move(port)), cb_(std::move(cb)), pub_(io), sub_(io), retry_(io) {}

  void Start() { Connect(); }
  void Stop() {
    stopped_ = true;
    retry_.cancel();
    Drop();
  }
  void Subscribe(const std::string& topic) {
    if (topics_.insert(topic).second && sub_.connected) Queue(sub_, {"SUBSCRIBE", Channel(topic)});
  }
  void Unsubscribe(const std::string& topic) {
    if (topics_.erase(topic) && sub_.connected) Queue(sub_, {"UNSUBSCRIBE", Channel(topic)});
  }
  void Publish(const std::string& topic, const std::string& payload) {
    if (!pub_.connected || pub_.queued > kMaxQueued) {
      ++dropped_;
      return;
    }
    Queue(pub_, {"PUBLISH", Channel(topic), payload});
  }
  uint64_t dropped() const { return dropped_; }
  int64_t confirmed_channels() const { return confirmed_; }
  bool connected() const { return pub_.connected && sub_.connected; }

 private:
  static constexpr size_t kMaxQueued = 8 * 1024 * 1024;
  struct Link {
    explicit Link(asio::io_context& io) : sock(io) {}
    tcp::socket sock;
    std::deque<std::string> out;
    size_t queued = 0;
    bool writing = false;
    bool connected = false;
    signaling::RespParser parser;
    std::array<char, 16384> rbuf{};
  };
  static std::string Channel(std::string_view topic) { return std::string(kRedisChannelPrefix) + std::string(topic); }

  void Queue(Link& l, std::initializer_list<std::string_view> args) {
    l.out.push_back(signaling::EncodeRespCommand(args));
    l.queued += l.out.back().size();
    if (!l.writing) Write(l);
  }
  void Write(Link& l) {
    if (l.out.empty() || !l.connected) return;
    l.writing = true;
    const uint64_t gen = generation_;
    asio::async_write(l.sock, asio::buffer(l.out.front()), [this, &l, gen](boost::system::error_code ec, size_t) {
      if (gen != generation_) return;
      l.writing = false;
      l.queued -= l.out.front().size();
      l.out.pop_front();
      if (ec) return Fail("write: " + ec.message());
      Write(l);
    });
  }
  void Read(Link& l, bool is_sub) {
    const uint64_t gen = generation_;
    l.sock.async_read_some(asio::buffer(l.rbuf), [this, &l, gen, is_sub](boost::system::error_code ec, size_t n) {
      if (gen != generation_) return;
      if (ec) return Fail("read: " + ec.message());
      l.parser.Append(std::string_view(l.rbuf.data(), n));
      for (int i = 0; i < 100000; ++i) {
        auto v = l.parser.Next();
        if (!v) return Fail("protocol error");
        if (!v.value()) break;
        const auto& r = *v.value();
        if (r.type == signaling::RespValue::Type::kError) cb_.log("warn", "redis_error", r.str);
        if (!is_sub || r.type != signaling::RespValue::Type::kArray || r.array.size() != 3) continue;
        const auto& kind = r.array[0].str;
        if (kind == "message" && r.array[1].str.starts_with(kRedisChannelPrefix)) {
          cb_.on_message(std::string_view(r.array[1].str).substr(kRedisChannelPrefix.size()), r.array[2].str);
        } else if (kind == "subscribe" || kind == "unsubscribe") {
          confirmed_ = r.array[2].integer;
        }
      }
      Read(l, is_sub);
    });
  }
  void Connect() {
    if (stopped_) return;
    const uint64_t gen = ++generation_;
    auto resolver = std::make_shared<tcp::resolver>(io_);
    resolver->async_resolve(
        host_, port_, [this, gen, resolver](boost::system::error_code ec, tcp::resolver::results_type results) {
          if (gen != generation_) return;
          if (ec) return Fail("resolve " + host_ + ": " + ec.message());
          auto pending = std::make_shared<int>(2);
          for (Link* l : {&pub_, &sub_}) {
            asio::async_connect(l->sock, results,
                                [this, gen, l, pending](boost::system::error_code ec, const tcp::endpoint&) {
                                  if (gen != generation_) return;
                                  if (ec) return Fail("connect " + host_ + ":" + port_ + ": " + ec.message());
                                  l->connected = true;
                                  Read(*l, l == &sub_);
                                  if (--*pending > 0) return;
                                  cb_.log("info", "redis_connected", host_ + ":" + port_);
                                  // Re-subscribe everything after a reconnect, in batches.
                                  std::vector<std::string> batch;
                                  for (const auto& t : topics_) {
                                    Queue(sub_, {"SUBSCRIBE", Channel(t)});
                                  }
                                  Write(pub_);
                                });
          }
        });
  }
  void Drop() {
    ++generation_;
    for (Link* l : {&pub_, &sub_}) {
      boost::system::error_code ec;
      l->sock.close(ec);
      l->out.clear();
      l->queued = 0;
      l->writing = false;
      l->connected = false;
      l->parser = signaling::RespParser();
    }
    confirmed_ = 0;
  }
  void Fail(const std::string& why) {
    if (stopped_) return;
    cb_.log("warn", "redis_down", why + "; retrying in 1 s");
    Drop();
    retry_.expires_after(std::chrono::seconds(1));
    const uint64_t gen = generation_;
    retry_.async_wait([this, gen](boost::system::error_code ec) {
      if (!ec && gen == generation_) Connect();
    });
  }

  asio::io_context& io_;
  std::string host_, port_;
  Callbacks cb_;
  Link pub_, sub_;
  asio::steady_timer retry_;
  std::set<std::string> topics_;
  uint64_t generation_ = 0;
  uint64_t dropped_ = 0;
  int64_t confirmed_ = 0;
  bool stopped_ = false;
};

class SignalingServer::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, SignalingServerOptions options, LogFn log)
      : io_(io),
        opts_(std::move(options)),
        log_(std::move(log)),
        core_(CoreOptions(opts_)),
        timer_(io, [this] { OnTimer(); }),
        acceptor_(io),
        shutdown_timer_(io) {}

  static signaling::ServerOptions CoreOptions(SignalingServerOptions& o) {
    if (o.server_id.empty()) {
      CryptoRng rng;
      std::array<uint8_t, 8> b;
      rng.Fill(b);
      o.server_id = crypto::HexEncode(b);
    }
    signaling::ServerOptions c = o.core;
    c.require_token = !o.token_secret.empty();
    c.broker = !o.redis_url.empty();
    c.server_id = o.server_id;
    return c;
  }

  std::string Start(const SocketAddress& listen);
  void Shutdown(Duration grace, std::function<void()> done);
  std::string MetricsText() const;
  void KillAll() {
    auto copy = conns_;
    for (auto& [id, c] : copy)
      c->Kill();
    if (redis_) redis_->Stop();
  }

  // Called by sessions.
  const SignalingServerOptions& opts() const { return opts_; }
  void Log(std::string_view level, std::string_view event, std::optional<uint64_t> conn, std::string_view detail) {
    if (!log_) return;
    nlohmann::ordered_json j;
    j["ts"] = static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count()) /
              1000.0;
    j["level"] = level;
    j["event"] = event;
    if (conn) j["conn"] = *conn;
    if (!detail.empty()) j["detail"] = detail;
    log_(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  signaling::TokenInfo Inspect(std::optional<std::string_view> token) {
    return signaling::InspectToken(opts_.token_secret, token, UnixSeconds(), Now());
  }
  void OnUpgraded(ConnBase& c, signaling::TokenInfo token) {
    c.upgraded = true;
    Unpend(c.peer.ip());
    core_.HandleConnect(Now(), ConnId(c.id), c.peer, std::move(token));
    Drain();
  }
  void OnText(uint64_t id, std::string_view text) {
    core_.HandleMessage(Now(), ConnId(id), text);
    Drain();
  }
  void OnBinary(uint64_t id, size_t size) {
    core_.HandleBinary(Now(), ConnId(id), size);
    Drain();
  }
  void OnTooBig(uint64_t id) {
    core_.HandleTooBig(Now(), ConnId(id));
    Drain();
  }
  void OnPong(uint64_t id) { core_.HandlePong(Now(), ConnId(id)); }
  void OnProtocolError(uint64_t id, uint16_t code, const std::string& reason) {
    core_.HandleProtocolError(Now(), ConnId(id), code, reason);
    Drain();
  }
  // Connections with frames to write are flushed together from one posted handler, which runs
  // after the read completions already due: the fan-out of all of them leaves in one write per
  // receiving connection.
  void QueueFlush(std::shared_ptr<ConnBase> c) {
    to_flush_.push_back(std::move(c));
    if (flush_posted_) return;
    flush_posted_ = true;
    std::weak_ptr<Impl> weak = weak_from_this();
    asio::post(io_, [weak] {
      auto self = weak.lock();
      if (!self) return;
      self->flush_posted_ = false;
      std::vector<std::shared_ptr<ConnBase>> list;
      list.swap(self->to_flush_);
      for (auto& conn : list) {
        conn->flush_pending = false;
        conn->Flush();
      }
    });
  }
  // A connection written to less than write_coalesce ago waits here until that interval has
  // passed (one timer for all of them); frames queued meanwhile join that write.
  void Defer(std::shared_ptr<ConnBase> c) {
    const auto due = c->last_write + ToSteady(opts_.write_coalesce);
    c->flush_pending = true;
    deferred_.push_back({due, std::move(c)});
    ++deferred_writes_;
    if (!coalesce_armed_) ArmCoalesce(deferred_.front().due);
  }
  // A send pushed a receiver's queue over max_write_queue_bytes: the connection being read
  // stops for kReadPause so the writes catch up (TCP then holds the publisher back) instead of
  // the server reading faster than its receivers' sockets take the fan-out.
  void NoteBacklog() { backlog_ = true; }
  bool TakeBacklog() { return std::exchange(backlog_, false); }
  void PauseReads(std::shared_ptr<ConnBase> c) {
    ++read_pauses_;
    paused_.push_back(std::move(c));
    if (paused_.size() > 1) return;
    pause_timer_.expires_after(kReadPause);
    std::weak_ptr<Impl> weak = weak_from_this();
    pause_timer_.async_wait([weak](boost::system::error_code ec) {
      auto self = weak.lock();
      if (!self || ec) return;
      std::vector<std::shared_ptr<ConnBase>> list;
      list.swap(self->paused_);
      for (auto& conn : list)
        conn->ResumeReads();
    });
  }
  void OnWrite(size_t frames) {
    ++socket_writes_;
    frames_written_ += frames;
  }
  // Plain-TCP sessions read into this one buffer (all sessions run on the io_context thread).
  std::span<char> read_buffer() { return std::span<char>(read_buffer_.data(), read_buffer_.size()); }
  void OnOverflow(uint64_t id) {
    core_.HandleWriteOverflow(Now(), ConnId(id));
    Drain();
  }
  void OnUpgradeTimeout() { ++upgrade_timeouts_; }
  void OnHttpRequest() { ++http_requests_; }
  void OnFinished(ConnBase& c) {
    const uint64_t id = c.id;
    if (c.upgraded) {
      core_.HandleDisconnect(Now(), ConnId(id));
      Drain();
    } else {
      Unpend(c.peer.ip());
    }
    conns_.erase(id);
    MaybeShutdownDone();
  }

 private:
  void Accept();
  template <class Session, class... Args>
  void Spawn(tcp::socket socket, Args&&... args);
  void Unpend(const IpAddress& ip) {
    auto it = pending_per_ip_.find(ip);
    if (it != pending_per_ip_.end() && --it->second == 0) pending_per_ip_.erase(it);
  }
  void OnTimer() {
    core_.HandleTimeout(Now());
    Drain();
  }
  void Drain();
  static std::chrono::steady_clock::duration ToSteady(Duration d) {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::nanoseconds(d.nanos()));
  }
  void ArmCoalesce(std::chrono::steady_clock::time_point due) {
    coalesce_armed_ = true;
    coalesce_timer_.expires_at(due);
    std::weak_ptr<Impl> weak = weak_from_this();
    coalesce_timer_.async_wait([weak](boost::system::error_code ec) {
      auto self = weak.lock();
      if (!self || ec) return;
      self->coalesce_armed_ = false;
      // Due times are almost in order (each is a last write plus one interval); an entry
      // behind a later one waits at most the difference.
      const auto now = std::chrono::steady_clock::now();
      size_t n = 0;
      while (n < self->deferred_.size() && self->deferred_[n].due <= now)
        ++n;
      std::vector<Deferred> due_now(std::make_move_iterator(self->deferred_.begin()),
                                    std::make_move_iterator(self->deferred_.begin() + static_cast<ptrdiff_t>(n)));
      self->deferred_.erase(self->deferred_.begin(), self->deferred_.begin() + static_cast<ptrdiff_t>(n));
      if (!self->deferred_.empty()) self->ArmCoalesce(self->deferred_.front().due);
      for (auto& d : due_now) {
        d.conn->flush_pending = false;
        d.conn->Flush(/*deferred=*/true);
      }
    });
  }
  void MaybeShutdownDone() {
    if (stopping_ && conns_.empty() && shutdown_done_) {
      shutdown_timer_.cancel();
      auto done = std::move(shutdown_done_);
      shutdown_done_ = nullptr;
      asio::post(io_, std::move(done));
    }
  }

  asio::io_context& io_;
  SignalingServerOptions opts_;
  LogFn log_;
  signaling::ServerCore core_;
  CoreTimer timer_;
  tcp::acceptor acceptor_;
  std::optional<asio::ssl::context> tls_;
  std::unique_ptr<RedisBroker> redis_;
  std::unordered_map<uint64_t, std::shared_ptr<ConnBase>> conns_;
  std::unordered_map<IpAddress, size_t> pending_per_ip_;
  uint64_t next_id_ = 1;
  bool draining_ = false;
  bool stopping_ = false;
  std::function<void()> shutdown_done_;
  asio::steady_timer shutdown_timer_;
  uint64_t upgrade_timeouts_ = 0;
  uint64_t http_requests_ = 0;
  uint64_t refused_accepts_ = 0;
  std::vector<std::shared_ptr<ConnBase>> to_flush_;
  bool flush_posted_ = false;
  struct Deferred {
    std::chrono::steady_clock::time_point due;
    std::shared_ptr<ConnBase> conn;
  };
  std::deque<Deferred> deferred_;
  asio::steady_timer coalesce_timer_{io_};
  bool coalesce_armed_ = false;
  uint64_t deferred_writes_ = 0;
  static constexpr auto kReadPause = std::chrono::milliseconds(1);
  bool backlog_ = false;
  std::vector<std::shared_ptr<ConnBase>> paused_;
  asio::steady_timer pause_timer_{io_};
  uint64_t read_pauses_ = 0;
  uint64_t socket_writes_ = 0;
  uint64_t frames_written_ = 0;
  std::array<char, 64 * 1024> read_buffer_;

  friend class SignalingServer;
};

namespace {

template <class Stream>
class Session final : public ConnBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
  static constexpr auto kWriteStall = std::chrono::milliseconds(250);
  static constexpr size_t kHardCapFactor = 4;

  template <class... Args>
  Session(std::weak_ptr<SignalingServer::Impl> server, Args&&... args)
      : server_(std::move(server)), ws_(std::forward<Args>(args)...), kill_timer_(ws_.get_executor()) {}

  void Start() override {
    auto self = this->shared_from_this();
    beast::get_lowest_layer(ws_).expires_after(ToChrono(Opts().upgrade_timeout));
    if constexpr (kTls) {
      ws_.next_layer().async_handshake(asio::ssl::stream_base::server, [self](beast::error_code ec) {
        if (ec) return self->Finish(ec);
        self->ReadRequest();
      });
    } else {
      ReadRequest();
    }
  }

  void Send(std::shared_ptr<const std::string> text) override {
    if (closing_ || finished_) return;
    queued_bytes_ += text->size();
    // A slow reader is one whose queue is over the limit while its socket is not draining: the
    // write in flight started kWriteStall ago or more and the kernel still holds bytes of it
    // the peer has not taken. A queue over the limit behind a write that is moving, or behind a
    // completion the server has not got to yet (its own loop lagging under load), is the
    // server's backlog, not the receiver's fault; kHardCapFactor times the limit drops it
    // regardless.
    const size_t limit = Opts().max_write_queue_bytes;
    if (queued_bytes_ > limit) {
      const bool stalled =
          writing_ && std::chrono::steady_clock::now() - last_write >= kWriteStall && KernelUnsentBytes() > 0;
      if (stalled || queued_bytes_ / kHardCapFactor > limit) {
        queued_bytes_ -= text->size();
        if (auto s = server_.lock()) s->OnOverflow(id);
        return;
      }
      if (auto s = server_.lock()) s->NoteBacklog();
    }
    Queue(signaling::ws::Opcode::kText, std::move(text));
  }

  // Bytes written to the socket that the peer has not acknowledged (SIOCOUTQ); 1 when unknown.
  int KernelUnsentBytes() {
    int n = 0;
    if (::ioctl(beast::get_lowest_layer(ws_).socket().native_handle(), SIOCOUTQ, &n) != 0) return 1;
    return n;
  }

  void Ping() override {
    if (closing_ || finished_ || !upgraded) return;
    Queue(signaling::ws::Opcode::kPing, nullptr);
  }

  void Close(uint16_t code, std::string reason) override {
    if (closing_ || finished_) return;
    if (!upgraded) return Kill();
    StartClosing();
    Queue(signaling::ws::Opcode::kClose,
          std::make_shared<const std::string>(signaling::ws::ClosePayload(code, reason)));
  }

  void Kill() override {
    if (finished_) return;
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().close(ec);
    Finish({});
  }

  void Flush(bool deferred = false) override {
    if (writing_ || finished_ || queue_.empty()) return;
    auto server = server_.lock();
    if (!server) return Kill();
    const auto now = std::chrono::steady_clock::now();
    const Duration coalesce = server->opts().write_coalesce;
    // Written to within the interval: wait for it to pass (close frames too; the close timer
    // still bounds the connection's end).
    if (!deferred && coalesce > Duration::Zero() && last_write.time_since_epoch().count() != 0 &&
        now - last_write < ToChrono(coalesce)) {
      return server->Defer(this->shared_from_this());
    }
    last_write = now;
    // Every queued frame up to 1 MiB (at least one) leaves in one write: one syscall for a
    // burst of fan-out deliveries instead of one per message, and as much per write as one
    // round of reads can queue for a member of a busy room. The frames are copied into one
    // contiguous buffer (small messages; also what TLS wants: one record, not one per frame).
    constexpr size_t kMaxBatch = 1024 * 1024;
    out_.clear();
    in_flight_ = 0;
    for (const Frame& f : queue_) {
      const size_t size = f.header_size + (f.payload ? f.payload->size() : 0);
      if (in_flight_ > 0 && out_.size() + size > kMaxBatch) break;
      out_.append(reinterpret_cast<const char*>(f.header.data()), f.header_size);
      if (f.payload) out_.append(*f.payload);
      if (f.op == signaling::ws::Opcode::kClose) close_in_flight_ = true;
      ++in_flight_;
    }
    writing_ = true;
    server->OnWrite(in_flight_);
    auto self = this->shared_from_this();
    asio::async_write(ws_.next_layer(), asio::buffer(out_),
                      [self](beast::error_code ec, size_t) { self->OnWritten(ec); });
  }

 private:
  struct Frame {
    signaling::ws::Opcode op;
    uint8_t header_size;
    std::array<uint8_t, signaling::ws::kMaxServerHeader> header;
    std::shared_ptr<const std::string> payload;  // shared by every receiver of one fan-out
  };

  static std::chrono::steady_clock::duration ToChrono(Duration d) {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::nanoseconds(d.nanos()));
  }
  const SignalingServerOptions& Opts() {
    static const SignalingServerOptions kDefaults;
    auto s = server_.lock();
    return s ? s->opts() : kDefaults;
  }

  void Queue(signaling::ws::Opcode op, std::shared_ptr<const std::string> payload) {
    Frame f{op, 0, {}, std::move(payload)};
    f.header_size = static_cast<uint8_t>(signaling::ws::EncodeHeader(op, f.payload ? f.payload->size() : 0, f.header));
    queue_.push_back(std::move(f));
    // Writes start from a handler the server posts behind the reads already due, so the
    // deliveries those reads cause are batched; while a write is in flight, its completion
    // picks the queue up.
    if (writing_ || flush_pending) return;
    auto s = server_.lock();
    if (!s) return Kill();
    flush_pending = true;
    s->QueueFlush(this->shared_from_this());
  }

  // Unsent frames are dropped (the one in flight finishes, or the kill timer ends it), and
  // the connection ends within close_timeout whatever the peer does.
  void StartClosing() {
    closing_ = true;
    while (queue_.size() > (writing_ ? in_flight_ : 0u)) {
      if (queue_.back().op == signaling::ws::Opcode::kText) queued_bytes_ -= queue_.back().payload->size();
      queue_.pop_back();
    }
    auto self = this->shared_from_this();
    kill_timer_.expires_after(ToChrono(Opts().close_timeout));
    kill_timer_.async_wait([self](beast::error_code ec) {
      if (!ec) self->Kill();
    });
  }

  void OnWritten(beast::error_code ec) {
    writing_ = false;
    if (finished_) return;
    for (size_t i = 0; i < in_flight_ && !queue_.empty(); ++i) {
      if (queue_.front().op == signaling::ws::Opcode::kText) queued_bytes_ -= queue_.front().payload->size();
      queue_.pop_front();
    }
    in_flight_ = 0;
    if (out_.capacity() > 4096) std::string().swap(out_);  // idle connections keep no buffer
    if (ec) return Kill();
    if (close_in_flight_) {
      close_sent_ = true;
      // Our close frame is out. We end the TCP connection once the peer's close arrives (or at
      // once if it already did, or if the peer broke the protocol); else the kill timer does.
      if (close_received_ || !reading_) return Kill();
      return;
    }
    Flush();
  }

  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(8 * 1024);
    parser_->body_limit(4 * 1024);
    auto self = this->shared_from_this();
    http::async_read(ws_.next_layer(), buffer_, *parser_, [self](beast::error_code ec, size_t) {
      if (ec) return self->Finish(ec);
      self->OnRequest(self->parser_->release());
    });
  }

  void OnRequest(http::request<http::string_body> req) {
    auto server = server_.lock();
    if (!server) return Kill();
    if (!websocket::is_upgrade(req)) return Reply(*server, req);

    // The token: ?token= in the target, else a "peerlink-token.<token>" subprotocol.
    std::optional<std::string_view> token = QueryParam(Sv(req.target()), "token");
    std::string protocol;
    if (auto it = req.find(http::field::sec_websocket_protocol); it != req.end()) {
      std::string_view list = Sv(it->value());
      while (!list.empty()) {
        const size_t comma = list.find(',');
        const std::string_view p = Trim(list.substr(0, comma));
        if (p.starts_with(kTokenProtocolPrefix)) {
          protocol = std::string(p);
          break;
        }
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
      }
    }
    std::string token_text;
    if (token) {
      token_text = std::string(*token);
    } else if (!protocol.empty()) {
      token_text = protocol.substr(kTokenProtocolPrefix.size());
    }
    signaling::TokenInfo info =
        server->Inspect(token || !protocol.empty() ? std::optional<std::string_view>(token_text) : std::nullopt);

    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout t{};
    t.handshake_timeout = ToChrono(Opts().close_timeout);
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    ws_.set_option(t);
    ws_.set_option(websocket::stream_base::decorator([protocol](websocket::response_type& res) {
      res.set(http::field::server, "peerlink-signal");
      if (!protocol.empty()) res.set(http::field::sec_websocket_protocol, protocol);
    }));
    auto self = this->shared_from_this();
    // Beast answers the upgrade (101, Sec-WebSocket-Accept, no extensions); from then on the
    // session frames the connection itself (src/signaling/ws_frame.h) and Beast's stream is idle.
    ws_.async_accept(req, [self, info = std::move(info)](beast::error_code ec) mutable {
      if (ec) return self->Finish(ec);
      auto s = self->server_.lock();
      if (!s) return self->Kill();
      self->reader_.emplace(self->Opts().core.max_message_size);
      // Frames the client sent right behind its request were read with it.
      std::string early(static_cast<const char*>(self->buffer_.cdata().data()), self->buffer_.size());
      self->buffer_ = beast::flat_buffer();
      if constexpr (!kTls) {
        beast::error_code nb;
        beast::get_lowest_layer(self->ws_).socket().non_blocking(true, nb);
      }
      s->OnUpgraded(*self, std::move(info));
      if (self->finished_) return;
      self->reading_ = true;
      if (!early.empty() && !self->OnBytes(early)) return;
      self->DoRead();
    });
  }

  void Reply(SignalingServer::Impl& server, const http::request<http::string_body>& req) {
    server.OnHttpRequest();
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(req.version());
    res->keep_alive(false);
    res->set(http::field::server, "peerlink-signal");
    const std::string_view target = Sv(req.target());
    const std::string_view path = target.substr(0, target.find('?'));
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res->result(http::status::method_not_allowed);
      res->body() = "method not allowed\n";
    } else if (path == "/healthz") {
      res->result(http::status::ok);
      res->body() = "ok";
    } else if (path == "/metrics") {
      res->result(http::status::ok);
      res->set(http::field::content_type, "text/plain; version=0.0.4");
      res->body() = server.MetricsText();
    } else if (path == "/") {
      res->result(http::status::ok);  // what y-webrtc's server answers to plain HTTP
      res->body() = "okay";
    } else {
      res->result(http::status::not_found);
      res->body() = "not found\n";
    }
    if (!res->has_content_length() && res->find(http::field::content_type) == res->end()) {
      res->set(http::field::content_type, "text/plain");
    }
    res->prepare_payload();
    auto self = this->shared_from_this();
    http::async_write(ws_.next_layer(), *res, [self, res](beast::error_code, size_t) {
      beast::error_code ec;
      beast::get_lowest_layer(self->ws_).socket().shutdown(tcp::socket::shutdown_send, ec);
      self->Kill();
    });
  }

  void DoRead() {
    auto self = this->shared_from_this();
    if constexpr (kTls) {
      // TLS keeps its own record buffers; a small per-connection buffer is enough.
      if (!tls_in_) tls_in_ = std::make_unique<std::array<char, 4096>>();
      ws_.next_layer().async_read_some(asio::buffer(*tls_in_), [self](beast::error_code ec, size_t n) {
        if (self->finished_) return;
        if (ec) return self->Finish(ec);
        auto s = self->server_.lock();
        if (s) s->TakeBacklog();  // a backlog from before (Redis, a timer) is not this reader's
        if (!self->OnBytes(std::string_view(self->tls_in_->data(), n))) return;
        if (s && s->TakeBacklog()) return s->PauseReads(self);
        self->DoRead();
      });
    } else {
      // Plain TCP: wait for readability and read into the server's shared buffer, so an idle
      // connection holds no read buffer at all.
      beast::get_lowest_layer(ws_).socket().async_wait(tcp::socket::wait_read,
                                                       [self](beast::error_code ec) { self->OnReadable(ec); });
    }
  }

  void OnReadable(beast::error_code ec) {
    if (finished_) return;
    if (ec) return Finish(ec);
    auto s = server_.lock();
    if (!s) return Kill();
    std::span<char> buf = s->read_buffer();
    auto& sock = beast::get_lowest_layer(ws_).socket();
    // Read until the socket is drained (the reactor reports edges), but at most a few buffers
    // per turn so one busy client cannot starve the others: then continue in a posted handler.
    for (int round = 0; round < 4; ++round) {
      const size_t n = sock.read_some(asio::buffer(buf.data(), buf.size()), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) return DoRead();
      if (ec) return Finish(ec);
      s->TakeBacklog();  // a backlog from before (Redis, a timer) is not this reader's
      if (!OnBytes(std::string_view(buf.data(), n))) return;
      if (s->TakeBacklog()) return s->PauseReads(this->shared_from_this());
    }
    auto self = this->shared_from_this();
    asio::post(ws_.get_executor(), [self] { self->OnReadable({}); });
  }

  void ResumeReads() override {
    if (finished_) return;
    if constexpr (kTls) {
      DoRead();
    } else {
      OnReadable({});
    }
  }

  // Feeds client bytes to the frame reader and acts on what it reports. Returns whether to go
  // on reading.
  bool OnBytes(std::string_view bytes) {
    if (finished_ || !reader_) return false;
    reader_->Feed(bytes);
    for (;;) {
      if (finished_) return false;
      signaling::ws::ReadEvent e = reader_->Next();
      if (std::holds_alternative<signaling::ws::NeedMore>(e)) break;
      auto s = server_.lock();
      if (!s) {
        Kill();
        return false;
      }
      if (auto* t = std::get_if<signaling::ws::TextMessage>(&e)) {
        if (!closing_) s->OnText(id, t->text);
      } else if (auto* b = std::get_if<signaling::ws::BinaryMessage>(&e)) {
        if (!closing_) s->OnBinary(id, b->size);
      } else if (auto* p = std::get_if<signaling::ws::PingFrame>(&e)) {
        if (!closing_) Queue(signaling::ws::Opcode::kPong, std::make_shared<const std::string>(p->payload));
      } else if (std::holds_alternative<signaling::ws::PongFrame>(e)) {
        s->OnPong(id);
      } else if (auto* c = std::get_if<signaling::ws::CloseFrame>(&e)) {
        OnPeerClose(c->code);
        return false;
      } else if (auto* f = std::get_if<signaling::ws::Failure>(&e)) {
        // The core closes with the code and counts the drop; if it has already let go of this
        // connection, close it here.
        reading_ = false;
        if (f->code == 1009) {
          s->OnTooBig(id);
        } else {
          s->OnProtocolError(id, f->code, f->reason);
        }
        if (!closing_) Close(f->code, f->reason);
        return false;
      }
    }
    return !finished_;
  }

  void OnPeerClose(std::optional<uint16_t> code) {
    close_received_ = true;
    reading_ = false;
    if (closing_) {
      // The closing handshake we started is complete once our own frame is out.
      if (close_sent_) Kill();
      return;
    }
    // Echo the peer's status code (RFC 6455 section 5.5.1), then end the connection.
    StartClosing();
    Queue(signaling::ws::Opcode::kClose,
          std::make_shared<const std::string>(code ? signaling::ws::ClosePayload(*code, "") : std::string()));
  }

  void Finish(beast::error_code ec) {
    if (finished_) return;
    finished_ = true;
    kill_timer_.cancel();
    if (ec == beast::error::timeout && !upgraded) {
      if (auto s = server_.lock()) s->OnUpgradeTimeout();
    }
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
    queue_.clear();
    if (auto s = server_.lock()) s->OnFinished(*this);
  }

  std::weak_ptr<SignalingServer::Impl> server_;
  websocket::stream<Stream> ws_;
  asio::steady_timer kill_timer_;
  beast::flat_buffer buffer_;  // the HTTP request
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<signaling::ws::FrameReader> reader_;
  std::unique_ptr<std::array<char, 4096>> tls_in_;
  std::deque<Frame> queue_;  // [0, in_flight_) are being written
  std::string out_;          // the write in flight
  size_t in_flight_ = 0;
  size_t queued_bytes_ = 0;  // text payloads queued
  bool writing_ = false;
  bool reading_ = false;
  bool closing_ = false;
  bool close_in_flight_ = false;
  bool close_sent_ = false;
  bool close_received_ = false;
  bool finished_ = false;
};

}  // namespace

std::string SignalingServer::Impl::Start(const SocketAddress& listen) {
  if (!opts_.tls_cert_file.empty() || !opts_.tls_key_file.empty()) {
    if (opts_.tls_cert_file.empty() || opts_.tls_key_file.empty()) return "TLS needs both a certificate and a key";
    tls_.emplace(asio::ssl::context::tls_server);
    tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    boost::system::error_code ec;
    tls_->use_certificate_chain_file(opts_.tls_cert_file, ec);
    if (ec) return "cannot load TLS certificate " + opts_.tls_cert_file + ": " + ec.message();
    tls_->use_private_key_file(opts_.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) return "cannot load TLS key " + opts_.tls_key_file + ": " + ec.message();
  }
  if (!opts_.redis_url.empty()) {
    std::string_view url = opts_.redis_url;
    if (!url.starts_with("redis://")) return "--redis wants redis://HOST:PORT, got '" + opts_.redis_url + "'";
    url.remove_prefix(8);
    url = url.substr(0, url.find('/'));
    const size_t colon = url.rfind(':');
    std::string host(url.substr(0, colon));
    std::string port = colon == std::string_view::npos ? "6379" : std::string(url.substr(colon + 1));
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.empty() || port.empty()) return "--redis wants redis://HOST:PORT, got '" + opts_.redis_url + "'";
    std::weak_ptr<Impl> weak = weak_from_this();
    redis_ = std::make_unique<RedisBroker>(
        io_, host, port,
        RedisBroker::Callbacks{[weak](std::string_view topic, std::string_view payload) {
                                 if (auto s = weak.lock()) {
                                   s->core_.HandleBrokerMessage(Now(), topic, payload);
                                   s->Drain();
                                 }
                               },
                               [weak](std::string_view level, std::string_view event, std::string detail) {
                                 if (auto s = weak.lock()) s->Log(level, event, std::nullopt, detail);
                               }});
    redis_->Start();
  }
  boost::system::error_code ec;
  const auto ep = ToTcpEndpoint(listen);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return "cannot listen on " + listen.ToString() + ": " + ec.message();
  Log("info", "listening", std::nullopt,
      std::string(tls_ ? "wss://" : "ws://") + FromEndpoint(acceptor_.local_endpoint()).ToString() +
          (opts_.token_secret.empty() ? "" : " (tokens required)") +
          (redis_ ? " redis " + opts_.redis_url + " server_id " + opts_.server_id : ""));
  Accept();
  return {};
}

void SignalingServer::Impl::Accept() {
  std::weak_ptr<Impl> weak = weak_from_this();
  acceptor_.async_accept([weak](boost::system::error_code ec, tcp::socket socket) {
    auto self = weak.lock();
    if (!self || self->stopping_) return;
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      boost::system::error_code ep_ec;
      const auto remote = socket.remote_endpoint(ep_ec);
      const size_t per_ip_limit = std::max<size_t>(1, self->opts_.core.max_conns_per_ip);
      if (ep_ec) {
        // The peer is already gone.
      } else if (self->conns_.size() >= self->opts_.max_connections ||
                 (self->opts_.core.max_conns_per_ip > 0 &&
                  self->pending_per_ip_[FromAsio(remote.address())] >= per_ip_limit)) {
        // Too many connections overall, or too many unfinished upgrades from one address (slow-loris).
        ++self->refused_accepts_;
        if (self->pending_per_ip_[FromAsio(remote.address())] == 0)
          self->pending_per_ip_.erase(FromAsio(remote.address()));
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        socket.set_option(tcp::no_delay(true), ep_ec);
        if (self->tls_) {
          self->Spawn<Session<beast::ssl_stream<beast::tcp_stream>>>(std::move(socket), *self->tls_);
        } else {
          self->Spawn<Session<beast::tcp_stream>>(std::move(socket));
        }
      }
    } else {
      self->Log("warn", "accept_error", std::nullopt, ec.message());
    }
    self->Accept();
  });
}

template <class S, class... Args>
void SignalingServer::Impl::Spawn(tcp::socket socket, Args&&... args) {
  const auto remote = socket.remote_endpoint();
  auto session = std::make_shared<S>(weak_from_this(), std::move(socket), std::forward<Args>(args)...);
  session->id = next_id_++;
  session->peer = FromEndpoint(remote);
  ++pending_per_ip_[session->peer.ip()];
  conns_[session->id] = session;
  session->Start();
}

void SignalingServer::Impl::Drain() {
  if (draining_) return;  // an input made during a drain: the loop below picks up its outputs
  draining_ = true;
  const Instant now = Now();
  for (;;) {
    signaling::Output out = core_.PollOutput(now);
    if (auto* d = std::get_if<signaling::Deadline>(&out)) {
      timer_.Arm(d->at);
      break;
    }
    if (auto* s = std::get_if<signaling::Send>(&out)) {
      if (auto it = conns_.find(s->conn.value()); it != conns_.end()) it->second->Send(std::move(s->text));
    } else if (auto* c = std::get_if<signaling::Close>(&out)) {
      if (auto it = conns_.find(c->conn.value()); it != conns_.end()) {
        auto conn = it->second;
        conn->Close(c->code, c->reason);
      }
    } else if (auto* p = std::get_if<signaling::Ping>(&out)) {
      if (auto it = conns_.find(p->conn.value()); it != conns_.end()) it->second->Ping();
    } else if (auto* b = std::get_if<signaling::BrokerSubscribe>(&out)) {
      if (redis_) redis_->Subscribe(b->topic);
    } else if (auto* b = std::get_if<signaling::BrokerUnsubscribe>(&out)) {
      if (redis_) redis_->Unsubscribe(b->topic);
    } else if (auto* b = std::get_if<signaling::BrokerPublish>(&out)) {
      if (redis_) redis_->Publish(b->topic, *b->payload);
    } else if (auto* e = std::get_if<signaling::Event>(&out)) {
      const char* level = e->level == signaling::Event::Level::kWarn   ? "warn"
                          : e->level == signaling::Event::Level::kInfo ? "info"
                                                                       : "debug";
      Log(level, e->name, e->conn ? std::optional<uint64_t>(e->conn->value()) : std::nullopt, e->detail);
    }
  }
  draining_ = false;
}

void SignalingServer::Impl::Shutdown(Duration grace, std::function<void()> done) {
  if (stopping_) return;
  stopping_ = true;
  shutdown_done_ = std::move(done);
  Log("info", "shutdown", std::nullopt, std::to_string(conns_.size()) + " connections");
  boost::system::error_code ec;
  acceptor_.close(ec);
  // Connections still in their upgrade get no WebSocket close: drop them.
  std::vector<std::shared_ptr<ConnBase>> pending;
  for (auto& [id, c] : conns_) {
    if (!c->upgraded) pending.push_back(c);
  }
  for (auto& c : pending)
    c->Kill();
  core_.HandleShutdown(Now());
  Drain();
  if (redis_) redis_->Stop();
  std::weak_ptr<Impl> weak = weak_from_this();
  shutdown_timer_.expires_after(std::chrono::nanoseconds(grace.nanos()));
  shutdown_timer_.async_wait([weak](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    self->Log("warn", "shutdown_timeout", std::nullopt, std::to_string(self->conns_.size()) + " closed hard");
    self->KillAll();
    self->MaybeShutdownDone();
  });
  MaybeShutdownDone();
}

std::string SignalingServer::Impl::MetricsText() const {
  std::string out = signaling::FormatPrometheus(core_.metrics());
  auto add = [&](std::string_view name, std::string_view type, uint64_t v) {
    out += "# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
    out += name;
    out += ' ';
    out += std::to_string(v);
    out += '\n';
  };
  add("peerlink_signal_sockets", "gauge", conns_.size());
  add("peerlink_signal_upgrade_timeouts_total", "counter", upgrade_timeouts_);
  add("peerlink_signal_refused_accepts_total", "counter", refused_accepts_);
  add("peerlink_signal_http_requests_total", "counter", http_requests_);
  // WebSocket frames (messages, pings, closes) and the socket writes that carried them.
  add("peerlink_signal_frames_written_total", "counter", frames_written_);
  add("peerlink_signal_socket_writes_total", "counter", socket_writes_);
  // Flushes that waited for a connection's write-coalescing interval.
  add("peerlink_signal_deferred_flushes_total", "counter", deferred_writes_);
  // Times a connection's reads paused because its fan-out outran the receivers' sockets.
  add("peerlink_signal_read_pauses_total", "counter", read_pauses_);
  if (redis_) {
    add("peerlink_signal_redis_connected", "gauge", redis_->connected() ? 1 : 0);
    add("peerlink_signal_redis_channels", "gauge",
        static_cast<uint64_t>(std::max<int64_t>(0, redis_->confirmed_channels())));
    add("peerlink_signal_redis_dropped_total", "counter", redis_->dropped());
  }
  return out;
}

SignalingServer::SignalingServer(asio::io_context& io, SignalingServerOptions options, LogFn log)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(log))) {}

SignalingServer::~SignalingServer() {
  boost::system::error_code ec;
  impl_->stopping_ = true;
  impl_->acceptor_.close(ec);
  impl_->shutdown_done_ = nullptr;
  impl_->KillAll();
}

std::string SignalingServer::Start(const SocketAddress& listen) {
  return impl_->Start(listen);
}

SocketAddress SignalingServer::local_address() const {
  boost::system::error_code ec;
  return FromEndpoint(impl_->acceptor_.local_endpoint(ec));
}

void SignalingServer::Shutdown(Duration grace, std::function<void()> done) {
  impl_->Shutdown(grace, std::move(done));
}

const signaling::Metrics& SignalingServer::metrics() const {
  return impl_->core_.metrics();
}

std::string SignalingServer::MetricsText() const {
  return impl_->MetricsText();
}

}  // namespace peerlink::runtime
