// One SCTP association (RFC 9260) for WebRTC data channels, carried over DTLS
// (RFC 8261): one path, no IP addresses, port 5000 by default. Sans-I/O.
//
// Inputs:  Connect / HandlePacket / HandleTimeout / Send / ResetStreams /
//          Shutdown / Abort, each with the current time.
// Outputs: PollOutput(now) -> Transmit (one SCTP packet: exactly the payload of
//          one DTLS record), Event, or Deadline (call HandleTimeout then).
//          After any input, drain PollOutput until it returns a Deadline.
//
// Extensions, each used only when both ends announce it: I-DATA and
// I-FORWARD-TSN (RFC 8260, message interleaving), FORWARD-TSN (RFC 3758,
// partial reliability), RE-CONFIG outgoing stream reset (RFC 6525), zero
// checksum (RFC 9653; safe here only because DTLS authenticates every byte).
//
// Deterministic: the verification tags, initial TSN and cookie secret come
// from the injected Rng; given the same Rng and inputs, the same outputs.
// Memory is bounded against any peer: receive buffer (reassembly + undelivered)
// by max_receive_buffer, send queues by max_send_buffer/per_stream_send_buffer,
// what was sent and awaits the cumulative ack by max_retransmit_buffer.
// Not thread-safe; call from one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/fifo.h"
#include "src/base/rng.h"
#include "src/base/time.h"
#include "src/sctp/message_buffer_pool.h"
#include "src/sctp/types.h"

