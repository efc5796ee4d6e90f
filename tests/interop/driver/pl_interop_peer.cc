// pl_interop_peer: our PeerConnection driven over stdin/stdout with JSON lines, so that any
// foreign-peer harness (Go, Python, Node, a browser page behind a relay) can run interop cases.
// One JSON object per line in each direction; unknown fields are ignored.
//
// Commands (stdin):
//   {"cmd":"offer"}                              CreateOffer + SetLocalDescription; prints the offer
//   {"cmd":"answer","sdp":"..."}                 "sdp" (optional) is the remote OFFER, applied first;
//                                                then CreateAnswer + SetLocalDescription; prints it
//   {"cmd":"remote","type":"offer|answer|pranswer|rollback","sdp":"..."}   SetRemoteDescription
//   {"cmd":"candidate","candidate":"candidate:...","mid":"0"}   AddIceCandidate ("" = end)
//   {"cmd":"channel","label":"x","ordered":true,"maxRetransmits":N,"maxPacketLifeTime":MS,
//    "negotiated":false,"id":N,"protocol":"p"}   CreateDataChannel (every field but label optional)
//   {"cmd":"close_channel","label":"x"}          DataChannel::Close on every channel with that label
//   {"cmd":"restart_ice"}                        RestartIce (then send {"cmd":"offer"})
//   {"cmd":"close"}                              PeerConnection::Close
// Output (stdout):
//   {"type":"offer|answer","sdp":"..."}          our description (candidates are trickled)
//   {"event":"candidate","candidate":"...","mid":"0","mlineIndex":0}   trickle ("" = end)
//   {"event":"channel","label":...,"id":...,"ordered":...,"maxRetransmits":...,
//    "maxPacketLifeTime":...,"negotiated":...,"protocol":...,"remote":bool}
//                                                a channel exists (remote: announced by the peer)
//   {"event":"open"|"closing"|"close","label":...,"id":...}      channel life cycle
//   {"event":"echo_error","label":...,"error":...}   an echo could not be sent
//   {"event":"state","kind":"connection|ice|signaling|gathering","state":"<W3C string>"}
//   {"event":"error","cmd":...,"message":...}    a command failed (the process keeps running)
//   {"event":"exit","state":...}                 last line
// Echo mode: every message received on any channel is sent back on that channel unchanged (text
// stays text, binary stays binary, 0-byte messages included).
//
//   pl_interop_peer [--bind IP]... [--timeout SECONDS] [--max-message-size BYTES]
// Without --bind it binds 127.0.0.1 only (interop tests run on loopback). Exits 0 when stdin is
// closed (after a graceful Close), 3 at the timeout (default 60 s), 2 on bad arguments.
#include <peerlink/peer_connection.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

using nlohmann::json;
using peerlink::DataChannel;

std::mutex out_mu;
void Emit(const json& j) {
  std::lock_guard lock(out_mu);
  std::cout << j.dump() << '\n' << std::flush;
}

json Describe(DataChannel& ch) {
  json j = {{"label", ch.label()},         {"ordered", ch.ordered()}, {"negotiated", ch.negotiated()},
            {"protocol", ch.protocol()},   {"id", nullptr},           {"maxRetransmits", nullptr},
            {"maxPacketLifeTime", nullptr}};
  if (auto id = ch.id()) j["id"] = *id;
  if (auto r = ch.max_retransmits()) j["maxRetransmits"] = *r;
  if (auto t = ch.max_packet_life_time()) j["maxPacketLifeTime"] = *t;
  return j;
}

