#include "src/dtls/fingerprint.h"

#include <openssl/evp.h>

#include <array>

#include "src/base/check.h"

namespace peerlink::dtls {

namespace {

struct HashInfo {
  HashFunction hash;
  std::string_view name;
  size_t length;
  int strength;
};
constexpr std::array<HashInfo, 5> kHashes = {{
    {HashFunction::kSha1, "sha-1", 20, 1},
    {HashFunction::kSha224, "sha-224", 28, 2},
    {HashFunction::kSha256, "sha-256", 32, 3},
    {HashFunction::kSha384, "sha-384", 48, 4},
    {HashFunction::kSha512, "sha-512", 64, 5},
}};

const HashInfo& Info(HashFunction h) {
  for (const auto& i : kHashes) {
    if (i.hash == h) return i;
  }
  PL_CHECK(false);
  return kHashes[0];
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (x != b[i]) return false;
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t';
}

const EVP_MD* Md(HashFunction h) {
  switch (h) {
    case HashFunction::kSha1: return EVP_sha1();
    case HashFunction::kSha224: return EVP_sha224();
    case HashFunction::kSha256: return EVP_sha256();
    case HashFunction::kSha384: return EVP_sha384();
    case HashFunction::kSha512: return EVP_sha512();
  }
  return EVP_sha256();
}

}  // namespace

std::string_view ToString(HashFunction h) {
  return Info(h).name;
}
size_t DigestLength(HashFunction h) {
  return Info(h).length;
}
int Strength(HashFunction h) {
  return Info(h).strength;
}

Result<Fingerprint, ParseError> Fingerprint::Parse(std::string_view s) {
  while (!s.empty() && (IsSpace(s.front()) || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() && (IsSpace(s.back()) || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  if (s.empty()) return MakeUnexpected(ParseError{ParseErrorCode::kTruncated, "empty fingerprint"});
  size_t sp = 0;
  while (sp < s.size() && !IsSpace(s[sp]))
    ++sp;
  if (sp == s.size()) {
    return MakeUnexpected(
        ParseError{ParseErrorCode::kTruncated, "missing space between hash function and fingerprint"});
  }
  std::string_view name = s.substr(0, sp);
  std::string_view hex = s.substr(sp);
  while (!hex.empty() && IsSpace(hex.front()))
    hex.remove_prefix(1);

  const HashInfo* info = nullptr;
  for (const auto& i : kHashes) {
    if (EqualsIgnoreCase(name, i.name)) info = &i;
  }
  if (info == nullptr) {
    if (EqualsIgnoreCase(name, "md5") || EqualsIgnoreCase(name, "md2")) {
      return MakeUnexpected(
          ParseError{ParseErrorCode::kUnsupported, "hash function md2/md5 is forbidden (RFC 8122 section 5)"});
    }
    return MakeUnexpected(ParseError{ParseErrorCode::kUnsupported,
                                     "unknown hash function (expected sha-1/sha-224/sha-256/sha-384/sha-512)"});
  }

  Fingerprint fp;
  fp.hash = info->hash;
  fp.digest.reserve(info->length);
  size_t i = 0;
  while (i < hex.size()) {
    if (!fp.digest.empty()) {
      if (hex[i] != ':') return MakeUnexpected(ParseError{ParseErrorCode::kBadValue, "':' expected between bytes"});
      ++i;
    }
    if (i + 2 > hex.size()) {
      return MakeUnexpected(ParseError{ParseErrorCode::kTruncated, "two hex digits expected per byte"});
    }
    int hi = HexValue(hex[i]);
    int lo = HexValue(hex[i + 1]);
    if (hi < 0 || lo < 0) return MakeUnexpected(ParseError{ParseErrorCode::kBadValue, "non-hex digit in fingerprint"});
    if (fp.digest.size() == info->length) {
      return MakeUnexpected(ParseError{ParseErrorCode::kBadLength, "fingerprint longer than the hash's digest"});
    }
    fp.digest.push_back(static_cast<uint8_t>(hi * 16 + lo));
    i += 2;
  }
  if (fp.digest.size() != info->length) {
    return MakeUnexpected(ParseError{ParseErrorCode::kBadLength, "fingerprint shorter than the hash's digest"});
  }
  return fp;
}

Fingerprint Fingerprint::OfDer(HashFunction hash, ByteView der) {
  Fingerprint fp;
  fp.hash = hash;
  fp.digest.resize(DigestLength(hash));
  unsigned int len = 0;
  PL_CHECK(EVP_Digest(der.data(), der.size(), fp.digest.data(), &len, Md(hash), nullptr) == 1);
  PL_CHECK(len == fp.digest.size());
  return fp;
}

std::string Fingerprint::ToString() const {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out(dtls::ToString(hash));
  out.reserve(out.size() + 1 + digest.size() * 3);
  out.push_back(' ');
  for (size_t i = 0; i < digest.size(); ++i) {
    if (i > 0) out.push_back(':');
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

}  // namespace peerlink::dtls
