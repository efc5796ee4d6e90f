#include "src/dtls/endpoint.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <mutex>

#include "src/base/check.h"
#include "src/base/fifo.h"
#include "src/dtls/record_protection.h"

namespace peerlink::dtls {

std::string_view ToString(Role r) {
  return r == Role::kClient ? "client" : "server";
}

std::string_view ToString(CipherSuite c) {
  switch (c) {
    case CipherSuite::kEcdheEcdsaAes128Gcm: return "ECDHE-ECDSA-AES128-GCM-SHA256";
    case CipherSuite::kEcdheEcdsaAes256Gcm: return "ECDHE-ECDSA-AES256-GCM-SHA384";
    case CipherSuite::kEcdheEcdsaChacha20Poly1305: return "ECDHE-ECDSA-CHACHA20-POLY1305";
  }
  return "?";
}

std::vector<CipherSuite> AllCipherSuites() {
  return {CipherSuite::kEcdheEcdsaAes128Gcm, CipherSuite::kEcdheEcdsaAes256Gcm,
          CipherSuite::kEcdheEcdsaChacha20Poly1305};
}

std::string_view ToString(State s) {
  switch (s) {
    case State::kNew: return "new";
    case State::kHandshaking: return "handshaking";
    case State::kConnected: return "connected";
    case State::kClosed: return "closed";
    case State::kFailed: return "failed";
  }
  return "?";
}

std::string_view ToString(SendResult r) {
  switch (r) {
    case SendResult::kOk: return "ok";
    case SendResult::kNotConnected: return "not connected";
    case SendResult::kTooLarge: return "too large for one datagram";
    case SendResult::kFailed: return "failed";
  }
  return "?";
}

namespace {
// OpenSSL refuses a DTLS MTU below this (dtls1_min_mtu with no BIO overhead).
constexpr size_t kMinMtu = 256;
// Largest DTLS record OpenSSL reads (2^14 plaintext + expansion); datagrams beyond it are
// truncated by our BIO, which OpenSSL then discards as a bad record.
constexpr size_t kMaxRecordRead = 16384 + 2048;

int VerifyCallback(X509_STORE_CTX* store, void* arg);

// The SSL_CTX for one cipher-suite list, built once per process and shared by every endpoint
// that uses that list, on any thread. Everything that differs between endpoints (certificate,
// key, chain, role, MTU, timer, verification data) is set on the SSL object instead, so a CTX
// is immutable once built; OpenSSL allows SSL_new on a shared, unmodified CTX from several
// threads. Building one costs about 0.15 ms and 4-7 KB with OpenSSL 3.0, which per connection
// was a tenth of the connect time. The cache holds at most one CTX per distinct list (there are
// 15 ordered subsets of the three suites) and is never freed: freeing at exit could run after
// OpenSSL's own atexit cleanup.
struct SharedContext {
  SSL_CTX* ctx = nullptr;
  std::string error;  // why it could not be built (ctx == nullptr)
};

SharedContext BuildContext(const std::string& ciphers) {
  SSL_CTX* ctx = SSL_CTX_new(DTLS_method());
  auto fail = [&ctx](std::string_view what) {
    if (ctx != nullptr) SSL_CTX_free(ctx);
    return SharedContext{nullptr, OpenSslError(std::string("DTLS setup failed: ") + std::string(what))};
  };
  if (ctx == nullptr) return fail("SSL_CTX_new");
  if (SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION) != 1) {
    return fail("restricting to DTLS 1.2");
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET | SSL_OP_NO_QUERY_MTU |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) != 1) return fail("SSL_CTX_set_cipher_list");
  if (SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1) return fail("SSL_CTX_set1_groups_list");
  if (SSL_CTX_set1_sigalgs_list(ctx, "ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512") != 1) {
    return fail("SSL_CTX_set1_sigalgs_list");
  }
  // use_srtp (RFC 5764) in both roles although data channels carry no SRTP: Pion and werift
  // fail their DTLS transport when no SRTP profile was selected; browsers offer it too.
  // (This OpenSSL call returns 0 on success.)
  if (SSL_CTX_set_tlsext_use_srtp(ctx, "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80") != 0) {
    return fail("SSL_CTX_set_tlsext_use_srtp");
  }
  // Both roles demand a certificate (the server sends CertificateRequest); the callback
  // replaces chain building with the fingerprint comparison. It finds its endpoint through the
  // SSL's app data (the CTX is shared, so its callback argument cannot name one).
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_cert_verify_callback(ctx, &VerifyCallback, nullptr);
  return SharedContext{ctx, {}};
}

// Returns a CTX without a new reference (the cache keeps its own for the process lifetime), or
// nullptr with `error` set.
SSL_CTX* ContextFor(const std::vector<CipherSuite>& suites, std::string* error) {
  std::string ciphers;
  for (CipherSuite c : suites) {
    if (!ciphers.empty()) ciphers += ':';
    ciphers += ToString(c);
  }
  static std::mutex mu;
  static auto* cache = new std::vector<std::pair<std::string, SSL_CTX*>>();  // never freed (above)
  std::lock_guard lock(mu);
  for (const auto& [key, ctx] : *cache) {
    if (key == ciphers) return ctx;
  }
  SharedContext built = BuildContext(ciphers);
  if (built.ctx == nullptr) {
    *error = std::move(built.error);
    return nullptr;
  }
  cache->emplace_back(ciphers, built.ctx);
  return built.ctx;
}
}  // namespace

