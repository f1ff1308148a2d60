#include "common/validation/address.h"

#include <idn2.h>
#include <phonenumbers/logger.h>
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace herald::validation {
namespace {

using ::i18n::phonenumbers::PhoneNumber;
using ::i18n::phonenumbers::PhoneNumberUtil;

// RFC 5321 limits: a forward path holds at most 256 octets including the
// angle brackets, so the address itself may have at most 254.
constexpr std::size_t kMaxEmailBytes = 254;
constexpr std::size_t kMaxLocalPartBytes = 64;
constexpr std::size_t kMaxDomainBytes = 253;
constexpr std::size_t kMaxLabelBytes = 63;
// Far above any real number (E.164 has at most 15 digits) yet small enough
// that libphonenumber's regular expressions never see hostile-sized input.
constexpr std::size_t kMaxPhoneBytes = 64;

// Messages produced in more than one place.
constexpr char kDomainTooLong[] = "e-mail domain is longer than 253 bytes";
constexpr char kLabelTooLong[] = "e-mail domain label is longer than 63 characters";

AddressError Error(std::string_view message) { return AddressError{std::string(message)}; }

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

char ToAsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

char ToAsciiUpper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), ToAsciiLower);
  return out;
}

bool IsAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

std::string_view TrimAsciiWhitespace(std::string_view s) {
  while (!s.empty() && IsAsciiSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsAsciiSpace(s.back())) s.remove_suffix(1);
  return s;
}

// CR/LF would allow header injection when the address is put into a message,
// NUL truncates it in C APIs (libidn2 takes NUL-terminated strings), and none
// of the others has a legitimate place in an address.
bool HasControlCharacter(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

// Strict UTF-8 check (RFC 3629): rejects overlong forms, surrogates, code
// points above U+10FFFF and truncated sequences, so that libidn2 and
// libphonenumber only ever see well-formed text.
bool IsValidUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t length;
    std::uint32_t code_point;
    std::uint32_t min_code_point;
    if ((lead & 0xe0) == 0xc0) {
      length = 2;
      code_point = lead & 0x1f;
      min_code_point = 0x80;
    } else if ((lead & 0xf0) == 0xe0) {
      length = 3;
      code_point = lead & 0x0f;
      min_code_point = 0x800;
    } else if ((lead & 0xf8) == 0xf0) {
      length = 4;
      code_point = lead & 0x07;
      min_code_point = 0x10000;
    } else {
      return false;  // Continuation byte without a lead, or 0xf8..0xff.
    }
    if (s.size() - i < length) return false;
    for (std::size_t j = 1; j < length; ++j) {
      const auto continuation = static_cast<unsigned char>(s[i + j]);
      if ((continuation & 0xc0) != 0x80) return false;
      code_point = (code_point << 6) | (continuation & 0x3f);
    }
    if (code_point < min_code_point || code_point > 0x10ffff ||
        (code_point >= 0xd800 && code_point <= 0xdfff)) {
      return false;
    }
    i += length;
  }
  return true;
}

// ---------------------------------------------------------------------------
// E-mail

// RFC 5322 atext; '.' is handled separately because of its placement rules.
bool IsAtext(char c) {
  if (IsAsciiLetter(c) || IsAsciiDigit(c)) return true;
  constexpr std::string_view kSpecials = "!#$%&'*+/=?^_`{|}~-";
  return kSpecials.find(c) != std::string_view::npos;
}

std::optional<AddressError> CheckLocalPart(std::string_view local) {
  if (local.empty()) return Error("e-mail local part is empty");
  if (local.size() > kMaxLocalPartBytes) return Error("e-mail local part is longer than 64 bytes");
  // SMTPUTF8 mailboxes are rare and many providers cannot deliver to them;
  // worse, Unicode local parts have no agreed case folding or normalization,
  // so match_key could not be made reliable.
  if (!IsAscii(local)) return Error("e-mail local part must be ASCII");
  if (local.front() == '"') return Error("quoted e-mail local parts are not supported");
  if (local.front() == '.' || local.back() == '.') {
    return Error("e-mail local part must not start or end with a dot");
  }
  if (local.find("..") != std::string_view::npos) {
    return Error("e-mail local part must not contain consecutive dots");
  }
  for (char c : local) {
    if (c != '.' && !IsAtext(c)) {
      return Error("e-mail local part contains a character that is not allowed");
    }
  }
  return std::nullopt;
}

