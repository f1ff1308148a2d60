#include "services/dispatch/adapters/smtp/mime_message.h"

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <optional>
#include <random>
#include <stdexcept>
#include <vector>

namespace herald::dispatch {
namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr std::size_t kFoldAt = 78;          // RFC 5322 2.1.1: SHOULD
constexpr std::size_t kMaxLine = 998;        // RFC 5322 2.1.1: MUST
constexpr std::size_t kMaxEncodedLine = 76;  // RFC 2047 2: lines holding encoded-words
constexpr std::size_t kMaxAddress = 254;     // RFC 5321 4.5.3.1.3 path, minus the brackets
constexpr std::size_t kMaxUrl = 900;         // so "List-Unsubscribe: <url>," fits in 998
constexpr std::size_t kMaxId = 200;

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7F; }

bool IsAtext(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) !=
             std::string_view::npos;
}

[[noreturn]] void Reject(std::string_view field, std::string_view why) {
  // The value is never quoted: it may be personal data, and it may hold the very bytes
  // (CR, LF) that would corrupt whatever log line the exception ends up in.
  throw std::invalid_argument(std::string(field) + " " + std::string(why));
}

// Addresses go into From, To, the mailto URI and the SMTP envelope, where a CR/LF would
// start a new header or command and a '<', '>' or space would end the address early.
void CheckAddress(std::string_view field, std::string_view value) {
  if (value.empty() || value.size() > kMaxAddress) Reject(field, "is empty or too long");
  for (unsigned char c : value) {
    if (IsControl(c) || c == ' ' || c == '<' || c == '>') {
      Reject(field, "contains a control character, space or angle bracket");
    }
  }
  if (value.find('@') == std::string_view::npos) Reject(field, "has no '@'");
}

// Message-ID halves are dot-atom-text (RFC 5322 3.6.4); anything else could break out of
// the "<...>" or, in X-Herald-Message-Id, be read as something other than the id.
void CheckIdPart(std::string_view field, std::string_view value) {
  if (value.empty() || value.size() > kMaxId) Reject(field, "is empty or too long");
  for (unsigned char c : value) {
    if (!IsAtext(c) && c != '.') Reject(field, "contains a character not allowed in a Message-ID");
  }
}

void CheckHttpsUrl(std::string_view field, std::string_view value) {
  // RFC 8058 one-click works only with an HTTPS URI.
  if (value.substr(0, 8) != "https://") Reject(field, "is not an https:// URL");
  if (value.size() > kMaxUrl) Reject(field, "is too long");
  for (unsigned char c : value) {
    if (IsControl(c) || c == ' ' || c == '<' || c == '>' || c >= 0x80) {
      Reject(field, "contains a control character, space, angle bracket or non-ASCII byte");
    }
  }
}

std::string FormatDate(Timestamp t) {
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto secs = std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  // Names from tables, not strftime: the process locale must not leak into a header.
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

// Printable ASCII that no decoder will mistake for an encoded-word.
bool IsPlainHeaderText(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return s.find("=?") == std::string_view::npos;
}

// "Name: text" with folds inserted before spaces so lines stay near 78 characters. Folds
// go only before a space that is followed by a non-space, so no line is white space alone
// and unfolding gives back the text exactly. nullopt when a single word is too long.
std::optional<std::string> FoldAtSpaces(std::string_view name, std::string_view text) {
  std::string out(name);
  out += ": ";
  std::size_t line_len = out.size();
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t next = pos + 1;
    while (next < text.size() &&
           !(text[next] == ' ' && next + 1 < text.size() && text[next + 1] != ' ')) {
      ++next;
    }
    std::string_view segment = text.substr(pos, next - pos);
    if (pos > 0 && line_len + segment.size() > kFoldAt) {
      out += kCrlf;
      line_len = 0;
    }
    out += segment;
    line_len += segment.size();
    if (line_len > kMaxLine) return std::nullopt;
    pos = next;
  }
  out += kCrlf;
  return out;
}

std::string UnstructuredHeader(std::string_view name, std::string_view text) {
  if (text.empty()) return std::string(name) + ":" + std::string(kCrlf);
  if (IsPlainHeaderText(text)) {
    if (auto folded = FoldAtSpaces(name, text)) return *folded;
  }
  std::size_t room = kMaxEncodedLine - name.size() - 2;
  return std::string(name) + ": " + EncodeHeaderWords(text, room) + std::string(kCrlf);
}

bool IsAtomPhrase(std::string_view s) {
  if (s.empty() || s.front() == ' ' || s.back() == ' ') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == ' ' ? s[i - 1] == ' ' : !IsAtext(c)) return false;
  }
  return true;
}