class Driver {
 public:
  explicit Driver(peerlink::Configuration config) : pc_(std::make_unique<peerlink::PeerConnection>(config)) {
    pc_->OnIceCandidate([](const peerlink::IceCandidate& c) {
      Emit({{"event", "candidate"}, {"candidate", c.candidate}, {"mid", c.sdp_mid}, {"mlineIndex", c.sdp_mline_index}});
    });
    pc_->OnConnectionStateChange([](peerlink::PeerConnectionState s) { State("connection", ToString(s)); });
    pc_->OnIceConnectionStateChange([](peerlink::IceConnectionState s) { State("ice", ToString(s)); });
    pc_->OnSignalingStateChange([](peerlink::SignalingState s) { State("signaling", ToString(s)); });
    pc_->OnIceGatheringStateChange([](peerlink::IceGatheringState s) { State("gathering", ToString(s)); });
    pc_->OnDataChannel([this](std::shared_ptr<DataChannel> ch) { Adopt(std::move(ch), /*remote=*/true); });
  }

  // Runs one command line; failures are reported as {"event":"error"} lines.
  void Handle(const json& j) {
    const std::string cmd = j.value("cmd", "");
    auto fail = [&](const std::string& message) { Emit({{"event", "error"}, {"cmd", cmd}, {"message", message}}); };
    if (cmd == "offer") {
      auto offer = pc_->CreateOffer();
      if (!offer.ok()) return fail(offer.error().message);
      // Printed first: SetLocalDescription starts gathering, and a harness must see the
      // description before our first candidate.
      Emit({{"type", "offer"}, {"sdp", offer->sdp}});
      if (auto r = pc_->SetLocalDescription(*offer); !r.ok()) return fail(r.error().message);
    } else if (cmd == "answer") {
      if (j.contains("sdp")) {
        auto r = pc_->SetRemoteDescription({peerlink::SdpType::kOffer, j["sdp"].get<std::string>()});
        if (!r.ok()) return fail(r.error().message);
      }
      auto answer = pc_->CreateAnswer();
      if (!answer.ok()) return fail(answer.error().message);
      // Printed first: SetLocalDescription starts gathering, and a harness must see the
      // description before our first candidate.
      Emit({{"type", "answer"}, {"sdp", answer->sdp}});
      if (auto r = pc_->SetLocalDescription(*answer); !r.ok()) return fail(r.error().message);
    } else if (cmd == "remote") {
      auto type = peerlink::SdpTypeFromString(j.value("type", ""));
      if (!type) return fail("unknown description type");
      if (auto r = pc_->SetRemoteDescription({*type, j.value("sdp", "")}); !r.ok()) return fail(r.error().message);
    } else if (cmd == "candidate") {
      peerlink::IceCandidate c;
      c.candidate = j.value("candidate", "");
      c.sdp_mid = j.value("mid", "0");
      c.sdp_mline_index = j.value("mlineIndex", uint16_t{0});
      if (auto r = pc_->AddIceCandidate(c); !r.ok()) return fail(r.error().message);
    } else if (cmd == "channel") {
      peerlink::DataChannelInit init;
      init.ordered = j.value("ordered", true);
      init.negotiated = j.value("negotiated", false);
      init.protocol = j.value("protocol", "");
      if (j.contains("maxRetransmits") && !j["maxRetransmits"].is_null())
        init.max_retransmits = j["maxRetransmits"].get<uint16_t>();
      if (j.contains("maxPacketLifeTime") && !j["maxPacketLifeTime"].is_null())
        init.max_packet_life_time = j["maxPacketLifeTime"].get<uint32_t>();
      if (j.contains("id") && !j["id"].is_null()) init.id = j["id"].get<uint16_t>();
      auto ch = pc_->CreateDataChannel(j.value("label", ""), init);
      if (!ch.ok()) return fail(ch.error().message);
      Adopt(std::move(*ch), /*remote=*/false);
    } else if (cmd == "close_channel") {
      const std::string label = j.value("label", "");
      std::vector<std::shared_ptr<DataChannel>> matching;
      {
        std::lock_guard lock(mu_);
        for (auto& [ch, unused] : channels_)
          if (ch->label() == label) matching.push_back(ch);
      }
      if (matching.empty()) return fail("no channel labelled '" + label + "'");
      for (auto& ch : matching)
        ch->Close();
    } else if (cmd == "restart_ice") {
      pc_->RestartIce();
    } else if (cmd == "close") {
      pc_->Close();
    } else {
      fail("unknown command");
    }
  }

