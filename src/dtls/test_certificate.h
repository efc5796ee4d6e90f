// A deterministic self-signed certificate for tests and fuzz targets (never for connections a
// user makes: the key comes from a seeded generator).
#pragma once

#include <cstdint>
#include <memory>

#include "src/base/check.h"
#include "src/base/rng.h"
#include "src/dtls/certificate.h"

namespace peerlink::dtls {

inline std::shared_ptr<const Certificate> TestCertificate(uint64_t seed) {
  SeededRng rng(seed);
  auto cert = Certificate::Generate(rng);
  PL_CHECK(cert.ok());
  return *cert;
}

}  // namespace peerlink::dtls