struct Endpoint::Impl {
  Options options;
  std::shared_ptr<const Certificate> cert;
  State state = State::kNew;
  Stats stats;

  SSL* ssl = nullptr;

  // The datagram OpenSSL is reading (our BIO hands it over whole, preserving the boundary).
  ByteView pending_in;
  bool has_pending_in = false;
  // Datagrams OpenSSL wrote. During the handshake consecutive records written in one input
  // call share a datagram while they fit the MTU (fewer packets per flight, so fewer chances
  // to lose one); Send() writes exactly one record per datagram.
  Fifo<std::vector<uint8_t>> out;
  bool coalesce = false;
  size_t sealed = 0;  // out[0..sealed) may not be appended to

  Fifo<Event> events;
  std::optional<Instant> handshake_deadline;
  std::string verify_error;
  std::optional<Fingerprint> remote_fingerprint;
  std::string setup_error;
  bool failed_event_pending = false;

  // OpenSSL's record buffers (about 16 KB each way) are allocated while records flow and
  // released (SSL_free_buffers) at this time, Options::idle_buffer_release after the last
  // record once connected; unset when released or not connected.
  std::optional<Instant> release_at;
  // SSL_free_buffers succeeded and nothing has read since. OpenSSL 3.0's DTLS write path does
  // not allocate a missing write buffer (it would dereference NULL), but its read path
  // (dtls1_read_bytes) allocates both: EnsureBuffers reads before anything writes.
  bool buffers_released = false;

  // --- direct records (Options::direct_records) ----------------------------------------------
  std::optional<RecordProtection> direct;  // epoch-1 keys, from the handshake's master secret
  bool direct_read = false;                // application records of epoch 1 are opened here
  bool direct_write = false;               // and sealed here; OpenSSL's writes are suppressed
  ReplayWindow replay;                     // over the records opened here
  uint64_t next_seq = 0;                   // our next epoch-1 sequence number (direct_write)
  uint64_t next_explicit = 0;              // our next GCM explicit nonce (direct_write)
  // The last epoch-1 record OpenSSL wrote (seen in BioWrite): we continue after it.
  bool ossl_epoch1_written = false;
  uint64_t ossl_epoch1_max_seq = 0;
  uint64_t ossl_epoch1_last_explicit = 0;
  bool ossl_later_epoch = false;            // OpenSSL wrote an epoch above 1 (never expected): never switch
  size_t data_mtu = 0;                      // DTLS_get_data_mtu once connected (fixed from then on)
  std::vector<std::vector<uint8_t>> spare;  // RecycleBuffer: reused by SealDirect / OpenDirect
  static constexpr size_t kMaxSpare = 16;

  std::vector<uint8_t> TakeBuffer() {
    if (spare.empty()) return {};
    std::vector<uint8_t> b = std::move(spare.back());
    spare.pop_back();
    return b;
  }

  ~Impl() {
    if (ssl != nullptr) SSL_free(ssl);  // frees the BIO too; the shared CTX keeps its reference
  }

