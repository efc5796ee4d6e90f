// peerlink's public API: a WebRTC peer connection with data channels, modeled on the W3C
// RTCPeerConnection / RTCDataChannel (https://www.w3.org/TR/webrtc/), in C++20.
//
//   auto pc = std::make_unique<peerlink::PeerConnection>(config);
//   pc->OnIceCandidate([&](const peerlink::IceCandidate& c) { signal(c); });
//   auto channel = pc->CreateDataChannel("chat");
//   auto offer = pc->CreateOffer();             // Expected<Description>
//   pc->SetLocalDescription(*offer);            // starts ICE gathering
//   ... send offer, receive answer ...
//   pc->SetRemoteDescription(answer);
//   channel->OnOpen([&] { channel->Send("hello"); });
//
// THREADING CONTRACT
//   * Every connection runs on one runtime thread (an io thread of its Runtime; a connection
//     is pinned to one of the runtime's threads for its whole life).
//   * Every callback (of the connection and of its data channels) runs on that thread, one at
//     a time, never concurrently with another callback of the same connection.
//   * Every method of PeerConnection and DataChannel is safe to call from any thread,
//     including from inside a callback. Methods called from another thread post the work to
//     the runtime thread and wait for it; from inside a callback they run inline.
//   * Destroying a PeerConnection (or the last reference to a Runtime) is safe from any
//     thread, including from inside one of the connection's own callbacks: no callback of that
//     connection runs after its destructor returns (from another thread the destructor waits
//     for a running callback to finish). A DataChannel outlives its connection safely: its
//     methods then fail with kInvalidState and it never fires again.
//   * Blocking cycles are the caller's to avoid: a callback of connection A that calls a
//     method of connection B on ANOTHER runtime thread waits for that thread; if B's thread is
//     at the same time inside a callback calling into A, both wait forever. Connections on the
//     same Runtime thread may call each other freely from callbacks (calls run inline); across
//     threads, hand the work to a queue (see examples/ and the tests).
//
// ERRORS: methods return Expected<T> (a value or an Error). Nothing throws except std::bad_alloc,
// Expected::value()/error() used on the wrong alternative (std::bad_variant_access), and the
// constructor, which throws std::invalid_argument for an unusable Configuration (a bad
// ICE server URL, an unparseable bind address) and std::runtime_error when no certificate can be
// generated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace peerlink {

namespace dtls {
class Certificate;
}

// --- Results ---------------------------------------------------------------------------------

enum class ErrorKind : uint8_t {
  kInvalidState,     // W3C InvalidStateError: wrong signaling state, connection closed, ...
  kInvalidSdp,       // the SDP does not parse or misses what we need (Error::sdp_line says where)
  kInvalidArgument,  // bad candidate, bad channel options, ...
  kOperationError,   // W3C OperationError: the description does not fit (answer vs offer, ...)
  kUnsupported,      // valid but not supported here (e.g. an mDNS candidate without resolver)
};

struct Error {
  ErrorKind kind = ErrorKind::kOperationError;
  std::string message;  // for SDP errors: "SDP line 7 'a=setup:sideways': ..."
  size_t sdp_line = 0;  // 1-based offending SDP line, 0 when not tied to a line
};

template <class T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}      // NOLINT
  Expected(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }  // throws std::bad_variant_access on an error
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const Error& error() const { return std::get<1>(v_); }  // throws on a value
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Expected<void> {
 public:
  Expected() = default;
  Expected(Error error) : error_(std::move(error)) {}  // NOLINT
  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_.value(); }

 private:
  std::optional<Error> error_;
};

// --- Configuration (RTCConfiguration) ---------------------------------------------------------

struct IceServer {
  // "stun:host[:port]", "turn:host[:port][?transport=udp|tcp]", "turns:host[:port]". Hosts may
  // be names (resolved once, when the connection is constructed) or IP literals.
  std::vector<std::string> urls;
  std::string username;    // TURN only
  std::string credential;  // TURN only (long-term credential password)
};

enum class IceTransportPolicy : uint8_t { kAll, kRelay };
enum class SctpCongestionControl : uint8_t { kReno, kBbr };

// What an earlier connection measured of the path to a peer, for Configuration::sctp_resume:
// its getStats() sctp.retainedCongestionWindow and sctp.minRoundTripTime.
struct SctpResumeState {
  uint64_t congestion_window = 0;  // bytes
  double round_trip_time = 0;      // seconds
  // What Configuration::sctp_resume accepts: a window above 0 and an RTT in (0, 60] s.
  bool valid() const { return congestion_window > 0 && round_trip_time > 0 && round_trip_time <= 60; }
};

