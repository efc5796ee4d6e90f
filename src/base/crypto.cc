#include "src/base/crypto.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "src/base/check.h"

namespace peerlink::crypto {

namespace {
template <size_t N>
std::array<uint8_t, N> Hmac(const EVP_MD* md, ByteView key, ByteView data) {
  std::array<uint8_t, N> out{};
  unsigned int len = 0;
  static const uint8_t kEmpty = 0;
  PL_CHECK(HMAC(md, key.empty() ? &kEmpty : key.data(), static_cast<int>(key.size()), data.data(), data.size(),
                out.data(), &len) != nullptr);
  PL_CHECK(len == N);
  return out;
}
template <size_t N>
std::array<uint8_t, N> Digest(const EVP_MD* md, ByteView data) {
  std::array<uint8_t, N> out{};
  unsigned int len = 0;
  PL_CHECK(EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) == 1);
  PL_CHECK(len == N);
  return out;
}
}  // namespace

Sha1Digest HmacSha1(ByteView key, ByteView data) {
  return Hmac<20>(EVP_sha1(), key, data);
}
Sha256Digest HmacSha256(ByteView key, ByteView data) {
  return Hmac<32>(EVP_sha256(), key, data);
}
Sha256Digest Sha256(ByteView data) {
  return Digest<32>(EVP_sha256(), data);
}
Md5Digest Md5(ByteView data) {
  return Digest<16>(EVP_md5(), data);
}

struct Sha256Stream::Ctx {
  EVP_MD_CTX* md = nullptr;
};

Sha256Stream::Sha256Stream() : ctx_(new Ctx{EVP_MD_CTX_new()}) {
  PL_CHECK(ctx_->md != nullptr);
  PL_CHECK(EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) == 1);
}
Sha256Stream::~Sha256Stream() {
  EVP_MD_CTX_free(ctx_->md);
  delete ctx_;
}
void Sha256Stream::Update(ByteView data) {
  PL_CHECK(!finished_);
  if (!data.empty()) PL_CHECK(EVP_DigestUpdate(ctx_->md, data.data(), data.size()) == 1);
}
Sha256Digest Sha256Stream::Finish() {
  PL_CHECK(!finished_);
  finished_ = true;
  Sha256Digest out{};
  unsigned int len = 0;
  PL_CHECK(EVP_DigestFinal_ex(ctx_->md, out.data(), &len) == 1);
  PL_CHECK(len == out.size());
  return out;
}

std::string Base64Encode(ByteView data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(), static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::vector<uint8_t>> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::vector<uint8_t> out(text.size() / 4 * 3 + 1);
  int n =
      EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  size_t len = static_cast<size_t>(n);
  // EVP_DecodeBlock counts padding as zero bytes; remove them.
  if (!text.empty() && text.back() == '=') --len;
  if (text.size() >= 2 && text[text.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

std::string HexEncode(ByteView data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(data.size() * 2);
  for (uint8_t b : data) {
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 15]);
  }
  return s;
}

namespace {
constexpr std::array<uint32_t, 256> MakeCrc32Table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto kCrc32Table = MakeCrc32Table();
}  // namespace

uint32_t Crc32(ByteView data) {
  uint32_t c = 0xFFFFFFFFu;
  for (uint8_t b : data)
    c = kCrc32Table[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

}  // namespace peerlink::crypto
