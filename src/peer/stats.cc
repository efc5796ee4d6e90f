// Connection::GetStats (webrtc-stats field names) and event names for logs.
#include <type_traits>

#include "src/peer/connection.h"

namespace peerlink::peer {
namespace {

std::string DtlsStateName(dtls::State s) {
  switch (s) {  // RTCDtlsTransportState
    case dtls::State::kNew: return "new";
    case dtls::State::kHandshaking: return "connecting";
    case dtls::State::kConnected: return "connected";
    case dtls::State::kClosed: return "closed";
    case dtls::State::kFailed: return "failed";
  }
  return "new";
}

std::string SctpStateName(std::optional<sctp::State> s, bool closed) {
  if (closed || !s) return closed ? "closed" : "new";  // RTCSctpTransportState (+ "new" before it exists)
  switch (*s) {
    case sctp::State::kEstablished: return "connected";
    case sctp::State::kClosed:
    case sctp::State::kCookieWait:
    case sctp::State::kCookieEchoed: return "connecting";
    default: return "closing";
  }
}

}  // namespace

std::string EventName(const Event& e) {
  return std::visit(
      [](const auto& ev) -> std::string {
        using T = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<T, IceCandidate>) return "icecandidate";
        if constexpr (std::is_same_v<T, IceGatheringStateChange>) return "icegatheringstatechange";
        if constexpr (std::is_same_v<T, IceConnectionStateChange>) return "iceconnectionstatechange";
        if constexpr (std::is_same_v<T, ConnectionStateChange>) return "connectionstatechange";
        if constexpr (std::is_same_v<T, SelectedCandidatePairChange>) return "selectedcandidatepairchange";
        if constexpr (std::is_same_v<T, datachannel::IncomingChannel>) return "datachannel";
        if constexpr (std::is_same_v<T, datachannel::ChannelOpened>) return "open";
        if constexpr (std::is_same_v<T, datachannel::Message>) return "message";
        if constexpr (std::is_same_v<T, datachannel::BufferedAmountLow>) return "bufferedamountlow";
        if constexpr (std::is_same_v<T, datachannel::ChannelClosing>) return "closing";
        if constexpr (std::is_same_v<T, datachannel::ChannelClosed>) return "close";
        if constexpr (std::is_same_v<T, datachannel::ChannelError>) return "error";
        return "?";
      },
      e);
}

Stats Connection::GetStats() const {
  Stats st;
  st.connectionState = std::string(ToString(state_));
  const ice::AgentStats is = ice_->GetStats();
  if (is.selected_index && *is.selected_index < is.pairs.size()) {
    const ice::PairStats& p = is.pairs[*is.selected_index];
    CandidatePairStats c;
    c.localAddress = p.local.address.ToString();
    c.remoteAddress = p.remote.address.ToString();
    c.localCandidateType = std::string(ice::ToString(p.local.type));
    c.remoteCandidateType = std::string(ice::ToString(p.remote.type));
    if (p.rtt) c.currentRoundTripTime = p.rtt->seconds_f();
    c.bytesSent = p.bytes_sent;
    c.bytesReceived = p.bytes_received;
    c.packetsSent = p.packets_sent;
    c.packetsReceived = p.packets_received;
    c.nominated = p.nominated;
    st.selectedCandidatePair = c;
  }
  TransportStats& t = st.transport;
  t.dtlsState = DtlsStateName(dtls_state());
  t.iceState = std::string(ice::ToString(is.state));
  t.iceRole = is.role == ice::Role::kControlling ? "controlling" : "controlled";
  t.dtlsRole = remote_ ? (remote_->dtls_role == dtls::Role::kClient ? "client" : "server") : "unknown";
  if (!dtls_cipher_.empty()) t.tlsVersion = "FEFD";  // DTLS 1.2, as webrtc-stats spells it
  t.dtlsCipher = dtls_cipher_;
  t.selectedCandidatePairChanges = selected_pair_changes_;
  t.bytesSent = bytes_sent_;
  t.bytesReceived = bytes_received_;
  t.packetsSent = datagrams_sent_;
  t.packetsReceived = datagrams_received_;
  t.packetsDiscarded = datagrams_discarded_;
  if (dtls_) {
    t.dtlsBufferReleases = dtls_->stats().buffer_releases;
    t.dtlsOpenSslReleased = dtls_->stats().openssl_released;
  }

  SctpStats& s = st.sctp;
  s.state = SctpStateName(sctp_state(), sctp_closed_);
  if (sctp_) {
    const sctp::Metrics m = sctp_->metrics();
    s.congestionWindow = m.cwnd;
    s.receiverWindow = m.peer_rwnd;
    s.localReceiverWindow = m.local_rwnd;
    if (m.srtt) s.smoothedRoundTripTime = m.srtt->seconds_f();
    s.rto = m.rto.seconds_f();
    s.retransmissions = m.retransmissions;
    s.packetsSent = m.packets_sent;
    s.packetsReceived = m.packets_received;
    s.bytesSent = m.bytes_sent;
    s.bytesReceived = m.bytes_received;
    s.maxChannels = m.negotiated_outbound_streams;
    s.messageBuffersReused = m.message_buffers_reused;
    s.congestionControl = std::string(sctp::ToString(sctp_->options().congestion_control));
    if (m.bbr_bandwidth > 0) s.bottleneckBandwidth = m.bbr_bandwidth;
    s.retainedCongestionWindow = m.retained_cwnd;
    if (m.min_rtt) s.minRoundTripTime = m.min_rtt->seconds_f();
    s.carefulResume = std::string(m.resume_outcome);
    s.carefulResumeRetreated = m.resume_retreats > 0;
    s.rapidStartRounds = m.rapid_start_rounds;
    s.rapidStartRecovered = m.rapid_start_recoveries > 0;
    s.fastRetransmits = m.fast_retransmits;
    s.retransmissionTimeouts = m.t3_expiries;
    s.hystartExits = m.hystart_exits;
    s.hystartAckTrainExits = m.hystart_train_exits;
    s.hystartUndos = m.hystart_undos;
    s.tailLossProbes = m.tlp_probes;
    s.retransmitBuffer = m.retransmit_buffer;
  }

  for (const auto& [id, counters] : channel_counters_) {
    const datachannel::Channel* ch = controller_.Find(id);
    if (!ch) continue;
    DataChannelStats d;
    d.handle = id.value();
    d.label = ch->label();
    d.protocol = ch->protocol();
    d.dataChannelIdentifier = ch->id();
    d.state = std::string(datachannel::ToString(ch->ready_state()));
    d.messagesSent = counters.messages_sent;
    d.bytesSent = counters.bytes_sent;
    d.messagesReceived = counters.messages_received;
    d.bytesReceived = counters.bytes_received;
    st.dataChannels.push_back(std::move(d));
  }
  st.dataChannelsOpened = channels_opened_;
  st.dataChannelsClosed = channels_closed_;
  return st;
}

}  // namespace peerlink::peer
