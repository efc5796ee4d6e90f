// A STUN client transaction (RFC 8489 section 6.2), sans-I/O.
//
// Over UDP the request is retransmitted at 0, RTO, 3*RTO, 7*RTO, ... for Rc
// sends, and the transaction fails Rm*RTO after the last one. Over TCP/TLS it
// is sent once and fails after Ti (39.5 s). The owner calls PollTransmit(now)
// to learn whether to (re)send, deadline() to arm its timer, and
// HandleResponse() when a response with this transaction id arrives.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/time.h"
#include "src/stun/message.h"

namespace peerlink::stun {

struct RetransmitPolicy {
  Duration initial_rto = Duration::Millis(500);
  int max_sends = 7;                                    // Rc
  int last_wait_factor = 16;                            // Rm
  bool reliable = false;                                // TCP/TLS: no retransmission
  Duration reliable_timeout = Duration::Millis(39500);  // Ti
};

class ClientTransaction {
 public:
  ClientTransaction(std::vector<uint8_t> request, const RetransmitPolicy& policy, Instant now);

  const TransactionId& transaction_id() const { return tid_; }
  const std::vector<uint8_t>& request() const { return request_; }

  // The request bytes if a (re)transmission is due at `now`.
  std::optional<ByteView> PollTransmit(Instant now);
  // Next time the owner must call PollTransmit / check timed_out, if pending.
  std::optional<Instant> deadline() const;
  bool timed_out(Instant now) const;
  bool done() const { return done_; }
  int sends() const { return sends_; }
  Instant first_sent() const { return started_; }
  Instant last_sent() const { return last_sent_; }
  // Marks the transaction finished (a response arrived, or it was cancelled).
  void Complete() { done_ = true; }

 private:
  std::vector<uint8_t> request_;
  TransactionId tid_;
  RetransmitPolicy policy_;
  Instant started_;
  Instant last_sent_;
  Instant next_send_;
  Instant fail_at_;
  Duration interval_;
  int sends_ = 0;
  bool done_ = false;
};

}  // namespace peerlink::stun
