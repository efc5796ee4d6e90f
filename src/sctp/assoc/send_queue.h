// Per-stream send queues, fragmentation, and the stream scheduler.
//
// Messages wait here until the association asks for a fragment to put into a
// packet. With I-DATA (RFC 8260) the scheduler round-robins fragment by
// fragment across streams with pending data, so one large message cannot
// block small messages on other streams. With plain DATA, fragments of one
// message must have consecutive TSNs (RFC 9260 section 6.9), so a started
// message is finished before the scheduler moves on.
//
// Accounting: buffered_amount = bytes queued and not yet fragmented into a
// DATA chunk, per stream and in total; both are bounded.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/time.h"
#include "src/sctp/types.h"

namespace peerlink::sctp {

using Payload = std::shared_ptr<const std::vector<uint8_t>>;

// One DATA / I-DATA chunk's worth of a message; fragments share the message
// buffer, so retransmission keeps no copies.
struct Fragment {
  StreamId stream_id;
  Ppid ppid;
  bool unordered = false, beginning = false, ending = false;
  uint32_t ssn_or_mid = 0;  // SSN (16 bits used) for DATA, MID for I-DATA
  uint32_t fsn = 0;         // I-DATA only
  Payload payload;
  uint32_t offset = 0, length = 0;
  uint64_t message_id = 0;  // local, identifies the message for PR-SCTP abandonment
  std::optional<uint16_t> max_retransmits;
  std::optional<Instant> expires_at;
  ByteView data() const { return ByteView(payload->data() + offset, length); }
};

class SendQueue {
 public:
  SendQueue(size_t total_limit, size_t per_stream_limit, bool interleaving)
      : total_limit_(total_limit), per_stream_limit_(per_stream_limit), interleaving_(interleaving) {}

  bool CanAccept(StreamId sid, size_t bytes) const;
  void Add(StreamId sid,
           Ppid ppid,
           std::vector<uint8_t> payload,
           bool unordered,
           std::optional<uint16_t> max_retransmits,
           std::optional<Instant> expires_at,
           uint64_t message_id);

  // The next fragment of at most `max_payload` bytes, or nothing. Messages
  // whose lifetime expired before their first fragment are dropped (counted
  // in `expired_unsent`).
  std::optional<Fragment> Produce(Instant now, size_t max_payload);
  bool HasDataToSend() const { return !active_.empty() || locked_stream_.has_value(); }

  // PR-SCTP: the rest of an abandoned message is never sent.
  void DiscardRest(StreamId sid, uint64_t message_id);

  // Stream reset (RFC 6525): a paused stream starts no new message.
  void Pause(StreamId sid);
  bool IsPaused(StreamId sid) const;
  // No queued bytes and no partially sent message.
  bool IsDrained(StreamId sid) const;
  // After a successful reset: SSN / MIDs restart at 0, the stream resumes.
  void ResetAndResume(StreamId sid);
  void Resume(StreamId sid);
  void Clear();  // association restart

  size_t buffered_amount(StreamId sid) const;
  size_t total_buffered() const { return total_buffered_; }
  void SetLowThreshold(StreamId sid, size_t bytes);
  void SetTotalLowThreshold(size_t bytes) { total_low_threshold_ = bytes; }
  // Streams whose buffered amount fell to or below their threshold since the
  // last call, and whether the total did.
  std::vector<StreamId> TakeLowEvents();
  bool TakeTotalLowEvent();

  uint64_t expired_unsent() const { return expired_unsent_; }
  bool IsConsistent() const;

 private:
  struct Message {
    Ppid ppid;
    Payload payload;
    size_t offset = 0;
    bool unordered = false;
    bool started = false;
    uint32_t ssn_or_mid = 0;
    uint32_t next_fsn = 0;
    uint64_t message_id = 0;
    std::optional<uint16_t> max_retransmits;
    std::optional<Instant> expires_at;
  };
  struct Stream {
    std::deque<Message> queue;
    size_t buffered = 0;
    size_t low_threshold = 0;
    uint16_t next_ssn = 0;
    uint32_t next_mid_ordered = 0, next_mid_unordered = 0;
    bool paused = false;
  };
  void Unbuffer(StreamId sid, Stream& s, size_t bytes);
  void UpdateActive(StreamId sid, const Stream& s);
  bool Sendable(const Stream& s) const;

  size_t total_limit_, per_stream_limit_;
  bool interleaving_;
  std::map<uint16_t, Stream> streams_;
  std::set<uint16_t> active_;              // streams with a sendable message
  std::optional<uint16_t> locked_stream_;  // DATA: a started message must finish first
  uint16_t rr_last_ = 0xFFFF;
  size_t total_buffered_ = 0;
  size_t total_low_threshold_ = 0;
  std::vector<StreamId> low_events_;
  bool total_low_event_ = false;
  uint64_t expired_unsent_ = 0;
};

}  // namespace peerlink::sctp
