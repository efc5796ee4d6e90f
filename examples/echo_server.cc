// An echo peer driven over stdin/stdout with JSON lines, for scripts and interop tests.
//
// Input lines (stdin):
//   {"type":"offer","sdp":"..."}                       the remote offer (we answer)
//   {"type":"answer","sdp":"..."}                      the remote answer (with --offer)
//   {"candidate":"candidate:...","sdpMid":"0"}          a trickled remote candidate
//   {"candidate":"","sdpMid":"0"}                       end of remote candidates
//   {"close":"LABEL"}                                   close our channels with that label
//   {"restart":true}                                    RestartIce and a new offer (printed)
//   {"negotiated":{"label":..,"id":N,"ordered":..,"maxRetransmits":..,"maxPacketLifeTime":..}}
//                                                      create a negotiated channel (echoed too)
// Output lines (stdout):
//   {"type":"answer"|"offer","sdp":"..."}              our description, with every gathered
//                                                        candidate (printed once gathering is
//                                                        complete, for peers that do not trickle;
//                                                        later ones - a restart offer, the answer
//                                                        to a new offer - as soon as they are set)
//   {"event":"open","label":..,"id":..,"ordered":..,"maxRetransmits":..,"maxPacketLifeTime":..,
//    "protocol":..,"negotiated":..}                     a channel opened, as our peer sees it
//   {"event":"channel-closed","label":...}              a channel closed (by either side)
// Every message received on any channel is sent back on that channel, unchanged (text stays
// text, binary stays binary).
//
//   echo_server [--offer] [--bind IP] [--timeout SECONDS] [--publish-mdns]
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

// Every channel until it closes, for {"close":LABEL}.
std::mutex channels_mu;
std::vector<std::shared_ptr<DataChannel>> channels;

json Optional(const auto& v) {
  return v ? json(*v) : json(nullptr);
}

void Echo(const std::shared_ptr<DataChannel>& ch) {
  DataChannel* raw = ch.get();
  {
    std::lock_guard lock(channels_mu);
    channels.push_back(ch);
  }
  ch->OnOpen([raw] {
    Emit({{"event", "open"},
          {"label", raw->label()},
          {"id", Optional(raw->id())},
          {"ordered", raw->ordered()},
          {"maxRetransmits", Optional(raw->max_retransmits())},
          {"maxPacketLifeTime", Optional(raw->max_packet_life_time())},
          {"protocol", raw->protocol()},
          {"negotiated", raw->negotiated()}});
  });
  ch->OnMessage([raw](std::span<const uint8_t> data, bool binary) {
    if (binary) {
      (void)raw->Send(data);
    } else {
      (void)raw->Send(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
    }
  });
  // The channel holds itself until "close" (handlers are dropped after it).
  ch->OnClose([ch] {
    Emit({{"event", "channel-closed"}, {"label", ch->label()}});
    std::lock_guard lock(channels_mu);
    std::erase(channels, ch);
  });
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
    } else if (!std::strcmp(argv[i], "--publish-mdns")) {
      config.publish_mdns_host_candidates = true;
    } else {
      std::fprintf(stderr, "usage: echo_server [--offer] [--bind IP] [--timeout SECONDS] [--publish-mdns]\n");
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
  // The first description is printed once gathering completes; later ones right after they
  // are set (the host candidates are already gathered then).
  std::atomic<bool> first_printed{false};
  pc->OnIceCandidate([raw, &first_printed](const IceCandidate& c) {
    if (!c.candidate.empty()) return;  // printed as part of the full description below
    if (first_printed) return;
    if (auto d = raw->local_description()) {
      first_printed = true;
      Emit({{"type", std::string(ToString(d->type))}, {"sdp", d->sdp}});
    }
  });
  // Local descriptions set so far; all but the first are printed by print_later_description.
  int descriptions_set = 0;
  auto print_later_description = [&] {
    if (++descriptions_set == 1) return;  // the end-of-candidates handler prints the first
    if (auto d = pc->local_description()) Emit({{"type", std::string(ToString(d->type))}, {"sdp", d->sdp}});
  };

  if (offer_mode) {
    auto made = pc->CreateDataChannel("echo");
    if (!made.ok()) return 1;
    Echo(*made);
    auto offer = pc->CreateOffer();
    if (!offer.ok() || !pc->SetLocalDescription(*offer).ok()) return 1;
    ++descriptions_set;
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
          } else {
            print_later_description();
          }
        }
      } else if (j.contains("restart")) {
        pc->RestartIce();
        auto offer = pc->CreateOffer();
        if (!offer.ok() || !pc->SetLocalDescription(*offer).ok()) {
          Emit({{"event", "error"}, {"message", "cannot make the ICE restart offer"}});
        } else {
          print_later_description();
        }
      } else if (j.contains("close")) {
        const std::string label = j.value("close", "");
        std::vector<std::shared_ptr<DataChannel>> matching;
        {
          std::lock_guard lock(channels_mu);
          for (const auto& ch : channels)
            if (ch->label() == label) matching.push_back(ch);
        }
        if (matching.empty()) Emit({{"event", "error"}, {"message", "no open channel '" + label + "' to close"}});
        for (const auto& ch : matching)
          ch->Close();
      } else if (j.contains("negotiated") && j["negotiated"].is_object()) {
        const json& n = j["negotiated"];
        DataChannelInit init;
        init.negotiated = true;
        init.id = n.value("id", uint16_t{0});
        init.ordered = n.value("ordered", true);
        if (n.contains("maxRetransmits") && n["maxRetransmits"].is_number())
          init.max_retransmits = n["maxRetransmits"].get<uint16_t>();
        if (n.contains("maxPacketLifeTime") && n["maxPacketLifeTime"].is_number())
          init.max_packet_life_time = n["maxPacketLifeTime"].get<uint32_t>();
        auto made = pc->CreateDataChannel(n.value("label", ""), init);
        if (!made.ok()) {
          Emit({{"event", "error"}, {"message", "negotiated channel: " + made.error().message}});
        } else {
          Echo(*made);
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
