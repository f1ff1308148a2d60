// Reads inbound mail with GMime 3: headers, RFC 2047 subjects in any charset, the parts of
// multipart/report (RFC 6522) for delivery status notifications (RFC 3464) and feedback
// reports (ARF, RFC 5965), and the text of any other message for plain-text bounces. No MIME syntax
// is parsed here by hand: even the field blocks of message/delivery-status and
// message/feedback-report go through GMime's header parser.
#include "services/inbound/mail/mail_parser.h"

#include <gmime/gmime.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <string_view>

namespace herald::inbound {
namespace {

void InitGMime() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

// Owns one GObject reference.
template <typename T>
struct Ref {
  T* p = nullptr;
  explicit Ref(T* ptr = nullptr) : p(ptr) {}
  ~Ref() {
    if (p) g_object_unref(p);
  }
  Ref(const Ref&) = delete;
  Ref& operator=(const Ref&) = delete;
  T* get() const { return p; }
  explicit operator bool() const { return p != nullptr; }
};

struct Options {
  GMimeParserOptions* p;
  Options() : p(g_mime_parser_options_new()) {
    g_mime_parser_options_set_rfc2047_compliance_mode(p, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_address_compliance_mode(p, GMIME_RFC_COMPLIANCE_LOOSE);
    // Undeclared 8-bit header text: UTF-8 first, then the legacy Cyrillic charsets.
    static const char* kFallback[] = {"UTF-8", "windows-1251", "koi8-r", nullptr};
    g_mime_parser_options_set_fallback_charsets(p, kFallback);
  }
  ~Options() { g_mime_parser_options_free(p); }
  Options(const Options&) = delete;
  Options& operator=(const Options&) = delete;
};

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::string Str(const char* s) { return s ? std::string(s) : std::string(); }

GMimeMessage* ParseMessage(std::string_view raw, const Options& options) {
  Ref<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(raw.data(), raw.size()));
  Ref<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  g_mime_parser_set_format(parser.get(), GMIME_FORMAT_MESSAGE);
  return g_mime_parser_construct_message(parser.get(), options.p);
}

// The fields of one header block ("Name: value" lines, folded or not) by lower-case name;
// the first occurrence wins.
std::map<std::string, std::string> ParseFieldBlock(const std::string& block,
                                                   const Options& options) {
  std::map<std::string, std::string> fields;
  std::string text = block + "\n\n";
  Ref<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(text.data(), text.size()));
  Ref<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  g_mime_parser_set_format(parser.get(), GMIME_FORMAT_MESSAGE);
  Ref<GMimeObject> part(g_mime_parser_construct_part(parser.get(), options.p));
  if (!part) return fields;
  GMimeHeaderList* headers = g_mime_object_get_header_list(part.get());
  int n = g_mime_header_list_get_count(headers);
  for (int i = 0; i < n; ++i) {
    GMimeHeader* h = g_mime_header_list_get_header_at(headers, i);
    fields.emplace(Lower(Str(g_mime_header_get_name(h))), Trim(Str(g_mime_header_get_value(h))));
  }
  return fields;
}

// The decoded content of a leaf part, or the text of an embedded message.
std::string PartText(GMimeObject* obj) {
  if (GMIME_IS_MESSAGE_PART(obj)) {
    GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
    if (!inner) return std::string();
    gchar* s = g_mime_object_to_string(GMIME_OBJECT(inner), nullptr);
    std::string out = Str(s);
    g_free(s);
    return out;
  }
  if (!GMIME_IS_PART(obj)) return std::string();
  GMimeDataWrapper* content = g_mime_part_get_content(GMIME_PART(obj));
  if (!content) return std::string();
  Ref<GMimeStream> mem(g_mime_stream_mem_new());
  g_mime_data_wrapper_write_to_stream(content, mem.get());
  GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem.get()));
  return std::string(reinterpret_cast<const char*>(bytes->data), bytes->len);
}

// Splits RFC 3464 / RFC 5965 field text into blocks separated by blank lines.
std::vector<std::string> Blocks(const std::string& text) {
  std::vector<std::string> blocks;
  std::string current, line;
  auto flush = [&] {
    if (!Trim(current).empty()) blocks.push_back(current);
    current.clear();
  };
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (Trim(line).empty()) {
      flush();
    } else {
      current += line + "\n";
    }
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  flush();
  return blocks;
}

// "rfc822; someone@example.com" -> "someone@example.com" (angle brackets dropped).
std::string AddressOfTypedField(const std::string& value) {
  auto semi = value.find(';');
  std::string addr = Trim(semi == std::string::npos ? value : value.substr(semi + 1));
  if (addr.size() > 2 && addr.front() == '<' && addr.back() == '>') {
    addr = addr.substr(1, addr.size() - 2);
  }
  return addr;
}

