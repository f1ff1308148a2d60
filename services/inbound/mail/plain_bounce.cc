// Plain-text bounces. The wordings are those the MTAs print verbatim (they have not changed
// in decades, which is what makes them recognisable); every comparison is on ASCII
// lower-cased text, scanned by hand: no std::regex, whose matcher recurses once per
// character and overflowed the stack on long input elsewhere in this parser.
#include "services/inbound/mail/plain_bounce.h"

#include <initializer_list>

namespace herald::inbound {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool HasAny(std::string_view text, std::initializer_list<std::string_view> phrases) {
  for (auto p : phrases) {
    if (text.find(p) != std::string_view::npos) return true;
  }
  return false;
}

// "class.subject.detail" at text[i] (class 4 or 5, one to three digits each): its length,
// or 0. The code must end the word ("5.1.1." at the end of a sentence does).
size_t EnhancedCodeAt(std::string_view text, size_t i) {
  if (text[i] != '4' && text[i] != '5') return 0;
  size_t j = i + 1;
  for (int part = 0; part < 2; ++part) {
    if (j >= text.size() || text[j] != '.') return 0;
    ++j;
    size_t digits = 0;
    while (j < text.size() && IsDigit(text[j]) && digits < 4) {
      ++j;
      ++digits;
    }
    if (digits == 0 || digits > 3) return 0;
  }
  if (j < text.size() && (IsAlnum(text[j]) || text[j] == '_')) return 0;
  if (j + 1 < text.size() && text[j] == '.' && IsDigit(text[j + 1])) return 0;
  return j - i;
}

// Whether text[begin, end) is a reply code of the given class ("550"), standing alone on
// its left.
bool ReplyCodeAt(std::string_view text, size_t begin, char code_class) {
  if (text[begin] != code_class || !IsDigit(text[begin + 1]) || !IsDigit(text[begin + 2])) {
    return false;
  }
  return begin == 0 || !(IsAlnum(text[begin - 1]) || text[begin - 1] == '.');
}

// The first enhanced status code (RFC 3463) of class 4 or 5 the notice quotes in an SMTP
// reply: "550 5.1.1", "550-5.1.1", Exchange's "#550 5.1.1" and "<host #5.1.1>", or after
// "Status:". Codes anywhere else (software versions such as "Exim 4.96.2", addresses,
// dates) are not status codes. "" when there is none.
std::string EnhancedCode(std::string_view lower) {
  for (size_t i = 0; i < lower.size(); ++i) {
    if (i > 0 && (IsAlnum(lower[i - 1]) || lower[i - 1] == '.')) continue;
    size_t n = EnhancedCodeAt(lower, i);
    if (n == 0) continue;
    bool reply = false;
    if (i >= 1 && lower[i - 1] == '#') reply = true;
    if (!reply && i >= 4 && (lower[i - 1] == ' ' || lower[i - 1] == '-')) {
      reply = ReplyCodeAt(lower, i - 4, lower[i]);
    }
    if (!reply) {
      size_t k = i;
      while (k > 0 && IsBlank(lower[k - 1])) --k;
      reply = k >= 7 && lower.substr(k - 7, 7) == "status:";
    }
    if (reply) return std::string(lower.substr(i, n));
    i += n - 1;
  }
  return "";
}

// The class ('4' or '5') of the first bare SMTP reply code the notice quotes where a reply
// stands: at the start of a line ("554: delivery error"), or after "said:", "reason:",
// '#' or a transcript's "<<<". 0 when there is none.
char BareReplyClass(std::string_view lower) {
  for (size_t i = 0; i + 3 <= lower.size(); ++i) {
    char c = lower[i];
    if (c != '4' && c != '5') continue;
    if (!ReplyCodeAt(lower, i, c)) continue;
    if (i + 3 < lower.size() &&
        !(lower[i + 3] == ' ' || lower[i + 3] == '-' || lower[i + 3] == ':' ||
          lower[i + 3] == '\r' || lower[i + 3] == '\n')) {
      continue;
    }
    size_t k = i;
    while (k > 0 && IsBlank(lower[k - 1])) --k;
    if (k == 0 || lower[k - 1] == '\n' || lower[k - 1] == '#' || lower[k - 1] == ':' ||
        (k >= 3 && lower.substr(k - 3, 3) == "<<<")) {
      return c;
    }
  }
  return 0;
}

enum class Wording {
  kNone,
  kFailure,              // the delivery failed: the quoted code decides, permanent without one
  kFailureAfterRetries,  // given up after temporary failures: temporary without a code
  kWarning,              // still trying: temporary whatever it quotes
};

PlainBounce Classify(const char* format, Wording wording, std::string_view notice) {
  PlainBounce b;
  b.format = format;
  std::string code = EnhancedCode(notice);
  if (wording == Wording::kWarning) {
    b.bounce_class = BounceClass::kTemporary;
    b.status = !code.empty() && code[0] == '4' ? code : "4.0.0";
    return b;
  }
  if (code.empty()) {
    char bare = BareReplyClass(notice);
    if (bare == 0) bare = wording == Wording::kFailure ? '5' : '4';
    code = std::string(1, bare) + ".0.0";
  }
  b.bounce_class = code[0] == '5' ? BounceClass::kPermanent : BounceClass::kTemporary;
  b.status = code;
  return b;
}

bool NullReturnPath(const ParsedMail& m) {
  std::string compact;
  for (char c : m.return_path) {
    if (!IsBlank(c)) compact += c;
  }
  return compact == "<>";
}

}  // namespace