class UdpMux;

struct Configuration {
  std::vector<IceServer> ice_servers;
  IceTransportPolicy ice_transport_policy = IceTransportPolicy::kAll;
  // Local IP addresses to bind one UDP socket each. Empty: every interface that is up, except
  // loopback and IPv6 link-local (set include_loopback for a same-host test without addresses).
  std::vector<std::string> bind_addresses;
  bool include_loopback = false;
  // Host socket ports come from [port_range_begin, port_range_end]; 0/0 = ephemeral.
  uint16_t port_range_begin = 0;
  uint16_t port_range_end = 0;
  // Our DTLS identity; generated (P-256, self-signed) when null. Share one across connections to
  // keep a stable fingerprint.
  std::shared_ptr<const dtls::Certificate> certificate;
  // a=max-message-size we announce: the largest message we accept (and reassemble). Bounded
  // memory against a peer; 0 is not allowed here.
  size_t max_message_size = 256 * 1024;
  // SCTP receive window (bytes) and send queue limit (bytes, all channels together).
  size_t sctp_receive_buffer = 4 * 1024 * 1024;
  size_t sctp_send_buffer = 16 * 1024 * 1024;
  // What we sent and keep until the peer's cumulative ack passes it (bytes): new data waits
  // while this much is held. An honest peer keeps it near the bytes in flight (at most 64 MiB,
  // the congestion window's cap). It bounds what a peer that acknowledges selectively but never
  // cumulatively can make us hold, and such a peer is disconnected after the retransmission
  // limit. A server with many connections may want it lower; at 100 ms RTT every 10 MiB is
  // ~100 MB/s of throughput at most. Must be positive. Stats::sctp.retransmitBuffer is what is held.
  size_t sctp_retransmit_buffer = 64 * 1024 * 1024;
  // Offer SCTP zero checksum (RFC 9653; DTLS already authenticates every byte). Off by default:
  // Debian's Pion 3.1 (pion/sctp 1.8.6) drops an INIT carrying the unknown parameter instead of
  // skipping it as RFC 9260 3.2.1 says, so no association comes up. CRC32c costs ~10% of the
  // SCTP core's CPU time (docs/sctp.md), far less than DTLS.
  bool sctp_zero_checksum = false;
  // Congestion control of what we send. kReno (the default): loss-based, as RFC 9260 (with IW10,
  // HyStart and a 0.7 decrease); every loss halves the rate's growth, so 1% random loss holds a
  // 20 ms path to a few MB/s. kBbr: model-based (after BBR), pacing at the measured bottleneck
  // bandwidth; random loss under 2% per round trip leaves the rate alone, heavier loss caps what
  // is in flight. docs/sctp.md compares them.
  SctpCongestionControl sctp_congestion_control = SctpCongestionControl::kReno;
  // Rapid Start (draft-kazuho-ccwg-rapid-start-02) for kReno: in the first slow start, while the
  // RTT shows no queue (within 10% or 4 ms of its minimum), the window grows 3x per round trip
  // instead of 2x, and the first loss is recovered from gradually. A cold 256 MiB transfer over a
  // 100 ms path with a deep queue ran ~30% faster (docs/performance.md); on a shallow queue its
  // last round overshoots twice as far as doubling, which in the simulator cost more than it
  // gained, hence off by default. Ignored with kBbr (which has its own startup).
  // Stats::sctp.rapidStartRounds counts its 3x rounds.
  bool sctp_rapid_start = false;
  // Careful Resume (RFC 9959) of what we send: the state an earlier connection to the same peer
  // over the same path retained (SctpResumeState). After one round trip that confirms the RTT
  // (within half to ten times the saved one) without loss, the sender jumps to half the saved
  // window, paced over the RTT, instead of growing from 10 packets for a dozen round trips; if
  // the jump meets loss it retreats to half of what the path delivered. Unset: a cold start.
  // Whether a state belongs to this peer and path only the application knows: keep it per peer
  // (e.g. its certificate fingerprint) and per path (the selected pair's addresses), and not for
  // long. Stats::sctp.carefulResume reports what happened. docs/sctp.md has the details.
  std::optional<SctpResumeState> sctp_resume;
  // Remote host candidates hidden behind mDNS names ("<uuid>.local", as browsers send them) are
  // resolved with a one-shot mDNS query (RFC 6762) from the interface of our first IPv4 host
  // socket, then added; an end-of-candidates waits for them. Off: AddIceCandidate refuses them
  // with kUnsupported (the peer may still be learned as peer-reflexive from its checks).
  bool resolve_mdns_candidates = true;
  // Our host candidates are signaled under random "<uuid>.local" names (RFC 6762 responder on
  // the interface of our first IPv4 host socket, as browsers do by default), so the application's
  // signaling never carries local addresses; the related address of server-reflexive and relayed
  // candidates becomes 0.0.0.0 0. A host candidate whose address cannot be published is not
  // signaled (the peer can still learn it from our checks). The names are withdrawn (goodbye,
  // TTL 0) on Close. The peer must resolve mDNS names.
  bool publish_mdns_host_candidates = false;
  // SO_RCVBUF / SO_SNDBUF requested for every UDP socket (what the kernel granted is in
  // Stats::sockets). Linux caps them at net.core.{r,w}mem_max; with CAP_NET_ADMIN the request is
  // forced past that cap.
  int socket_receive_buffer = 4 * 1024 * 1024;
  int socket_send_buffer = 4 * 1024 * 1024;
  // Threads of the private runtime created when no Runtime is passed to the constructor.
  int io_threads = 1;
  // One UDP port for many connections (see UdpMux below): instead of binding sockets of its own,
  // the connection's only host candidate is the mux's address. The connection must be given
  // the mux's Runtime (it then runs on the mux's thread). bind_addresses, include_loopback and
  // the port range are not used. STUN servers and TURN over UDP are refused (their answers
  // could not be told apart on a shared port); TURN over TCP or TLS works.
  std::shared_ptr<UdpMux> udp_mux;
  // TEST ONLY: accept any certificate from a turns: server.
  bool turns_insecure_skip_verify = false;
  // Diagnostic lines (socket buffer sizes granted, dropped datagrams, ...). Runs on the runtime
  // thread.
  std::function<void(std::string_view line)> log;
};