namespace peerlink::sctp {

struct ChunkView;
struct SackChunk;
struct OutstandingChunk;
struct Fragment;
class PacketBuilder;

// Congestion control of the association's sending side (docs/sctp.md).
enum class CongestionControl : uint8_t {
  // Loss-based (RFC 9260 section 7.2) with the tuning below: IW10, full byte counting, HyStart,
  // a 0.7 decrease. A random loss is read as congestion.
  kReno,
  // Model-based (src/sctp/assoc/bbr.h, after BBR): paces at the measured bottleneck bandwidth and
  // keeps about two bandwidth-delay products in flight; random loss below 2% per round trip does
  // not shrink the window, more than that caps it.
  kBbr,
};
std::string_view ToString(CongestionControl c);

struct Options {
  uint16_t local_port = 5000;
  uint16_t remote_port = 5000;
  // Largest SCTP packet we send, bytes (= the DTLS record payload we may use).
  size_t mtu = 1200;
  // Largest user message Send() accepts and we reassemble, bytes (RFC 8831 section 6.6).
  size_t max_message_size = 256 * 1024;
  // Receive buffer (reassembly + delivered-but-ordered-waiting), the a_rwnd we announce.
  size_t max_receive_buffer = 4 * 1024 * 1024;
  // Send queues: total, and per stream (bytes not yet handed to the network).
  size_t max_send_buffer = 16 * 1024 * 1024;
  size_t per_stream_send_buffer = 8 * 1024 * 1024;
  // What was sent and is kept until the peer's cumulative ack passes it, bytes (chunks the peer
  // reported in gap blocks too: RFC 9260 section 6.2.1 lets it renege on them). New data waits
  // while this much is held; retransmissions still go. An honest peer keeps it near the bytes in
  // flight, which cwnd caps at 64 MiB. A receiver that gap-acks everything but never moves its
  // cumulative ack would otherwise make the sender hold a window's worth plus whatever its gap
  // blocks can reach (65535 chunks).
  size_t max_retransmit_buffer = 64 * 1024 * 1024;
  // OS and MIS we announce in INIT / INIT ACK; the peer may negotiate fewer.
  uint16_t announced_streams = 1024;
  bool enable_interleaving = true;         // I-DATA (RFC 8260), used if both advertise
  bool enable_zero_checksum = true;        // RFC 9653, used if both offer; only over DTLS
  bool enable_partial_reliability = true;  // FORWARD-TSN (RFC 3758)
  // RTO (RFC 9260 section 6.3). rto_min is below the RFC's 1 s, as in dcSCTP
  // and Linux: over DTLS on one path a spurious timeout costs little, a 1 s
  // stall on every tail loss costs a lot.
  Duration rto_initial = Duration::Seconds(1);
  Duration rto_min = Duration::Millis(200);
  Duration rto_max = Duration::Seconds(60);
  Duration delayed_ack = Duration::Millis(200);
  Duration heartbeat_interval = Duration::Seconds(30);
  int max_retransmissions = 10;  // Association.Max.Retrans
  int max_init_retransmits = 8;  // Max.Init.Retransmits
  // Congestion control, see docs/sctp.md: initial cwnd (RFC 9260 allows
  // min(4 MTU, max(2 MTU, 4380)); we default to 10 MTUs as RFC 6928 does for TCP).
  size_t initial_cwnd_mtus = 10;
  // The options below up to `hystart` apply to kReno only; pacing to both.
  CongestionControl congestion_control = CongestionControl::kReno;
  // Slow start grows cwnd by all newly acked bytes (no L=1 MTU cap per SACK),
  // so a delayed-ack receiver still doubles cwnd each round trip.
  bool slow_start_full_byte_counting = true;
  // Multiplicative decrease on fast retransmit (RFC: 0.5). 0.7 (as CUBIC)
  // keeps more of a long-RTT pipe after a random loss.
  double loss_decrease_factor = 0.7;
  // HyStart (as in Linux CUBIC): leave slow start when a round's acks arrive
  // as one train for more than the minimum RTT (half of it unpaced) plus what
  // batching alone adds (up to 1 ms), and for at least 1 ms: cwnd has reached the path's BDP; or when
  // the round trip grows by an eighth of the minimum (clamped to 4..16 ms): the
  // queue is filling, and doubling once more would overflow it at high BDP.
  bool hystart = true;
  // Rapid Start (draft-kazuho-ccwg-rapid-start-02), kReno only: in the first slow start, while
  // the lowest of the last 8 RTT samples stays within min(min_rtt + 4 ms, 1.1 * min_rtt) and
  // HyStart has not exited, cwnd grows by two bytes per byte acked (3x per round trip) instead of
  // one. The association's first loss is recovered from gradually: cwnd *= beta + 2/3 (1 - beta)
  // at once, then falls by 2/3 (1 - beta) per byte acked and beta + 2/3 (1 - beta) per byte lost
  // of what was in flight at the loss (beta = loss_decrease_factor), to no less than beta / 3 of
  // the window at the loss. A timeout, or Careful Resume's jump, ends it. Without
  // the full-RTT pacing of a doubled initial window the draft also allows (the first flight
  // leaves before there is an RTT to pace by). Off by default: on a shallow queue its last 3x
  // round overshoots twice as far as doubling does, and in the simulator that cost more than its
  // faster start gained (docs/sctp.md item 15).
  bool rapid_start = false;
  // RACK (RFC 8985 section 6), beside the three miss indications of RFC 9260 section 7.2.4: a
  // chunk sent before the most recently sent chunk a SACK delivers is lost once that delivery's
  // round trip plus a reordering window (min RTT / 4) has passed since it was sent; a timer
  // checks again when that time comes. It catches losses that three later SACKs never report:
  // near the end of a burst, or a lost retransmission with little sent after it.
  bool rack = true;
  // Tail loss probe (RFC 8985 section 7), with `rack`: when data is in flight and neither a SACK
  // nor new data has come or gone for two SRTTs + 2 ms (plus `delayed_ack` for a flight of one packet
  // that did not ask for an immediate SACK), one packet goes out whatever cwnd says: new data if
  // there is some, else the most recently sent chunk again. Its SACK shows the loss to RACK
  // instead of leaving it to T3 (cwnd one MTU, go-back-N). A probe that resent a chunk the peer
  // did not report as a duplicate repaired a loss, and cwnd is reduced once for it. When T3 would
  // fire first (from ~100 ms of RTT with the 200 ms RTO floor), the probe is sent at T3's time in
  // its place, as RFC 8985 does; T3 restarts after it, so a dead path is declared one RTO later.
  bool tail_loss_probe = true;
  // Pacing (sans-I/O): new DATA leaves at most at gain * cwnd / SRTT (gain 2
  // in slow start, 1.25 after, as Linux fq), the core asking to be woken with
  // a Deadline for the next packet. Without it a window is sent as a burst at
  // the access-link rate and overflows the bottleneck queue at high BDP.
  bool enable_pacing = true;
  // Below this SRTT a packet may leave up to `pacing_slack` before its paced time. One timer
  // wake-up per packet costs tens of microseconds in a real event loop, far more than the
  // packet interval at a sub-millisecond RTT (3 us for a 14 KB cwnd at 78 us SRTT), so the
  // pacer, not cwnd, set the rate and cwnd never grew (21 MB/s on loopback). At such RTTs a
  // whole window is a small burst anyway. Above it pacing stays exact: in the simulator a
  // 1 ms slack at 200 ms RTT made slow start overshoot (34 -> 18 Mbit/s in docs/sctp.md's table).
  Duration pacing_slack = Duration::Millis(1);
  // How far behind its schedule the pacer may be and still catch up (send the packets it owes
  // back to back) when its timer fired late. Without it a late wake-up (a real event loop is
  // 50-150 us late) restarted the schedule, so above pacing_slack_below_srtt exact pacing sent
  // one packet per wake-up: 7-9 MB/s at 20-100 ms RTT between two network namespaces. Bursts
  // stay bounded by this much of the pacing rate; time spent waiting for acks is not made up.
  Duration pacing_max_lag = Duration::Micros(500);
  Duration pacing_slack_below_srtt = Duration::Millis(5);
  // Careful Resume (RFC 9959, src/sctp/assoc/careful_resume.h): what an earlier association to
  // the same peer over the same path measured, its Metrics::retained_cwnd and Metrics::min_rtt.
  // After one round trip that confirms the RTT (within [rtt / 2, 10 * rtt)) without loss, the
  // sender jumps to half that window, paced over the RTT, and retreats to half of what the path
  // delivered if the jump meets loss. Unset: every association starts from initial_cwnd_mtus.
  // Only the application knows whether a saved state belongs to this peer and path; keep it per
  // peer identity and path, and not for long (the RFC suggests hours at most).
  struct ResumeState {
    size_t cwnd = 0;  // bytes
    Duration rtt;
  };
  std::optional<ResumeState> resume;
  Duration cookie_lifetime = Duration::Seconds(60);
  // Heartbeats are sent only when this is true (the data-channel layer may rely on DTLS/ICE consent instead).
  bool enable_heartbeat = true;
};

struct SendOptions {
  bool unordered = false;
  // PR-SCTP (RFC 3758): at most one of the two. A message that exceeds its
  // budget is abandoned and never delivered.
  std::optional<uint16_t> max_retransmits;
  std::optional<Duration> lifetime;
};

enum class SendStatus : uint8_t {
  kOk,
  kMessageTooLarge,  // > max_message_size (or empty, which SCTP cannot carry): nothing sent
  kBufferFull,       // the stream's or the association's send buffer would overflow
  kNotConnected,     // before Connected (or after Closed)
  kStreamResetting,  // the stream has an outgoing reset pending; reopen after StreamsResetDone
  kClosed,           // shutting down or closed
};
std::string_view ToString(SendStatus s);

enum class State : uint8_t {
  kClosed,
  kCookieWait,
  kCookieEchoed,
  kEstablished,
  kShutdownPending,
  kShutdownSent,
  kShutdownReceived,
  kShutdownAckSent,
};
std::string_view ToString(State s);

struct Transmit {
  std::vector<uint8_t> packet;  // one SCTP packet = one DTLS record payload
};
struct Deadline {
  Instant at;  // Instant::Max(): nothing to wake up for
};

struct Connected {};
struct MessageReceived {
  StreamId stream_id;
  Ppid ppid;
  std::vector<uint8_t> payload;
  bool unordered = false;
};
// Incoming streams the peer reset (its outgoing side); the data-channel layer
// then resets its own outgoing side of the same streams.
struct StreamsResetByPeer {
  std::vector<StreamId> streams;
};
struct StreamsResetDone {
  std::vector<StreamId> streams;
};
struct StreamsResetFailed {
  std::vector<StreamId> streams;
  std::string reason;
};
struct BufferedAmountLow {
  StreamId stream_id;
};
struct TotalBufferedAmountLow {};
struct Closed {
  std::string reason;
  bool by_peer = false;
  bool graceful = false;  // the SHUTDOWN handshake completed (either side began it): not an error
};
struct Restarted {};  // the peer restarted (RFC 9260 section 5.2.4 case A): queues were reset

using Event = std::variant<Connected,
                           MessageReceived,
                           StreamsResetByPeer,
                           StreamsResetDone,
                           StreamsResetFailed,
                           BufferedAmountLow,
                           TotalBufferedAmountLow,
                           Closed,
                           Restarted>;
using Output = std::variant<Transmit, Event, Deadline>;

struct Metrics {
  size_t cwnd = 0;
  size_t ssthresh = 0;
  size_t peer_rwnd = 0;   // peer's receive window as we currently estimate it
  size_t local_rwnd = 0;  // a_rwnd we announce
  size_t bytes_in_flight = 0;
  // Bytes of DATA chunks sent and kept until the peer's cumulative ack passes them, including
  // those it reported in gap blocks (Options::max_retransmit_buffer).
  size_t retransmit_buffer = 0;
  std::optional<Duration> srtt;
  Duration rto;
  uint64_t packets_sent = 0, packets_received = 0;
  uint64_t bytes_sent = 0, bytes_received = 0;  // SCTP packet bytes
  uint64_t data_chunks_sent = 0, data_chunks_received = 0;
  uint64_t retransmissions = 0;  // DATA chunks sent again (any reason)
  uint64_t fast_retransmits = 0;
  uint64_t rack_losses = 0;  // of those, declared lost by RACK's time rule (Options::rack)
  // Options::tail_loss_probe: probes sent, and probes that resent a chunk the peer had not
  // received (it did not report the probe as a duplicate): a tail loss repaired without T3.
  uint64_t tlp_probes = 0, tlp_repairs = 0;
  uint64_t t3_expiries = 0;
  uint64_t hystart_exits = 0;        // slow start left on an RTT increase or an ack train (Options::hystart)
  uint64_t hystart_train_exits = 0;  // ... of those, on an ack train (never undone)
  uint64_t hystart_undos = 0;        // ... and resumed: the RTT was back at its minimum within 3 rounds
  uint64_t resume_jumps = 0, resume_retreats = 0;  // Options::resume: jumped; the jump met loss
  // Options::rapid_start: rounds in which cwnd grew 3x (no queue yet), and whether the first
  // loss was recovered from with Rapid Start's gradual reduction.
  uint64_t rapid_start_rounds = 0, rapid_start_recoveries = 0;
  // CongestionControl::kBbr only: the bottleneck bandwidth estimate and the pacing rate (bytes
  // per second), the minimum RTT, and the loss cap on bytes in flight (0: none).
  double bbr_bandwidth = 0, bbr_pacing_rate = 0;
  std::optional<Duration> bbr_min_rtt;
  size_t bbr_inflight_cap = 0;
  uint64_t bbr_loss_cuts = 0;    // the cap set or lowered: a round trip lost more than 2%
  uint64_t bbr_delay_exits = 0;  // Startup left because the RTT rose (the queue was filling)
  uint64_t bbr_probe_rtts = 0;   // ProbeRTT entered (4 MTUs in flight for 200 ms and a round trip)
  // What Options::resume of a later association to the same peer may reuse: the most bytes
  // acknowledged within one round trip without loss, and the lowest RTT seen.
  size_t retained_cwnd = 0;
  std::optional<Duration> min_rtt;
  // With Options::resume: the Careful Resume phase ("reconnaissance", "unvalidated",
  // "validating", "safe-retreat", "normal"), why reconnaissance ended ("pending", "jumped",
  // "rtt-changed", "congestion", "no-gain") and the window jumped to; empty / 0 without.
  std::string_view resume_phase, resume_outcome;
  size_t resume_jump = 0;
  uint64_t messages_sent = 0, messages_received = 0;
  uint64_t messages_abandoned = 0;  // PR-SCTP
  uint64_t checksum_errors = 0;
  uint64_t message_buffers_reused = 0;  // messages built or reassembled in a finished one's block
  bool interleaving = false, zero_checksum = false, partial_reliability = false, reconfig = false;
  uint16_t negotiated_outbound_streams = 0, negotiated_inbound_streams = 0;
};

class Association {
 public:
  Association(const Options& options, Rng& rng, Instant now);
  ~Association();
  Association(const Association&) = delete;
  Association& operator=(const Association&) = delete;