bool FromMailDeliverySystem(const ParsedMail& m) {
  if (m.failed_recipients_header) return true;
  std::string local = LowerAscii(std::string_view(m.from).substr(0, m.from.rfind('@')));
  for (std::string_view name :
       {"mailer-daemon", "mailer_daemon", "mailerdaemon", "mail-daemon", "postmaster"}) {
    if (local == name) return true;
  }
  return false;
}

std::string_view NoticeOf(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    std::string_view line = text.substr(pos, end - pos);
    size_t b = 0;
    while (b < line.size() && IsBlank(line[b])) ++b;
    std::string lower = LowerAscii(line.substr(b, 200));
    bool separator =
        (!lower.empty() && lower[0] == '-' &&
         HasAny(lower, {"copy of the message", "original message", "message header follows",
                        "undelivered message", "returned message"})) ||
        lower.rfind("original message headers", 0) == 0;
    if (separator) return text.substr(0, pos);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return text;
}

std::optional<PlainBounce> RecognisePlainBounce(const ParsedMail& m) {
  const bool system = FromMailDeliverySystem(m);
  if (!system && !NullReturnPath(m)) return std::nullopt;
  const std::string notice = LowerAscii(NoticeOf(m.body_text));
  auto has = [&](std::initializer_list<std::string_view> phrases) {
    return HasAny(notice, phrases);
  };

  // qmail: "Hi. This is the qmail-send program at host. I'm afraid I wasn't able to deliver
  // your message to the following addresses. This is a permanent error; I've given up."
  if (has({"this is the qmail-send program"})) {
    return Classify(
        "qmail", has({"in the queue too long"}) ? Wording::kFailureAfterRetries : Wording::kFailure,
        notice);
  }
  // Yahoo's notice is qmail's, reworded.
  if (has({"we were unable to deliver your message to the following address"})) {
    return Classify("yahoo", Wording::kFailure, notice);
  }
  // Exim: "This message was created automatically by mail delivery software." Failures
  // say "could not be delivered"; the 24-hour warning "has not yet been delivered".
  if (has({"this message was created automatically by mail delivery software"})) {
    if (has({"has not yet been delivered", "delivery attempts will continue"})) {
      return Classify("exim", Wording::kWarning, notice);
    }
    if (has({"could not be delivered"})) return Classify("exim", Wording::kFailure, notice);
    return std::nullopt;
  }
  // Postfix without a report part (before 2.3, or a gateway that flattened it): "This is
  // the Postfix program at host" / "This is the mail system at host". The delay warning
  // also says "could not be delivered for more than N hour(s)"; success notices say neither.
  if (has({"this is the postfix program", "this is the mail system at host"})) {
    if (has({"this is a warning only", "could not be delivered for more than"})) {
      return Classify("postfix", Wording::kWarning, notice);
    }
    if (has({"could not be delivered"})) return Classify("postfix", Wording::kFailure, notice);
    return std::nullopt;
  }
  // sendmail: "The original message was received at ...", then "----- The following
  // addresses had permanent fatal errors -----" or "... transient non-fatal errors ...".
  if (has({"the original message was received at", "----- transcript of session follows"})) {
    if (has({"had permanent fatal errors"})) return Classify("sendmail", Wording::kFailure, notice);
    if (has({"transient non-fatal errors", "this is a warning message only"})) {
      return Classify("sendmail", Wording::kWarning, notice);
    }
    if (has({"transcript of session follows"})) {
      return Classify("sendmail", Wording::kFailure, notice);
    }
    return std::nullopt;
  }
  // Microsoft Exchange and Outlook NDRs, 2003 to 2019.
  if (has({"delivery is delayed to these recipients or groups",
           "this message hasn't been delivered yet"})) {
    return Classify("exchange", Wording::kWarning, notice);
  }
  if (has({"delivery has failed to these recipients or groups",
           "your message did not reach some or all of the intended recipients",
           "the following recipient(s) cannot be reached"})) {
    return Classify("exchange", Wording::kFailure, notice);
  }
  // Gmail's plain notices, older and newer.
  if (has({"delivery to the following recipient has been delayed",
           "delivery to the following recipients has been delayed",
           "technical details of temporary failure",
           "there was a temporary problem delivering your message"})) {
    return Classify("gmail", Wording::kWarning, notice);
  }
  if (has({"delivery to the following recipient failed permanently",
           "delivery to the following recipients failed permanently",
           "your message wasn't delivered to"})) {
    return Classify("gmail", Wording::kFailure, notice);
  }
  // Any other mail delivery system: only an SMTP reply with an enhanced status code says
  // what happened.
  if (system && !EnhancedCode(notice).empty()) {
    return Classify("other", Wording::kFailure, notice);
  }
  return std::nullopt;
}

}  // namespace herald::inbound
