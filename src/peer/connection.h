// The peer-connection core: ICE agent -> DTLS endpoint -> SCTP association -> data-channel
// controller, composed as one sans-I/O state machine (docs/peer.md).
//
// Inputs:   HandleDatagram(now, local, remote, bytes)  one UDP payload from a bound socket
//           HandleStreamFrame / HandleStreamError      TURN over TCP/TLS (passed to ICE)
//           HandleTimeout(now)                         at or after the last Deadline
//           commands: AddLocalAddress, StartGathering, SetRemoteParameters, AddRemoteCandidate,
//           EndOfRemoteCandidates, CreateDataChannel, Send, CloseChannel, RestartIce, Close
// Outputs:  PollOutput(now) -> Transmit | Event | Deadline; after any input, drain until a
//           Deadline. Order (fixed): queued events of this core, then ICE, DTLS, SCTP and
//           the data-channel controller, each child drained before the next is looked at
//           and the loop restarting at ICE whenever a lower child produced something, so a
//           datagram leaves as soon as it exists. The Deadline is the earliest of the
//           children's (and the close timer), tagged with the child's name.
//
// Start of the layers: DTLS is created by SetRemoteParameters (role and fingerprints come
// from the remote description). The DTLS client sends its ClientHello when ICE reports a
// selected pair (or at SetRemoteParameters if one exists); the server answers the first
// DTLS datagram that ICE accepts (a valid pair: RFC 7675 consent). When DTLS is connected
// both ends send SCTP INIT, as browsers do (RFC 9260 5.2.1 resolves the collision; aiortc
// picks its initiator by ICE role and would otherwise wait with a passive DTLS server).
// SCTP packets ride as DTLS application records, one packet per record.
//
// Time: every child uses `now` except OpenSSL's DTLS retransmission timer, which reads the
// real clock (see src/dtls/endpoint.h): in production `now` is the monotonic clock.
//
// Not thread-safe; one owner (the runtime thread) drives it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/fifo.h"
#include "src/base/result.h"
#include "src/base/rng.h"
#include "src/base/socket_address.h"
#include "src/base/time.h"
#include "src/datachannel/controller.h"
#include "src/dtls/endpoint.h"
#include "src/ice/agent.h"
#include "src/peer/types.h"
#include "src/sctp/association.h"

namespace peerlink::peer {

class Connection {
 public:
  // `rng` must outlive the connection (ICE credentials and tie-breaker, SCTP tags and TSNs,
  // DTLS randoms come from OpenSSL itself). options.certificate must be set.
  Connection(const Options& options, Rng& rng, Instant now);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // --- Local description --------------------------------------------------------------------
  const ice::Credentials& local_ice_credentials() const;  // a=ice-ufrag / a=ice-pwd (new after RestartIce)
  dtls::Fingerprint local_fingerprint() const;            // a=fingerprint (sha-256)
  const Options& options() const { return options_; }

  // --- Gathering (the runtime binds sockets and reports them) ----------------------------
  void AddLocalAddress(Instant now, const SocketAddress& bound);
  void StartGathering(Instant now);

  // --- Remote description -----------------------------------------------------------------
  // First call: creates the DTLS endpoint and the SCTP association. Later calls may change
  // only the ICE credentials (an ICE restart by the remote).
  RemoteParamsStatus SetRemoteParameters(Instant now, const RemoteParams& remote);
  // false: unusable here (see ice::Agent::AddRemoteCandidate) or the connection is closed.
  bool AddRemoteCandidate(Instant now, const ice::Candidate& candidate);
  void EndOfRemoteCandidates(Instant now);

  // --- Data channels ---------------------------------------------------------------------------
  [[nodiscard]] Result<datachannel::ChannelId, datachannel::CreateError>
  CreateDataChannel(Instant now, std::string_view label, const datachannel::ChannelOptions& options = {});
  datachannel::SendStatus Send(Instant now, datachannel::ChannelId channel, ByteView data, bool binary);
  // Optional: a delivered datachannel::Message's payload, once the application is done with
  // it, so the next large message is reassembled in the same block
  // (sctp::Association::RecycleMessageBuffer).
  void RecycleMessageBuffer(std::vector<uint8_t> buffer);
  void CloseChannel(Instant now, datachannel::ChannelId channel);
  bool SetBufferedAmountLowThreshold(datachannel::ChannelId channel, size_t bytes);
  const datachannel::Channel* FindChannel(datachannel::ChannelId channel) const;
  size_t buffered_amount(datachannel::ChannelId channel) const;

