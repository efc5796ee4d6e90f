// An echo peer driven over stdin/stdout with JSON lines, for scripts and interop tests.
//
// Input lines (stdin):
//   {"type":"offer","sdp":"..."}                       the remote offer (we answer)
//   {"type":"answer","sdp":"..."}                      the remote answer (with --offer)
//   {"candidate":"candidate:...","sdpMid":"0"}          a trickled remote candidate
//   {"candidate":"","sdpMid":"0"}                       end of remote candidates
// Output lines (stdout):
//   {"type":"answer"|"offer","sdp":"..."}              our description, with every gathered
//                                                        candidate (printed once gathering is
//                                                        complete, for peers that do not trickle)
//   {"event":"open","label":...} / {"event":"closed"}   diagnostics
// Every message received on any channel is sent back on that channel, unchanged (text stays
// text, binary stays binary).
//
//   echo_server [--offer] [--bind IP] [--timeout SECONDS]
// --offer: we create the offer (and a channel "echo") instead of answering.
// Exits when stdin is closed and the connection has closed or failed, or at the timeout.
#include <peerlink/peer_connection.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

using namespace peerlink;
using nlohmann::json;

namespace {

std::mutex out_mu;
void Emit(const json& j) {
  std::lock_guard lock(out_mu);
  std::cout << j.dump() << std::endl;
}

void Echo(const std::shared_ptr<DataChannel>& ch) {
  DataChannel* raw = ch.get();
  ch->OnOpen([raw] { Emit({{"event", "open"}, {"label", raw->label()}}); });
  ch->OnMessage([raw](std::span<const uint8_t> data, bool binary) {
    if (binary) {
      (void)raw->Send(data);
    } else {
      (void)raw->Send(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
    }
  });
  // The channel holds itself until "close" (handlers are dropped after it).
  ch->OnClose([ch] { Emit({{"event", "channel-closed"}, {"label", ch->label()}}); });
}

}  // namespace

int main(int argc, char** argv) {
  bool offer_mode = false;
  int timeout_s = 120;
  Configuration config;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--offer")) {
      offer_mode = true;
    } else if (!std::strcmp(argv[i], "--bind") && i + 1 < argc) {
      config.bind_addresses.push_back(argv[++i]);
    } else if (!std::strcmp(argv[i], "--timeout") && i + 1 < argc) {
      timeout_s = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: echo_server [--offer] [--bind IP] [--timeout SECONDS]\n");
      return 2;
    }
  }
  if (config.bind_addresses.empty()) config.include_loopback = true;
  config.log = [](std::string_view line) { std::fprintf(stderr, "%.*s\n", int(line.size()), line.data()); };

  auto pc = std::make_unique<PeerConnection>(config);
  std::atomic<bool> finished{false};
  pc->OnDataChannel([](std::shared_ptr<DataChannel> ch) { Echo(ch); });
  pc->OnConnectionStateChange([&](PeerConnectionState s) {
    Emit({{"event", "connectionstatechange"}, {"state", std::string(ToString(s))}});
    if (s == PeerConnectionState::kClosed || s == PeerConnectionState::kFailed) finished = true;
  });
  PeerConnection* raw = pc.get();
  pc->OnIceCandidate([raw](const IceCandidate& c) {
    if (!c.candidate.empty()) return;  // printed as part of the full description below
    if (auto d = raw->local_description()) Emit({{"type", std::string(ToString(d->type))}, {"sdp", d->sdp}});
  });

  if (offer_mode) {
    auto made = pc->CreateDataChannel("echo");
    if (!made.ok()) return 1;
    Echo(*made);
    auto offer = pc->CreateOffer();
    if (!offer.ok() || !pc->SetLocalDescription(*offer).ok()) return 1;
  }

  std::thread reader([&] {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line.empty()) continue;
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded()) {
        std::fprintf(stderr, "bad JSON line ignored\n");
        continue;
      }
      if (j.contains("sdp")) {
        auto type = SdpTypeFromString(j.value("type", ""));
        if (!type) continue;
        auto r = pc->SetRemoteDescription({*type, j["sdp"].get<std::string>()});
        if (!r.ok()) {
          Emit({{"event", "error"}, {"message", r.error().message}});
          continue;
        }
        if (*type == SdpType::kOffer) {
          auto answer = pc->CreateAnswer();
          if (!answer.ok() || !pc->SetLocalDescription(*answer).ok()) {
            Emit({{"event", "error"}, {"message", "cannot answer"}});
          }
        }
      } else if (j.contains("candidate")) {
        auto r = pc->AddIceCandidate({j.value("candidate", ""), j.value("sdpMid", "0"), 0});
        if (!r.ok()) Emit({{"event", "error"}, {"message", r.error().message}});
      }
    }
  });
  reader.detach();  // std::getline cannot be interrupted; the process exits below

  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (!finished && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Emit({{"event", "exit"}, {"state", std::string(ToString(pc->connection_state()))}});
  std::fflush(stdout);
  std::_Exit(finished ? 0 : 3);  // the detached reader may still block in getline
}