// Checks the final, ASCII (A-label) form of the domain against the
// letter-digit-hyphen hostname rules (RFC 1123 / RFC 5321).
std::optional<AddressError> CheckHostname(std::string_view domain) {
  if (domain.size() > kMaxDomainBytes) return Error(kDomainTooLong);
  // An absolute name ("example.com.") is valid DNS, but it would give the
  // same mailbox a second spelling and many MTAs refuse it.
  if (domain.back() == '.') return Error("e-mail domain must not end with a dot");
  if (domain.find('.') == std::string_view::npos) {
    return Error("e-mail domain must contain at least one dot");
  }
  std::string_view rest = domain;
  std::string_view label;
  while (!rest.empty()) {
    const std::size_t dot = rest.find('.');
    label = rest.substr(0, dot);
    rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
    if (label.empty()) return Error("e-mail domain contains an empty label");
    if (label.size() > kMaxLabelBytes) return Error(kLabelTooLong);
    for (char c : label) {
      if (!(IsAsciiLetter(c) || IsAsciiDigit(c) || c == '-')) {
        return Error("e-mail domain label contains a character that is not allowed");
      }
    }
    if (label.front() == '-' || label.back() == '-') {
      return Error("e-mail domain label must not start or end with a hyphen");
    }
  }
  // `label` is now the top-level domain. An all-numeric TLD would make
  // "user@10.0.0.1" look like a host name; no such TLD exists.
  if (std::all_of(label.begin(), label.end(), IsAsciiDigit)) {
    return Error("e-mail top-level domain must not be all digits");
  }
  return std::nullopt;
}

// Converts a non-ASCII domain to lower-case A-labels with UTS #46 mapping.
std::variant<std::string, AddressError> ToALabels(const std::string& domain) {
  int rc = IDN2_OK;
  // Non-transitional processing follows IDNA2008 (ß stays ß and is encoded);
  // transitional is only a fallback so that names IDNA2008 rejects but
  // IDNA2003 accepted (e.g. emoji) still resolve the way old clients did.
  // Transitional mapping also drops zero-width joiners ("a\u200db" -> "ab").
  for (int flags : {IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT, IDN2_TRANSITIONAL | IDN2_NFC_INPUT}) {
    char* raw = nullptr;
    rc = idn2_to_ascii_8z(domain.c_str(), &raw, flags);
    const std::unique_ptr<char, decltype(&idn2_free)> output(raw, &idn2_free);
    if (rc == IDN2_OK && output != nullptr) return std::string(output.get());
  }
  // Length problems get the same messages as for ASCII domains; libidn2
  // checks them itself before our hostname checks could.
  if (rc == IDN2_TOO_BIG_DOMAIN) return Error(kDomainTooLong);
  // libidn2 encodes each label into a 63-byte buffer, so an over-long
  // A-label shows up as PUNYCODE_BIG_OUTPUT rather than TOO_BIG_LABEL.
  if (rc == IDN2_TOO_BIG_LABEL || rc == IDN2_PUNYCODE_BIG_OUTPUT) return Error(kLabelTooLong);
  return Error("e-mail domain is not a valid internationalized domain name");
}

// ---------------------------------------------------------------------------
// Phone

const PhoneNumberUtil& PhoneUtil() {
  static const PhoneNumberUtil* const util = [] {
    PhoneNumberUtil* instance = PhoneNumberUtil::GetInstance();
    // Some libphonenumber builds log to stdout/stderr on bad input (including
    // the rejected region code). That output bypasses our logging and could
    // carry user data, so mute it. SetLogger takes ownership; note that the
    // logger is process-wide.
    instance->SetLogger(new ::i18n::phonenumbers::NullLogger());
    return instance;
  }();
  return *util;
}

// Characters people actually use to format numbers. Anything else is either
// an extension marker, a vanity letter or junk.
bool IsPhoneFormattingCharacter(char c) {
  return IsAsciiDigit(c) || c == ' ' || c == '+' || c == '-' || c == '(' || c == ')' || c == '.' ||
         c == '/';
}

}  // namespace