std::string QuotedString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string FromHeader(std::string_view name, std::string_view address) {
  std::string angle = "<" + std::string(address) + ">";
  if (name.empty()) return "From: " + std::string(address) + std::string(kCrlf);
  if (IsPlainHeaderText(name)) {
    std::string line =
        "From: " + (IsAtomPhrase(name) ? std::string(name) : QuotedString(name)) + " " + angle;
    if (line.size() <= kFoldAt) return line + std::string(kCrlf);
  }
  std::string out = "From: " + EncodeHeaderWords(name, kMaxEncodedLine - 6);
  std::size_t last_break = out.rfind('\n');
  std::size_t last_line =
      last_break == std::string::npos ? out.size() : out.size() - last_break - 1;
  // RFC 2047 limits lines that hold encoded-words to 76 characters.
  out += last_line + 1 + angle.size() <= kMaxEncodedLine ? " " : "\r\n ";
  return out + angle + std::string(kCrlf);
}

std::string MailtoUri(std::string_view mailto, std::string_view subject) {
  if (mailto.substr(0, 7) == "mailto:") mailto.remove_prefix(7);
  CheckAddress("list_unsubscribe_mailto", mailto);
  // RFC 6068: '?', '%', '&' and '#' in the address must be escaped; some-delims may stay.
  std::string uri = "mailto:" + PercentEncode(mailto, "@!$'()*+,;");
  if (!subject.empty()) uri += "?subject=" + PercentEncode(subject);
  return uri;
}

std::string ListUnsubscribeHeaders(const EmailMessage& m) {
  std::vector<std::string> uris;
  if (!m.list_unsubscribe_url.empty()) {
    CheckHttpsUrl("list_unsubscribe_url", m.list_unsubscribe_url);
    uris.push_back("<" + m.list_unsubscribe_url + ">");
  }
  if (!m.list_unsubscribe_mailto.empty()) {
    uris.push_back("<" + MailtoUri(m.list_unsubscribe_mailto, m.list_unsubscribe_subject) + ">");
  }
  if (uris.empty()) return "";
  std::string out = "List-Unsubscribe: " + uris[0];
  if (uris.size() == 2) {
    std::size_t joined = out.size() + 2 + uris[1].size();
    out += joined <= kFoldAt ? ", " : ",\r\n ";
    if (uris[1].size() + 1 > kMaxLine) {
      Reject("list_unsubscribe_mailto", "with its subject is too long for a header line");
    }
    out += uris[1];
  }
  out += kCrlf;
  // RFC 8058 one-click needs an HTTPS URI; a mailto alone gets no Post header.
  if (!m.list_unsubscribe_url.empty()) {
    out += "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n";
  }
  return out;
}

// "=_" cannot occur in quoted-printable output, so this boundary cannot collide with a body
// however the body is written; the random part keeps nested or forwarded copies distinct.
std::string NewBoundary() {
  std::random_device rd;
  char buf[48];
  std::snprintf(buf, sizeof buf, "=_herald_%08x%08x%08x", rd(), rd(), rd());
  return buf;
}

std::string TextPartHeaders(std::string_view subtype) {
  return "Content-Type: text/" + std::string(subtype) +
         "; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n";
}

}  // namespace

std::string RenderMime(const EmailMessage& m, std::string_view message_id_domain) {
  CheckAddress("from_address", m.from_address);
  CheckAddress("to_address", m.to_address);
  CheckIdPart("message_id", m.message_id);
  if (!m.report_token.empty()) CheckIdPart("report_token", m.report_token);
  CheckIdPart("message_id_domain", message_id_domain);

  std::string out;
  out += "Date: " + FormatDate(m.date) + std::string(kCrlf);
  out += FromHeader(m.from_name, m.from_address);
  out += "To: " + m.to_address + std::string(kCrlf);
  out += UnstructuredHeader("Subject", m.subject);
  // The token, when there is one, is what a report has to quote back to be believed.
  const std::string& id_left = m.report_token.empty() ? m.message_id : m.report_token;
  out += "Message-ID: <" + id_left + "@" + std::string(message_id_domain) + ">\r\n";
  out += "X-Herald-Message-Id: " + m.message_id + std::string(kCrlf);
  out += ListUnsubscribeHeaders(m);
  out += "MIME-Version: 1.0\r\n";
  if (m.html_body.empty()) {
    out += TextPartHeaders("plain");
    out += kCrlf;
    out += QuotedPrintableEncode(m.text_body);
    // The message must end with a complete line; a text that already ends with a line
    // break gets no second one.
    if (out.size() < 2 || out.compare(out.size() - 2, 2, kCrlf) != 0) out += kCrlf;
    return out;
  }
  std::string boundary = NewBoundary();
  out += "Content-Type: multipart/alternative; boundary=\"" + boundary + "\"\r\n";
  out += kCrlf;
  // The CRLF before each "--boundary" belongs to the delimiter (RFC 2046 5.1.1).
  out += "--" + boundary + std::string(kCrlf) + TextPartHeaders("plain") + std::string(kCrlf);
  out += QuotedPrintableEncode(m.text_body);
  out += "\r\n--" + boundary + std::string(kCrlf) + TextPartHeaders("html") + std::string(kCrlf);
  out += QuotedPrintableEncode(m.html_body);
  out += "\r\n--" + boundary + "--\r\n";
  return out;
}

}  // namespace herald::dispatch