// --- Runtime ------------------------------------------------------------------------------------

struct RuntimeStats {
  // Connections created without Configuration::certificate take a certificate the runtime
  // generated ahead of need on a worker thread (started by the first such connection, keeping
  // two ready); when none was ready the connection generated its own.
  uint64_t certificatesPregenerated = 0;
  uint64_t certificatesGeneratedInline = 0;
  size_t certificatesReady = 0;
};

// A pool of io threads. Connections given the same Runtime share its threads; each connection is
// pinned to one thread (round-robin). Destroying the last reference stops the threads once every
// connection on it is gone (connections hold a reference).
class Runtime {
 public:
  static std::shared_ptr<Runtime> Create(int threads = 1);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  int threads() const;
  RuntimeStats stats() const;

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit Runtime(int threads);
  std::unique_ptr<Impl> impl_;
};

// --- UdpMux: one UDP port shared by many connections ---------------------------------------------

// For a server that holds many connections on one well-known port (a firewall rule, one
// address to publish). Datagrams are routed to connections by source address; a source seen
// for the first time is routed by the USERNAME of its ICE connectivity check ("<our
// ufrag>:<peer ufrag>", RFC 8445 section 7.2.2), and a connection's own sends also bind their
// destination to it. Anything else from an unknown source is dropped and counted. Routing only
// chooses the connection: the check itself is then authenticated by that connection's ICE agent
// (MESSAGE-INTEGRITY). At most 32 remote addresses per connection are kept (oldest replaced);
// a remote address already bound to one connection is not rebound to another.
struct UdpMuxStats {
  uint64_t datagramsRouted = 0;      // received and handed to a connection
  uint64_t datagramsUnroutable = 0;  // received from an unknown source and not a check for us
  uint64_t datagramsSent = 0;
  uint64_t sendDrops = 0;
  // Send system calls, and those that carried datagrams for several peers at once: the sends
  // of the connections drained after one receive batch leave together (sendmmsg).
  uint64_t sendCalls = 0;
  uint64_t multiDestinationSends = 0;
  uint64_t routesLearned = 0;  // remote addresses bound to a connection, ever
  size_t connections = 0;      // registered now
  size_t routes = 0;           // remote addresses bound now
};