AddressResult NormalizeEmail(std::string_view input) {
  const std::string_view trimmed = TrimAsciiWhitespace(input);
  if (trimmed.empty()) return Error("e-mail address is empty");
  if (trimmed.size() > kMaxEmailBytes) return Error("e-mail address is longer than 254 bytes");
  if (!IsValidUtf8(trimmed)) return Error("e-mail address is not valid UTF-8");
  if (HasControlCharacter(trimmed)) return Error("e-mail address contains control characters");
  if (trimmed.find(' ') != std::string_view::npos) {
    return Error("e-mail address must not contain white space");
  }

  const auto at_count = std::count(trimmed.begin(), trimmed.end(), '@');
  if (at_count == 0) return Error("e-mail address has no '@'");
  if (at_count > 1) return Error("e-mail address has more than one '@'");
  const std::size_t at = trimmed.find('@');
  const std::string_view local = trimmed.substr(0, at);
  const std::string_view domain = trimmed.substr(at + 1);

  if (auto error = CheckLocalPart(local)) return *std::move(error);

  if (domain.empty()) return Error("e-mail domain is empty");
  // "[192.0.2.1]" is legal RFC 5321, but it bypasses MX records and is a
  // classic way to aim mail at internal hosts.
  if (domain.front() == '[') return Error("IP-literal e-mail domains are not supported");

  std::string ascii_domain;
  if (IsAscii(domain)) {
    // Not sent through libidn2 on purpose: IDNA2008 rejects labels with
    // "--" in positions 3-4 (e.g. "r3---sn-abc.example.net"), which are
    // perfectly valid host names. Only the hostname rules below apply.
    ascii_domain = AsciiLower(domain);
  } else {
    auto converted = ToALabels(std::string(domain));
    if (auto* error = std::get_if<AddressError>(&converted)) return std::move(*error);
    // libidn2 already lower-cases, this only guards against surprises.
    ascii_domain = AsciiLower(std::get<std::string>(converted));
  }
  if (auto error = CheckHostname(ascii_domain)) return *std::move(error);

  NormalizedAddress result{AddressKind::kEmail, std::string(local) + "@" + ascii_domain, ""};
  // A-labels can be longer than the Unicode form that passed the first check.
  if (result.value.size() > kMaxEmailBytes) {
    return Error("e-mail address is longer than 254 bytes after domain conversion");
  }
  result.match_key = AsciiLower(result.value);
  return result;
}

AddressResult NormalizePhone(std::string_view input, std::string_view default_region) {
  const PhoneNumberUtil& util = PhoneUtil();

  // Validated even for "+..." input, which would not need it: an empty or
  // unknown region is a caller bug and should surface on every call rather
  // than only for nationally formatted numbers.
  std::string region(default_region);
  std::transform(region.begin(), region.end(), region.begin(), ToAsciiUpper);
  if (region.size() != 2 || !IsAsciiLetter(region[0]) || !IsAsciiLetter(region[1]) ||
      util.GetCountryCodeForRegion(region) == 0) {
    return Error("default region is not a known ISO 3166 region code");
  }

  const std::string_view trimmed = TrimAsciiWhitespace(input);
  if (trimmed.empty()) return Error("phone number is empty");
  if (trimmed.size() > kMaxPhoneBytes) return Error("phone number is longer than 64 bytes");
  if (!IsValidUtf8(trimmed)) return Error("phone number is not valid UTF-8");
  if (HasControlCharacter(trimmed)) return Error("phone number contains control characters");

  const std::string number_text(trimmed);
  PhoneNumber number;
  const PhoneNumberUtil::ErrorType parse_error = util.Parse(number_text, region, &number);

  if (!std::all_of(trimmed.begin(), trimmed.end(), IsPhoneFormattingCharacter)) {
    // The parse result is consulted only to name the problem precisely. We
    // never accept what libphonenumber makes of such input: it silently
    // turns vanity letters into digits ("8 800 CALL-NOW").
    if (parse_error == PhoneNumberUtil::NO_PARSING_ERROR && number.has_extension()) {
      return Error("phone extensions are not supported");
    }
    if (std::any_of(trimmed.begin(), trimmed.end(), IsAsciiLetter)) {
      return Error("phone number must not contain letters");
    }
    return Error("phone number contains characters that are not allowed");
  }

  if (parse_error == PhoneNumberUtil::INVALID_COUNTRY_CODE_ERROR) {
    return Error("phone number has an invalid country calling code");
  }
  if (parse_error != PhoneNumberUtil::NO_PARSING_ERROR) {
    return Error("phone number is not a valid number");
  }
  // Defensive: the allowed characters cannot express an extension today,
  // but an extension must never be dropped silently.
  if (number.has_extension()) return Error("phone extensions are not supported");
  if (!util.IsValidNumber(number)) return Error("phone number is not a valid number");

  std::string e164;
  util.Format(number, PhoneNumberUtil::E164, &e164);
  return NormalizedAddress{AddressKind::kPhone, e164, e164};
}

AddressResult NormalizeAddress(std::string_view input, std::string_view default_region) {
  if (input.find('@') != std::string_view::npos) return NormalizeEmail(input);
  return NormalizePhone(input, default_region);
}

}  // namespace herald::validation
