// Connection: construction, commands, datagram demultiplexing (RFC 7983) and the W3C
// connection-state computation. The output pump is in pump.cc, getStats in stats.cc.
#include "src/peer/connection.h"

#include <algorithm>
#include <utility>

#include "src/base/check.h"
#include "src/dtls/demux.h"

namespace peerlink::peer {
namespace {

datachannel::Config MakeControllerConfig(const Options& o) {
  datachannel::Config c;
  c.max_channels = o.max_channels;
  c.max_buffered_amount = o.max_buffered_amount;
  return c;
}

}  // namespace

std::string_view ToString(RemoteParamsStatus s) {
  switch (s) {
    case RemoteParamsStatus::kOk: return "ok";
    case RemoteParamsStatus::kNoFingerprint: return "no a=fingerprint: the peer cannot be authenticated";
    case RemoteParamsStatus::kIceLiteNeedsControlling:
      return "the remote is ice-lite, so this agent must be controlling";
    case RemoteParamsStatus::kDtlsParamsChanged:
      return "DTLS fingerprints, role or SCTP port changed: that needs a new connection";
    case RemoteParamsStatus::kClosed: return "the connection is closed";
  }
  return "?";
}

std::string_view ToString(ConnectionState s) {
  switch (s) {
    case ConnectionState::kNew: return "new";
    case ConnectionState::kConnecting: return "connecting";
    case ConnectionState::kConnected: return "connected";
    case ConnectionState::kDisconnected: return "disconnected";
    case ConnectionState::kFailed: return "failed";
    case ConnectionState::kClosed: return "closed";
  }
  return "?";
}

Connection::Connection(const Options& options, Rng& rng, Instant now)
    : options_(options), rng_(rng), controller_(MakeControllerConfig(options)) {
  PL_CHECK(options_.certificate != nullptr);
  local_fingerprint_ = options_.certificate->GetFingerprint();
  ice_ = std::make_unique<ice::Agent>(options_.ice, rng_, now);
}

Connection::~Connection() = default;

const ice::Credentials& Connection::local_ice_credentials() const {
  return ice_->local_credentials();
}

dtls::Fingerprint Connection::local_fingerprint() const {
  return local_fingerprint_;
}

ice::State Connection::ice_state() const {
  return ice_->state();
}
ice::GatheringState Connection::ice_gathering_state() const {
  return ice_->gathering_state();
}
dtls::State Connection::dtls_state() const {
  return dtls_ ? dtls_->state() : dtls::State::kNew;
}
std::optional<sctp::State> Connection::sctp_state() const {
  if (!sctp_) return std::nullopt;
  return sctp_->state();
}

void Connection::AddLocalAddress(Instant now, const SocketAddress& bound) {
  if (closing_ || closed_) return;
  ice_->AddLocalAddress(now, bound);
}

void Connection::StartGathering(Instant now) {
  if (closing_ || closed_) return;
  ice_->StartGathering(now);
}

RemoteParamsStatus Connection::SetRemoteParameters(Instant now, const RemoteParams& remote) {
  if (closing_ || closed_) return RemoteParamsStatus::kClosed;
  if (remote.fingerprints.empty()) return RemoteParamsStatus::kNoFingerprint;
  if (remote.ice_lite && ice_->role() != ice::Role::kControlling) return RemoteParamsStatus::kIceLiteNeedsControlling;
  if (remote_) {
    if (remote.fingerprints != remote_->fingerprints || remote.dtls_role != remote_->dtls_role ||
        remote.sctp_port != remote_->sctp_port)
      return RemoteParamsStatus::kDtlsParamsChanged;
    if (remote.ice.ufrag != remote_->ice.ufrag || remote.ice.pwd != remote_->ice.pwd) {
      // New remote credentials answer our RestartIce (the agent is then waiting for them), or
      // the peer is restarting ICE: then we restart too, so that our answer carries new
      // credentials (RFC 8839 section 4.4.1.1.1; RFC 8829 section 5.3.1).
      if (ice_->has_remote_credentials()) ice_->Restart(now);
      ice_->SetRemoteCredentials(now, remote.ice);
    } else if (!ice_->has_remote_credentials()) {
      // The answer to our RestartIce kept the peer's credentials (RFC 8839 section 4.4.1.1.1
      // asks for new ones): check the new generation with them rather than wait for ever.
      ice_->SetRemoteCredentials(now, remote.ice);
    }
    remote_->ice = remote.ice;
    if (remote.max_message_size != remote_->max_message_size) {
      remote_->max_message_size = remote.max_message_size;
      controller_.SetMaxMessageSize(remote.max_message_size);
    }
    return RemoteParamsStatus::kOk;
  }
  remote_ = remote;
  ice_->SetRemoteIceLite(remote.ice_lite);
  ice_->SetRemoteCredentials(now, remote.ice);

  dtls::Options d;
  d.role = remote.dtls_role;
  d.expected_remote = remote.fingerprints;
  d.mtu = options_.mtu;
  d.handshake_timeout = options_.dtls_handshake_timeout;
  d.idle_buffer_release = options_.dtls_idle_buffer_release;
  dtls_ = std::make_unique<dtls::Endpoint>(d, std::move(options_.certificate), rng_);

  sctp::Options s;
  s.local_port = options_.sctp_port;
  s.remote_port = remote.sctp_port;
  // An SCTP packet is one DTLS record: DTLS 1.2 header (13) + AEAD explicit nonce and tag
  // (8 + 16 for AES-GCM; ChaCha20 needs 16) must fit the datagram.
  s.mtu = options_.mtu - 13 - 24;
  // SCTP enforces one limit both ways; the controller enforces the remote's on send.
  const size_t remote_max = remote.max_message_size == 0 ? options_.max_message_size : remote.max_message_size;
  s.max_message_size = std::max(options_.max_message_size, std::min(remote_max, options_.sctp_send_buffer));
  s.max_receive_buffer = options_.sctp_receive_buffer;
  s.max_send_buffer = options_.sctp_send_buffer;
  s.per_stream_send_buffer = options_.sctp_per_stream_send_buffer;
  s.max_retransmit_buffer = options_.sctp_retransmit_buffer;
  // ICE consent freshness already proves the path is alive (RFC 8831 section 6.2).
  s.enable_heartbeat = false;
  s.enable_zero_checksum = options_.sctp_zero_checksum;
  s.congestion_control = options_.sctp_congestion_control;
  s.resume = options_.sctp_resume;
  s.rapid_start = options_.sctp_rapid_start;
  sctp_ = std::make_unique<sctp::Association>(s, rng_, now);

  controller_.SetDtlsRole(remote.dtls_role == dtls::Role::kClient);
  controller_.SetMaxMessageSize(remote.max_message_size == 0 ? s.max_message_size
                                                             : std::min(remote.max_message_size, s.max_message_size));
  MaybeStartDtls(now);
  UpdateState("");
  return RemoteParamsStatus::kOk;
}

bool Connection::AddRemoteCandidate(Instant now, const ice::Candidate& candidate) {
  if (closing_ || closed_) return false;
  return ice_->AddRemoteCandidate(now, candidate);
}

void Connection::EndOfRemoteCandidates(Instant now) {
  if (closing_ || closed_) return;
  ice_->SetRemoteEndOfCandidates(now);
}

Result<datachannel::ChannelId, datachannel::CreateError>
Connection::CreateDataChannel(Instant now, std::string_view label, const datachannel::ChannelOptions& options) {
  if (closing_ || closed_) return MakeUnexpected(datachannel::CreateError::kTransportClosed);
  auto r = controller_.CreateChannel(now, label, options);
  if (r.ok()) channel_counters_[*r] = {};
  return r;
}

datachannel::SendStatus Connection::Send(Instant now, datachannel::ChannelId channel, ByteView data, bool binary) {
  std::vector<uint8_t> storage;
  if (sctp_ && !sctp_closed_) storage = sctp_->TakeMessageBuffer(data.size());
  const datachannel::SendStatus st = controller_.Send(now, channel, data, binary, &storage);
  if (st == datachannel::SendStatus::kOk) {
    ChannelCounters& c = channel_counters_[channel];
    ++c.messages_sent;
    c.bytes_sent += data.size();
  } else if (sctp_ && !sctp_closed_) {
    // Refused (a full buffer, a closing channel, ...): the block goes back to the pool, so a
    // sender that retries until its send is taken does not drain the pool one block per try.
    sctp_->ReturnUnusedMessageBuffer(std::move(storage));
  }
  return st;
}

void Connection::RecycleMessageBuffer(std::vector<uint8_t> buffer) {
  if (sctp_ && !sctp_closed_) sctp_->RecycleMessageBuffer(std::move(buffer));
}

void Connection::CloseChannel(Instant now, datachannel::ChannelId channel) {
  controller_.Close(now, channel);
}

bool Connection::SetBufferedAmountLowThreshold(datachannel::ChannelId channel, size_t bytes) {
  return controller_.SetBufferedAmountLowThreshold(channel, bytes);
}

const datachannel::Channel* Connection::FindChannel(datachannel::ChannelId channel) const {
  return controller_.Find(channel);
}

size_t Connection::buffered_amount(datachannel::ChannelId channel) const {
  return controller_.buffered_amount(channel);
}

void Connection::RestartIce(Instant now) {
  if (closing_ || closed_) return;
  ice_->Restart(now);
}

void Connection::Close(Instant now) {
  if (closing_ || closed_) return;
  closing_ = true;
  close_deadline_ = now + options_.close_timeout;
  // Messages the application sent before Close() are still in the controller's queue: hand
  // them to SCTP first, so the SHUTDOWN delivers them (RFC 9260 section 9.2).
  for (int guard = 0; guard < 1'000'000 && StepController(now); ++guard) {
  }
  if (sctp_ && sctp_started_ && !sctp_closed_ && sctp_->state() != sctp::State::kClosed) {
    sctp_->Shutdown(now);  // Closed follows once queued data is acknowledged (pump.cc)
    return;
  }
  FinishClose(now, "closed locally");
}

// Ends the DTLS association (close_notify, sent through ICE by the pump), then ICE. Called
// when SCTP has closed (or never ran), or when the close timer expires.
void Connection::FinishClose(Instant now, std::string reason) {
  if (closed_) return;
  if (!reason.empty()) close_reason_ = std::move(reason);
  if (sctp_ && !sctp_closed_) {
    if (sctp_->state() != sctp::State::kClosed) sctp_->Abort(now, "peer connection closed");
    sctp_closed_ = true;
    controller_.HandleSctpClosed(now, "");
  } else if (!sctp_) {
    controller_.HandleSctpClosed(now, "");
  }
  if (dtls_ && dtls_->state() != dtls::State::kClosed && dtls_->state() != dtls::State::kFailed) {
    dtls_->Close(now);
    // The pump sends close_notify through ICE; ICE is closed when DTLS reports Closed.
    closing_ = true;
    if (!close_deadline_) close_deadline_ = now + options_.close_timeout;
    return;
  }
  ice_->Close(now);
  // The channels' close events come before connectionstatechange closed.
  for (int guard = 0; guard < 1'000'000 && StepController(now); ++guard) {
  }
  closing_ = false;
  closed_ = true;
  close_deadline_.reset();
  state_ = ConnectionState::kClosed;
  QueueEvent(ConnectionStateChange{ConnectionState::kClosed, close_reason_.empty() ? "closed locally" : close_reason_});
}

void Connection::HandleDatagram(Instant now, const SocketAddress& local, const SocketAddress& remote, ByteView bytes) {
  ++datagrams_received_;
  bytes_received_ += bytes.size();
  if (closed_) {
    ++datagrams_discarded_;
    return;
  }
  switch (dtls::ClassifyDatagram(bytes)) {
    case dtls::DatagramKind::kStun:
    case dtls::DatagramKind::kTurnChannelData:
      // STUN (checks, consent, gathering) and TURN ChannelData from our relay server: the
      // agent owns both; relayed application data comes back as ApplicationDataEvent.
      if (ice_->HandleDatagram(now, local, remote, bytes) == ice::Received::kDropped) ++datagrams_discarded_;
      break;
    case dtls::DatagramKind::kDtls:
      // ICE first: it accepts application data only on a valid pair (RFC 7675) and counts it.
      if (ice_->HandleDatagram(now, local, remote, bytes) == ice::Received::kApplicationData) {
        DeliverToDtls(now, bytes);
      } else {
        ++datagrams_discarded_;
      }
      break;
    case dtls::DatagramKind::kZrtp:
    case dtls::DatagramKind::kRtp:
    case dtls::DatagramKind::kDrop: ++datagrams_discarded_; break;
  }
  PL_DCHECK(IsConsistent());
}

void Connection::DeliverToDtls(Instant now, ByteView datagram) {
  if (!dtls_ || closed_) {
    ++datagrams_discarded_;
    return;
  }
  dtls_->HandleDatagram(now, datagram);  // state changes are reported by the pump
}

void Connection::HandleStreamFrame(Instant now,
                                   const SocketAddress& local,
                                   const SocketAddress& server,
                                   ByteView frame) {
  if (closed_) return;
  ice_->HandleStreamFrame(now, local, server, frame);
}

void Connection::HandleStreamError(Instant now,
                                   const SocketAddress& local,
                                   const SocketAddress& server,
                                   std::string_view why) {
  if (closed_) return;
  ice_->HandleStreamError(now, local, server, why);
}

void Connection::HandleTimeout(Instant now) {
  if (closed_) return;
  if (ice_deadline_ <= now) ice_->HandleTimeout(now);
  if (dtls_ && dtls_deadline_ <= now) {
    dtls_->HandleTimeout(now);
  }
  if (sctp_ && sctp_deadline_ <= now) {
    sctp_->HandleTimeout(now);
    ReportBufferedAmounts(now);
  }
  if (close_deadline_ && *close_deadline_ <= now) {
    close_deadline_.reset();
    FinishClose(now, "close timed out: the SCTP shutdown was not acknowledged");
  }
  PL_DCHECK(IsConsistent());
}

void Connection::MaybeStartDtls(Instant now) {
  if (dtls_started_ || !dtls_ || closing_ || closed_) return;
  if (remote_->dtls_role != dtls::Role::kClient) return;  // the server waits for the ClientHello
  if (!ice_->selected_pair()) return;
  dtls_started_ = true;
  dtls_->Start(now);
}

void Connection::StartSctp(Instant now) {
  if (sctp_started_ || !sctp_) return;
  sctp_started_ = true;
  // Both ends send INIT, as browsers and usrsctp do (RFC 9260 5.2.1 resolves the collision):
  // some peers (aiortc) pick their SCTP initiator by ICE role, not DTLS role, so a passive DTLS
  // server would wait forever for an INIT that such a peer never sends.
  sctp_->Connect(now);
}

void Connection::ReportBufferedAmounts(Instant now) {
  if (!sctp_) return;
  for (auto it = buffered_streams_.begin(); it != buffered_streams_.end();) {
    const size_t amount = sctp_->buffered_amount(sctp::StreamId(*it));
    controller_.HandleBufferedAmount(now, datachannel::StreamId(*it), amount);
    it = amount == 0 ? buffered_streams_.erase(it) : std::next(it);
  }
}

// W3C RTCPeerConnectionState, from the one ICE transport and the one DTLS transport.
ConnectionState Connection::ComputeState() const {
  if (closed_) return ConnectionState::kClosed;
  const ice::State is = ice_->state();
  const dtls::State ds = dtls_state();
  if (is == ice::State::kFailed || ds == dtls::State::kFailed) return ConnectionState::kFailed;
  if (is == ice::State::kDisconnected) return ConnectionState::kDisconnected;
  const bool ice_new = is == ice::State::kNew || is == ice::State::kClosed;
  const bool dtls_new = ds == dtls::State::kNew || ds == dtls::State::kClosed;
  if (ice_new && dtls_new) return ConnectionState::kNew;
  const bool ice_up = is == ice::State::kConnected || is == ice::State::kCompleted || is == ice::State::kClosed;
  const bool dtls_up = ds == dtls::State::kConnected || ds == dtls::State::kClosed;
  if (ice_up && dtls_up) return ConnectionState::kConnected;
  return ConnectionState::kConnecting;
}

void Connection::UpdateState(std::string reason) {
  if (closed_) return;
  const ConnectionState s = ComputeState();
  if (s == state_) return;
  state_ = s;
  if (s == ConnectionState::kFailed && reason.empty()) reason = failure_reason_;
  QueueEvent(ConnectionStateChange{s, std::move(reason)});
}

void Connection::QueueEvent(Event e) {
  events_.push_back(std::move(e));
}

bool Connection::IsConsistent() const {
  if (!ice_->IsConsistent()) return false;
  if (dtls_ && !dtls_->IsConsistent()) return false;
  if (sctp_ && !sctp_->IsConsistent()) return false;
  if (!controller_.IsConsistent()) return false;
  if (dtls_ && !remote_) return false;
  if (closed_ && state_ != ConnectionState::kClosed) return false;
  if (closed_ && closing_) return false;
  if (sctp_started_ && !dtls_) return false;
  // Counters exist for live channels, plus closed ones whose ChannelClosed is still queued.
  if (channel_counters_.size() > 2 * options_.max_channels + 1) return false;
  return true;
}

}  // namespace peerlink::peer
