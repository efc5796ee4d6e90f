// `peerlink pipe ROOM`: netcat over a data channel. Joins ROOM on the signaling server(s) with a
// RoomClient limited to one connection; stdin goes to the channel, the channel to stdout.
//
// On the channel ("peerlink-pipe", reliable and ordered): binary messages carry data; two text
// messages end it. "EOF" follows our last byte of stdin; "ACK" answers the peer's "EOF" once
// everything before it has been written to our stdout (which is then closed, so a reader such as
// `sha256sum` sees the end). A side is done when it has the peer's EOF and the ACK of its own; it
// then closes the channel (the stream reset follows its ACK, so the peer gets it first) and exits
// 0 when the channel has closed. Anything else (the peer gone, a stray message, stdout closed
// early, no peer within --timeout) exits 1 with the reason on stderr.
//
// Memory is bounded both ways: stdin is read only while less than 4 MiB is queued on the channel,
// and the channel's messages are written to stdout as they arrive (a slow stdout holds the
// connection's thread, so the SCTP receive window closes and the peer waits).
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "src/runtime/room_client.h"
#include "tools/peerlink/commands.h"
#include "tools/peerlink/lines.h"
#include "tools/peerlink/sctp_flags.h"

namespace peerlink::cli {

namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

constexpr size_t kChunk = 64 * 1024;
constexpr size_t kHighWater = 4 * 1024 * 1024;
constexpr size_t kLowWater = 1024 * 1024;
constexpr const char* kLabel = "peerlink-pipe";
constexpr std::string_view kEof = "EOF";
constexpr std::string_view kAck = "ACK";

std::string Mebibytes(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

void IgnoreSignal(int) {}

class Pipe {
 public:
  explicit Pipe(const PipeOptions& o) : o_(o), started_(Clock::now()) {}

  int Run() {
    runtime::RoomClientOptions ro;
    ro.signaling.core.urls = o_.signal;
    ro.signaling.core.room = o_.room;
    ro.signaling.core.password = o_.password;
    ro.signaling.ca_file = o_.ca_file;
    ro.peer.bind_addresses = o_.bind;
    ro.peer.include_loopback = o_.loopback;
    if (!o_.ice_servers.empty()) {
      IceServer s;
      s.urls = o_.ice_servers;
      s.username = o_.ice_username;
      s.credential = o_.ice_credential;
      ro.peer.ice_servers.push_back(std::move(s));
    }
    if (o_.relay_only) ro.peer.ice_transport_policy = IceTransportPolicy::kRelay;
    if (const std::string error = ApplySctpFlags(o_.congestion_control, o_.rapid_start, o_.resume_state, ro.peer);
        !error.empty()) {
      LogLine("pipe", error);  // errors are printed even with --quiet
      return kExitUsage;
    }
    ro.channel_label = kLabel;
    ro.max_connections = 1;
    ro.connect_timeout = Duration::Nanos(static_cast<int64_t>(o_.timeout_s * 1e9));
    ro.peer.log = [this](std::string_view line) { Verbose(line); };

    runtime::RoomClientCallbacks cb;
    cb.on_channel = [this](const runtime::RoomPeerInfo& peer, std::shared_ptr<DataChannel> ch) {
      OnChannel(peer, std::move(ch));
    };
    cb.on_peer_gone = [this](const std::string& peer, std::string_view reason) {
      Post([this, peer, why = std::string(reason)] { PeerGone(peer, why); });
    };
    cb.on_signaling = [this](size_t server, bool up, std::string_view reason) {
      const std::string line = o_.signal[server] + (up ? " connected" : " down: " + std::string(reason));
      Post([this, line, up] {
        if (!up) last_signaling_error_ = line;
        Verbose(line);
      });
    };
    cb.on_error = [this](const signaling::ClientError& e) { Post([this, m = e.message] { Say(m); }); };

    std::unique_ptr<runtime::RoomClient> room;
    try {
      room = std::make_unique<runtime::RoomClient>(std::move(ro), std::move(cb),
                                                   [this](std::string_view line) { Verbose(line); });
    } catch (const std::exception& e) {
      Say(std::string("cannot start: ") + e.what());
      return kExitFailure;
    }
    room_ = room.get();
    Say("joining room '" + o_.room + "' as " + room->peer_id().substr(0, 8) + " via " + o_.signal.front() +
        (o_.signal.size() > 1 ? " (+" + std::to_string(o_.signal.size() - 1) + ")" : ""));
    room->Start();

    asio::steady_timer deadline(io_);
    deadline.expires_after(std::chrono::milliseconds(static_cast<int64_t>(o_.timeout_s * 1000)));
    deadline.async_wait([this](const boost::system::error_code& ec) {
      if (ec || open_) return;
      std::string why = "no peer connected in room '" + o_.room + "' within " + FormatSeconds(o_.timeout_s) + " s";
      if (!last_signaling_error_.empty()) why += " (last signaling error: " + last_signaling_error_ + ")";
      Fail(why);
    });
    asio::signal_set signals(io_, SIGINT, SIGTERM);
    signals.async_wait([this](const boost::system::error_code& ec, int sig) {
      if (!ec) Finish(128 + sig);
    });
    progress_ = !o_.quiet && ::isatty(STDERR_FILENO);
    asio::steady_timer ticker(io_);
    if (progress_) Tick(ticker);

    io_.run();

    if (exit_code_ != kExitOk) InterruptStdoutWriter();
    stop_reader_.store(true);
    cv_.notify_all();
    if (reader_.joinable()) {
      // The reader can be stuck in Send(), waiting for the connection's thread, which can be stuck
      // writing to a stdout nobody reads. Interrupted or failed, we do not wait for that.
      if (reader_done_.wait_for(std::chrono::seconds(3)) == std::future_status::timeout) {
        if (progress_) std::fputs("\r\033[K", stderr);
        LogLine("pipe", "stdout or the connection is stalled; exiting without a clean close");
        std::fflush(stderr);
        ::_exit(exit_code_ == kExitOk ? kExitFailure : exit_code_);
      }
      reader_.join();
    }
    if (progress_) std::fputs("\r\033[K", stderr);
    std::shared_ptr<DataChannel> ch;
    {
      std::lock_guard lock(mu_);
      ch = std::move(channel_);
    }
    ch.reset();
    room->Stop();
    room_ = nullptr;
    if (exit_code_ == kExitOk) {
      const double s = std::chrono::duration<double>(Clock::now() - opened_).count();
      Say("done: sent " + std::to_string(sent_.load()) + " bytes, received " + std::to_string(received_.load()) +
          " bytes in " + FormatSeconds(std::round(s * 100) / 100) + " s");
    }
    return exit_code_;
  }

 private:
  template <class F>
  void Post(F f) {
    asio::post(io_, std::move(f));
  }
  void Say(std::string_view line) {
    if (o_.quiet) return;
    if (progress_) std::fputs("\r\033[K", stderr);
    LogLine("pipe", line);
  }
  void Verbose(std::string_view line) {
    if (o_.verbose) LogLine("pipe", line);
  }

  // --- channel events (the connection's thread or the room's) ----------------------------------
  void OnChannel(const runtime::RoomPeerInfo& peer, std::shared_ptr<DataChannel> ch) {
    {
      std::lock_guard lock(mu_);
      if (channel_) return;  // one peer per pipe (the room allows one connection at a time)
      channel_ = ch;
      channel_peer_ = peer.peer_id;
    }
    DataChannel* c = ch.get();
    c->set_buffered_amount_low_threshold(kLowWater);
    const std::string id = peer.peer_id;
    c->OnOpen([this, id] { Post([this, id] { Opened(id); }); });
    c->OnBufferedAmountLow([this] { cv_.notify_all(); });
    c->OnMessage([this, c](std::span<const uint8_t> data, bool binary) {
      if (binary) {
        if (peer_eof_) return Post([this] { Fail("the peer sent data after its EOF"); });
        if (!writer_known_) {  // always the connection's thread: recorded once, before writing_
          writer_ = ::pthread_self();
          writer_known_ = true;
        }
        writing_.store(true);
        const bool written = WriteAll(STDOUT_FILENO, data, &abort_writes_);
        writing_.store(false);
        if (!written) {
          const std::string why = std::string("cannot write to stdout: ") + std::strerror(errno);
          return Post([this, why] { Fail(why); });
        }
        received_ += data.size();
        return;
      }
      const std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
      if (text == kEof && !peer_eof_) {
        // Everything before it is written: let readers of our stdout see the end, then confirm.
        peer_eof_ = true;
        ::close(STDOUT_FILENO);
        (void)c->Send(kAck);
        return Post([this] { Progress(); });
      }
      if (text == kAck && our_eof_sent_)
        return Post([this] {
          acked_ = true;
          Progress();
        });
      const std::string why = "unexpected message from the peer: '" + std::string(text.substr(0, 40)) + "'";
      Post([this, why] { Fail(why); });
    });
    c->OnClose([this] { Post([this] { ChannelClosed(); }); });
    c->OnError([this](const std::string& reason) { Post([this, reason] { channel_error_ = reason; }); });
  }

  // --- main thread ------------------------------------------------------------------------------
  void Opened(const std::string& peer) {
    if (open_ || finished_) return;
    open_ = true;
    peer_id_ = peer;
    opened_ = Clock::now();
    std::string path = "connected to " + peer.substr(0, 8);
    if (auto pc = room_->connection(peer)) {
      const Stats s = pc->GetStats();
      if (s.selectedCandidatePair) {
        const auto& p = *s.selectedCandidatePair;
        const bool relayed = p.localCandidateType == "relay" || p.remoteCandidateType == "relay";
        path += " via " + p.localCandidateType + " " + p.localAddress + " <-> " + p.remoteCandidateType + " " +
                p.remoteAddress + (relayed ? " (relayed)" : " (direct)");
      }
    }
    const double ms = std::chrono::duration<double, std::milli>(opened_ - started_).count();
    Say(path + ", channel open after " + FormatSeconds(std::round(ms) / 1000) + " s");
    std::shared_ptr<DataChannel> ch;
    {
      std::lock_guard lock(mu_);
      ch = channel_;
    }
    std::promise<void> done;
    reader_done_ = done.get_future();
    reader_ = std::thread([this, ch, done = std::move(done)]() mutable {
      ReadStdin(ch);
      done.set_value();
    });
  }

  // The reader thread: stdin -> channel, at most kHighWater queued.
  void ReadStdin(std::shared_ptr<DataChannel> ch) {
    std::vector<uint8_t> buf(kChunk);
    while (!stop_reader_.load()) {
      pollfd pfd{STDIN_FILENO, POLLIN, 0};
      const int pr = ::poll(&pfd, 1, 200);
      if (pr < 0 && errno != EINTR) return ReaderFailed(std::string("cannot poll stdin: ") + std::strerror(errno));
      if (pr <= 0) continue;
      const ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return ReaderFailed(std::string("cannot read stdin: ") + std::strerror(errno));
      }
      if (n == 0) {
        our_eof_sent_ = true;
        if (auto r = ch->Send(kEof); !r.ok()) return ReaderFailed("cannot send EOF: " + r.error().message);
        Post([this] { Progress(); });
        return;
      }
      // Bounded waits: the low-water event may fire between the check and the wait. The lock is
      // not held across buffered_amount(), which waits for the connection's thread.
      while (!stop_reader_.load() && ch->buffered_amount() >= kHighWater) {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(50));
      }
      if (stop_reader_.load()) return;
      if (auto r = ch->Send(std::span<const uint8_t>(buf.data(), static_cast<size_t>(n))); !r.ok())
        return ReaderFailed("cannot send: " + r.error().message);
      sent_ += static_cast<uint64_t>(n);
    }
  }
  void ReaderFailed(std::string why) {
    Post([this, why = std::move(why)] { Fail(why); });
  }

