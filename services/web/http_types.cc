#include "services/web/http_types.h"

#include <strings.h>

namespace herald::web {

std::string HttpRequest::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  }
  return {};
}

HttpResponse JsonResponse(int status, const nlohmann::json& body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = body.dump() + "\n";
  r.headers["Cache-Control"] = "no-store";
  return r;
}

std::string HttpRequest::FormValue(const std::string& name) const {
  auto it = form.find(name);
  return it == form.end() ? std::string() : it->second;
}

namespace {

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Decode(const std::string& s, size_t begin, size_t end) {
  std::string out;
  out.reserve(end - begin);
  for (size_t i = begin; i < end; ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < end && Hex(s[i + 1]) >= 0 && Hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(Hex(s[i + 1]) * 16 + Hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::multimap<std::string, std::string> ParseUrlEncoded(const std::string& body) {
  std::multimap<std::string, std::string> out;
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t amp = body.find('&', pos);
    if (amp == std::string::npos) amp = body.size();
    if (amp > pos) {
      size_t eq = body.find('=', pos);
      if (eq == std::string::npos || eq > amp) {
        out.emplace(Decode(body, pos, amp), std::string());
      } else {
        out.emplace(Decode(body, pos, eq), Decode(body, eq + 1, amp));
      }
    }
    pos = amp + 1;
  }
  return out;
}

}  // namespace herald::web
