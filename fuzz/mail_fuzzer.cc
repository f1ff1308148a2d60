// Inbound mail as the mail hook and `heraldctl inbound-mail` receive it: any bytes through
// ParseMail (GMime's parser, the subject decoding, the report walk) and the plain-text
// bounce reading. Neither throws on malformed input, so no exception is caught here.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_support.h"
#include "services/inbound/mail/mail_parser.h"
#include "services/inbound/mail/plain_bounce.h"

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
  // Plain-text bounces: the texts stay capped, and a recognised one always has a status of
  // its own class.
  HERALD_FUZZ_CHECK(mail->body_text.size() <= herald::inbound::kMaxBounceText);
  HERALD_FUZZ_CHECK(mail->attached_original.size() <= herald::inbound::kMaxBounceText);
  if (auto b = herald::inbound::RecognisePlainBounce(*mail)) {
    HERALD_FUZZ_CHECK(mail->kind == herald::inbound::ParsedMail::Kind::kPlain);
    HERALD_FUZZ_CHECK(b->status.size() >= 5 && b->status.size() <= 9);
    HERALD_FUZZ_CHECK((b->status[0] == '5') ==
                      (b->bounce_class == herald::inbound::BounceClass::kPermanent));
  }
  return 0;
}
