// `peerlink dc-peer`: one PeerConnection (the public API) moving --bytes over one reliable
// ordered data channel. Used by `peerlink demo`. Signaling is either JSON lines on stdin/stdout
// (below) or, with --signal URL --room R, a room on a signaling server (runtime::RoomClient, one
// connection; who offers then follows the room's rule and --role only picks sender/receiver).
//
// Out (stdout):
//   {"type":"offer"|"answer","sdp":"..."}
//   {"type":"candidate","candidate":"candidate:...","sdpMid":"0"}   trickled; "" = end
//   {"type":"result","role":..,...}                                 once, at the end
// In (stdin): the other side's offer/answer and candidates. Candidates that arrive before the
// description are held until it is set.
//
// The offerer creates channel "peerlink-demo" and, once it is open, sends --bytes of a
// pseudo-random stream as --message-size binary messages, keeping bufferedAmount under 4 MiB
// (resuming at bufferedamountlow = 1 MiB), and hashes what it sent (SHA-256). The answerer
// hashes what it receives; after exactly --bytes it sends {"bytes":N,"sha256":"..."} back as
// one text message and writes its result. The offerer compares that with its own digest,
// writes its result and closes the connection; the answerer then exits too.
#include <peerlink/peer_connection.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <csignal>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "src/base/crypto.h"
#include "src/runtime/room_client.h"
#include "tools/peerlink/commands.h"
#include "tools/peerlink/lines.h"
#include "tools/peerlink/sctp_flags.h"

namespace peerlink::cli {

namespace {

namespace asio = boost::asio;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr size_t kHighWater = 4 * 1024 * 1024;
constexpr size_t kLowWater = 1024 * 1024;
constexpr const char* kLabel = "peerlink-demo";

double MsSince(Clock::time_point t0, Clock::time_point t1) {
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

// The demo's payload: a fixed pseudo-random byte stream (64-bit LCG, top byte). Not secret; the
// point is that both ends can hash it and a lost, reordered or corrupted byte changes the digest.
struct ByteStream {
  uint64_t x = 0x9E3779B97F4A7C15ULL;
  void Fill(std::span<uint8_t> out) {
    for (auto& b : out) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      b = static_cast<uint8_t>(x >> 56);
    }
  }
};

class DcPeer {
 public:
  DcPeer(const DcPeerOptions& o, asio::io_context& io) : o_(o), io_(io), started_(Clock::now()) {}

  // Returns an exit code once the peer has finished (or failed, or timed out).
  int Run() {
    Configuration config;
    config.bind_addresses = o_.bind;
    if (config.bind_addresses.empty()) config.bind_addresses = {"127.0.0.1"};
    if (const std::string error = ApplySctpFlags(o_.congestion_control, o_.rapid_start, o_.resume_state, config);
        !error.empty()) {
      LogLine(tag(), error);
      return kExitUsage;
    }
    config.log = [this](std::string_view line) { LogLine(tag(), line); };
    if (!o_.signal.empty()) return RunInRoom(std::move(config));
    try {
      pc_ = std::make_shared<PeerConnection>(config);
    } catch (const std::exception& e) {
      LogLine(tag(), std::string("cannot create the peer connection: ") + e.what());
      return kExitFailure;
    }
    pc_->OnIceCandidate([this](const IceCandidate& c) {
      Emit({{"type", "candidate"}, {"candidate", c.candidate}, {"sdpMid", c.sdp_mid}});
    });
    pc_->OnConnectionStateChange([this](PeerConnectionState s) {
      if (s == PeerConnectionState::kFailed) Post([this] { Fail("the connection failed (ICE or DTLS)"); });
      if (s == PeerConnectionState::kClosed) Post([this] { PeerClosed(); });
    });

    if (offerer()) {
      auto made = pc_->CreateDataChannel(kLabel);
      if (!made.ok()) return Failed("CreateDataChannel: " + made.error().message);
      channel_ = *made;
      WireSender();
      auto offer = pc_->CreateOffer();
      if (!offer.ok()) return Failed("CreateOffer: " + offer.error().message);
      if (auto r = pc_->SetLocalDescription(*offer); !r.ok())
        return Failed("SetLocalDescription: " + r.error().message);
      Emit({{"type", "offer"}, {"sdp", offer->sdp}});
    } else {
      pc_->OnDataChannel([this](std::shared_ptr<DataChannel> ch) {
        // Runs on the connection's thread; the channel is ours from here on.
        channel_ = std::move(ch);
        WireReceiver();
      });
    }

    LineReader stdin_reader(
        io_, [this](std::string_view line) { OnSignal(line); },
        [this](const std::string& why) {
          // The other peer (or the parent) is gone. The answerer is done once it has reported;
          // otherwise nothing more can arrive.
          if (finished_) return;
          if (!offerer() && reported_) return Finish(kExitOk);
          Fail("signaling ended before the transfer finished" + (why.empty() ? "" : " (" + why + ")"));
        });
    std::string error;
    if (!stdin_reader.Start(::dup(STDIN_FILENO), &error)) return Failed("cannot read stdin: " + error);
    RunUntilFinished();
    stdin_reader.Close();
    // Closing waits for nothing; the destructor sends what it can and releases the runtime.
    if (channel_) channel_.reset();
    pc_.reset();
    return exit_code_;
  }