  // The BIO method is the same for every endpoint (the BIO's data names the endpoint): built
  // once, immutable, never freed. One per endpoint would also use up BIO_get_new_index's
  // small type-number space.
  static const BIO_METHOD* DatagramBioMethod() {
    static const BIO_METHOD* method = [] {
      BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "peerlink-dtls-datagram");
      if (m == nullptr || BIO_meth_set_write(m, &Impl::BioWrite) != 1 || BIO_meth_set_read(m, &Impl::BioRead) != 1 ||
          BIO_meth_set_ctrl(m, &Impl::BioCtrl) != 1 || BIO_meth_set_create(m, &Impl::BioCreate) != 1 ||
          BIO_meth_set_destroy(m, &Impl::BioDestroy) != 1) {
        if (m != nullptr) BIO_meth_free(m);
        return static_cast<BIO_METHOD*>(nullptr);
      }
      return m;
    }();
    return method;
  }

  // --- the memory datagram BIO -------------------------------------------------------------
  static int BioWrite(BIO* b, const char* data, int len) {
    auto* self = static_cast<Impl*>(BIO_get_data(b));
    BIO_clear_retry_flags(b);
    if (len <= 0) return 0;
    const auto* p = reinterpret_cast<const uint8_t*>(data);
    const size_t n = static_cast<size_t>(len);
    if (self->direct_write) {
      // OpenSSL's sequence numbers and nonces in epoch 1 are now ours: never send its records.
      ++self->stats.openssl_writes_suppressed;
      return len;
    }
    self->NoteOpenSslWrite(ByteView(p, n));
    if (self->coalesce && self->out.size() > self->sealed && self->out.back().size() + n <= self->options.mtu) {
      self->out.back().insert(self->out.back().end(), p, p + n);
    } else {
      self->out.emplace_back(p, p + n);
    }
    return len;
  }
  static int BioRead(BIO* b, char* data, int len) {
    auto* self = static_cast<Impl*>(BIO_get_data(b));
    BIO_clear_retry_flags(b);
    if (!self->has_pending_in) {
      BIO_set_retry_read(b);
      return -1;
    }
    const size_t n = std::min(self->pending_in.size(), static_cast<size_t>(std::max(len, 0)));
    std::copy_n(self->pending_in.data(), n, reinterpret_cast<uint8_t*>(data));
    self->has_pending_in = false;  // one datagram per read; a truncated tail is lost, as on UDP
    return static_cast<int>(n);
  }
  static long BioCtrl(BIO* /*b*/, int cmd, long /*num*/, void* /*ptr*/) {
    switch (cmd) {
      case BIO_CTRL_FLUSH: return 1;  // OpenSSL fails the handshake if a flush "fails"
      case BIO_CTRL_DGRAM_QUERY_MTU: return 0;
      case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD: return 0;  // Options::mtu is the UDP payload already
      case BIO_CTRL_WPENDING:
      case BIO_CTRL_PENDING: return 0;
      default: return 0;
    }
  }
  static int BioCreate(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
  }
  static int BioDestroy(BIO* b) {
    BIO_set_data(b, nullptr);
    return 1;
  }

  // RFC 6347 section 4.2.4.1: double the timer on each retransmission, from our initial value.
  static unsigned int TimerCallback(SSL* s, unsigned int previous_us) {
    auto* self = static_cast<Impl*>(SSL_get_app_data(s));
    const int64_t initial = std::max<int64_t>(self->options.initial_retransmit_timeout.micros(), 1000);
    const int64_t max = std::max<int64_t>(self->options.max_retransmit_timeout.micros(), initial);
    int64_t next = previous_us == 0 ? initial : std::min<int64_t>(int64_t{previous_us} * 2, max);
    return static_cast<unsigned int>(std::min<int64_t>(next, 0xffffffffLL));
  }

  // Replaces chain verification: the peer is self-signed, so it is authenticated by its
  // fingerprint alone. Returning 0 makes OpenSSL send a bad_certificate alert.
  int Verify(X509_STORE_CTX* store) {
    X509* leaf = X509_STORE_CTX_get0_cert(store);
    if (leaf == nullptr) {
      verify_error = "the peer sent no certificate";
      X509_STORE_CTX_set_error(store, X509_V_ERR_UNSPECIFIED);
      return 0;
    }
    // RFC 8122 section 5: verify with the strongest hash function offered.
    HashFunction hash = options.expected_remote.front().hash;
    for (const auto& fp : options.expected_remote) {
      if (Strength(fp.hash) > Strength(hash)) hash = fp.hash;
    }
    int len = i2d_X509(leaf, nullptr);
    if (len <= 0) {
      verify_error = "the peer's certificate cannot be encoded";
      X509_STORE_CTX_set_error(store, X509_V_ERR_UNSPECIFIED);
      return 0;
    }
    std::vector<uint8_t> der(static_cast<size_t>(len));
    unsigned char* p = der.data();
    i2d_X509(leaf, &p);
    Fingerprint actual = Fingerprint::OfDer(hash, der);
    std::string expected;
    for (const auto& fp : options.expected_remote) {
      if (fp.hash != hash) continue;
      if (fp == actual) {
        remote_fingerprint = actual;
        X509_STORE_CTX_set_error(store, X509_V_OK);
        return 1;
      }
      if (!expected.empty()) expected += " or ";
      expected += fp.ToString();
    }
    verify_error = "remote certificate fingerprint mismatch: expected " + expected + ", got " + actual.ToString();
    X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
    return 0;
  }

  // --- setup -------------------------------------------------------------------------------
  bool Setup() {
    ERR_clear_error();
    if (options.expected_remote.empty()) {
      setup_error = "no expected remote fingerprint: the peer cannot be authenticated";
      return false;
    }
    if (options.mtu < kMinMtu) {
      setup_error = "mtu " + std::to_string(options.mtu) + " is below the minimum of 256 bytes";
      return false;
    }
    if (options.cipher_suites.empty()) {
      setup_error = "no cipher suites enabled";
      return false;
    }
    if (cert == nullptr) {
      setup_error = "no certificate";
      return false;
    }
    SSL_CTX* ctx = ContextFor(options.cipher_suites, &setup_error);
    if (ctx == nullptr) return false;
    ssl = SSL_new(ctx);
    if (ssl == nullptr) return SetupFailed("SSL_new");
    SSL_set_app_data(ssl, this);  // found by the BIO-less callbacks (verify, timer)
    // The identity is per SSL so that the CTX can be shared by endpoints with different
    // certificates.
    if (SSL_use_certificate(ssl, cert->x509()) != 1) return SetupFailed("SSL_use_certificate");
    if (SSL_use_PrivateKey(ssl, cert->key()) != 1) return SetupFailed("SSL_use_PrivateKey");
    for (X509* c : cert->chain()) {
      if (SSL_add1_chain_cert(ssl, c) != 1) return SetupFailed("SSL_add1_chain_cert");
    }
    if (SSL_check_private_key(ssl) != 1) return SetupFailed("SSL_check_private_key");

    const BIO_METHOD* bio_method = DatagramBioMethod();
    if (bio_method == nullptr) return SetupFailed("BIO_meth_new");
    BIO* bio = BIO_new(bio_method);
    if (bio == nullptr) return SetupFailed("BIO_new");
    BIO_set_data(bio, this);
    SSL_set_bio(ssl, bio, bio);  // one reference, used for both directions

    SSL_set_options(ssl, SSL_OP_NO_QUERY_MTU);
    // Returns the MTU set (not 1), or 0 below dtls1_min_mtu.
    if (SSL_set_mtu(ssl, static_cast<long>(options.mtu)) <= 0) return SetupFailed("SSL_set_mtu");
    DTLS_set_timer_cb(ssl, &Impl::TimerCallback);
    if (options.role == Role::kClient) {
      SSL_set_connect_state(ssl);
    } else {
      SSL_set_accept_state(ssl);
    }
    return true;
  }

  bool SetupFailed(std::string_view what) {
    setup_error = OpenSslError(std::string("DTLS setup failed: ") + std::string(what));
    return false;
  }

  // --- direct records ------------------------------------------------------------------------
  // Remembers the last epoch-1 record OpenSSL wrote: its sequence number, and for GCM its
  // explicit nonce (OpenSSL counts those up from a random start, one per record).
  void NoteOpenSslWrite(ByteView written) {
    while (auto h = ParseRecordHeader(written)) {
      const size_t total = kRecordHeaderSize + h->length;
      if (total > written.size()) return;
      if (h->epoch > 1) {
        ossl_later_epoch = true;
      } else if (h->epoch == 1 && (!ossl_epoch1_written || h->seq > ossl_epoch1_max_seq)) {
        ossl_epoch1_written = true;
        ossl_epoch1_max_seq = h->seq;
        ByteReader r(written.subspan(kRecordHeaderSize, h->length));
        ossl_epoch1_last_explicit = r.U64();  // 0 if shorter (ChaCha20-Poly1305 has none)
      }
      written = written.subspan(total);
    }
  }

  void StartDirectRecords() {
    if (!options.direct_records) return;
    std::string why;
    direct = RecordProtection::FromSsl(ssl, options.role == Role::kClient, &why);
    ERR_clear_error();
    if (!direct) return;  // an unexpected suite or an OpenSSL failure: OpenSSL's layer stays
    if (direct->overhead() + data_mtu > options.mtu) {  // never expected: OpenSSL sized it the same way
      direct.reset();
      return;
    }
    direct_read = true;
    // The client has received the server's last flight, so it will never retransmit its own.
    if (options.role == Role::kClient) StartDirectWrite();
  }

  // Continues OpenSSL's epoch-1 sequence numbers and explicit nonces, so that none repeats.
  void StartDirectWrite() {
    if (!direct || direct_write || !ossl_epoch1_written || ossl_later_epoch) return;
    next_seq = ossl_epoch1_max_seq + 1;
    next_explicit = ossl_epoch1_last_explicit + 1;
    direct_write = true;
  }

  // One record of ours into `out` as its own datagram; false (and Failed) if it cannot be.
  bool SealDirect(ContentType type, ByteView payload) {
    constexpr uint64_t kLastSeq = (uint64_t{1} << 48) - 1;  // RFC 6347 4.1: must not wrap
    std::vector<uint8_t> record = TakeBuffer();
    if (next_seq > kLastSeq) {
      Fail("DTLS sequence numbers exhausted");
      return false;
    }
    if (!direct->Seal(type, 1, next_seq, next_explicit, payload, record)) {
      Fail(OpenSslError("DTLS record sealing failed"));
      return false;
    }
    PL_DCHECK(record.size() <= options.mtu || type != ContentType::kApplicationData);
    ++next_seq;
    ++next_explicit;
    ++stats.direct_records_sealed;
    out.push_back(std::move(record));
    return true;
  }

  void SealCloseNotify() {
    static constexpr uint8_t kCloseNotify[2] = {1, 0};  // warning(1), close_notify(0)
    (void)SealDirect(ContentType::kAlert, ByteView(kCloseNotify, 2));
  }

  // --- screening ------------------------------------------------------------------------------
  // Records that no key could have sealed are dropped before OpenSSL reads them, as RFC 6347
  // section 4.1.2.7 asks for invalid records. OpenSSL 3.0 itself fails the whole connection on
  // some of them: an unknown content type, and a record of epoch 1 too short to hold the AEAD
  // tag (an "internal error"). Worse, for a record whose length runs past its read buffer
  // (about 16.7 KB) it skips only the 13-byte header and reads what follows as further
  // records, so a forged body can carry either of those. (All found by the dtls_records fuzzer.) Anyone
  // able to spoof one datagram could end the connection. So OpenSSL is given only whole
  // records of a known type, a DTLS 1.2 version (OpenSSL drops others too) and a plausible
  // length, and nothing after the first record the datagram cuts short. Renegotiation is off,
  // so no epoch above 1 is ever used; OpenSSL would buffer up to 100 such records (about
  // 1.7 MB) as "next epoch".
  size_t MinProtectedLength() const {
    // RFC 5288 / 7905: the 16-byte tag, plus GCM's 8-byte explicit nonce. Before the suite is
    // chosen no epoch-1 record can be authentic, so the larger minimum is safe then.
    if (direct) return direct->has_explicit_nonce() ? 24 : 16;
    const SSL_CIPHER* c = ssl != nullptr ? SSL_get_current_cipher(ssl) : nullptr;
    return c != nullptr && SSL_CIPHER_get_cipher_nid(c) == NID_chacha20_poly1305 ? 16 : 24;
  }
  // 2^14 plus the 256 bytes of expansion TLS allows an AEAD suite (ours add 24 at most);
  // below OpenSSL's read buffer, so OpenSSL never sees a record it finds "too long".
  static constexpr size_t kMaxAdmissibleLength = 16384 + 256;
  static constexpr uint16_t kDtls10Version = 0xFEFF;  // a ClientHello's record may carry it
  bool Admissible(const RecordHeader& h, size_t min_protected) const {
    if (h.type < static_cast<uint8_t>(ContentType::kChangeCipherSpec) ||
        h.type > static_cast<uint8_t>(ContentType::kApplicationData)) {
      return false;
    }
    if (h.epoch > 1 || h.length > kMaxAdmissibleLength) return false;
    // Only DTLS 1.2 is negotiated; 1.0 is tolerated in epoch 0 until connected.
    const bool strict = h.epoch == 1 || state == State::kConnected;
    if (h.version != kDtls12Version && (strict || h.version != kDtls10Version)) return false;
    return h.epoch == 0 || h.length >= min_protected;
  }

  // `datagram` without the records Admissible refuses (counted in records_screened) and
  // without any record the datagram cuts short, or anything after it: the datagram itself when
  // there is nothing to remove, else a copy in `scratch` (started at the first removal).
  ByteView Screen(ByteView datagram, std::vector<uint8_t>& scratch) {
    const size_t min_protected = MinProtectedLength();
    bool copying = false;
    ByteView in = datagram;
    while (!in.empty()) {
      auto h = ParseRecordHeader(in);
      const bool whole = h && kRecordHeaderSize + h->length <= in.size();
      const bool keep = whole && Admissible(*h, min_protected);
      if (!keep && !copying) {
        scratch.assign(datagram.begin(), datagram.begin() + static_cast<std::ptrdiff_t>(datagram.size() - in.size()));
        copying = true;
      }
      if (!whole) {
        ++stats.records_screened;  // cut short: never authentic, and OpenSSL may misframe it
        break;
      }
      const size_t total = kRecordHeaderSize + h->length;
      if (!keep) {
        ++stats.records_screened;
      } else if (copying) {
        scratch.insert(scratch.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(total));
      }
      in = in.subspan(total);
    }
    return copying ? ByteView(scratch) : datagram;
  }

  // True if `fragment` opens with our epoch-1 read keys (direct_read). Used on the records of
  // epoch 1 that go to OpenSSL (alerts, a retransmitted Finished), so nothing forged does.
  bool Authentic(const RecordHeader& h, ByteView fragment) {
    std::vector<uint8_t> plain = TakeBuffer();
    const bool ok = h.version == kDtls12Version && direct->Open(h, fragment, plain);
    ERR_clear_error();
    RecycleBuffer(std::move(plain));
    return ok;
  }

  // A datagram once direct_read: application records of epoch 1 are opened here; every other
  // record (alerts, a retransmitted handshake flight) goes to OpenSSL. Order is kept: records
  // for OpenSSL that precede an application record are handed over before it is opened, so a
  // close_notify ends the connection before data packed behind it could be delivered.
  void HandleDirect(Instant now, ByteView datagram) {
    std::vector<uint8_t> for_openssl;
    auto hand_over = [&] {
      if (for_openssl.empty()) return;
      BeginInput();
      pending_in = for_openssl;
      has_pending_in = true;
      Drive(now);
      has_pending_in = false;
      pending_in = {};
      for_openssl.clear();
    };
    const size_t min_protected = MinProtectedLength();
    ByteView in = datagram;
    while (auto h = ParseRecordHeader(in)) {
      const size_t total = kRecordHeaderSize + h->length;
      if (total > in.size()) {  // cut short: dropped with whatever follows (see Screen)
        ++stats.records_screened;
        break;
      }
      const ByteView record = in.first(total);
      in = in.subspan(total);
      if (h->type == static_cast<uint8_t>(ContentType::kApplicationData) && h->epoch == 1) {
        hand_over();
        if (state != State::kConnected) return;
        OpenDirect(*h, record.subspan(kRecordHeaderSize));
        if (state != State::kConnected) return;
      } else if (!Admissible(*h, min_protected) ||
                 (h->epoch == 1 && ssl != nullptr && !Authentic(*h, record.subspan(kRecordHeaderSize)))) {
        ++stats.records_screened;
      } else if (ssl == nullptr) {
        HandleWithoutOpenSsl(*h, record.subspan(kRecordHeaderSize));
        if (state != State::kConnected) return;
      } else {
        for_openssl.insert(for_openssl.end(), record.begin(), record.end());
      }
    }
    hand_over();
  }

  // Once OpenSSL is freed (MaybeReleaseOpenSsl), what it would still have read: an authenticated
  // alert of epoch 1. close_notify is answered and closes; a fatal alert fails the connection.
  // Everything else is dropped: a handshake record of either epoch is a late retransmission
  // (both sides have finished) or a renegotiation, which is off; a warning alert asks nothing.
  void HandleWithoutOpenSsl(const RecordHeader& h, ByteView fragment) {
    if (h.type != static_cast<uint8_t>(ContentType::kAlert) || h.epoch != 1) {
      ++stats.records_ignored;
      return;
    }
    std::optional<std::vector<uint8_t>> opened = OpenRecord(h, fragment);
    if (!opened) return;
    std::vector<uint8_t>& plain = *opened;
    const AlertAction action = ActionForAlert(plain);
    const int description = plain.size() == 2 ? plain[1] : -1;
    RecycleBuffer(std::move(plain));
    switch (action) {
      case AlertAction::kClose:  // answered with ours (RFC 5246 section 7.2.1)
        SealCloseNotify();
        state = State::kClosed;
        events.push_back(Closed{"the peer sent close_notify", true});
        break;
      case AlertAction::kFail: Fail("the peer sent fatal alert " + std::to_string(description)); break;
      case AlertAction::kMalformed: Fail("the peer sent a malformed alert"); break;
      case AlertAction::kIgnore: ++stats.records_ignored; break;
    }
  }

  // Frees the SSL object once both directions are direct: nothing is left for OpenSSL to read,
  // write or retransmit (the client has the server's Finished, and the server has seen the
  // client use the keys). Called only between inputs, never while OpenSSL is on the stack.
  void MaybeReleaseOpenSsl() {
    if (ssl == nullptr || !direct_read || !direct_write || state != State::kConnected) return;
    SSL_free(ssl);  // the BIO with it
    ssl = nullptr;
    cert.reset();  // nothing signs again: our identity is the owner's to keep or let go
    buffers_released = false;
    stats.openssl_released = true;
  }

  // The plaintext of an epoch-1 record of ours to open: DTLS 1.2, not replayed, and
  // authenticated with our read keys (then marked in the replay window and counted). nullopt,
  // counted as refused, otherwise: RFC 6347 4.1.2.7 drops invalid records silently.
  std::optional<std::vector<uint8_t>> OpenRecord(const RecordHeader& h, ByteView fragment) {
    std::vector<uint8_t> plain = TakeBuffer();
    if (h.version != kDtls12Version || !replay.IsFresh(h.seq) || !direct->Open(h, fragment, plain)) {
      ++stats.direct_records_refused;
      ERR_clear_error();
      RecycleBuffer(std::move(plain));
      return std::nullopt;
    }
    replay.Mark(h.seq);
    ++stats.direct_records_opened;
    return plain;
  }

  void OpenDirect(const RecordHeader& h, ByteView fragment) {
    std::optional<std::vector<uint8_t>> opened = OpenRecord(h, fragment);
    if (!opened) return;
    std::vector<uint8_t>& plain = *opened;
    // An authenticated application record: the client has our Finished (server side).
    if (!direct_write) StartDirectWrite();
    if (plain.empty() || events.size() >= options.max_queued_events) {
      // SSL_read delivers nothing for an empty record either.
      if (!plain.empty()) ++stats.events_dropped;
      RecycleBuffer(std::move(plain));
    } else {
      events.push_back(ApplicationData{std::move(plain)});
    }
  }

  void RecycleBuffer(std::vector<uint8_t>&& b) {
    // Kept at their size: Seal / Open resize to what they need, so a reused buffer of a
    // full-size record is not zero-filled again.
    if (spare.size() < kMaxSpare && b.capacity() >= options.mtu / 2 && b.capacity() <= 2 * kMaxRecordRead) {
      spare.push_back(std::move(b));
    }
  }

  // --- state changes -------------------------------------------------------------------------
  void Fail(std::string reason) {
    if (state == State::kFailed || state == State::kClosed) return;
    state = State::kFailed;
    handshake_deadline.reset();
    events.push_back(Failed{std::move(reason)});
  }

  std::string HandshakeError(std::string_view what) {
    if (!verify_error.empty()) {
      ERR_clear_error();
      return verify_error;
    }
    return OpenSslError(what);
  }

  void BeginInput() {
    ERR_clear_error();
    sealed = out.size();
  }

  // A record went out or came in: the record buffers are in use again (OpenSSL reallocates
  // released ones on demand); release them once the connection has been quiet for a while.
  void NoteTraffic(Instant now) {
    if (state != State::kConnected || options.idle_buffer_release == Duration::Infinite()) return;
    release_at = now + options.idle_buffer_release;
  }

  void MaybeReleaseBuffers(Instant now) {
    if (!release_at || now < *release_at) return;
    if (state != State::kConnected) {
      release_at.reset();
      return;
    }
    if (direct) direct->ReleaseContexts();
    spare = {};
    // Refused (0) while a record is partly read or written; cannot happen between inputs with
    // this BIO, but then simply try again later.
    if (ssl == nullptr || SSL_free_buffers(ssl) == 1) {
      release_at.reset();
      buffers_released = ssl != nullptr;
      ++stats.buffer_releases;
    } else {
      release_at = now + options.idle_buffer_release;
    }
  }

  // Before SSL_write, SSL_shutdown or a retransmission: a read (there is no datagram for it,
  // so it finds nothing) makes OpenSSL allocate the released buffers again.
  void EnsureBuffers(Instant now) {
    if (buffers_released) ReadApplicationData(now);
  }

  void Begin(Instant now) {
    state = State::kHandshaking;
    handshake_deadline = now + options.handshake_timeout;
  }

  void Drive(Instant now) {
    if (state == State::kHandshaking) {
      coalesce = true;
      const int r = SSL_do_handshake(ssl);
      coalesce = false;
      if (r == 1) {
        OnHandshakeDone();
      } else {
        const int err = SSL_get_error(ssl, r);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
          Fail(HandshakeError("DTLS handshake failed"));
          return;
        }
      }
    }
    if (state == State::kConnected) ReadApplicationData(now);
  }

  void OnHandshakeDone() {
    handshake_deadline.reset();
    if (!remote_fingerprint.has_value()) {
      Fail("handshake completed without verifying the peer's certificate");
      return;
    }
    if (SSL_version(ssl) != DTLS1_2_VERSION) {
      Fail("negotiated a protocol version other than DTLS 1.2");
      return;
    }
    if (SSL_get_extms_support(ssl) != 1) {
      // RFC 7627 / RFC 8827 section 6.5: without it the session can be re-synchronised.
      Fail("the peer did not negotiate the extended master secret (RFC 7627)");
      return;
    }
    state = State::kConnected;
    data_mtu = DTLS_get_data_mtu(ssl);
    Connected c;
    c.remote_fingerprint = *remote_fingerprint;
    const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
    c.cipher = cipher != nullptr ? SSL_CIPHER_get_name(cipher) : "";
    const SRTP_PROTECTION_PROFILE* srtp = SSL_get_selected_srtp_profile(ssl);
    c.srtp_profile = srtp != nullptr && srtp->name != nullptr ? srtp->name : "none";
    c.extended_master_secret = true;
    events.push_back(std::move(c));
    StartDirectRecords();
  }

  void ReadApplicationData(Instant /*now*/) {
    buffers_released = false;  // SSL_read allocates the record buffers if they were released
    std::array<uint8_t, kMaxRecordRead> buf;
    for (int guard = 0; guard < 64; ++guard) {
      const int n = SSL_read(ssl, buf.data(), static_cast<int>(buf.size()));
      if (n > 0) {
        // The client sends application data only once it has our Finished (server side).
        if (direct && !direct_write) StartDirectWrite();
        if (events.size() >= options.max_queued_events) {
          ++stats.events_dropped;
        } else {
          events.push_back(ApplicationData{std::vector<uint8_t>(buf.data(), buf.data() + n)});
        }
        continue;
      }
      const int err = SSL_get_error(ssl, n);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
      if (err == SSL_ERROR_ZERO_RETURN) {
        // close_notify: answer with ours (RFC 5246 section 7.2.1) and stop.
        if (direct_write) {
          SealCloseNotify();
        } else {
          SSL_shutdown(ssl);
        }
        state = State::kClosed;
        events.push_back(Closed{"the peer sent close_notify", true});
        return;
      }
      Fail(OpenSslError("DTLS connection failed"));
      return;
    }
  }
};