  // --- Control --------------------------------------------------------------------------------
  // New local ICE credentials (signal them in a new offer); the current path keeps working.
  void RestartIce(Instant now);
  // Graceful close: SCTP SHUTDOWN (queued data first), then DTLS close_notify, then ICE stops;
  // bounded by Options::close_timeout. Ends with ConnectionStateChange{kClosed}. Idempotent.
  void Close(Instant now);

  // --- I/O -----------------------------------------------------------------------------------------
  void HandleDatagram(Instant now, const SocketAddress& local, const SocketAddress& remote, ByteView bytes);
  void HandleStreamFrame(Instant now, const SocketAddress& local, const SocketAddress& server, ByteView frame);
  void HandleStreamError(Instant now, const SocketAddress& local, const SocketAddress& server, std::string_view why);
  void HandleTimeout(Instant now);
  [[nodiscard]] Output PollOutput(Instant now);

  // --- State -----------------------------------------------------------------------------------
  ConnectionState connection_state() const { return state_; }
  ice::State ice_state() const;
  ice::GatheringState ice_gathering_state() const;
  dtls::State dtls_state() const;
  std::optional<sctp::State> sctp_state() const;
  Stats GetStats() const;
  bool IsConsistent() const;

 private:
  struct ChannelCounters {
    uint64_t messages_sent = 0, bytes_sent = 0, messages_received = 0, bytes_received = 0;
  };

  // connection.cc
  ConnectionState ComputeState() const;
  void UpdateState(std::string reason);
  void MaybeStartDtls(Instant now);
  void StartSctp(Instant now);
  void FinishClose(Instant now, std::string reason);
  void ReportBufferedAmounts(Instant now);
  void DeliverToDtls(Instant now, ByteView datagram);

  // pump.cc: one step of each child; true if it produced something to act on.
  bool StepIce(Instant now, Output* out);
  bool StepDtls(Instant now);
  bool StepSctp(Instant now);
  bool StepController(Instant now);
  void HandleIceEvent(Instant now, ice::AgentEvent& e);
  void HandleDtlsEvent(Instant now, dtls::Event& e);
  void HandleSctpEvent(Instant now, sctp::Event& e);
  void HandleChannelEvent(datachannel::Event& e);
  void QueueEvent(Event e);

  // options_.certificate is let go once the DTLS endpoint holds it (which lets go of it in turn
  // once the handshake is behind it); the fingerprint it had is kept for later descriptions.
  Options options_;
  dtls::Fingerprint local_fingerprint_;
  Rng& rng_;
  std::unique_ptr<ice::Agent> ice_;
  std::unique_ptr<dtls::Endpoint> dtls_;
  std::unique_ptr<sctp::Association> sctp_;
  datachannel::Controller controller_;
  std::optional<RemoteParams> remote_;

  ConnectionState state_ = ConnectionState::kNew;
  bool dtls_started_ = false;
  bool sctp_started_ = false;
  bool sctp_closed_ = false;
  bool closing_ = false;  // Close() called, sequence running
  bool closed_ = false;   // ConnectionStateChange{kClosed} queued
  std::optional<Instant> close_deadline_;
  std::string failure_reason_;
  std::string close_reason_;

  // Deadlines the children last reported (they are re-polled every PollOutput).
  Instant ice_deadline_ = Instant::Max();
  const char* ice_timer_ = "idle";
  Instant dtls_deadline_ = Instant::Max();
  Instant sctp_deadline_ = Instant::Max();

  Fifo<Event> events_;
  // Streams with a non-zero bufferedAmount last reported to the controller: re-reported after
  // every SCTP input (acks drain them).
  std::set<uint16_t> buffered_streams_;
  std::map<datachannel::ChannelId, ChannelCounters> channel_counters_;

  // Stats.
  std::string dtls_cipher_;
  uint32_t selected_pair_changes_ = 0;
  uint32_t channels_opened_ = 0, channels_closed_ = 0;
  uint64_t datagrams_received_ = 0, bytes_received_ = 0;
  uint64_t datagrams_sent_ = 0, bytes_sent_ = 0;
  uint64_t datagrams_discarded_ = 0;
  uint64_t sctp_reset_failures_ = 0;
};

}  // namespace peerlink::peer