// ASCII classes, as std::regex's \s, \d and \w read them; never the locale's.
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// "5.1.1 (bad destination mailbox)" -> "5.1.1"; anything else -> "". Scanned by hand, not
// with std::regex: libstdc++'s matcher recurses once per character, so a long run of white
// space in a report from anyone overflowed the stack.
std::string StatusCode(const std::string& value) {
  size_t i = 0;
  while (i < value.size() && IsSpace(value[i])) ++i;
  if (i == value.size() || (value[i] != '2' && value[i] != '4' && value[i] != '5')) return "";
  std::string code(1, value[i++]);
  // ".subject" then ".detail", one to three digits each; the detail ends the word.
  for (int part = 0; part < 2; ++part) {
    if (i == value.size() || value[i] != '.') return "";
    code += value[i++];
    size_t digits = 0;
    while (i < value.size() && IsDigit(value[i]) && digits < 3) {
      code += value[i++];
      ++digits;
    }
    if (digits == 0) return "";
  }
  if (i < value.size() && (IsAlnum(value[i]) || value[i] == '_')) return "";
  return code;
}

std::string StripAngles(std::string id) {
  id = Trim(id);
  if (id.size() >= 2 && id.front() == '<' && id.back() == '>') id = id.substr(1, id.size() - 2);
  return Trim(id);
}

// Message-ID and X-Herald-Message-Id of the returned original (message/rfc822 or
// text/rfc822-headers).
void ReadOriginal(GMimeObject* obj, const Options& options, ParsedMail& out) {
  GMimeMessage* original = nullptr;
  Ref<GMimeMessage> parsed;
  if (GMIME_IS_MESSAGE_PART(obj)) {
    original = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
  } else {
    std::string headers = PartText(obj);
    parsed.p = ParseMessage(headers + "\n\n", options);
    original = parsed.get();
  }
  if (!original) return;
  out.original_message_id = Str(g_mime_message_get_message_id(original));
  out.original_herald_message_id =
      Trim(Str(g_mime_object_get_header(GMIME_OBJECT(original), "X-Herald-Message-Id")));
  out.original_return_path =
      Trim(Str(g_mime_object_get_header(GMIME_OBJECT(original), "Return-Path")));
}

void ReadDeliveryStatus(GMimeObject* obj, const Options& options, ParsedMail& out) {
  auto blocks = Blocks(PartText(obj));
  for (size_t i = 0; i < blocks.size(); ++i) {
    auto fields = ParseFieldBlock(blocks[i], options);
    if (i == 0) {  // per-message fields
      if (fields.count("original-envelope-id")) {
        out.original_envelope_id = fields["original-envelope-id"];
      }
      continue;
    }
    DsnRecipient r;
    r.action = Lower(fields["action"]);
    r.status = StatusCode(fields["status"]);
    r.final_recipient = AddressOfTypedField(
        fields.count("final-recipient") ? fields["final-recipient"] : fields["original-recipient"]);
    if (!r.action.empty()) out.dsn_recipients.push_back(std::move(r));
  }
}

void ReadFeedbackReport(GMimeObject* obj, const Options& options, ParsedMail& out) {
  for (const auto& block : Blocks(PartText(obj))) {
    auto fields = ParseFieldBlock(block, options);
    if (out.feedback_type.empty()) out.feedback_type = Lower(fields["feedback-type"]);
    if (out.original_rcpt_to.empty() && fields.count("original-rcpt-to")) {
      out.original_rcpt_to = AddressOfTypedField(fields["original-rcpt-to"]);
    }
    if (out.original_mail_from.empty() && fields.count("original-mail-from")) {
      out.original_mail_from = fields["original-mail-from"];
    }
  }
}

// GMime 3.2.13 merges adjacent encoded words of one charset before decoding them (so a
// multi-byte character split across words survives), but for base64 words it decodes the
// concatenated text as one stream and stops at the first word's "=" padding:
// "=?UTF-8?B?YWI=?= =?UTF-8?B?Y2Q=?=" comes out as "ab". Mail clients split long subjects
// exactly like that. So each B word is first re-spelt as the equivalent Q word (the same
// bytes, every one as =XX), which GMime merges and decodes correctly; the decoding itself
// (charsets, merging, white space between words) stays GMime's.
//
// The words are found by hand, not with std::regex, whose matcher recurses once per
// character: a long subject from anyone overflowed the stack.
struct BWord {
  size_t length = 0;  // of the whole word; 0: none here
  std::string_view charset, payload;
};