namespace {
// The CTX-wide verify callback: the endpoint is the app data of the SSL being verified.
int VerifyCallback(X509_STORE_CTX* store, void* /*arg*/) {
  auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* self = ssl != nullptr ? static_cast<Endpoint::Impl*>(SSL_get_app_data(ssl)) : nullptr;
  if (self == nullptr) {
    X509_STORE_CTX_set_error(store, X509_V_ERR_UNSPECIFIED);
    return 0;
  }
  return self->Verify(store);
}
}  // namespace

Endpoint::Endpoint(const Options& options, std::shared_ptr<const Certificate> certificate, Rng& /*rng*/)
    : impl_(std::make_unique<Impl>()) {
  // OpenSSL draws the handshake randoms and ECDHE keys from its own CSPRNG; there is nothing
  // in DTLS for an injected generator to decide.
  impl_->options = options;
  impl_->cert = std::move(certificate);
  if (!impl_->Setup()) impl_->Fail(impl_->setup_error);
}

Endpoint::~Endpoint() = default;

void Endpoint::Start(Instant now) {
  Impl& d = *impl_;
  if (d.state != State::kNew) return;
  d.BeginInput();
  d.Begin(now);
  if (d.options.role == Role::kClient) d.Drive(now);
}

void Endpoint::HandleDatagram(Instant now, ByteView datagram) {
  Impl& d = *impl_;
  ++d.stats.datagrams_received;
  d.stats.bytes_received += datagram.size();
  if (d.state == State::kFailed || d.state == State::kClosed) return;
  // RFC 7983: only 20..63 is DTLS; OpenSSL would discard the rest anyway.
  if (datagram.empty() || datagram[0] < 20 || datagram[0] > 63) return;
  if (d.direct_read && d.state == State::kConnected) {
    d.HandleDirect(now, datagram);
    d.MaybeReleaseOpenSsl();
    d.NoteTraffic(now);
    PL_DCHECK(IsConsistent());
    return;
  }
  if (d.state == State::kNew && d.options.role == Role::kClient) return;  // nothing to answer before our ClientHello
  std::vector<uint8_t> screened;
  const ByteView admitted = d.Screen(datagram, screened);
  if (admitted.empty()) return;  // OpenSSL would read an empty datagram as the end of its input
  if (d.state == State::kNew) d.Begin(now);
  d.BeginInput();
  d.pending_in = admitted;
  d.has_pending_in = true;
  d.Drive(now);
  d.has_pending_in = false;
  d.pending_in = {};
  d.MaybeReleaseOpenSsl();
  d.NoteTraffic(now);
  PL_DCHECK(IsConsistent());
}