  // Active open: sends INIT. Both ends may call it (WebRTC does); the INIT
  // collision is resolved per RFC 9260 section 5.2.1. Without Connect, the
  // association answers an INIT passively.
  void Connect(Instant now);
  // One received SCTP packet (one DTLS record payload).
  void HandlePacket(Instant now, ByteView packet);
  void HandleTimeout(Instant now);
  // Queues one message. The payload is moved, fragmented and sent as windows allow.
  [[nodiscard]] SendStatus Send(Instant now,
                                StreamId stream_id,
                                Ppid ppid,
                                std::vector<uint8_t> payload,
                                const SendOptions& options = {});
  // RFC 6525 outgoing SSN reset of `outgoing`, sent after the data already
  // queued on those streams; StreamsResetDone / StreamsResetFailed follow.
  void ResetStreams(Instant now, std::span<const StreamId> outgoing);
  // Graceful close: queued data is delivered first (RFC 9260 section 9.2).
  void Shutdown(Instant now);
  void Abort(Instant now, std::string_view reason);

  // Bytes queued on a stream and not yet sent (RTCDataChannel.bufferedAmount).
  size_t buffered_amount(StreamId stream_id) const;
  size_t total_buffered_amount() const;
  // BufferedAmountLow fires when buffered_amount falls from above to at or below it.
  void SetBufferedAmountLowThreshold(StreamId stream_id, size_t bytes);
  void SetTotalBufferedAmountLowThreshold(size_t bytes);