  void Close() { pc_->Close(); }
  peerlink::PeerConnectionState state() const { return pc_->connection_state(); }

 private:
  static void State(const char* kind, std::string_view state) {
    Emit({{"event", "state"}, {"kind", kind}, {"state", std::string(state)}});
  }

  static json Event(const char* name, DataChannel& ch) {
    json j = {{"event", name}, {"label", ch.label()}, {"id", nullptr}};
    if (auto id = ch.id()) j["id"] = *id;
    return j;
  }

  // Keeps the channel alive until "close" and echoes everything it receives.
  void Adopt(std::shared_ptr<DataChannel> ch, bool remote) {
    DataChannel* raw = ch.get();
    json d = Describe(*raw);
    d["event"] = "channel";
    d["remote"] = remote;
    Emit(d);
    raw->OnOpen([raw] { Emit(Event("open", *raw)); });
    raw->OnMessage([raw](std::span<const uint8_t> data, bool binary) {
      auto r = binary ? raw->Send(data)
                      : raw->Send(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
      if (!r.ok()) Emit({{"event", "echo_error"}, {"label", raw->label()}, {"error", r.error().message}});
    });
    raw->OnClosing([raw] { Emit(Event("closing", *raw)); });
    raw->OnClose([this, raw] {
      Emit(Event("close", *raw));
      std::lock_guard lock(mu_);
      for (auto it = channels_.begin(); it != channels_.end(); ++it) {
        if (it->first.get() == raw) {
          channels_.erase(it);
          break;
        }
      }
    });
    std::lock_guard lock(mu_);
    channels_.emplace_back(std::move(ch), remote);
  }

  std::mutex mu_;
  std::vector<std::pair<std::shared_ptr<DataChannel>, bool>> channels_;  // open or opening (, remote)
  std::unique_ptr<peerlink::PeerConnection> pc_;  // last member: destroyed first, no callback after
};

}  // namespace

int main(int argc, char** argv) {
  int timeout_s = 60;
  peerlink::Configuration config;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--bind") && i + 1 < argc) {
      config.bind_addresses.push_back(argv[++i]);
    } else if (!std::strcmp(argv[i], "--timeout") && i + 1 < argc) {
      timeout_s = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--max-message-size") && i + 1 < argc) {
      config.max_message_size = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: pl_interop_peer [--bind IP]... [--timeout SECONDS] [--max-message-size BYTES]\n");
      return 2;
    }
  }
  if (config.bind_addresses.empty()) config.bind_addresses.push_back("127.0.0.1");
  config.log = [](std::string_view line) { std::fprintf(stderr, "peerlink: %.*s\n", int(line.size()), line.data()); };

  Driver driver(config);
  std::mutex mu;
  std::condition_variable cv;
  bool eof = false;
  // std::getline cannot be interrupted: the reader is detached and the process ends with _Exit.
  std::thread([&] {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line.empty()) continue;
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        Emit({{"event", "error"}, {"cmd", ""}, {"message", "bad JSON line"}});
        continue;
      }
      driver.Handle(j);
    }
    std::lock_guard lock(mu);
    eof = true;
    cv.notify_all();
  }).detach();

  std::unique_lock lock(mu);
  const bool done = cv.wait_for(lock, std::chrono::seconds(timeout_s), [&] { return eof; });
  lock.unlock();
  if (done) {
    driver.Close();  // graceful: SCTP shutdown, DTLS close_notify (does not block)
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  Emit({{"event", "exit"}, {"state", std::string(ToString(driver.state()))}});
  std::fflush(stdout);
  std::_Exit(done ? 0 : 3);
}