void Endpoint::HandleTimeout(Instant now) {
  Impl& d = *impl_;
  if (d.state != State::kHandshaking && d.state != State::kConnected) return;
  d.BeginInput();
  if (d.handshake_deadline && now >= *d.handshake_deadline) {
    d.Fail("DTLS handshake timed out after " + d.options.handshake_timeout.ToString());
    return;
  }
  if (d.ssl == nullptr) {  // released: no handshake timer runs, only the idle release
    d.MaybeReleaseBuffers(now);
    return;
  }
  if (d.buffers_released) {
    timeval tv{};
    if (DTLSv1_get_timeout(d.ssl, &tv) == 1) d.EnsureBuffers(now);  // a retransmission would write
    if (d.state != State::kHandshaking && d.state != State::kConnected) return;
  }
  d.coalesce = true;
  const int r = DTLSv1_handle_timeout(d.ssl);
  d.coalesce = false;
  if (r > 0) {
    ++d.stats.handshake_timeouts;
    d.NoteTraffic(now);
  } else if (r < 0) {
    d.Fail(d.HandshakeError("DTLS retransmission failed"));
  }
  d.MaybeReleaseBuffers(now);
  d.MaybeReleaseOpenSsl();
  PL_DCHECK(IsConsistent());
}

SendResult Endpoint::Send(Instant now, ByteView data) {
  Impl& d = *impl_;
  if (d.state == State::kFailed) return SendResult::kFailed;
  if (d.state != State::kConnected) return SendResult::kNotConnected;
  if (data.size() > max_application_payload()) return SendResult::kTooLarge;
  if (data.empty()) return SendResult::kOk;
  if (d.direct_write) {
    if (!d.SealDirect(ContentType::kApplicationData, data)) return SendResult::kFailed;
    d.NoteTraffic(now);
    return SendResult::kOk;
  }
  d.BeginInput();
  d.EnsureBuffers(now);
  if (d.state != State::kConnected) return d.state == State::kFailed ? SendResult::kFailed : SendResult::kNotConnected;
  const int r = SSL_write(d.ssl, data.data(), static_cast<int>(data.size()));
  if (r != static_cast<int>(data.size())) {
    d.Fail(OpenSslError("DTLS write failed"));
    return SendResult::kFailed;
  }
  d.NoteTraffic(now);
  return SendResult::kOk;
}

