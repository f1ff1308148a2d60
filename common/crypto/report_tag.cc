#include "common/crypto/report_tag.h"

#include <cctype>
#include <cstdint>
#include <stdexcept>

#include "common/crypto/hash.h"
#include "common/validation/uuid.h"

namespace herald::crypto {
namespace {

constexpr size_t kIdHexChars = 32;
constexpr size_t kTagChars = 16;
constexpr size_t kTagBytes = 10;
// Prepended to the MAC input only: separates report tags from link tokens and suppression
// hashes made with the same secrets.
constexpr std::string_view kMacContext{"herald-report-tag\0", 18};
constexpr char kBase32[] = "abcdefghijklmnopqrstuvwxyz234567";

bool IsBase32(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7');
}
bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// 10 bytes -> 16 base32 characters (exactly 80 bits, so no padding).
std::string Base32(std::string_view bytes) {
  std::string out;
  uint64_t buffer = 0;
  int bits = 0;
  for (unsigned char b : bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kBase32[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kBase32[(buffer << (5 - bits)) & 31]);
  return out;
}

std::string Tag(const Key& key, std::string_view compact_id) {
  std::string input(kMacContext);
  input += FromHex(compact_id);
  return Base32(HmacSha256(key.secret, input).substr(0, kTagBytes));
}

bool IsTokenAt(std::string_view text, size_t pos) {
  if (text.size() - pos < kReportTokenChars) return false;
  for (size_t i = 0; i < kIdHexChars; ++i) {
    if (HexDigitValue(text[pos + i]) < 0) return false;
  }
  if (text[pos + kIdHexChars] != '.') return false;
  for (size_t i = kIdHexChars + 1; i < kReportTokenChars; ++i) {
    if (!IsBase32(text[pos + i])) return false;
  }
  return true;
}

}  // namespace

std::string ReportTagger::Token(std::string_view message_id) const {
  auto id = validation::UuidToBytes(message_id);
  if (!id) throw std::invalid_argument("message_id is not a UUID");
  const std::string compact = ToHex(*id);
  return compact + "." + Tag(ring_.newest(), compact);
}

std::optional<std::string> ReportTagger::Verify(std::string_view token) const {
  if (token.size() != kReportTokenChars || !IsTokenAt(token, 0)) return std::nullopt;
  std::string lower = Lower(token);
  std::string id = lower.substr(0, kIdHexChars);
  std::string tag = lower.substr(kIdHexChars + 1);
  bool ok = false;
  // Every key is tried (no early exit), so the time taken does not tell which key matched.
  auto keys = ring_.Snapshot();
  for (const Key& key : *keys) ok = ConstantTimeEquals(Tag(key, id), tag) || ok;
  if (!ok) return std::nullopt;
  return id.substr(0, 8) + "-" + id.substr(8, 4) + "-" + id.substr(12, 4) + "-" + id.substr(16, 4) +
         "-" + id.substr(20, 12);
}

std::vector<std::string> FindReportTokens(std::string_view text) {
  std::vector<std::string> out;
  if (text.size() < kReportTokenChars) return out;
  for (size_t pos = 0; pos + kReportTokenChars <= text.size(); ++pos) {
    if (pos > 0 && IsAlnum(text[pos - 1])) continue;
    if (!IsTokenAt(text, pos)) continue;
    size_t end = pos + kReportTokenChars;
    if (end < text.size() && IsAlnum(text[end])) continue;
    out.emplace_back(text.substr(pos, kReportTokenChars));
    pos = end - 1;
  }
  return out;
}

}  // namespace herald::crypto
