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

constexpr std::string_view kUndoContext{"herald-undo\0", 12};

std::string UndoMac(const crypto::Key& key, std::string_view link_token, std::string_view session,
                    std::string_view issued_and_topics) {
  std::string input(kUndoContext);
  input.append(link_token);
  input.push_back('\0');
  input.append(session);
  input.push_back('\0');
  input.append(issued_and_topics);
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

std::string CsrfGuard::UndoTicket(std::string_view link_token, std::string_view session,
                                  int64_t issued_micros,
                                  const std::vector<std::string>& topics) const {
  std::string signed_part = std::to_string(issued_micros) + ".";
  for (size_t i = 0; i < topics.size(); ++i) {
    if (i > 0) signed_part += ",";
    signed_part += topics[i];
  }
  return signed_part + "." +
         crypto::Base64UrlEncode(UndoMac(ring_.newest(), link_token, session, signed_part));
}

std::optional<CsrfGuard::UndoGrant> CsrfGuard::VerifyUndoTicket(std::string_view link_token,
                                                                std::string_view session,
                                                                std::string_view ticket,
                                                                int64_t now_micros) const {
  if (session.empty() || ticket.size() > 4096) return std::nullopt;
  const size_t mac_dot = ticket.rfind('.');
  const size_t time_dot = ticket.find('.');
  if (time_dot == std::string_view::npos || time_dot == mac_dot || time_dot == 0 || time_dot > 19) {
    return std::nullopt;
  }
  UndoGrant grant;
  for (char c : ticket.substr(0, time_dot)) {
    if (c < '0' || c > '9') return std::nullopt;
    grant.issued_micros = grant.issued_micros * 10 + (c - '0');
  }
  // A ticket from the future is refused too: it was not made by this clock.
  if (grant.issued_micros > now_micros ||
      now_micros - grant.issued_micros > kUndoWindowSeconds * 1'000'000) {
    return std::nullopt;
  }
  auto raw = crypto::Base64UrlDecode(ticket.substr(mac_dot + 1));
  if (!raw || raw->size() != 32) return std::nullopt;
  const std::string_view signed_part = ticket.substr(0, mac_dot);
  bool ok = false;
  auto keys = ring_.Snapshot();
  for (const auto& key : *keys) {
    ok |= crypto::ConstantTimeEquals(UndoMac(key, link_token, session, signed_part), *raw);
  }
  if (!ok) return std::nullopt;
  std::string_view topics = signed_part.substr(time_dot + 1);
  while (!topics.empty()) {
    const size_t comma = topics.find(',');
    grant.topics.emplace_back(topics.substr(0, comma));
    topics = comma == std::string_view::npos ? std::string_view() : topics.substr(comma + 1);
  }
  return grant;
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