  [[nodiscard]] Output PollOutput(Instant now);
  // Optional: hands a Transmit's buffer back once the packet has been sent (or
  // handed to DTLS), so the next packet is built in it instead of a fresh
  // allocation. At most kMaxSpareBuffers are kept, and only while data is queued
  // or unacknowledged (the spares are freed once everything is acknowledged);
  // callers that never recycle see no difference.
  void RecycleBuffer(std::vector<uint8_t> buffer);
  size_t spare_buffers() const { return spare_buffers_.size(); }
  static constexpr size_t kMaxSpareBuffers = 16;
  // Optional, for large messages (MessageBufferPool, message_buffer_pool.h):
  // TakeMessageBuffer gives an empty buffer to build the next Send's payload
  // in, with capacity for `size` bytes when the block of a finished message is
  // at hand; RecycleMessageBuffer takes a delivered MessageReceived's payload
  // back once the application is done with it. The blocks of acknowledged
  // messages return to the pool by themselves (and serve reassembly too), so a
  // caller that uses neither still sees up to MessageBufferPool::kMaxBytes kept
  // for a second or two after a transfer; one that uses both stops asking the
  // allocator for a large block per message.
  std::vector<uint8_t> TakeMessageBuffer(size_t size);
  // A TakeMessageBuffer block that built no message (its Send was refused).
  void ReturnUnusedMessageBuffer(std::vector<uint8_t> buffer);
  void RecycleMessageBuffer(std::vector<uint8_t> buffer);
  size_t spare_message_buffers() const { return message_pool_.size(); }
  size_t spare_message_bytes() const { return message_pool_.bytes(); }
  State state() const { return state_; }
  Metrics metrics() const;
  const Options& options() const { return options_; }
  // Internal invariants hold (asserted after every public call in tests).
  bool IsConsistent() const;

