#include "services/inbound/mail/sender_authentication.h"

#include <gmime/gmime.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <mutex>

namespace herald::inbound {
namespace {

std::string Lower(std::string_view s) {
  std::string out;
  for (char c : s) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return out;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// The value with every comment (nested parentheses, backslash escapes) replaced by one
// space; quoted strings are kept with their quotes.
std::string StripComments(std::string_view v) {
  std::string out;
  int depth = 0;
  bool quoted = false;
  for (size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (quoted) {
      out.push_back(c);
      if (c == '\\' && i + 1 < v.size()) {
        out.push_back(v[++i]);
      } else if (c == '"') {
        quoted = false;
      }
    } else if (depth > 0) {
      if (c == '\\') {
        ++i;
      } else if (c == '(') {
        ++depth;
      } else if (c == ')' && --depth == 0) {
        out.push_back(' ');
      }
    } else if (c == '(') {
      depth = 1;
    } else {
      if (c == '"') quoted = true;
      out.push_back(c);
    }
  }
  return out;
}

// Splits at `sep` outside quoted strings.
std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> parts(1);
  bool quoted = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quoted && c == '\\' && i + 1 < s.size()) {
      parts.back() += s.substr(i, 2);
      ++i;
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (c == sep && !quoted) {
      parts.emplace_back();
    } else {
      parts.back().push_back(c);
    }
  }
  return parts;
}

// White-space separated words, with the spaces CFWS allows around '=', '.' and '/' removed,
// so "dmarc = pass" and "header . from=x" read as one word each.
std::vector<std::string> Words(const std::string& s) {
  std::string joined;
  bool quoted = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '"') quoted = !quoted;
    if (!quoted && IsSpace(c)) {
      size_t next = i;
      while (next < s.size() && IsSpace(s[next])) ++next;
      bool before =
          !joined.empty() && (joined.back() == '=' || joined.back() == '.' || joined.back() == '/');
      bool after = next < s.size() && (s[next] == '=' || s[next] == '.' || s[next] == '/');
      if (!before && !after && !joined.empty()) joined.push_back(' ');
      i = next - 1;
      continue;
    }
    joined.push_back(c);
  }
  std::vector<std::string> out;
  for (auto& w : Split(joined, ' ')) {
    if (!w.empty()) out.push_back(w);
  }
  return out;
}

std::string Unquote(std::string v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
    std::string out;
    for (size_t i = 1; i + 1 < v.size(); ++i) {
      if (v[i] == '\\' && i + 2 < v.size()) ++i;
      out.push_back(v[i]);
    }
    return out;
  }
  return v;
}

std::string Domain(std::string_view v) {
  std::string d = Lower(v.substr(v.rfind('@') == std::string_view::npos ? 0 : v.rfind('@') + 1));
  while (!d.empty() && d.back() == '.') d.pop_back();
  return d;
}

void InitGMime() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

template <typename T>
struct Ref {
  T* p;
  explicit Ref(T* ptr) : p(ptr) {}
  ~Ref() {
    if (p) g_object_unref(p);
  }
  Ref(const Ref&) = delete;
  Ref& operator=(const Ref&) = delete;
};

}  // namespace

std::optional<AuthResults> ParseAuthResults(std::string_view value) {
  auto parts = Split(StripComments(value), ';');
  auto head = Words(parts[0]);
  if (head.empty()) return std::nullopt;
  AuthResults out;
  out.authserv_id = Lower(Unquote(head[0]));
  for (size_t i = 1; i < parts.size(); ++i) {
    auto words = Words(parts[i]);
    if (words.empty()) continue;
    auto eq = words[0].find('=');
    if (eq == std::string::npos) continue;  // "none" or garbage: no result
    AuthResults::Result r;
    r.method = Lower(words[0].substr(0, std::min(eq, words[0].find('/'))));
    r.result = Lower(Unquote(words[0].substr(eq + 1)));
    for (size_t w = 1; w < words.size(); ++w) {
      auto e = words[w].find('=');
      if (e == std::string::npos) continue;
      std::string key = Lower(words[w].substr(0, e));
      if (key.find('.') == std::string::npos) continue;  // reason=...
      r.properties.emplace(key, Unquote(words[w].substr(e + 1)));
    }
    out.results.push_back(std::move(r));
  }
  return out;
}

bool DmarcAlignedPass(std::string_view raw_message,
                      const std::vector<std::string>& trusted_authserv_ids,
                      std::string_view from_domain) {
  if (trusted_authserv_ids.empty() || from_domain.empty()) return false;
  InitGMime();
  Ref<GMimeStream> stream(
      g_mime_stream_mem_new_with_buffer(raw_message.data(), raw_message.size()));
  Ref<GMimeParser> parser(g_mime_parser_new_with_stream(stream.p));
  g_mime_parser_set_format(parser.p, GMIME_FORMAT_MESSAGE);
  Ref<GMimeMessage> message(g_mime_parser_construct_message(parser.p, nullptr));
  if (!message.p) return false;
  GMimeHeaderList* headers = g_mime_object_get_header_list(GMIME_OBJECT(message.p));
  if (!headers) return false;
  // DMARC is defined only for a message with exactly one From: field naming one mailbox.
  int from_fields = 0;
  std::optional<AuthResults> ours;
  int n = g_mime_header_list_get_count(headers);
  for (int i = 0; i < n; ++i) {
    GMimeHeader* h = g_mime_header_list_get_header_at(headers, i);
    const char* name = g_mime_header_get_name(h);
    if (!name) continue;
    if (strcasecmp(name, "From") == 0) ++from_fields;
    if (ours || strcasecmp(name, "Authentication-Results") != 0) continue;
    const char* raw = g_mime_header_get_raw_value(h);
    if (!raw) continue;
    auto parsed = ParseAuthResults(raw);
    if (!parsed) continue;
    for (const auto& id : trusted_authserv_ids) {
      if (Lower(id) == parsed->authserv_id) {
        ours = std::move(parsed);
        break;
      }
    }
  }
  InternetAddressList* from = g_mime_message_get_from(message.p);
  if (from_fields != 1 || !from || internet_address_list_length(from) != 1 ||
      !INTERNET_ADDRESS_IS_MAILBOX(internet_address_list_get_address(from, 0))) {
    return false;
  }
  if (!ours) return false;
  bool pass = false;
  for (const auto& r : ours->results) {
    if (r.method != "dmarc") continue;
    auto it = r.properties.find("header.from");
    if (r.result != "pass" || it == r.properties.end() ||
        Domain(it->second) != Domain(from_domain)) {
      return false;  // any other dmarc verdict in our own field outweighs a pass
    }
    pass = true;
  }
  return pass;
}

}  // namespace herald::inbound