class UdpMux {
 public:
  // Binds one UDP socket to `address` (an IP literal; not a wildcard, since it is signaled as
  // the host candidate) and `port` (0: ephemeral) on one of the runtime's threads.
  // socket_buffer: SO_RCVBUF / SO_SNDBUF requested (one socket carries every connection).
  static Expected<std::shared_ptr<UdpMux>> Create(std::shared_ptr<Runtime> runtime,
                                                  const std::string& address,
                                                  uint16_t port = 0,
                                                  int socket_buffer = 8 * 1024 * 1024);
  ~UdpMux();  // closes the socket once no connection uses it (connections hold a reference)
  UdpMux(const UdpMux&) = delete;
  UdpMux& operator=(const UdpMux&) = delete;

  std::string local_address() const;  // "ip:port"
  uint16_t port() const;
  UdpMuxStats stats() const;  // any thread

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  UdpMux() = default;
  std::shared_ptr<Impl> impl_;
};

// --- Descriptions, candidates, states -----------------------------------------------------------

enum class SdpType : uint8_t { kOffer, kPranswer, kAnswer, kRollback };
std::string_view ToString(SdpType t);  // "offer", "pranswer", "answer", "rollback"
std::optional<SdpType> SdpTypeFromString(std::string_view s);

struct Description {  // RTCSessionDescriptionInit
  SdpType type = SdpType::kOffer;
  std::string sdp;
};

struct IceCandidate {  // RTCIceCandidateInit
  // "candidate:..." (the a=candidate value). Empty = end of candidates (the W3C null candidate
  // on the emitting side; addIceCandidate with an empty candidate on the receiving side).
  std::string candidate;
  std::string sdp_mid = "0";
  uint16_t sdp_mline_index = 0;
};

enum class SignalingState : uint8_t {
  kStable,
  kHaveLocalOffer,
  kHaveRemoteOffer,
  kHaveLocalPranswer,
  kHaveRemotePranswer,
  kClosed
};
enum class IceGatheringState : uint8_t { kNew, kGathering, kComplete };
enum class IceConnectionState : uint8_t { kNew, kChecking, kConnected, kCompleted, kDisconnected, kFailed, kClosed };
enum class PeerConnectionState : uint8_t { kNew, kConnecting, kConnected, kDisconnected, kFailed, kClosed };
enum class DataChannelState : uint8_t { kConnecting, kOpen, kClosing, kClosed };
enum class Priority : uint8_t { kVeryLow, kLow, kMedium, kHigh };

std::string_view ToString(SignalingState s);  // W3C enum strings: "have-local-offer", ...
std::string_view ToString(IceGatheringState s);
std::string_view ToString(IceConnectionState s);
std::string_view ToString(PeerConnectionState s);
std::string_view ToString(DataChannelState s);

// --- Data channels (RTCDataChannel) -----------------------------------------------------------------

struct DataChannelInit {  // RTCDataChannelInit
  bool ordered = true;
  std::optional<uint16_t> max_retransmits;
  std::optional<uint32_t> max_packet_life_time;  // milliseconds
  std::string protocol;
  bool negotiated = false;
  std::optional<uint16_t> id;  // required with negotiated
  Priority priority = Priority::kLow;
};

enum class SendError : uint8_t {
  kNotOpen,          // still connecting (W3C InvalidStateError)
  kClosed,           // closing/closed, or the connection is gone
  kMessageTooLarge,  // larger than the peer's max-message-size (W3C TypeError)
  kBufferFull,       // bufferedAmount would exceed its cap (W3C OperationError)
};
std::string_view ToString(SendError e);

class DataChannel {
 public:
  struct Impl;
  explicit DataChannel(std::shared_ptr<Impl> impl);  // created by PeerConnection only
  ~DataChannel();
  DataChannel(const DataChannel&) = delete;
  DataChannel& operator=(const DataChannel&) = delete;

  const std::string& label() const;
  const std::string& protocol() const;
  bool ordered() const;
  bool negotiated() const;
  std::optional<uint16_t> max_retransmits() const;
  std::optional<uint32_t> max_packet_life_time() const;
  // The SCTP stream id; nullopt until the DTLS role is known (DCEP channels created early).
  std::optional<uint16_t> id() const;
  DataChannelState ready_state() const;
  size_t buffered_amount() const;
  size_t buffered_amount_low_threshold() const;
  void set_buffered_amount_low_threshold(size_t bytes);

