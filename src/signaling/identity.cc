#include "src/signaling/identity.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "src/base/check.h"
#include "src/base/crypto.h"

namespace peerlink::signaling {

namespace {

constexpr size_t kEd25519KeyBytes = 32;
constexpr size_t kEd25519SigBytes = 64;
constexpr std::string_view kCanonicalPrefix = "peerlink sdp identity v1";
constexpr size_t kMaxFingerprints = 16;
constexpr size_t kMaxFingerprintChars = 256;
constexpr size_t kMaxPemBytes = size_t{16} * 1024;

IdentityError Error(IdentityErrorCode code, std::string message) {
  return IdentityError{code, std::move(message)};
}

std::string Base64UrlEncode(ByteView data) {
  std::string s = crypto::Base64Encode(data);
  while (!s.empty() && s.back() == '=')
    s.pop_back();
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return s;
}

std::optional<std::vector<uint8_t>> Base64UrlDecode(std::string_view text) {
  if (text.size() > 4096) return std::nullopt;
  std::string s(text);
  for (char& c : s) {
    if (c == '-') {
      c = '+';
    } else if (c == '_') {
      c = '/';
    } else if (c == '+' || c == '/' || c == '=') {
      return std::nullopt;  // not base64url
    }
  }
  if (s.size() % 4 == 1) return std::nullopt;
  while (s.size() % 4 != 0)
    s.push_back('=');
  return crypto::Base64Decode(s);
}

std::string RawPublicKeyId(EVP_PKEY* key) {
  uint8_t raw[kEd25519KeyBytes];
  size_t len = sizeof(raw);
  PL_CHECK(EVP_PKEY_get_raw_public_key(key, raw, &len) == 1 && len == kEd25519KeyBytes);
  return Base64UrlEncode(ByteView(raw, len));
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using Bio = std::unique_ptr<BIO, BioDeleter>;

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

void AppendField(std::vector<uint8_t>& out, std::string_view field) {
  uint32_t n = static_cast<uint32_t>(field.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<uint8_t>(n >> shift));
  out.insert(out.end(), field.begin(), field.end());
}

// "sha-256 ab:cd" -> "sha-256 AB:CD"; empty on a value that is not a fingerprint.
std::string CanonicalFingerprint(std::string_view value) {
  size_t sp = value.find_first_of(" \t");
  if (sp == std::string_view::npos) return {};
  std::string_view algo = value.substr(0, sp);
  std::string_view fp = value.substr(sp);
  while (!fp.empty() && (fp.front() == ' ' || fp.front() == '\t'))
    fp.remove_prefix(1);
  while (!fp.empty() && (fp.back() == ' ' || fp.back() == '\t'))
    fp.remove_suffix(1);
  if (algo.empty() || fp.empty() || algo.size() + fp.size() + 1 > kMaxFingerprintChars) return {};
  std::string out;
  for (char c : algo) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return {};
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  out.push_back(' ');
  for (char c : fp) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':') return {};
    out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

}  // namespace

namespace internal {
void PkeyDeleter::operator()(EVP_PKEY* k) const {
  EVP_PKEY_free(k);
}
}  // namespace internal

std::string_view ToString(IdentityErrorCode c) {
  switch (c) {
    case IdentityErrorCode::kUnknownIdentity: return "unknown identity";
    case IdentityErrorCode::kBadSignature: return "bad signature";
    case IdentityErrorCode::kFingerprintMismatch: return "fingerprint mismatch";
    case IdentityErrorCode::kMalformed: return "malformed";
    case IdentityErrorCode::kIo: return "i/o error";
    case IdentityErrorCode::kMissingSignature: return "missing identity signature";
  }
  return "unknown";
}

// ---- IdentityPublicKey ----

Result<IdentityPublicKey, IdentityError> IdentityPublicKey::FromId(std::string_view id) {
  auto raw = Base64UrlDecode(id);
  if (!raw || raw->size() != kEd25519KeyBytes)
    return MakeUnexpected(Error(IdentityErrorCode::kMalformed, "identity is not base64url of a 32-byte Ed25519 key"));
  EVP_PKEY* k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw->data(), raw->size());
  if (k == nullptr) return MakeUnexpected(Error(IdentityErrorCode::kMalformed, "invalid Ed25519 public key"));
  std::shared_ptr<EVP_PKEY> key(k, internal::PkeyDeleter{});
  std::string canonical = RawPublicKeyId(k);
  return IdentityPublicKey(std::move(key), std::move(canonical));
}

Result<IdentityPublicKey, IdentityError> IdentityPublicKey::FromPem(std::string_view pem) {
  if (pem.size() > kMaxPemBytes)
    return MakeUnexpected(Error(IdentityErrorCode::kMalformed, "public key PEM too large"));
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PL_CHECK(bio != nullptr);
  EVP_PKEY* k = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (k == nullptr) return MakeUnexpected(Error(IdentityErrorCode::kMalformed, "not a PUBLIC KEY PEM"));
  std::shared_ptr<EVP_PKEY> key(k, internal::PkeyDeleter{});
  if (EVP_PKEY_get_id(k) != EVP_PKEY_ED25519)
    return MakeUnexpected(Error(IdentityErrorCode::kMalformed, "public key is not Ed25519"));
  std::string id = RawPublicKeyId(k);
  return IdentityPublicKey(std::move(key), std::move(id));
}

std::string IdentityPublicKey::ToPem() const {
  Bio bio(BIO_new(BIO_s_mem()));
  PL_CHECK(bio != nullptr && PEM_write_bio_PUBKEY(bio.get(), key_.get()) == 1);
  return BioToString(bio.get());
}

bool IdentityPublicKey::Verify(ByteView message, ByteView signature) const {
  if (signature.size() != kEd25519SigBytes) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  PL_CHECK(ctx != nullptr);
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key_.get()) == 1 &&
            EVP_DigestVerify(ctx, signature.data(), signature.size(), message.data(), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

// ---- IdentityKey ----

IdentityKey::IdentityKey(std::unique_ptr<EVP_PKEY, internal::PkeyDeleter> key)
    : key_(std::move(key)), id_(RawPublicKeyId(key_.get())) {}

IdentityKey IdentityKey::Generate() {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  PL_CHECK(k != nullptr);
  return IdentityKey(std::unique_ptr<EVP_PKEY, internal::PkeyDeleter>(k));
}

Result<IdentityKey, IdentityError> IdentityKey::FromPem(std::string_view pem) {
  if (pem.size() > kMaxPemBytes)
    return MakeUnexpected(Error(IdentityErrorCode::kMalformed, "private key PEM too large"));
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PL_CHECK(bio != nullptr);
  // A null passphrase callback with no user data: encrypted keys fail instead of prompting.
  EVP_PKEY* k = PEM_read_bio_PrivateKey(
      bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr);
  if (k == nullptr) return MakeUnexpected(Error(IdentityErrorCode::kMalformed, "not an unencrypted PRIVATE KEY PEM"));
  std::unique_ptr<EVP_PKEY, internal::PkeyDeleter> key(k);
  if (EVP_PKEY_get_id(k) != EVP_PKEY_ED25519)
    return MakeUnexpected(Error(IdentityErrorCode::kMalformed, "private key is not Ed25519"));
  return IdentityKey(std::move(key));
}

Result<IdentityKey, IdentityError> IdentityKey::ReadPemFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeUnexpected(Error(IdentityErrorCode::kIo, "cannot open identity key file " + path));
  std::string pem(kMaxPemBytes + 1, '\0');
  in.read(pem.data(), static_cast<std::streamsize>(pem.size()));
  pem.resize(static_cast<size_t>(in.gcount()));
  auto key = FromPem(pem);
  if (!key.ok()) return MakeUnexpected(Error(key.error().code, key.error().message + " in " + path));
  return key;
}

std::string IdentityKey::ToPem() const {
  Bio bio(BIO_new(BIO_s_mem()));
  PL_CHECK(bio != nullptr &&
           PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1);
  return BioToString(bio.get());
}

Result<bool, IdentityError> IdentityKey::WritePemFile(const std::string& path) const {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return MakeUnexpected(Error(IdentityErrorCode::kIo, "cannot create identity key file " + path));
  std::string pem = ToPem();
  size_t off = 0;
  while (off < pem.size()) {
    ssize_t n = ::write(fd, pem.data() + off, pem.size() - off);
    if (n <= 0) {
      ::close(fd);
      return MakeUnexpected(Error(IdentityErrorCode::kIo, "cannot write identity key file " + path));
    }
    off += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return MakeUnexpected(Error(IdentityErrorCode::kIo, "cannot write identity key file " + path));
  return true;
}

IdentityPublicKey IdentityKey::public_key() const {
  auto pub = IdentityPublicKey::FromId(id_);
  PL_CHECK(pub.ok());
  return std::move(pub).value();
}

std::vector<uint8_t> IdentityKey::Sign(ByteView message) const {
  std::vector<uint8_t> sig(kEd25519SigBytes);
  size_t len = sig.size();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  PL_CHECK(ctx != nullptr);
  PL_CHECK(EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_.get()) == 1);
  PL_CHECK(EVP_DigestSign(ctx, sig.data(), &len, message.data(), message.size()) == 1);
  EVP_MD_CTX_free(ctx);
  PL_CHECK(len == kEd25519SigBytes);
  return sig;
}

// ---- descriptions ----

nlohmann::json DescriptionSignature::ToJson() const {
  return nlohmann::json{{"id", identity}, {"fingerprints", fingerprints}, {"sig", Base64UrlEncode(signature)}};
}

Result<DescriptionSignature, IdentityError> DescriptionSignature::FromJson(const nlohmann::json& j) {
  auto bad = [](const char* what) { return MakeUnexpected(Error(IdentityErrorCode::kMalformed, what)); };
  if (!j.is_object()) return bad("identity: not an object");
  auto id = j.find("id");
  auto fps = j.find("fingerprints");
  auto sig = j.find("sig");
  if (id == j.end() || !id->is_string() || id->get_ref<const std::string&>().size() > 64)
    return bad("identity.id: missing or not a string");
  if (fps == j.end() || !fps->is_array() || fps->size() > kMaxFingerprints)
    return bad("identity.fingerprints: missing or not an array");
  if (sig == j.end() || !sig->is_string()) return bad("identity.sig: missing or not a string");
  DescriptionSignature out;
  out.identity = id->get<std::string>();
  for (const auto& f : *fps) {
    if (!f.is_string() || f.get_ref<const std::string&>().size() > kMaxFingerprintChars)
      return bad("identity.fingerprints: element is not a fingerprint string");
    out.fingerprints.push_back(f.get<std::string>());
  }
  auto raw = Base64UrlDecode(sig->get_ref<const std::string&>());
  if (!raw || raw->size() != kEd25519SigBytes) return bad("identity.sig: not base64url of 64 bytes");
  out.signature = std::move(*raw);
  return out;
}

std::vector<std::string> ExtractFingerprints(std::string_view sdp) {
  constexpr std::string_view kAttr = "a=fingerprint:";
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < sdp.size()) {
    size_t end = sdp.find('\n', pos);
    if (end == std::string_view::npos) end = sdp.size();
    std::string_view line = sdp.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.substr(0, kAttr.size()) != kAttr) continue;
    std::string fp = CanonicalFingerprint(line.substr(kAttr.size()));
    // A malformed fingerprint line still counts (as its raw text), so it cannot be slipped past
    // the comparison by making it unparsable.
    out.push_back(fp.empty() ? std::string(line.substr(kAttr.size(), kMaxFingerprintChars)) : std::move(fp));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<uint8_t> CanonicalDescriptionBytes(const DescriptionBinding& binding,
                                               std::string_view signer_id,
                                               const std::vector<std::string>& fingerprints) {
  std::vector<uint8_t> out(kCanonicalPrefix.begin(), kCanonicalPrefix.end());
  AppendField(out, binding.room);
  AppendField(out, binding.sdp_type);
  AppendField(out, binding.from_peer_id);
  AppendField(out, binding.to_peer_id);
  AppendField(out, signer_id);
  uint32_t n = static_cast<uint32_t>(fingerprints.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<uint8_t>(n >> shift));
  for (const auto& f : fingerprints)
    AppendField(out, f);
  return out;
}

Result<DescriptionSignature, IdentityError> SignDescription(const IdentityKey& key,
                                                            const DescriptionBinding& binding,
                                                            std::string_view sdp) {
  DescriptionSignature out;
  out.identity = key.id();
  out.fingerprints = ExtractFingerprints(sdp);
  if (out.fingerprints.empty())
    return MakeUnexpected(Error(IdentityErrorCode::kMalformed, "SDP has no a=fingerprint line to sign"));
  if (out.fingerprints.size() > kMaxFingerprints)
    return MakeUnexpected(Error(IdentityErrorCode::kMalformed, "SDP has too many a=fingerprint lines"));
  out.signature = key.Sign(CanonicalDescriptionBytes(binding, out.identity, out.fingerprints));
  return out;
}

Result<bool, IdentityError> VerifyDescription(const IdentityPublicKey& expected,
                                              const DescriptionBinding& binding,
                                              std::string_view sdp,
                                              const DescriptionSignature& signature) {
  if (signature.identity != expected.id())
    return MakeUnexpected(
        Error(IdentityErrorCode::kUnknownIdentity,
              "description signed by " + signature.identity.substr(0, 64) + ", expected " + expected.id()));
  auto bytes = CanonicalDescriptionBytes(binding, signature.identity, signature.fingerprints);
  if (!expected.Verify(bytes, signature.signature))
    return MakeUnexpected(Error(IdentityErrorCode::kBadSignature,
                                "signature does not verify for room/type/peer ids " + binding.room + "/" +
                                    binding.sdp_type + "/" + binding.from_peer_id + "->" + binding.to_peer_id));
  auto actual = ExtractFingerprints(sdp);
  if (actual.empty()) return MakeUnexpected(Error(IdentityErrorCode::kMalformed, "SDP has no a=fingerprint line"));
  if (actual != signature.fingerprints)
    return MakeUnexpected(
        Error(IdentityErrorCode::kFingerprintMismatch, "DTLS fingerprint in the SDP is not the one the peer signed"));
  return true;
}

Result<bool, IdentityError> AttachIdentity(ywebrtc::SignalMessage& msg, const IdentityKey& key, std::string_view room) {
  const auto* desc = std::get_if<ywebrtc::SessionDescriptionSignal>(&msg.signal);
  if (desc == nullptr)
    return MakeUnexpected(Error(IdentityErrorCode::kMalformed, "only offers and answers carry an identity"));
  DescriptionBinding binding{std::string(room), std::string(ywebrtc::ToString(desc->type)), msg.from, msg.to};
  auto sig = SignDescription(key, binding, desc->sdp);
  if (!sig.ok()) return MakeUnexpected(sig.error());
  msg.identity = sig->ToJson();
  return true;
}

Result<bool, IdentityError> VerifySignalIdentity(const ywebrtc::SignalMessage& msg,
                                                 std::string_view room,
                                                 std::string_view my_peer_id,
                                                 const IdentityPublicKey& expected) {
  const auto* desc = std::get_if<ywebrtc::SessionDescriptionSignal>(&msg.signal);
  if (desc == nullptr)
    return MakeUnexpected(Error(IdentityErrorCode::kMalformed, "only offers and answers carry an identity"));
  if (!msg.identity)
    return MakeUnexpected(Error(IdentityErrorCode::kMissingSignature, std::string(ywebrtc::ToString(desc->type)) +
                                                                          " from " + msg.from.substr(0, 64) +
                                                                          " carries no identity signature"));
  auto sig = DescriptionSignature::FromJson(*msg.identity);
  if (!sig.ok()) return MakeUnexpected(sig.error());
  DescriptionBinding binding{std::string(room), std::string(ywebrtc::ToString(desc->type)), msg.from,
                             std::string(my_peer_id)};
  return VerifyDescription(expected, binding, desc->sdp, *sig);
}

}  // namespace peerlink::signaling
