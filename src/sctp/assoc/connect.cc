// Association setup (RFC 9260 section 5): INIT / INIT ACK / COOKIE ECHO /
// COOKIE ACK, T1 timers, and the unexpected cases of section 5.2 (INIT
// collision, duplicate INIT / COOKIE ECHO, peer restart).
#include <algorithm>

#include "src/base/check.h"
#include "src/sctp/assoc/cookie.h"
#include "src/sctp/assoc/tcb.h"
#include "src/sctp/control_chunks.h"
#include "src/sctp/packet.h"
#include "src/sctp/parameters.h"

namespace peerlink::sctp {
namespace {
VerificationTag RandomTag(Rng& rng) {
  uint32_t v = 0;
  while (v == 0)
    v = rng.U32();  // section 5.3.1: never 0
  return VerificationTag(v);
}
}  // namespace

uint8_t Association::LocalCapabilities() const {
  uint8_t caps = StateCookie::kCapReconfig;
  if (options_.enable_interleaving) caps |= StateCookie::kCapIData;
  if (options_.enable_zero_checksum) caps |= StateCookie::kCapZeroChecksum;
  if (options_.enable_partial_reliability) caps |= StateCookie::kCapForwardTsn;
  return caps;
}

void Association::WriteInitParameters(ByteWriter& w) const {
  uint8_t types[4];
  size_t n = 0;
  types[n++] = static_cast<uint8_t>(ChunkType::kReConfig);
  if (options_.enable_partial_reliability) types[n++] = static_cast<uint8_t>(ChunkType::kForwardTsn);
  if (options_.enable_interleaving) {
    types[n++] = static_cast<uint8_t>(ChunkType::kIData);
    types[n++] = static_cast<uint8_t>(ChunkType::kIForwardTsn);
  }
  SupportedExtensionsParameter::Serialize(w, std::span<const uint8_t>(types, n));
  if (options_.enable_partial_reliability) WriteTlv(w, param::kForwardTsnSupported, {});
  if (options_.enable_zero_checksum) ZeroChecksumAcceptableParameter{kEdmidDtls}.SerializeTo(w);
}

static uint8_t CapabilityBits(const InitChunk::Capabilities& c) {
  return (c.i_data ? StateCookie::kCapIData : 0) | (c.zero_checksum ? StateCookie::kCapZeroChecksum : 0) |
         (c.forward_tsn ? StateCookie::kCapForwardTsn : 0) | (c.reconfig ? StateCookie::kCapReconfig : 0);
}

void Association::Connect(Instant now) {
  if (terminated_ || state_ != State::kClosed) return;
  init_tag_ = RandomTag(rng_);
  init_tsn_ = Tsn(rng_.U32());
  state_ = State::kCookieWait;
  init_retransmits_ = 0;
  t1_rto_ = options_.rto_initial;
  SendInit(now);
  CheckConsistency();
}

void Association::SendInit(Instant now) {
  std::vector<uint8_t> buf(options_.mtu);
  PacketBuilder b(buf, options_.local_port, options_.remote_port, VerificationTag(0));
  uint8_t params[64];
  ByteWriter pw(params);
  WriteInitParameters(pw);
  InitChunk init;
  init.type = ChunkType::kInit;
  init.initiate_tag = init_tag_;
  init.a_rwnd = static_cast<uint32_t>(options_.max_receive_buffer);
  init.outbound_streams = options_.announced_streams;
  init.inbound_streams = options_.announced_streams;
  init.initial_tsn = init_tsn_;
  init.parameters = *TlvList::Parse(pw.written());
  init.SerializeTo(b.writer());
  QueueControlPacket(FinishControl(b, false));  // RFC 9653 section 5.2: never a zero checksum on INIT
  t1_init_ = now + t1_rto_;
}

void Association::HandleInit(Instant now, const ChunkView& c, VerificationTag packet_tag) {
  (void)packet_tag;
  auto init = InitChunk::Parse(c);
  if (!init) return;  // malformed INIT: nothing is allocated, nothing answered
  if (state_ == State::kShutdownAckSent) return;
  VerificationTag local_tag;
  Tsn local_tsn;
  VerificationTag tie_local, tie_peer;
  if (state_ == State::kCookieWait || state_ == State::kCookieEchoed) {
    // Section 5.2.1: INIT collision: answer with the parameters of our own INIT.
    local_tag = init_tag_;
    local_tsn = init_tsn_;
  } else {
    local_tag = RandomTag(rng_);
    local_tsn = Tsn(rng_.U32());
    if (tcb_) {  // section 5.2.2: an INIT for an existing association (maybe a restart)
      tie_local = tcb_->local_tag;
      tie_peer = tcb_->peer_tag;
    }
  }
  StateCookie cookie;
  cookie.created = now;
  cookie.local_tag = local_tag;
  cookie.peer_tag = init->initiate_tag;
  cookie.local_initial_tsn = local_tsn;
  cookie.peer_initial_tsn = init->initial_tsn;
  cookie.peer_a_rwnd = init->a_rwnd;
  cookie.outbound_streams = std::min(options_.announced_streams, init->inbound_streams);
  cookie.inbound_streams = std::min(options_.announced_streams, init->outbound_streams);
  cookie.capabilities = CapabilityBits(init->capabilities()) & LocalCapabilities();
  cookie.tie_local_tag = tie_local;
  cookie.tie_peer_tag = tie_peer;

  uint8_t params[64 + StateCookie::kSize + 8];
  ByteWriter pw(params);
  WriteInitParameters(pw);
  pw.U16(param::kStateCookie);
  pw.U16(static_cast<uint16_t>(4 + StateCookie::kSize));
  cookie.SerializeTo(pw, cookie_secret_);
  PL_DCHECK(pw.ok());

  std::vector<uint8_t> buf(options_.mtu);
  PacketBuilder b(buf, options_.local_port, options_.remote_port, init->initiate_tag);
  InitChunk ack;
  ack.type = ChunkType::kInitAck;
  ack.initiate_tag = local_tag;
  ack.a_rwnd = static_cast<uint32_t>(options_.max_receive_buffer);
  ack.outbound_streams = options_.announced_streams;
  ack.inbound_streams = options_.announced_streams;
  ack.initial_tsn = local_tsn;
  ack.parameters = *TlvList::Parse(pw.written());
  ack.SerializeTo(b.writer());
  QueueControlPacket(FinishControl(b, false));
}

void Association::HandleInitAck(Instant now, const ChunkView& c) {
  if (state_ != State::kCookieWait) return;  // section 5.2.3: discard an unexpected INIT ACK
  auto ack = InitChunk::Parse(c);
  if (!ack) return;
  auto cookie = ack->state_cookie();
  if (!cookie || cookie->empty()) {
    // Section 5.1 step C: a missing State Cookie is a missing mandatory parameter.
    CloseWithReason("peer's INIT ACK has no state cookie", true);
    return;
  }
  MakeTcb(now, init_tag_, ack->initiate_tag, init_tsn_, ack->initial_tsn, ack->a_rwnd,
          std::min(options_.announced_streams, ack->inbound_streams),
          std::min(options_.announced_streams, ack->outbound_streams),
          CapabilityBits(ack->capabilities()) & LocalCapabilities());
  state_ = State::kCookieEchoed;
  cookie_echo_.assign(cookie->begin(), cookie->end());
  t1_init_.reset();
  init_retransmits_ = 0;
  std::vector<uint8_t> buf(std::max(options_.mtu, cookie_echo_.size() + 64));
  PacketBuilder b(buf, options_.local_port, options_.remote_port, tcb_->peer_tag);
  CookieEchoChunk{cookie_echo_}.SerializeTo(b.writer());
  QueueControlPacket(FinishControl(b, false));
  t1_cookie_ = now + t1_rto_;
}

void Association::HandleCookieEcho(Instant now, const ChunkView& c, VerificationTag packet_tag) {
  auto echo = CookieEchoChunk::Parse(c);
  if (!echo) return;
  auto cookie = StateCookie::Parse(echo->cookie, cookie_secret_);
  if (!cookie) return;  // section 5.1.5 step 2: a cookie that fails the MAC is silently discarded
  if (packet_tag != cookie->local_tag) return;  // section 8.5.1 (C)
  if (cookie->created > now || now - cookie->created > options_.cookie_lifetime) {
    // Section 5.1.5 step 3: a stale cookie gets an ERROR with the staleness in microseconds.
    std::vector<uint8_t> buf(64);
    PacketBuilder b(buf, options_.local_port, options_.remote_port, cookie->peer_tag);
    size_t at = BeginChunk(b.writer(), static_cast<uint8_t>(ChunkType::kError), 0);
    b.writer().U16(cause::kStaleCookie);
    b.writer().U16(8);
    Duration stale = now - cookie->created - options_.cookie_lifetime;
    b.writer().U32(static_cast<uint32_t>(std::clamp<int64_t>(stale.micros(), 0, 0xFFFFFFFF)));
    FinishChunk(b.writer(), at);
    QueueControlPacket(FinishControl(b, false));
    return;
  }
  auto send_cookie_ack = [&] {
    std::vector<uint8_t> buf(16);
    PacketBuilder b(buf, options_.local_port, options_.remote_port, tcb_->peer_tag);
    EmptyChunk{ChunkType::kCookieAck}.SerializeTo(b.writer());
    QueueControlPacket(FinishControl(b, true));
  };
  auto adopt = [&] {
    MakeTcb(now, cookie->local_tag, cookie->peer_tag, cookie->local_initial_tsn, cookie->peer_initial_tsn,
            cookie->peer_a_rwnd, cookie->outbound_streams, cookie->inbound_streams, cookie->capabilities);
  };
  if (!tcb_ || state_ == State::kClosed || state_ == State::kCookieWait) {
    // Section 5.1.5: a new association, state built from the cookie only.
    adopt();
    send_cookie_ack();
    OnEstablished(now);
    return;
  }
  Tcb& t = *tcb_;
  bool local_match = cookie->local_tag == t.local_tag;
  bool peer_match = cookie->peer_tag == t.peer_tag;
  if (!local_match && !peer_match && cookie->tie_local_tag == t.local_tag && cookie->tie_peer_tag == t.peer_tag) {
    // Section 5.2.4 case A: the peer restarted.
    if (state_ == State::kShutdownAckSent) return;
    adopt();
    send_cookie_ack();
    state_ = State::kEstablished;
    t1_init_.reset();
    t1_cookie_.reset();
    EmitEvent(Restarted{});
    return;
  }
  if (local_match && !peer_match) {
    // Case B: INIT collision; the peer's tag from the cookie wins.
    if (state_ == State::kEstablished) {
      t.peer_tag = cookie->peer_tag;
    } else {
      adopt();
      OnEstablished(now);
    }
    send_cookie_ack();
    return;
  }
  if (!local_match && peer_match && cookie->tie_local_tag.value() == 0 && cookie->tie_peer_tag.value() == 0)
    return;  // Case C: a late cookie from an old exchange
  if (local_match && peer_match) {
    // Case D: a duplicate COOKIE ECHO (our COOKIE ACK was lost) or the collision completing.
    if (state_ == State::kCookieEchoed) OnEstablished(now);
    send_cookie_ack();
  }
}

void Association::HandleCookieAck(Instant now) {
  if (state_ != State::kCookieEchoed) return;
  OnEstablished(now);
}

void Association::MakeTcb(Instant now,
                          VerificationTag local_tag,
                          VerificationTag peer_tag,
                          Tsn local_initial_tsn,
                          Tsn peer_initial_tsn,
                          uint32_t peer_a_rwnd,
                          uint16_t os,
                          uint16_t mis,
                          uint8_t caps) {
  bool interleaving = caps & StateCookie::kCapIData;
  tcb_ = std::make_unique<Tcb>(options_, TsnUnwrapper(local_initial_tsn).initial(),
                               TsnUnwrapper(peer_initial_tsn).initial(), interleaving);
  tcb_->reassembly.set_pool(&message_pool_);
  Tcb& t = *tcb_;
  t.local_tag = local_tag;
  t.peer_tag = peer_tag;
  t.local_initial_tsn = local_initial_tsn;
  t.peer_initial_tsn = peer_initial_tsn;
  t.caps.i_data = interleaving;
  t.caps.zero_checksum = caps & StateCookie::kCapZeroChecksum;
  t.caps.forward_tsn = caps & StateCookie::kCapForwardTsn;
  t.caps.reconfig = caps & StateCookie::kCapReconfig;
  t.outbound_streams = os;
  t.inbound_streams = mis;
  t.peer_rwnd = peer_a_rwnd;
  // Section 7.2.1: initial cwnd; ssthresh may start arbitrarily high, we use the peer's window.
  t.cwnd = std::max<size_t>(options_.initial_cwnd_mtus, 1) * options_.mtu;
  t.ssthresh = std::max<size_t>(peer_a_rwnd, 4 * options_.mtu);
  if (options_.congestion_control == CongestionControl::kBbr) t.bbr.emplace(options_.mtu, t.cwnd, now);
  if (!t.bbr && options_.rapid_start) t.rapid = Tcb::RapidStart::kGrowing;
  if (options_.resume && options_.resume->cwnd > 0)
    t.resume.emplace(options_.resume->cwnd, options_.resume->rtt, t.cwnd);
  // RFC 6525 section 5.1.1: request sequence numbers start at the initial TSN.
  t.next_request_sequence = local_initial_tsn.value();
  t.peer_next_request_sequence = peer_initial_tsn.value();
  t.last_data_sent = now;
}

void Association::OnEstablished(Instant now) {
  state_ = State::kEstablished;
  t1_init_.reset();
  t1_cookie_.reset();
  cookie_echo_.clear();
  cookie_echo_.shrink_to_fit();
  if (options_.enable_heartbeat) tcb_->heartbeat = now + options_.heartbeat_interval;
  EmitEvent(Connected{});
}

void Association::OnT1Expired(Instant now) {
  bool cookie = t1_cookie_.has_value();
  t1_init_.reset();
  t1_cookie_.reset();
  // Section 5.1 / 6.3.3: retransmit with doubled RTO, up to Max.Init.Retransmits.
  if (++init_retransmits_ > options_.max_init_retransmits) {
    CloseWithReason(cookie ? "no COOKIE ACK from the peer after " + std::to_string(options_.max_init_retransmits) +
                                 " retransmissions of COOKIE ECHO"
                           : "no answer to INIT after " + std::to_string(options_.max_init_retransmits) +
                                 " retransmissions (is the peer's SCTP running?)",
                    false);
    return;
  }
  t1_rto_ = std::min(t1_rto_ * 2, options_.rto_max);
  if (!cookie) {
    SendInit(now);
    return;
  }
  std::vector<uint8_t> buf(std::max(options_.mtu, cookie_echo_.size() + 64));
  PacketBuilder b(buf, options_.local_port, options_.remote_port, tcb_->peer_tag);
  CookieEchoChunk{cookie_echo_}.SerializeTo(b.writer());
  QueueControlPacket(FinishControl(b, false));
  t1_cookie_ = now + t1_rto_;
}

}  // namespace peerlink::sctp