// "=?charset?B?payload?=" at raw[pos]: a charset of anything but '?' and white space, a
// payload of base64 characters.
BWord BWordAt(std::string_view raw, size_t pos) {
  if (raw.compare(pos, 2, "=?") != 0) return {};
  size_t i = pos + 2;
  while (i < raw.size() && raw[i] != '?' && !IsSpace(raw[i])) ++i;
  size_t charset_end = i;
  if (charset_end == pos + 2 || raw.compare(i, 1, "?") != 0 || i + 2 >= raw.size() ||
      (raw[i + 1] != 'B' && raw[i + 1] != 'b') || raw[i + 2] != '?') {
    return {};
  }
  i += 3;
  size_t payload_begin = i;
  while (i < raw.size() && (IsAlnum(raw[i]) || raw[i] == '+' || raw[i] == '/' || raw[i] == '=')) {
    ++i;
  }
  if (raw.compare(i, 2, "?=") != 0) return {};
  return {i + 2 - pos, raw.substr(pos + 2, charset_end - pos - 2),
          raw.substr(payload_begin, i - payload_begin)};
}

std::string RespellBase64Words(const std::string& raw) {
  std::string out;
  size_t last = 0;
  for (size_t pos = raw.find("=?"); pos != std::string::npos; pos = raw.find("=?", pos)) {
    BWord word = BWordAt(raw, pos);
    if (word.length == 0) {
      ++pos;
      continue;
    }
    out.append(raw, last, pos - last);
    pos += word.length;
    last = pos;
    std::string payload(word.payload);
    gsize len = 0;
    guchar* bytes = g_base64_decode(payload.c_str(), &len);
    static const char kHex[] = "0123456789ABCDEF";
    std::string q = "=?" + std::string(word.charset) + "?Q?";
    for (gsize i = 0; i < len; ++i) {
      q += '=';
      q += kHex[bytes[i] >> 4];
      q += kHex[bytes[i] & 15];
    }
    g_free(bytes);
    out += q + "?=";
  }
  out.append(raw, last, std::string::npos);
  return out;
}

// The subject decoded to UTF-8 (RFC 2047, any charset iconv knows; undeclared 8-bit text
// through the fallback charsets).
std::string DecodeSubject(GMimeMessage* message, const Options& options) {
  GMimeHeaderList* headers = g_mime_object_get_header_list(GMIME_OBJECT(message));
  GMimeHeader* h = headers ? g_mime_header_list_get_header(headers, "Subject") : nullptr;
  const char* raw = h ? g_mime_header_get_raw_value(h) : nullptr;
  if (!raw) return Str(g_mime_message_get_subject(message));
  gchar* unfolded = g_mime_utils_header_unfold(raw);
  std::string respelt = RespellBase64Words(Str(unfolded));
  g_free(unfolded);
  gchar* decoded = g_mime_utils_header_decode_text(options.p, respelt.c_str());
  std::string out = Trim(Str(decoded));
  g_free(decoded);
  return out;
}

bool IsType(GMimeObject* obj, const char* type, const char* subtype) {
  GMimeContentType* ct = g_mime_object_get_content_type(obj);
  return ct && g_mime_content_type_is_type(ct, type, subtype);
}

// The multipart/report of the message: the top part, or one level inside a multipart/mixed.
GMimeMultipart* FindReport(GMimeObject* top) {
  if (!top) return nullptr;
  if (GMIME_IS_MULTIPART(top) && IsType(top, "multipart", "report")) {
    return GMIME_MULTIPART(top);
  }
  if (!GMIME_IS_MULTIPART(top)) return nullptr;
  GMimeMultipart* mp = GMIME_MULTIPART(top);
  for (int i = 0; i < g_mime_multipart_get_count(mp); ++i) {
    GMimeObject* child = g_mime_multipart_get_part(mp, i);
    if (GMIME_IS_MULTIPART(child) && IsType(child, "multipart", "report")) {
      return GMIME_MULTIPART(child);
    }
  }
  return nullptr;
}

void ReadReport(GMimeMultipart* report, const Options& options, ParsedMail& out) {
  std::string type = Lower(Str(g_mime_content_type_get_parameter(
      g_mime_object_get_content_type(GMIME_OBJECT(report)), "report-type")));
  bool dsn = type == "delivery-status";
  bool arf = type == "feedback-report";
  if (!dsn && !arf) return;
  out.kind = dsn ? ParsedMail::Kind::kDeliveryStatus : ParsedMail::Kind::kFeedbackReport;
  for (int i = 0; i < g_mime_multipart_get_count(report); ++i) {
    GMimeObject* part = g_mime_multipart_get_part(report, i);
    if (dsn && (IsType(part, "message", "delivery-status") ||
                IsType(part, "message", "global-delivery-status"))) {
      ReadDeliveryStatus(part, options, out);
    } else if (arf && IsType(part, "message", "feedback-report")) {
      ReadFeedbackReport(part, options, out);
    } else if (IsType(part, "message", "rfc822") || IsType(part, "message", "global") ||
               IsType(part, "text", "rfc822-headers") ||
               IsType(part, "message", "global-headers")) {
      ReadOriginal(part, options, out);
    }
  }
}