 private:
  struct Negotiated;
  struct Tcb;  // everything that exists only once the association is up
  struct ChunkContext;

  // connect.cc
  void SendInit(Instant now);
  void HandleInit(Instant now, const ChunkView& c, VerificationTag packet_tag);
  void HandleInitAck(Instant now, const ChunkView& c);
  void HandleCookieEcho(Instant now, const ChunkView& c, VerificationTag packet_tag);
  void HandleCookieAck(Instant now);
  void MakeTcb(Instant now,
               VerificationTag local_tag,
               VerificationTag peer_tag,
               Tsn local_initial_tsn,
               Tsn peer_initial_tsn,
               uint32_t peer_a_rwnd,
               uint16_t os,
               uint16_t mis,
               uint8_t caps);
  void OnEstablished(Instant now);
  void OnT1Expired(Instant now);
  void WriteInitParameters(ByteWriter& w) const;
  uint8_t LocalCapabilities() const;
  // data.cc
  void HandleData(Instant now, const ChunkView& c);
  bool BuildDataPacket(Instant now, Transmit* out);
  void OnChunkResent(Instant now, OutstandingChunk& c);
  bool HasRetransmitBufferRoom() const;
  void DeliverMessages();
  // sack.cc
  void HandleSack(Instant now, const ChunkView& c);
  void HandleForwardTsn(Instant now, const ChunkView& c);
  void OnT3Expired(Instant now);
  void UpdateT3(Instant now);
  void WriteSack(Instant now, ByteWriter& w);
  void AbandonMessage(const OutstandingChunk& c);
  bool ShouldAbandon(Instant now, const OutstandingChunk& c) const;
  bool InRapidStartAccounting(const OutstandingChunk& c) const;
  bool DeclareLost(Instant now, OutstandingChunk& c);
  size_t NextUnacked(size_t index);
  bool RackDetectLosses(Instant now, size_t& rapid_lost);
  void OnRackTimer(Instant now);
  void OnLossesDeclared(size_t newly_acked);
  void ArmTailLossProbe(Instant now);
  void OnTailLossProbeTimer();
  bool WriteTailLossProbe(Instant now, ByteWriter& w);
  void OnTailLossProbeSack(const SackChunk& sack, UnwrappedTsn cum, size_t newly_acked);
  UnwrappedTsn AdvancedPeerAckPoint();
  void UpdateForwardTsnSummary(UnwrappedTsn point);
  void WriteForwardTsn(ByteWriter& w);
  void WriteDataChunk(ByteWriter& w, UnwrappedTsn tsn, const Fragment& f, bool immediate) const;
  size_t DataHeaderSize() const;
  // congestion.cc
  void OnBytesAcked(size_t bytes_acked, bool cumulative_advanced);
  void EnterFastRecovery(size_t newly_acked);
  void OnT3CongestionEvent();
  void OnCarefulResumeCongestion();
  bool RapidStartSeesNoQueue() const;
  void OnRapidStartRecoveryAck(size_t newly_acked, size_t newly_lost);
  void OnCarefulResumeAck(size_t newly_acked, bool rtt_sample);
  void OnRttSample(Instant now, Duration rtt);
  void OnRoundEnd(Instant now);
  void OnPacketPaced(Instant now, size_t bytes);
  // stream_reset.cc
  void HandleReConfig(Instant now, const ChunkView& c);
  void MaybeSendResetRequest(Instant now);
  void OnReconfigTimer(Instant now);
  void ProcessDeferredIncomingReset();
  // shutdown.cc
  void HandleShutdown(Instant now, const ChunkView& c);
  void HandleShutdownAck(Instant now);
  void HandleShutdownComplete(Instant now);
  void HandleAbort(Instant now, const ChunkView& c);
  void HandleError(Instant now, const ChunkView& c);
  void HandleHeartbeat(Instant now, const ChunkView& c);
  void HandleHeartbeatAck(Instant now, const ChunkView& c);
  void MaybeProgressShutdown(Instant now);
  void OnT2Expired(Instant now);
  void OnHeartbeatTimer(Instant now);
  void CloseWithReason(std::string reason, bool by_peer, bool graceful = false);
  void SendAbort(uint16_t cause_code,
                 std::string_view text,
                 bool reflect_tag = false,
                 VerificationTag tag = VerificationTag());
  bool CountError(Instant now, std::string_view what);
  // association.cc
  void QueueControlPacket(std::vector<uint8_t> packet) { control_packets_.push_back(std::move(packet)); }
  std::vector<uint8_t> FinishControl(PacketBuilder& b, bool may_zero_checksum);
  void EmitEvent(Event e) { events_.push_back(std::move(e)); }
  Instant NextDeadline() const;
  bool AllDataAcked() const;
  bool ZeroChecksumActive() const;
  void CheckConsistency();

  Options options_;
  Rng& rng_;
  State state_ = State::kClosed;
  bool terminated_ = false;  // closed after having been used: ignore everything
  std::vector<uint8_t> cookie_secret_;

  // Handshake (connect.cc): what we sent in our INIT.
  VerificationTag init_tag_;
  Tsn init_tsn_;
  std::vector<uint8_t> cookie_echo_;  // kept for retransmission in COOKIE-ECHOED
  int init_retransmits_ = 0;
  Duration t1_rto_;
  std::optional<Instant> t1_init_, t1_cookie_;

  std::unique_ptr<Tcb> tcb_;

  Fifo<std::vector<uint8_t>> control_packets_;
  std::vector<std::vector<uint8_t>> spare_buffers_;  // RecycleBuffer, reused by BuildDataPacket
  MessageBufferPool message_pool_;                   // blocks of finished messages, for the next ones
  bool HasDataInFlight() const;
  Fifo<Event> events_;
  uint64_t consistency_calls_ = 0;
  Metrics counters_;  // packet/byte counters live here even before the TCB
};

}  // namespace peerlink::sctp
