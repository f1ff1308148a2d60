// Delivery status notifications (RFC 3464) and feedback reports (ARF, RFC 5965): the fuzz
// bytes are the report's field block and the returned original inside a well-formed
// multipart/report, so the run spends its time in the per-message and per-recipient field
// parsing and the reading of the original, not in getting past the MIME envelope.
//
// Input: one byte choosing DSN or ARF and how the original is attached, the report fields,
// NUL, the original (its headers, or a whole message).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_support.h"
#include "services/inbound/mail/mail_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  herald::fuzz::Input in(data, size);
  uint8_t mode = in.Byte();
  bool dsn = (mode & 1) == 0;
  bool whole_original = (mode & 2) != 0;
  std::string_view fields = in.Field();
  std::string_view original = in.Rest();

  std::string mail =
      "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
      "To: bounces+3f2c1e0a9b8d4c7e8f6a5b4c3d2e1f0a.abcdefghijklmnop@example.com\r\n"
      "Subject: report\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: multipart/report; report-type=";
  mail += dsn ? "delivery-status" : "feedback-report";
  mail +=
      "; boundary=\"=_fuzz_report\"\r\n\r\n"
      "--=_fuzz_report\r\nContent-Type: text/plain\r\n\r\nA report.\r\n"
      "--=_fuzz_report\r\nContent-Type: ";
  mail += dsn ? "message/delivery-status" : "message/feedback-report";
  mail += "\r\n\r\n";
  mail += fields;
  mail += "\r\n--=_fuzz_report\r\nContent-Type: ";
  mail += whole_original ? "message/rfc822" : "text/rfc822-headers";
  mail += "\r\n\r\n";
  mail += original;
  mail += "\r\n--=_fuzz_report--\r\n";

  auto parsed = herald::inbound::ParseMail(mail);
  HERALD_FUZZ_CHECK(parsed.has_value());  // the envelope is always a message
  HERALD_FUZZ_CHECK(parsed->kind != herald::inbound::ParsedMail::Kind::kPlain);
  for (const auto& r : parsed->dsn_recipients) HERALD_FUZZ_CHECK(!r.action.empty());
  return 0;
}