void AppendCapped(std::string& to, const std::string& text) {
  if (to.size() >= kMaxBounceText) return;
  to.append(text, 0, kMaxBounceText - to.size());
  if (to.size() < kMaxBounceText) to += '\n';
}

// The text of a message that is not a report, for plain-text bounces: text/plain leaves as
// the notice, returned messages (attached whole or as headers) apart. Nested multiparts a
// few levels deep only: notices are never deeper, and the walk must not recurse without end.
void ReadPlainText(GMimeObject* obj, int depth, ParsedMail& out) {
  if (!obj || depth > 8) return;
  if (GMIME_IS_MULTIPART(obj)) {
    GMimeMultipart* mp = GMIME_MULTIPART(obj);
    for (int i = 0; i < g_mime_multipart_get_count(mp); ++i) {
      ReadPlainText(g_mime_multipart_get_part(mp, i), depth + 1, out);
    }
    return;
  }
  if (GMIME_IS_MESSAGE_PART(obj) || IsType(obj, "message", "rfc822") ||
      IsType(obj, "message", "global") || IsType(obj, "text", "rfc822-headers") ||
      IsType(obj, "message", "global-headers")) {
    AppendCapped(out.attached_original, PartText(obj));
    return;
  }
  if (GMIME_IS_PART(obj) && IsType(obj, "text", "plain"))
    AppendCapped(out.body_text, PartText(obj));
}

}  // namespace

std::optional<ParsedMail> ParseMail(std::string_view raw) {
  InitGMime();
  // An mbox "From " separator line (a pipe transport's F flag) is not a header.
  if (raw.substr(0, 5) == "From ") {
    auto nl = raw.find('\n');
    raw = nl == std::string_view::npos ? std::string_view() : raw.substr(nl + 1);
  }
  if (raw.empty()) return std::nullopt;
  Options options;
  Ref<GMimeMessage> message(ParseMessage(raw, options));
  if (!message) return std::nullopt;
  GMimeHeaderList* headers = g_mime_object_get_header_list(GMIME_OBJECT(message.get()));
  if (!headers || g_mime_header_list_get_count(headers) == 0) return std::nullopt;

  ParsedMail out;
  out.message_id = Str(g_mime_message_get_message_id(message.get()));
  out.subject = DecodeSubject(message.get(), options);
  InternetAddressList* from = g_mime_message_get_from(message.get());
  if (from) {
    for (int i = 0; i < internet_address_list_length(from); ++i) {
      InternetAddress* a = internet_address_list_get_address(from, i);
      if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
        out.from = Str(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a)));
        break;
      }
    }
  }
  for (const char* name : {"Delivered-To", "X-Original-To", "To"}) {
    int n = g_mime_header_list_get_count(headers);
    for (int i = 0; i < n; ++i) {
      GMimeHeader* h = g_mime_header_list_get_header_at(headers, i);
      if (g_ascii_strcasecmp(Str(g_mime_header_get_name(h)).c_str(), name) == 0) {
        out.envelope_recipients.push_back(Trim(Str(g_mime_header_get_value(h))));
      }
    }
  }
  if (GMimeMultipart* report = FindReport(g_mime_message_get_mime_part(message.get()))) {
    ReadReport(report, options, out);
  }
  GMimeObject* top = GMIME_OBJECT(message.get());
  out.return_path = Trim(Str(g_mime_object_get_header(top, "Return-Path")));
  out.failed_recipients_header = g_mime_object_get_header(top, "X-Failed-Recipients") != nullptr;
  for (const char* name : {"In-Reply-To", "References"}) {
    std::string value = Trim(Str(g_mime_object_get_header(top, name)));
    if (!value.empty()) out.references.push_back(std::move(value));
  }
  if (out.kind == ParsedMail::Kind::kPlain) {
    ReadPlainText(g_mime_message_get_mime_part(message.get()), 0, out);
  }
  out.original_message_id = StripAngles(out.original_message_id);
  out.original_envelope_id = StripAngles(out.original_envelope_id);
  return out;
}

}  // namespace herald::inbound
