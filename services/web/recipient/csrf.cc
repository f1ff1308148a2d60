#include "services/web/recipient/csrf.h"

#include <cctype>

#include "common/crypto/hash.h"
#include "common/crypto/link_token.h"

namespace herald::web {
namespace {

constexpr std::string_view kContext{"herald-csrf\0", 12};

std::string Mac(const crypto::Key& key, std::string_view link_token) {
  std::string input(kContext);
  input.append(link_token);
  return crypto::HmacSha256(key.secret, input);
}

std::string Lower(std::string_view s) {
  std::string out;
  for (char c : s) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return out;
}

}  // namespace

std::string CsrfGuard::Token(std::string_view link_token) const {
  return crypto::Base64UrlEncode(Mac(ring_.newest(), link_token));
}

bool CsrfGuard::Verify(std::string_view link_token, std::string_view csrf) const {
  if (csrf.size() > 64) return false;
  auto raw = crypto::Base64UrlDecode(csrf);
  if (!raw || raw->size() != 32) return false;
  bool ok = false;
  auto keys = ring_.Snapshot();
  for (const auto& key : *keys) {
    ok |= crypto::ConstantTimeEquals(Mac(key, link_token), *raw);
  }
  return ok;
}

std::string OriginOf(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {};
  auto host_end = url.find_first_of("/?#", scheme_end + 3);
  return Lower(url.substr(0, host_end));
}

bool SameOriginPost(const HttpRequest& req, std::string_view public_origin) {
  std::string site = Lower(req.Header("Sec-Fetch-Site"));
  if (site == "cross-site") return false;
  std::string origin = req.Header("Origin");
  if (origin.empty()) return true;
  origin = Lower(origin);
  // Our pages send Referrer-Policy: no-referrer, under which Chromium posts our own forms
  // with "Origin: null"; its Sec-Fetch-Site (which no page can set) then says same-origin.
  // A bare "null" (sandboxed frame, data: page) is still refused.
  if (origin == "null") return site == "same-origin";
  if (!public_origin.empty() && origin == Lower(public_origin)) return true;
  std::string host = Lower(req.Header("Host"));
  if (host.empty()) return false;
  return origin == "http://" + host || origin == "https://" + host;
}

}  // namespace herald::web
