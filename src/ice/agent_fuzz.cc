// Stateful fuzz target for the ICE agent: the input is an operation stream
// (raw datagrams, well-signed checks and responses built from fuzz fields,
// remote candidates, time steps, sends, restarts) applied to one agent.
// Invariants: IsConsistent() after every call and bounded pair/candidate counts.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "src/base/check.h"
#include "src/ice/agent.h"
#include "src/stun/credentials.h"
#include "src/stun/message.h"

using namespace peerlink;
using namespace peerlink::ice;

namespace {
using fuzzing::Input;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  SeededRng rng(in.U64());
  AgentConfig cfg;
  cfg.role = in.U8() & 1 ? Role::kControlling : Role::kControlled;
  cfg.local_credentials = {"locl", "localpasswordlocalpassword"};
  cfg.max_pairs = 16;
  cfg.max_remote_candidates = 8;
  Instant now = Instant::FromNanos(1'000'000'000);
  Agent agent(cfg, rng, now);
  const SocketAddress local = *SocketAddress::Parse("192.0.2.1:1000");
  agent.AddLocalAddress(now, local);
  agent.StartGathering(now);
  const Credentials remote_creds{"remo", "remotepasswordremotepassword"};
  agent.SetRemoteCredentials(now, remote_creds);
  std::vector<stun::TransactionId> sent_tids;

  for (int op = 0; op < 64 && !in.empty(); ++op) {
    const SocketAddress from(IpAddress::V4(192, 0, 2, static_cast<uint8_t>(2 + in.U8() % 4)),
                             static_cast<uint16_t>(2000 + in.U8() % 4));
    switch (in.U8() % 9) {
      case 0: {  // raw datagram
        size_t len = in.U8();
        (void)agent.HandleDatagram(now, local, from, in.View(len));
        break;
      }
      case 1: {  // authenticated Binding request
        stun::StunMessageBuilder b(stun::Method::kBinding, stun::StunClass::kRequest, stun::RandomTransactionId(rng));
        b.AddString(stun::attr::kUsername, "locl:remo");
        b.AddU32(stun::attr::kPriority, static_cast<uint32_t>(in.U64()) | 1);
        const uint8_t flags = in.U8();
        b.AddU64(flags & 1 ? stun::attr::kIceControlling : stun::attr::kIceControlled, in.U64());
        if (flags & 2) b.AddFlag(stun::attr::kUseCandidate);
        b.AddMessageIntegrity(stun::ShortTermKey(flags & 4 ? "wrong" : cfg.local_credentials.pwd));
        b.AddFingerprint();
        (void)agent.HandleDatagram(now, local, from, std::move(b).Finish());
        break;
      }
      case 2: {  // response to one of the agent's checks
        if (sent_tids.empty()) break;
        const auto& tid = sent_tids[in.U8() % sent_tids.size()];
        const uint8_t flags = in.U8();
        stun::StunMessageBuilder b(stun::Method::kBinding,
                                   flags & 1 ? stun::StunClass::kErrorResponse : stun::StunClass::kSuccessResponse,
                                   tid);
        if (flags & 1)
          b.AddErrorCode(flags & 2 ? 487 : 400, "x");
        else
          b.AddXorAddress(stun::attr::kXorMappedAddress, from);
        b.AddMessageIntegrity(stun::ShortTermKey(remote_creds.pwd));
        b.AddFingerprint();
        (void)agent.HandleDatagram(now, local, from, std::move(b).Finish());
        break;
      }
      case 3: {
        Candidate c;
        c.foundation = std::to_string(in.U8());
        c.priority = static_cast<uint32_t>(in.U64()) | 1;
        c.address = from;
        c.type = static_cast<CandidateType>(in.U8() % 4);
        (void)agent.AddRemoteCandidate(now, c);
        break;
      }
      case 4:
        now += Duration::Millis(in.U16());
        agent.HandleTimeout(now);
        break;
      case 5: (void)agent.SendData(now, in.Peek(16)); break;
      case 6: agent.Restart(now); break;
      case 7: agent.SetRemoteEndOfCandidates(now); break;
      case 8: agent.SetRemoteCredentials(now, remote_creds); break;
    }
    PL_CHECK(agent.IsConsistent());
    for (int k = 0; k < 1000; ++k) {
      Output out = agent.PollOutput(now);
      if (auto* t = std::get_if<Transmit>(&out)) {
        auto m = stun::StunMessage::Parse(t->data);
        if (m.ok() && m->cls() == stun::StunClass::kRequest && sent_tids.size() < 64)
          sent_tids.push_back(m->transaction_id());
      } else if (std::holds_alternative<Deadline>(out)) {
        break;
      }
    }
    PL_CHECK(agent.GetStats().pairs.size() <= cfg.max_pairs);
  }
  return 0;
}
