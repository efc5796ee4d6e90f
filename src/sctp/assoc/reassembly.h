// Receive-side reassembly and ordered delivery (RFC 9260 section 6.5/6.9,
// RFC 8260 section 2.1).
//
// DATA: fragments of one message carry consecutive TSNs, B on the first and E
// on the last; ordered messages are delivered by SSN per stream.
// I-DATA: fragments are keyed by (stream, unordered, MID) and ordered by FSN;
// ordered messages are delivered by MID per stream.
//
// buffered_bytes() counts every payload byte held (fragments and complete
// ordered messages waiting for an earlier one); the association derives
// a_rwnd from it and refuses chunks beyond its cap.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <tuple>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/fifo.h"
#include "src/sctp/association.h"
#include "src/sctp/data_chunks.h"
#include "src/sctp/message_buffer_pool.h"
#include "src/sctp/types.h"

namespace peerlink::sctp {

class ReassemblyQueue {
 public:
  ReassemblyQueue(bool interleaving, size_t max_message_size)
      : interleaving_(interleaving), max_message_size_(max_message_size) {}

  struct Incoming {
    UnwrappedTsn tsn = 0;
    StreamId stream_id;
    uint32_t ssn_or_mid = 0;
    uint32_t fsn = 0;
    Ppid ppid;
    bool unordered = false, beginning = false, ending = false;
    ByteView payload;
  };
  // Returns false if the peer violated a limit (a message above
  // max_message_size); error() then says why.
  bool Add(const Incoming& in);

  // FORWARD-TSN: drops fragments up to `new_cumulative` and skips SSNs.
  void HandleForwardTsn(UnwrappedTsn new_cumulative, std::span<const ForwardTsnChunk::Skipped> skipped);
  // I-FORWARD-TSN: drops the listed messages (and earlier ordered ones).
  void HandleIForwardTsn(std::span<const IForwardTsnChunk::Skipped> skipped);
  // Incoming stream reset (RFC 6525 section 5.2.2): SSN/MID expected restart at 0.
  void ResetStreams(std::span<const StreamId> streams);

  // Fragmented messages take their buffer from `pool` when it has one that fits
  // (the association's; it outlives the queue).
  void set_pool(MessageBufferPool* pool) { pool_ = pool; }

  // Messages ready for the application, in delivery order.
  Fifo<MessageReceived>& ready() { return ready_; }
  size_t buffered_bytes() const { return buffered_; }
  const std::string& error() const { return error_; }
  bool IsConsistent() const;

 private:
  // DATA: a run of fragments of one message with consecutive TSNs [tsn,
  // last_tsn], concatenated. A fragment that continues a run (the common,
  // in-order case) is appended to it; a run that becomes B..E is delivered as
  // is, so an in-order message costs one copy and no per-fragment allocation.
  struct Fragment {
    UnwrappedTsn tsn = 0;
    UnwrappedTsn last_tsn = 0;
    StreamId stream_id;
    uint32_t ssn_or_mid = 0;
    Ppid ppid;
    bool unordered = false, beginning = false, ending = false;
    std::vector<uint8_t> data;
  };
  // I-DATA message being reassembled. Fragments that arrive in FSN order (the
  // common case) are appended to `data` directly: one growing buffer that
  // becomes the delivered message, no per-fragment allocation and no final
  // concatenation. Fragments above a hole wait in `later` until it is filled.
  struct Partial {
    std::vector<uint8_t> data;                       // fragments 0 .. next_fsn - 1, concatenated
    uint32_t next_fsn = 0;                           // first FSN not yet in `data`
    Ppid ppid;                                       // from the B fragment (FSN 0)
    std::map<uint32_t, std::vector<uint8_t>> later;  // by FSN, all > next_fsn
    std::optional<uint32_t> last_fsn;
    size_t bytes = 0;  // data.size() + bytes in `later`
  };
  struct InStream {
    uint32_t next = 0;                            // next SSN (DATA, 16 bits) or MID (I-DATA) to deliver
    std::map<uint32_t, MessageReceived> waiting;  // complete, out of order
    size_t last_message_size = 0;                 // sizes the next fragmented message's buffer up front
  };
  // A new fragmented message reserves its buffer at the size of the stream's last
  // message (so it is not regrown fragment by fragment, and the allocator can
  // hand back the block just freed), but only while at most this many messages
  // are being reassembled: reserved-but-unfilled memory stays below
  // kMaxPresizedPartials * max_message_size whatever the peer sends.
  static constexpr size_t kMaxPresizedPartials = 4;
  using Key = std::tuple<uint16_t, bool, uint32_t>;

  void Complete(StreamId sid, uint32_t ssn_or_mid, bool unordered, Ppid ppid, std::vector<uint8_t> payload);
  void DeliverWaiting(StreamId sid, InStream& s);
  bool AddData(const Incoming& in);
  bool AddIData(const Incoming& in);
  uint32_t Next(uint32_t v) const { return interleaving_ ? v + 1 : (v + 1) & 0xFFFF; }
  bool SerialLessOrEqual(uint32_t a, uint32_t b) const;

  // An empty buffer for a new fragmented message, reserved at `hint` bytes.
  std::vector<uint8_t> NewMessageBuffer(size_t hint);

  bool interleaving_;
  size_t max_message_size_;
  MessageBufferPool* pool_ = nullptr;
  std::map<UnwrappedTsn, Fragment> data_fragments_;  // DATA runs, by first TSN
  std::map<Key, Partial> partials_;                  // I-DATA
  std::map<uint16_t, InStream> streams_;
  Fifo<MessageReceived> ready_;
  size_t buffered_ = 0;
  std::string error_;
};

}  // namespace peerlink::sctp