 private:
  // --signal/--room: the room decides who offers; on_channel gives us the one channel.
  int RunInRoom(Configuration config) {
    runtime::RoomClientOptions ro;
    ro.signaling.core.urls = {o_.signal};
    ro.signaling.core.room = o_.room;
    ro.peer = std::move(config);
    ro.channel_label = kLabel;
    ro.max_connections = 1;
    ro.connect_timeout = Duration::Nanos(static_cast<int64_t>(o_.timeout_s * 1e9));
    runtime::RoomClientCallbacks cb;
    cb.on_channel = [this](const runtime::RoomPeerInfo& peer, std::shared_ptr<DataChannel> ch) {
      // The room's thread (a channel we created) or the connection's (a received one): wire it
      // before it can open or carry a message.
      if (channel_) return;
      channel_ = std::move(ch);
      if (offerer()) {
        WireSender();
      } else {
        WireReceiver();
      }
      Post([this, id = peer.peer_id] { pc_ = room_->connection(id); });
    };
    cb.on_state = [this](const runtime::RoomPeerInfo&, PeerConnectionState s) {
      if (s == PeerConnectionState::kFailed) Post([this] { Fail("the connection failed (ICE or DTLS)"); });
    };
    cb.on_peer_gone = [this](const std::string&, std::string_view reason) {
      Post([this, why = std::string(reason)] {
        if (reported_) return PeerClosed();
        Fail("lost the peer: " + why);
      });
    };
    try {
      // No room log: signaling connects/disconnects are routine here; failures reach us as
      // callbacks (peer gone, connection failed) or as the timeout.
      room_ = std::make_unique<runtime::RoomClient>(std::move(ro), std::move(cb));
    } catch (const std::exception& e) {
      return Failed(std::string("cannot join the room: ") + e.what());
    }
    room_->Start();
    RunUntilFinished();
    pc_.reset();
    room_->Stop();  // closes the connection; no callback after it
    channel_.reset();
    room_.reset();
    return exit_code_;
  }