void Endpoint::Close(Instant now) {
  Impl& d = *impl_;
  if (d.state == State::kFailed || d.state == State::kClosed) return;
  if (d.direct_write) {
    d.SealCloseNotify();
  } else {
    d.BeginInput();
    d.EnsureBuffers(now);
    if (d.state == State::kFailed || d.state == State::kClosed) return;
    if (d.state != State::kNew) SSL_shutdown(d.ssl);  // close_notify (an alert, also valid mid-handshake)
  }
  if (d.state == State::kFailed) return;
  d.state = State::kClosed;
  d.handshake_deadline.reset();
  d.events.push_back(Closed{"closed locally", false});
}

Output Endpoint::PollOutput(Instant now) {
  Impl& d = *impl_;
  if (!d.out.empty()) {
    Transmit t{std::move(d.out.front())};
    d.out.pop_front();
    if (d.sealed > 0) --d.sealed;
    ++d.stats.datagrams_sent;
    d.stats.bytes_sent += t.datagram.size();
    return t;
  }
  if (!d.events.empty()) {
    Event e = std::move(d.events.front());
    d.events.pop_front();
    return e;
  }
  Instant at = Instant::Max();
  if (d.state == State::kHandshaking || d.state == State::kConnected) {
    timeval tv{};
    if (d.ssl != nullptr && DTLSv1_get_timeout(d.ssl, &tv) == 1) {
      at = now + Duration::Seconds(tv.tv_sec) + Duration::Micros(tv.tv_usec);
    }
    if (d.handshake_deadline) at = std::min(at, *d.handshake_deadline);
    if (d.release_at && d.state == State::kConnected) at = std::min(at, *d.release_at);
  }
  return Deadline{at};
}

void Endpoint::RecycleBuffer(std::vector<uint8_t>&& buffer) {
  impl_->RecycleBuffer(std::move(buffer));
}

State Endpoint::state() const {
  return impl_->state;
}
Role Endpoint::role() const {
  return impl_->options.role;
}
const Stats& Endpoint::stats() const {
  return impl_->stats;
}

size_t Endpoint::max_application_payload() const {
  if (impl_->state != State::kConnected) return 0;
  return impl_->data_mtu;
}

bool Endpoint::IsConsistent() const {
  const Impl& d = *impl_;
  if (d.state == State::kConnected && !d.remote_fingerprint) return false;
  if ((d.direct_read || d.direct_write) && !d.direct.has_value()) return false;
  // Without OpenSSL only the direct path is left to read and write.
  if (d.ssl == nullptr && d.stats.openssl_released && (!d.direct_read || !d.direct_write)) return false;
  if (d.sealed > d.out.size() + 1) return false;
  for (const auto& dgram : d.out) {
    if (dgram.size() > d.options.mtu) return false;
  }
  return d.state != State::kHandshaking || d.handshake_deadline.has_value();
}

}  // namespace peerlink::dtls
