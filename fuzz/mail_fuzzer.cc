// Inbound mail as the mail hook and `heraldctl inbound-mail` receive it: any bytes through
// ParseMail (GMime's parser, the subject decoding, the report walk). ParseMail promises
// never to throw on malformed input, so no exception is caught here.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_support.h"
#include "services/inbound/mail/mail_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  auto mail = herald::inbound::ParseMail(raw);
  if (!mail) return 0;
  // The report kinds come only with what identifies them.
  if (mail->kind == herald::inbound::ParsedMail::Kind::kPlain) {
    HERALD_FUZZ_CHECK(mail->dsn_recipients.empty());
    HERALD_FUZZ_CHECK(mail->feedback_type.empty());
  }
  for (const auto& r : mail->dsn_recipients) {
    HERALD_FUZZ_CHECK(!r.action.empty());
    // "class.subject.detail" or nothing.
    HERALD_FUZZ_CHECK(r.status.empty() || (r.status.size() >= 5 && r.status.size() <= 9));
  }
  return 0;
}
