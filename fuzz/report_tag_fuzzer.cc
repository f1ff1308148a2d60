// Report tokens, read out of the return paths, Message-IDs and envelope headers of bounces
// and complaints anyone can send: FindReportTokens and ReportTagger::Verify on any text,
// and tokens made for fuzz-chosen message ids found again inside fuzz-chosen text.
//
// Input: one byte choosing the mode, then
//   even: the text a report carries;
//   odd: 16 message id bytes, the text before the token, NUL, the text after it.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/crypto/report_tag.h"
#include "common/validation/uuid.h"
#include "fuzz/fuzz_support.h"

namespace {

using namespace herald::crypto;

const ReportTagger& Tagger() {
  static const ReportTagger tagger(
      KeyRing({{"r1", std::string(32, 'r')}, {"r0", std::string(32, 's')}}));
  return tagger;
}

bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

std::string Upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  herald::fuzz::Input in(data, size);
  if ((in.Byte() & 1) == 0) {
    std::string_view text = in.Rest();
    for (const auto& token : FindReportTokens(text)) {
      HERALD_FUZZ_CHECK(token.size() == kReportTokenChars);
      if (auto id = Tagger().Verify(token)) HERALD_FUZZ_CHECK(herald::validation::IsUuid(*id));
    }
    Tagger().Verify(text);
    return 0;
  }
  std::string id_bytes(in.Bytes(16));
  id_bytes.resize(16, '\0');
  std::string message_id = herald::validation::UuidFromBytes(id_bytes);
  std::string token = Tagger().Token(message_id);
  HERALD_FUZZ_CHECK(token.size() == kReportTokenChars);
  HERALD_FUZZ_CHECK(Tagger().Verify(token) == message_id);
  HERALD_FUZZ_CHECK(Tagger().Verify(Upper(token)) == message_id);  // case folded by a relay

  std::string before(in.Field());
  std::string after(in.Rest());
  std::string text = before + token + after;
  auto found = FindReportTokens(text);
  bool glued =
      (!before.empty() && IsAlnum(before.back())) || (!after.empty() && IsAlnum(after.front()));
  if (!glued) {
    bool seen = false;
    for (const auto& t : found) seen = seen || t == token;
    HERALD_FUZZ_CHECK(seen);
  }
  return 0;
}