  // Failed or interrupted: a write to a stdout nobody reads would hold the connection's thread
  // (and with it every close) forever. Interrupt it (bounded: 2 s of retries every 20 ms, in
  // case the signal lands just before the write blocks).
  void InterruptStdoutWriter() {
    abort_writes_.store(true);
    for (int i = 0; i < 100 && writing_.load(); ++i) {
      ::pthread_kill(writer_, SIGUSR1);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Called whenever EOF/ACK state changes.
  void Progress() {
    if (finished_ || closing_ || !peer_eof_ || !acked_) return;
    // Both directions complete: save what the path retained (--resume-state), close (the reset
    // follows our ACK) and wait for "close".
    closing_ = true;
    if (!o_.resume_state.empty()) {
      if (auto pc = room_->connection(peer_id_)) {
        if (const std::string error = SaveResumeState(o_.resume_state, pc->GetStats()); !error.empty())
          LogLine("pipe", error);
      }
    }
    std::shared_ptr<DataChannel> ch;
    {
      std::lock_guard lock(mu_);
      ch = channel_;
    }
    if (ch) ch->Close();
    close_timer_ = std::make_unique<asio::steady_timer>(io_);
    close_timer_->expires_after(std::chrono::seconds(5));
    close_timer_->async_wait([this](const boost::system::error_code& ec) {
      if (!ec) Finish(kExitOk);  // both sides had everything; the close handshake is a courtesy
    });
  }
  void ChannelClosed() {
    if (finished_) return;
    if (peer_eof_ && acked_) return Finish(kExitOk);
    Fail("the channel closed before the transfer finished" +
         (channel_error_.empty() ? "" : " (" + channel_error_ + ")"));
  }
  void PeerGone(const std::string& peer, const std::string& why) {
    if (finished_) return;
    if (!open_) {
      // An attempt that failed before the channel opened: the next peer (or a retry) may do.
      std::lock_guard lock(mu_);
      if (channel_peer_ == peer) channel_.reset(), channel_peer_.clear();
      Verbose("attempt with " + peer.substr(0, 8) + " ended: " + why);
      return;
    }
    if (peer != peer_id_) return;
    if (peer_eof_ && acked_) return Finish(kExitOk);
    Fail("lost the peer: " + why);
  }

  void Tick(asio::steady_timer& t) {
    t.expires_after(std::chrono::milliseconds(500));
    t.async_wait([this, &t](const boost::system::error_code& ec) {
      if (ec || finished_) return;
      if (open_) {
        const double s = std::max(1e-3, std::chrono::duration<double>(Clock::now() - opened_).count());
        const uint64_t tx = sent_.load(), rx = received_.load();
        std::fprintf(stderr, "\r\033[Ksent %s (%.1f MiB/s)  received %s (%.1f MiB/s)", Mebibytes(tx).c_str(),
                     tx / s / 1048576.0, Mebibytes(rx).c_str(), rx / s / 1048576.0);
        std::fflush(stderr);
      }
      Tick(t);
    });
  }

  void Fail(const std::string& why) {
    if (finished_) return;
    if (progress_) std::fputs("\r\033[K", stderr);
    LogLine("pipe", why);  // errors are printed even with --quiet
    Finish(kExitFailure);
  }
  void Finish(int code) {
    if (finished_) return;
    finished_ = true;
    exit_code_ = code;
    io_.stop();
  }

  const PipeOptions& o_;
  const Clock::time_point started_;
  asio::io_context io_;
  runtime::RoomClient* room_ = nullptr;
  std::thread reader_;
  // The connection's thread while it writes to stdout (see InterruptStdoutWriter).
  std::atomic<bool> writing_{false}, abort_writes_{false};
  pthread_t writer_{};         // set once by the connection's thread before writing_ is first set
  bool writer_known_ = false;  // the connection's thread only
  std::future<void> reader_done_;
  std::atomic<bool> stop_reader_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<DataChannel> channel_;  // mu_
  std::string channel_peer_;              // mu_
  // Set on the connection's thread (in order with the data), read after posts.
  std::atomic<bool> peer_eof_{false};
  std::atomic<bool> our_eof_sent_{false};
  std::atomic<uint64_t> sent_{0}, received_{0};
  // Main thread.
  bool open_ = false, acked_ = false, closing_ = false, finished_ = false, progress_ = false;
  int exit_code_ = kExitOk;
  std::string peer_id_, last_signaling_error_, channel_error_;
  Clock::time_point opened_{};
  std::unique_ptr<asio::steady_timer> close_timer_;
};

}  // namespace

int RunPipe(const PipeOptions& options) {
  if (options.signal.empty()) {
    LogLine("pipe", "no --signal URL");
    return kExitUsage;
  }
  for (const auto& url : options.signal) {
    if (!runtime::ParseWebSocketUrl(url)) {
      LogLine("pipe", "--signal wants a ws:// or wss:// URL, got '" + url + "'");
      return kExitUsage;
    }
  }
  // No SA_RESTART: the signal makes a blocked write() return EINTR (InterruptStdoutWriter).
  struct sigaction sa {};
  sa.sa_handler = IgnoreSignal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGUSR1, &sa, nullptr);
  Pipe pipe(options);
  return pipe.Run();
}

}  // namespace peerlink::cli
