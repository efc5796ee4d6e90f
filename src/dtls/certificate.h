// A DTLS identity, like WebRTC's RTCCertificate: an ECDSA P-256 key and a self-signed X.509
// certificate. Immutable after creation and shared (std::shared_ptr<const Certificate>) by any
// number of Endpoints, on any threads (OpenSSL reference-counts the key and certificate and
// only reads them).
//
// Not a protocol core: Generate() reads the wall clock (validity dates) and OpenSSL's CSPRNG
// (the key); the serial number comes from the injected Rng.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "src/base/result.h"
#include "src/base/rng.h"
#include "src/base/time.h"
#include "src/dtls/fingerprint.h"

// OpenSSL types, without including OpenSSL headers here.
struct x509_st;
struct evp_pkey_st;

namespace peerlink::dtls {

class Certificate {
 public:
  struct GenerateOptions {
    std::string common_name = "peerlink";  // short, random-looking names are fine too
    Duration validity = Duration::Seconds(30 * 24 * 3600);
  };

  // A fresh P-256 key and a self-signed certificate (random 128-bit serial, SHA-256 signature,
  // notBefore one day in the past to tolerate clock skew). Errors carry OpenSSL's text.
  static Result<std::shared_ptr<const Certificate>, std::string> Generate(Rng& rng, const GenerateOptions& options);
  static Result<std::shared_ptr<const Certificate>, std::string> Generate(Rng& rng) {
    return Generate(rng, GenerateOptions{});
  }

  // PEM: one PRIVATE KEY block, then the certificate, then optional further CERTIFICATE blocks
  // (a chain, sent to the peer as-is; the peer checks only the leaf's fingerprint). The key
  // must match the certificate. The key is written unencrypted: protect the file.
  static Result<std::shared_ptr<const Certificate>, std::string> FromPem(std::string_view pem);
  std::string ToPem() const;

  // The SDP a=fingerprint value of the leaf certificate (RFC 8122): "sha-256 AB:CD:...".
  Fingerprint GetFingerprint(HashFunction hash = HashFunction::kSha256) const;
  // DER bytes of the leaf certificate.
  std::vector<uint8_t> Der() const;

  // Borrowed OpenSSL handles (valid while this object lives); for the dtls layer.
  x509_st* x509() const { return cert_; }
  evp_pkey_st* key() const { return key_; }
  const std::vector<x509_st*>& chain() const { return chain_; }

  ~Certificate();
  Certificate(const Certificate&) = delete;
  Certificate& operator=(const Certificate&) = delete;

 private:
  Certificate(evp_pkey_st* key, x509_st* cert, std::vector<x509_st*> chain);
  evp_pkey_st* key_;
  x509_st* cert_;
  std::vector<x509_st*> chain_;
};

// The first error on OpenSSL's thread-local error queue as text ("error:0A000086:SSL
// routines::certificate verify failed"), prefixed with `what`; clears the queue.
std::string OpenSslError(std::string_view what);

}  // namespace peerlink::dtls
