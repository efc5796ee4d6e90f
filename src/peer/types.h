// Vocabulary of the peer-connection core: options, the remote description's transport
// parameters, the W3C-shaped states and events, and the outputs of Connection::PollOutput.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "src/base/socket_address.h"
#include "src/base/time.h"
#include "src/datachannel/controller.h"
#include "src/dtls/certificate.h"
#include "src/dtls/endpoint.h"
#include "src/dtls/fingerprint.h"
#include "src/ice/agent.h"
#include "src/sctp/association.h"

namespace peerlink::peer {

struct Options {
  // ICE: role (the offerer is controlling), STUN/TURN servers, policy, timers.
  ice::AgentConfig ice;
  // Our DTLS identity (required; its fingerprint goes into our SDP).
  std::shared_ptr<const dtls::Certificate> certificate;
  // Largest UDP payload we send (DTLS records, hence SCTP packets, are sized from it).
  size_t mtu = 1200;
  // Our a=max-message-size: the largest message SCTP accepts from the peer and reassembles
  // (memory bound against a peer), and the largest we send (together with the remote's limit).
  size_t max_message_size = 256 * 1024;
  // SCTP buffers, bytes: receive (announced a_rwnd), send queues in total and per stream.
  size_t sctp_receive_buffer = 4 * 1024 * 1024;
  size_t sctp_send_buffer = 16 * 1024 * 1024;
  size_t sctp_per_stream_send_buffer = 8 * 1024 * 1024;
  size_t sctp_retransmit_buffer = 64 * 1024 * 1024;  // sctp::Options::max_retransmit_buffer
  // Our a=sctp-port.
  uint16_t sctp_port = 5000;
  // Offer RFC 9653 zero checksum in INIT/INIT ACK (see include/peerlink/peer_connection.h for
  // why the public default is off).
  bool sctp_zero_checksum = true;
  sctp::CongestionControl sctp_congestion_control = sctp::CongestionControl::kReno;
  std::optional<sctp::Options::ResumeState> sctp_resume;  // Careful Resume (sctp::Options::resume)
  bool sctp_rapid_start = false;                          // sctp::Options::rapid_start
  // Data channels: open channels at most, and the per-channel bufferedAmount cap.
  size_t max_channels = 1024;
  size_t max_buffered_amount = 16 * 1024 * 1024;
  // Close(): SCTP SHUTDOWN then DTLS close_notify; past this the association is aborted.
  Duration close_timeout = Duration::Seconds(3);
  Duration dtls_handshake_timeout = Duration::Seconds(30);
  // DTLS record buffers are freed after this long without a record (dtls::Options).
  Duration dtls_idle_buffer_release = Duration::Millis(50);
  // Datagrams queued by the core for PollOutput before further relayed data is dropped.
  size_t max_queued_events = 4096;
};

// The transport part of the remote description (what the SDP layer extracts).
struct RemoteParams {
  ice::Credentials ice;                         // a=ice-ufrag / a=ice-pwd
  bool ice_lite = false;                        // a=ice-lite: we must then be the controlling agent
  std::vector<dtls::Fingerprint> fingerprints;  // a=fingerprint (at least one)
  // OUR DTLS role, derived from a=setup: we are the client if we are 'active' (RFC 8842).
  dtls::Role dtls_role = dtls::Role::kClient;
  uint16_t sctp_port = 5000;  // the remote's a=sctp-port
  // The remote's a=max-message-size; 0 = no limit; RFC 8841 default 65536 when absent.
  size_t max_message_size = 65536;
};

enum class [[nodiscard]] RemoteParamsStatus : uint8_t{
    kOk,
    kNoFingerprint,            // a=fingerprint missing: the peer could not be authenticated
    kIceLiteNeedsControlling,  // the remote is ice-lite and we were configured controlled
    kDtlsParamsChanged,        // fingerprints/role/sctp port differ from the first call (needs a new connection)
    kClosed,
};
std::string_view ToString(RemoteParamsStatus s);

// RTCPeerConnectionState, computed per W3C from the ICE and DTLS states (docs/peer.md).
enum class ConnectionState : uint8_t { kNew, kConnecting, kConnected, kDisconnected, kFailed, kClosed };
std::string_view ToString(ConnectionState s);

// --- Events -----------------------------------------------------------------------------

struct IceCandidate {  // "icecandidate": a local candidate to trickle to the peer
  ice::Candidate candidate;
};
struct IceGatheringStateChange {  // "icegatheringstatechange" (kComplete = end of candidates)
  ice::GatheringState state;
};
struct IceConnectionStateChange {  // "iceconnectionstatechange"
  ice::State state;
  std::string reason;
};
struct ConnectionStateChange {  // "connectionstatechange"
  ConnectionState state;
  std::string reason;  // for failed/closed: what happened (e.g. the DTLS fingerprint mismatch)
};
struct SelectedCandidatePairChange {  // RTCIceTransport "selectedcandidatepairchange"
  ice::Candidate local;
  ice::Candidate remote;
};
// Data channel events, as the datachannel layer defines them:
//   datachannel::IncomingChannel  "datachannel" (remote-opened; ChannelOpened follows)
//   datachannel::ChannelOpened    "open"
//   datachannel::Message          "message"
//   datachannel::BufferedAmountLow "bufferedamountlow"
//   datachannel::ChannelClosing   "closing"
//   datachannel::ChannelClosed    "close"
//   datachannel::ChannelError     "error"
using Event = std::variant<IceCandidate,
                           IceGatheringStateChange,
                           IceConnectionStateChange,
                           ConnectionStateChange,
                           SelectedCandidatePairChange,
                           datachannel::IncomingChannel,
                           datachannel::ChannelOpened,
                           datachannel::Message,
                           datachannel::BufferedAmountLow,
                           datachannel::ChannelClosing,
                           datachannel::ChannelClosed,
                           datachannel::ChannelError>;
std::string EventName(const Event& e);

// --- Outputs ------------------------------------------------------------------------------

struct Transmit {
  SocketAddress local;                                    // a bound local socket (as given to AddLocalAddress)
  SocketAddress remote;                                   // destination
  TransportProtocol transport = TransportProtocol::kUdp;  // kTcp/kTls: the TURN server stream
  std::vector<uint8_t> bytes;
};
struct Deadline {
  Instant at;  // Instant::Max(): nothing to wake up for
  // Which child asked: "ice:<timer>", "dtls", "sctp", "close". For logs only.
  std::string_view timer = "idle";
};
using Output = std::variant<Transmit, Event, Deadline>;

// --- getStats (webrtc-stats field names) ------------------------------------------------------

struct CandidatePairStats {  // RTCIceCandidatePairStats of the selected pair
  std::string localAddress, remoteAddress;
  std::string localCandidateType, remoteCandidateType;  // host/srflx/prflx/relay
  std::optional<double> currentRoundTripTime;           // seconds
  uint64_t bytesSent = 0, bytesReceived = 0;            // UDP payload bytes of application data (DTLS)
  uint64_t packetsSent = 0, packetsReceived = 0;
  bool nominated = false;
};
struct TransportStats {    // RTCTransportStats
  std::string dtlsState;   // new/connecting/connected/closed/failed
  std::string iceState;    // RTCIceTransportState
  std::string iceRole;     // controlling/controlled
  std::string dtlsRole;    // client/server/unknown
  std::string tlsVersion;  // "FEFD" (DTLS 1.2) once connected
  std::string dtlsCipher;  // OpenSSL's suite name
  uint32_t selectedCandidatePairChanges = 0;
  uint64_t bytesSent = 0, bytesReceived = 0;      // all UDP payload bytes (STUN, DTLS, ...)
  uint64_t packetsSent = 0, packetsReceived = 0;  // datagrams
  uint64_t packetsDiscarded = 0;                  // RFC 7983 classes we do not carry, or no path
  uint64_t dtlsBufferReleases = 0;                // (peerlink) idle releases of OpenSSL's record buffers
  bool dtlsOpenSslReleased = false;               // (peerlink) OpenSSL freed after the handshake (dtls::Stats)
};
struct SctpStats {    // RTCSctpTransportStats plus what sctp::Metrics offers
  std::string state;  // connecting/connected/closed
  uint64_t congestionWindow = 0;
  uint64_t receiverWindow = 0;  // peer's rwnd as estimated
  uint64_t localReceiverWindow = 0;
  std::optional<double> smoothedRoundTripTime;  // seconds
  double rto = 0;                               // seconds
  uint64_t retransmissions = 0;
  uint64_t packetsSent = 0, packetsReceived = 0;
  uint64_t bytesSent = 0, bytesReceived = 0;  // SCTP packet bytes
  uint32_t maxChannels = 0;                   // negotiated outbound streams
  uint64_t messageBuffersReused = 0;          // (peerlink) sctp::Metrics::message_buffers_reused
  std::string congestionControl;              // (peerlink) "reno" or "bbr"
  std::optional<double> bottleneckBandwidth;  // (peerlink) bytes/s, BBR's estimate once it has one
  uint64_t retainedCongestionWindow = 0;      // (peerlink) sctp::Metrics::retained_cwnd
  std::optional<double> minRoundTripTime;     // (peerlink) seconds, sctp::Metrics::min_rtt
  std::string carefulResume;                  // (peerlink) sctp::Metrics::resume_outcome
  bool carefulResumeRetreated = false;        // (peerlink) sctp::Metrics::resume_retreats > 0
  uint64_t rapidStartRounds = 0;              // (peerlink) sctp::Metrics::rapid_start_rounds
  bool rapidStartRecovered = false;           // (peerlink) sctp::Metrics::rapid_start_recoveries > 0
  uint64_t fastRetransmits = 0;               // (peerlink) sctp::Metrics::fast_retransmits
  uint64_t retransmissionTimeouts = 0;        // (peerlink) sctp::Metrics::t3_expiries
  uint64_t hystartExits = 0;                  // (peerlink) sctp::Metrics::hystart_exits
  uint64_t hystartAckTrainExits = 0;          // (peerlink) sctp::Metrics::hystart_train_exits
  uint64_t hystartUndos = 0;                  // (peerlink) sctp::Metrics::hystart_undos
  uint64_t tailLossProbes = 0;                // (peerlink) sctp::Metrics::tlp_probes
  uint64_t retransmitBuffer = 0;              // (peerlink) sctp::Metrics::retransmit_buffer
};
struct DataChannelStats {  // RTCDataChannelStats
  uint64_t handle = 0;
  std::string label, protocol;
  std::optional<uint16_t> dataChannelIdentifier;
  std::string state;
  uint64_t messagesSent = 0, bytesSent = 0, messagesReceived = 0, bytesReceived = 0;
};
struct Stats {
  std::string connectionState;
  std::optional<CandidatePairStats> selectedCandidatePair;
  TransportStats transport;
  SctpStats sctp;
  std::vector<DataChannelStats> dataChannels;               // open/connecting/closing channels, by handle
  uint32_t dataChannelsOpened = 0, dataChannelsClosed = 0;  // RTCPeerConnectionStats
};

}  // namespace peerlink::peer
