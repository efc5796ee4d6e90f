// One DTLS 1.2 association (RFC 6347) as used under SCTP for data channels (RFC 8261), with
// self-signed certificates authenticated by SDP fingerprints (RFC 8122) and roles from
// a=setup (RFC 8842). OpenSSL 3 does the protocol; this class drives it through a datagram BIO
// kept in memory, so it is sans-I/O:
//
// Inputs:   Start(now)                      the client sends its ClientHello (a server waits)
//           HandleDatagram(now, bytes)      one received UDP payload (may hold several records)
//           HandleTimeout(now)              at or after the last Deadline (a retransmission,
//                                           the handshake limit or an idle buffer release)
//           Send(now, bytes)                application data: one DTLS record, one datagram
//           Close(now)                      close_notify
// Outputs:  PollOutput(now) -> Transmit     one datagram to send to the peer (<= Options::mtu)
//                            | Event        Connected, ApplicationData, Closed, Failed
//                            | Deadline     when to call HandleTimeout (Instant::Max(): idle)
// Drain PollOutput until it returns a Deadline after every input.
//
// Time: OpenSSL's DTLS retransmission timer reads the real clock internally
// (DTLSv1_get_timeout / DTLSv1_handle_timeout use gettimeofday). The Deadline reported here is
// `now` + OpenSSL's remaining time, and HandleTimeout does nothing when OpenSSL thinks the timer
// has not expired yet. So `now` must track the real monotonic clock for retransmission to work;
// virtual-time simulation of upper layers uses a fake DTLS instead. Our own handshake limit
// (Options::handshake_timeout) uses `now` only.
//
// Memory: once connected, OpenSSL's record buffers (~33 KB) are freed after
// Options::idle_buffer_release without records (a Deadline) and reallocated by the next record;
// so are the direct record contexts (Options::direct_records). Once both directions are direct,
// OpenSSL has nothing left to do and its SSL object is freed with everything it holds (the
// handshake buffer it keeps for retransmissions over UDP, the session, the peer's
// certificate: about 37 KiB less per connection in docs/dtls.md's measurement); alerts are then read
// here.
//
// Records (Options::direct_records, the default): after the handshake, application data is
// sealed and opened with OpenSSL's AEAD directly. Reading switches at once. Sending switches at
// once on the client; the server keeps OpenSSL's record layer until the first authenticated
// application record from the client proves that the client has the server's Finished, since
// until then OpenSSL may have to retransmit that flight in the same epoch. After the switch
// nothing OpenSSL writes is sent, and close_notify is sealed here. From then on OpenSSL is
// freed (Stats::openssl_released): an authenticated close_notify closes the connection, a
// fatal alert fails it, and any other record (a late handshake retransmission, a warning
// alert, a renegotiation attempt, which OpenSSL refuses too) is dropped and counted.
//
// Threading: none inside; one Endpoint must be used from one thread at a time. Endpoints with
// the same cipher_suites share one immutable, process-wide SSL_CTX (built on first use, never
// freed; the certificate and everything else per connection is set on the SSL), so endpoints
// may be created and used on any threads concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "src/base/byte_io.h"
#include "src/base/rng.h"
#include "src/base/time.h"
#include "src/dtls/certificate.h"
#include "src/dtls/fingerprint.h"