  // Queues one message (a text or a binary one). Returns the error the W3C API would throw.
  Expected<void> Send(std::string_view text);
  Expected<void> Send(std::span<const uint8_t> bytes);
  // Closing procedure (stream reset); "closing" then "close" follow. Idempotent.
  void Close();

  // Event handlers (replace any previous one; an empty function clears). See the threading
  // contract at the top of this file. After "close" no handler runs again and all are dropped.
  // An "open" that fired while no OnOpen handler was set reaches the first handler set later, once
  // (posted to the connection's thread): a negotiated channel created from another thread on a
  // connected transport may open before CreateDataChannel has returned.
  void OnOpen(std::function<void()> handler);
  void OnMessage(std::function<void(std::span<const uint8_t> data, bool binary)> handler);
  void OnBufferedAmountLow(std::function<void()> handler);
  void OnClosing(std::function<void()> handler);
  void OnClose(std::function<void()> handler);
  void OnError(std::function<void(const std::string& reason)> handler);

  Impl& impl() { return *impl_; }

 private:
  std::shared_ptr<Impl> impl_;
};

// --- getStats (webrtc-stats names) ------------------------------------------------------------------

struct CandidatePairStats {                 // RTCIceCandidatePairStats of the selected pair
  std::string localAddress, remoteAddress;  // "ip:port"
  std::string localCandidateType, remoteCandidateType;
  std::optional<double> currentRoundTripTime;  // seconds
  uint64_t bytesSent = 0, bytesReceived = 0;
  uint64_t packetsSent = 0, packetsReceived = 0;
  bool nominated = false;
};
struct TransportStats {
  std::string dtlsState, iceState, iceRole, dtlsRole, tlsVersion, dtlsCipher;
  uint32_t selectedCandidatePairChanges = 0;
  uint64_t bytesSent = 0, bytesReceived = 0, packetsSent = 0, packetsReceived = 0, packetsDiscarded = 0;
};
struct SctpTransportStats {
  std::string state;
  uint64_t congestionWindow = 0, receiverWindow = 0, localReceiverWindow = 0;
  std::optional<double> smoothedRoundTripTime;
  double rto = 0;
  uint64_t retransmissions = 0, packetsSent = 0, packetsReceived = 0, bytesSent = 0, bytesReceived = 0;
  uint32_t maxChannels = 0;
  // peerlink's own: large messages (4 KiB and up) built or reassembled in the block of a
  // finished message instead of a fresh allocation.
  uint64_t messageBuffersReused = 0;
  // peerlink's own: Configuration::sctp_congestion_control ("reno" or "bbr"), and with BBR its
  // estimate of the path's bottleneck bandwidth (bytes per second) once it has one.
  std::string congestionControl;
  std::optional<double> bottleneckBandwidth;
  // peerlink's own, for a later connection's Configuration::sctp_resume: the most bytes the peer
  // acknowledged within one round trip without loss, and the lowest RTT (seconds) seen.
  uint64_t retainedCongestionWindow = 0;
  std::optional<double> minRoundTripTime;
  // peerlink's own, with Configuration::sctp_resume: "pending" (no decision yet), "jumped",
  // "rtt-changed" (not the saved path), "congestion" (loss before the jump) or "no-gain"; and
  // whether the jump met loss and retreated. Empty / false without.
  std::string carefulResume;
  bool carefulResumeRetreated = false;
  // peerlink's own, with Configuration::sctp_rapid_start: round trips in which the window grew
  // 3x, and whether the first loss was recovered from with Rapid Start's gradual reduction.
  uint64_t rapidStartRounds = 0;
  bool rapidStartRecovered = false;
  // peerlink's own: how `retransmissions` came about (DATA chunks found lost by three miss
  // reports or by RACK's time rule; expiries of the retransmission timer), and how often HyStart
  // ended slow start before any loss (an RTT rise or an ack train that already fills the path).
  // tailLossProbes: packets sent because two round trips passed with data in flight and no
  // SACK (RFC 8985's tail loss probe); one that had no new data to carry resends a chunk.
  uint64_t fastRetransmits = 0;
  uint64_t retransmissionTimeouts = 0;
  uint64_t hystartExits = 0;
  // Of hystartExits, those on an ack train (never undone), and the exits undone because the RTT
  // came back down within three round trips (a transient, not the queue).
  uint64_t hystartAckTrainExits = 0;
  uint64_t hystartUndos = 0;
  uint64_t tailLossProbes = 0;
  // peerlink's own: bytes sent and kept until the peer's cumulative ack passes them
  // (Configuration::sctp_retransmit_buffer bounds it).
  uint64_t retransmitBuffer = 0;
};
struct DataChannelStats {
  std::string label, protocol, state;
  std::optional<uint16_t> dataChannelIdentifier;
  uint64_t messagesSent = 0, bytesSent = 0, messagesReceived = 0, bytesReceived = 0;
};
struct SocketStats {  // not in webrtc-stats: one bound UDP socket of this connection
  std::string address;
  int receiveBufferGranted = 0, sendBufferGranted = 0;  // as the kernel reports (Linux: 2x the request)
  uint64_t datagramsSent = 0, datagramsReceived = 0, sendDrops = 0;
  uint64_t gsoSends = 0;  // sendmsg calls that carried several datagrams (UDP GSO)
  uint64_t groReads = 0;  // reads that returned several coalesced datagrams (UDP GRO)
};
struct Stats {
  std::string connectionState;
  std::optional<CandidatePairStats> selectedCandidatePair;
  TransportStats transport;
  SctpTransportStats sctp;
  std::vector<DataChannelStats> dataChannels;
  uint32_t dataChannelsOpened = 0, dataChannelsClosed = 0;
  std::vector<SocketStats> sockets;
};