  // Runs the io_context until Finish(), failing at --timeout and ending at SIGINT/SIGTERM.
  void RunUntilFinished() {
    asio::steady_timer deadline(io_);
    deadline.expires_after(std::chrono::milliseconds(static_cast<int64_t>(o_.timeout_s * 1000)));
    deadline.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) Fail("not finished within " + FormatSeconds(o_.timeout_s) + " s");
    });
    asio::signal_set signals(io_, SIGINT, SIGTERM);
    signals.async_wait([this](const boost::system::error_code& ec, int sig) {
      if (!ec) Finish(128 + sig);
    });
    io_.run();
  }

  bool offerer() const { return o_.role == "offerer"; }
  std::string tag() const { return o_.role; }

  void Emit(const json& j) {
    std::lock_guard lock(out_mu_);
    (void)WriteLine(STDOUT_FILENO, j.dump());
  }
  // From the connection's thread to ours.
  template <class F>
  void Post(F f) {
    asio::post(io_, std::move(f));
  }

  int Failed(const std::string& why) {
    LogLine(tag(), why);
    Emit({{"type", "result"}, {"role", o_.role}, {"error", why}});
    return kExitFailure;
  }
  void Fail(const std::string& why) {
    if (finished_) return;
    if (!reported_) {
      reported_ = true;
      json r = Result();
      r["error"] = why;
      Emit(r);
    }
    LogLine(tag(), why);
    Finish(kExitFailure);
  }
  void Finish(int code) {
    if (finished_) return;
    finished_ = true;
    exit_code_ = code;
    if (pc_) pc_->Close();
    io_.stop();
  }
  void ChannelError(const std::string& reason) {
    // After our result the peer closing (e.g. "shutdown complete (closed by peer)") is the end.
    if (reported_) return PeerClosed();
    Fail("channel error: " + reason);
  }
  void PeerClosed() {
    if (finished_) return;
    if (reported_) return Finish(exit_code_);  // the expected end of the answerer
    Fail("the connection closed before the transfer finished");
  }

  // --- signaling in ---------------------------------------------------------------------------
  void OnSignal(std::string_view line) {
    json j = json::parse(line, nullptr, false);
    if (!j.is_object()) return Fail("bad signaling line: " + std::string(line.substr(0, 80)));
    const std::string type = j.value("type", "");
    if (type == "offer" || type == "answer") {
      if (type == "offer" && offerer()) return Fail("got an offer, but this peer is the offerer");
      auto sdp_type = SdpTypeFromString(type);
      auto r = pc_->SetRemoteDescription({*sdp_type, j.value("sdp", "")});
      if (!r.ok()) return Fail("SetRemoteDescription: " + r.error().message);
      if (!offerer()) {
        auto answer = pc_->CreateAnswer();
        if (!answer.ok()) return Fail("CreateAnswer: " + answer.error().message);
        if (auto l = pc_->SetLocalDescription(*answer); !l.ok())
          return Fail("SetLocalDescription: " + l.error().message);
        Emit({{"type", "answer"}, {"sdp", answer->sdp}});
      }
      have_remote_ = true;
      for (const auto& c : held_)
        AddCandidate(c);
      held_.clear();
    } else if (type == "candidate") {
      IceCandidate c{j.value("candidate", ""), j.value("sdpMid", "0"), 0};
      if (!have_remote_) {
        if (held_.size() >= 256) return Fail("more than 256 candidates before the description");
        held_.push_back(std::move(c));
      } else {
        AddCandidate(c);
      }
    }
  }
  void AddCandidate(const IceCandidate& c) {
    // An unusable candidate is logged, not fatal: the others may still connect.
    if (auto r = pc_->AddIceCandidate(c); !r.ok()) LogLine(tag(), "candidate refused: " + r.error().message);
  }

  // --- the offerer: send, then compare digests ------------------------------------------------
  void WireSender() {
    // Runs on the connection's thread (callbacks) only.
    DataChannel* ch = channel_.get();
    ch->set_buffered_amount_low_threshold(kLowWater);
    ch->OnOpen([this] {
      opened_ = Clock::now();
      message_.resize(o_.message_size);
      Pump();
    });
    ch->OnBufferedAmountLow([this] { Pump(); });
    ch->OnMessage([this](std::span<const uint8_t> data, bool binary) {
      if (binary) return Post([this] { Fail("unexpected binary message from the answerer"); });
      std::string text(reinterpret_cast<const char*>(data.data()), data.size());
      const auto acked = Clock::now();
      Post([this, text, acked] { OnAnswererDigest(text, acked); });
    });
    ch->OnError([this](const std::string& reason) { Post([this, reason] { ChannelError(reason); }); });
  }
  void Pump() {
    while (sent_ < o_.bytes && channel_->buffered_amount() < kHighWater) {
      const size_t n = std::min<uint64_t>(message_.size(), o_.bytes - sent_);
      std::span<uint8_t> m(message_.data(), n);
      stream_.Fill(m);
      hash_.Update(m);
      if (auto r = channel_->Send(std::span<const uint8_t>(m)); !r.ok()) {
        const std::string why = "Send: " + r.error().message;
        return Post([this, why] { Fail(why); });
      }
      sent_ += n;
      ++messages_;
    }
    if (sent_ == o_.bytes && !digest_) {
      digest_ = crypto::HexEncode(hash_.Finish());
    }
  }
  void OnAnswererDigest(const std::string& text, Clock::time_point acked) {
    json j = json::parse(text, nullptr, false);
    if (!j.is_object() || !j.contains("sha256") || !j.contains("bytes"))
      return Fail("bad digest message from the answerer: " + text.substr(0, 80));
    // Reading digest_ here is safe: the answerer only reports after every byte arrived, i.e.
    // after Pump() finished the hash on the connection's thread (the message passed through it).
    if (!digest_) return Fail("the answerer reported before everything was sent");
    json r = Result();
    r["bytes"] = o_.bytes;
    r["messages"] = messages_;
    r["message_size"] = o_.message_size;
    r["sha256"] = *digest_;
    r["peer_sha256"] = j.value("sha256", "");
    r["peer_bytes"] = j.value("bytes", uint64_t{0});
    const bool verified = r["peer_sha256"] == *digest_ && r["peer_bytes"] == o_.bytes;
    r["verified"] = verified;
    if (!verified) {
      r["error"] = "the answerer received " + r["peer_bytes"].dump() + " bytes with sha256 " +
                   r["peer_sha256"].get<std::string>() + "; sent " + std::to_string(o_.bytes) + " with sha256 " +
                   *digest_;
      LogLine(tag(), r["error"].get<std::string>());
    }
    r["connect_ms"] = MsSince(started_, opened_);
    // From the channel opening to the answerer's digest: includes one round trip.
    const double transfer_s = MsSince(opened_, acked) / 1e3;
    r["transfer_s"] = transfer_s;
    r["mb_per_s"] = transfer_s > 0 ? static_cast<double>(o_.bytes) / transfer_s / 1e6 : 0.0;
    if (verified && !o_.resume_state.empty()) {
      if (const std::string error = SaveResumeState(o_.resume_state, pc_->GetStats()); !error.empty())
        LogLine(tag(), error);
    }
    reported_ = true;
    Emit(r);
    Finish(verified ? kExitOk : kExitFailure);
  }

  // --- the answerer: receive, hash, report ----------------------------------------------------
  void WireReceiver() {
    DataChannel* ch = channel_.get();
    ch->OnOpen([this] { opened_ = Clock::now(); });
    ch->OnMessage([this, ch](std::span<const uint8_t> data, bool binary) {
      if (done_receiving_) {
        if (!extra_reported_) Post([this] { Fail("the offerer sent more than --bytes"); });
        extra_reported_ = true;
        return;
      }
      if (!binary) return Post([this] { Fail("unexpected text message from the offerer"); });
      if (received_ == 0) first_byte_ = Clock::now();
      if (data.size() > o_.bytes - received_) {
        done_receiving_ = true;
        return Post([this] { Fail("the offerer sent more than --bytes"); });
      }
      hash_.Update(data);
      received_ += data.size();
      ++messages_;
      if (received_ < o_.bytes) return;
      done_receiving_ = true;
      const auto last = Clock::now();
      const std::string digest = crypto::HexEncode(hash_.Finish());
      (void)ch->Send(json{{"bytes", received_}, {"sha256", digest}}.dump());
      Post([this, digest, last] { ReportReceived(digest, last); });
    });
    ch->OnError([this](const std::string& reason) { Post([this, reason] { ChannelError(reason); }); });
  }
  void ReportReceived(const std::string& digest, Clock::time_point last) {
    json r = Result();
    r["bytes"] = received_;
    r["messages"] = messages_;
    r["sha256"] = digest;
    r["connect_ms"] = MsSince(started_, opened_);
    const double transfer_s = MsSince(first_byte_, last) / 1e3;
    r["transfer_s"] = transfer_s;
    r["mb_per_s"] = transfer_s > 0 ? static_cast<double>(received_) / transfer_s / 1e6 : 0.0;
    reported_ = true;
    Emit(r);
    // Now wait for the offerer to close (PeerClosed) or for stdin to end.
  }

  // The path and transport figures both results carry.
  json Result() {
    json r = {{"type", "result"}, {"role", o_.role}};
    if (!pc_) return r;
    const Stats s = pc_->GetStats();
    if (s.selectedCandidatePair) {
      const auto& p = *s.selectedCandidatePair;
      r["selected"] = {{"local", p.localAddress},
                       {"local_type", p.localCandidateType},
                       {"remote", p.remoteAddress},
                       {"remote_type", p.remoteCandidateType}};
      if (p.currentRoundTripTime) r["rtt_ms"] = *p.currentRoundTripTime * 1e3;
    }
    r["dtls_cipher"] = s.transport.dtlsCipher;
    r["sctp_retransmissions"] = s.sctp.retransmissions;
    r["congestion_control"] = s.sctp.congestionControl;
    r["retained_cwnd"] = s.sctp.retainedCongestionWindow;
    if (o_.rapid_start) r["rapid_start_rounds"] = s.sctp.rapidStartRounds;
    if (!s.sctp.carefulResume.empty()) {
      r["careful_resume"] = s.sctp.carefulResume;
      r["careful_resume_retreated"] = s.sctp.carefulResumeRetreated;
    }
    return r;
  }

  const DcPeerOptions& o_;
  asio::io_context& io_;
  const Clock::time_point started_;
  std::shared_ptr<PeerConnection> pc_;
  std::unique_ptr<runtime::RoomClient> room_;  // --signal mode
  std::shared_ptr<DataChannel> channel_;
  std::mutex out_mu_;
  // Main thread.
  std::vector<IceCandidate> held_;
  bool have_remote_ = false;
  bool reported_ = false;
  bool finished_ = false;
  int exit_code_ = kExitOk;
  // The connection's thread (until the transfer is over; then read on the main thread).
  ByteStream stream_;
  crypto::Sha256Stream hash_;
  std::vector<uint8_t> message_;
  uint64_t sent_ = 0, received_ = 0, messages_ = 0;
  bool done_receiving_ = false, extra_reported_ = false;
  std::optional<std::string> digest_;
  Clock::time_point opened_{}, first_byte_{};
};

}  // namespace

int RunDcPeer(const DcPeerOptions& options) {
  asio::io_context io;
  DcPeer peer(options, io);
  return peer.Run();
}

}  // namespace peerlink::cli