namespace peerlink::dtls {

// RFC 8842: a=setup:active -> client, a=setup:passive -> server (the answerer picks).
enum class Role : uint8_t { kClient, kServer };
std::string_view ToString(Role r);

// The only suites offered or accepted (all ECDHE-ECDSA AEAD, DTLS 1.2).
enum class CipherSuite : uint8_t { kEcdheEcdsaAes128Gcm, kEcdheEcdsaAes256Gcm, kEcdheEcdsaChacha20Poly1305 };
// OpenSSL's name: "ECDHE-ECDSA-AES128-GCM-SHA256", ...
std::string_view ToString(CipherSuite c);
// All three, AES-128-GCM first (cheapest with AES-NI, what browsers pick).
std::vector<CipherSuite> AllCipherSuites();

struct Options {
  Role role = Role::kClient;
  // The peer's SDP fingerprints. Required: an empty list fails the endpoint at once (there is
  // no way to skip authentication). When several hash functions are present the strongest is
  // used and the leaf certificate must match one fingerprint of that hash (RFC 8122 section 5).
  std::vector<Fingerprint> expected_remote;
  // Largest UDP payload we send (handshake fragments included). Application records must fit:
  // see Endpoint::max_application_payload().
  size_t mtu = 1200;
  // Offered (client) / accepted (server) suites, in preference order.
  std::vector<CipherSuite> cipher_suites = AllCipherSuites();
  // First handshake retransmission timeout (RFC 6347 section 4.2.4.1 recommends 1 s); doubled
  // on each retransmission up to max_retransmit_timeout. Set through DTLS_set_timer_cb.
  Duration initial_retransmit_timeout = Duration::Seconds(1);
  Duration max_retransmit_timeout = Duration::Seconds(60);
  // Give up on the handshake this long after Start (client) / the first datagram (server).
  Duration handshake_timeout = Duration::Seconds(30);
  // Received application records buffered as events before PollOutput drains them; more are
  // dropped (counted in Stats), as a congested UDP path would.
  size_t max_queued_events = 1024;
  // Once connected, OpenSSL's record buffers (about 33 KB: one 16 KB buffer each way) are
  // released this long after the last record sent or received (a Deadline), and OpenSSL
  // allocates them again with the next record (a few microseconds). An idle connection then
  // holds none, while one with records less than this apart never frees them. Short, because
  // memory freed late is memory the heap already had to grow for when many connections are set
  // up at once. Duration::Infinite() keeps them for the connection's life.
  Duration idle_buffer_release = Duration::Millis(50);
  // Once connected, seal and open application-data records with OpenSSL's AEAD directly
  // (src/dtls/record_protection.h) instead of through SSL_write / SSL_read: the same bytes on
  // the wire at less than half the CPU per record. OpenSSL still runs the handshake, alerts and
  // retransmissions. Off: every record goes through OpenSSL's record layer (used by the tests
  // that check the two produce records the other accepts).
  bool direct_records = true;
};

enum class State : uint8_t { kNew, kHandshaking, kConnected, kClosed, kFailed };
std::string_view ToString(State s);

struct Transmit {
  std::vector<uint8_t> datagram;
};

struct Connected {
  Fingerprint remote_fingerprint;       // of the peer's leaf certificate, with the hash we verified
  std::string cipher;                   // OpenSSL's name, e.g. "ECDHE-ECDSA-AES128-GCM-SHA256"
  std::string srtp_profile;             // selected use_srtp profile (keys unused), or "none"
  bool extended_master_secret = false;  // always true: the handshake fails without it
};
struct ApplicationData {
  std::vector<uint8_t> data;
};
struct Closed {
  std::string reason;
  bool by_peer = false;
};
struct Failed {
  std::string reason;
};
using Event = std::variant<Connected, ApplicationData, Closed, Failed>;

struct Deadline {
  Instant at;  // Instant::Max() when no timer runs
};
using Output = std::variant<Transmit, Event, Deadline>;

enum class SendResult : uint8_t { kOk, kNotConnected, kTooLarge, kFailed };
std::string_view ToString(SendResult r);

struct Stats {
  uint64_t datagrams_received = 0;
  uint64_t datagrams_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t bytes_sent = 0;
  uint64_t handshake_timeouts = 0;  // OpenSSL retransmission timer expiries (flights resent)
  uint64_t events_dropped = 0;      // application records dropped because the event queue was full
  uint64_t buffer_releases = 0;     // idle releases of OpenSSL's record buffers (Options::idle_buffer_release)
  // Options::direct_records: records sealed / opened without OpenSSL's record layer, records
  // refused there (failed authentication, replayed, or a version other than DTLS 1.2), and
  // records OpenSSL wrote after we took over sending, which are never transmitted (they would
  // reuse our sequence numbers and nonces; none is needed once the peer has our Finished).
  uint64_t direct_records_sealed = 0;
  uint64_t direct_records_opened = 0;
  uint64_t direct_records_refused = 0;
  uint64_t openssl_writes_suppressed = 0;
  // Records dropped before OpenSSL read them because no key could have sealed them: an unknown
  // content type, an epoch above 1, a length no AEAD record has, or (direct_records) an
  // epoch-1 alert, handshake or change_cipher_spec record that fails authentication.
  uint64_t records_screened = 0;
  // Options::direct_records: OpenSSL's SSL object was freed once both directions were direct,
  // and the records that then came for it (anything but application data and the two alerts
  // acted on) and were dropped.
  bool openssl_released = false;
  uint64_t records_ignored = 0;
};

class Endpoint {
 public:
  Endpoint(const Options& options, std::shared_ptr<const Certificate> certificate, Rng& rng);
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  void Start(Instant now);
  void HandleDatagram(Instant now, ByteView datagram);
  void HandleTimeout(Instant now);
  [[nodiscard]] SendResult Send(Instant now, ByteView data);
  void Close(Instant now);
  [[nodiscard]] Output PollOutput(Instant now);
  // Optional: hands back a Transmit datagram or an ApplicationData buffer the caller is done
  // with; records sealed or opened directly (Options::direct_records) reuse it instead of
  // allocating (up to 16 kept, the rest freed).
  void RecycleBuffer(std::vector<uint8_t>&& buffer);

  State state() const;
  Role role() const;
  // Largest Send() payload that fits one datagram of Options::mtu with the negotiated suite
  // (0 before Connected).
  size_t max_application_payload() const;
  const Stats& stats() const;
  bool IsConsistent() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace peerlink::dtls