// --- PeerConnection (RTCPeerConnection) -----------------------------------------------------------

class PeerConnection {
 public:
  // Without a runtime the connection gets a private one with config.io_threads threads.
  explicit PeerConnection(Configuration config, std::shared_ptr<Runtime> runtime = nullptr);
  ~PeerConnection();  // Close() without waiting for the peer; safe inside own callbacks
  PeerConnection(const PeerConnection&) = delete;
  PeerConnection& operator=(const PeerConnection&) = delete;

  // JSEP. Descriptions carry the candidates gathered so far (usually none: trickle them from
  // OnIceCandidate). Failures leave every state unchanged ("nothing half-applied").
  Expected<Description> CreateOffer();
  Expected<Description> CreateAnswer();
  Expected<void> SetLocalDescription(const Description& description);
  Expected<void> SetRemoteDescription(const Description& description);
  // The current local description with every candidate gathered so far (and a=end-of-candidates
  // once gathering is complete), for peers that do not trickle. nullopt before
  // SetLocalDescription.
  std::optional<Description> local_description() const;
  std::optional<Description> remote_description() const;
  // Needs a remote description. An empty candidate means end of candidates.
  Expected<void> AddIceCandidate(const IceCandidate& candidate);
  // New local ICE credentials now (the current path keeps working); make and signal a new offer.
  void RestartIce();

  Expected<std::shared_ptr<DataChannel>> CreateDataChannel(std::string label, const DataChannelInit& init = {});

  Stats GetStats() const;
  // Graceful close (SCTP shutdown, DTLS close_notify) within a few seconds, without blocking.
  // Fires "close" on every channel and connectionstatechange(closed). Idempotent.
  void Close();

  // Runs `task` on this connection's runtime thread, after what is already queued there, and
  // returns at once. Inside it, as inside callbacks, calls on this connection (and on others of
  // the same thread) run inline instead of each waiting for a turn of that thread: an
  // application that makes several calls in a row (offer, descriptions, candidates) can post
  // them together. `task` must not block. It does not run if the connection was destroyed
  // before its turn (possible only when destroyed on that thread, from a callback or a task).
  void Post(std::function<void()> task);

  SignalingState signaling_state() const;
  IceGatheringState ice_gathering_state() const;
  IceConnectionState ice_connection_state() const;
  PeerConnectionState connection_state() const;

  // Events (W3C names in the comments). Set them before SetLocalDescription to see everything.
  void OnIceCandidate(std::function<void(const IceCandidate&)> handler);             // icecandidate
  void OnIceGatheringStateChange(std::function<void(IceGatheringState)> handler);    // icegatheringstatechange
  void OnIceConnectionStateChange(std::function<void(IceConnectionState)> handler);  // iceconnectionstatechange
  void OnConnectionStateChange(std::function<void(PeerConnectionState)> handler);    // connectionstatechange
  void OnSignalingStateChange(std::function<void(SignalingState)> handler);          // signalingstatechange
  void OnDataChannel(std::function<void(std::shared_ptr<DataChannel>)> handler);     // datachannel

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace peerlink
