#include "services/web/client_ip.h"

#include <arpa/inet.h>

#include <algorithm>
#include <stdexcept>

namespace herald::web {

std::optional<std::array<uint8_t, 16>> ParseIp(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  std::string s(text);
  std::array<uint8_t, 16> out{};
  unsigned char v4[4];
  if (inet_pton(AF_INET, s.c_str(), v4) == 1) {
    out[10] = 0xff;
    out[11] = 0xff;
    for (int i = 0; i < 4; ++i) out[12 + i] = v4[i];
    return out;
  }
  if (inet_pton(AF_INET6, s.c_str(), out.data()) == 1) return out;
  return std::nullopt;
}

std::optional<Cidr> ParseCidr(std::string_view text) {
  Cidr c;
  auto slash = text.find('/');
  std::string_view ip = text.substr(0, slash);
  auto addr = ParseIp(ip);
  if (!addr) return std::nullopt;
  c.address = *addr;
  const bool v4 = ip.find(':') == std::string_view::npos;
  const int max = v4 ? 32 : 128;
  int prefix = max;
  if (slash != std::string_view::npos) {
    std::string_view p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3) return std::nullopt;
    prefix = 0;
    for (char ch : p) {
      if (ch < '0' || ch > '9') return std::nullopt;
      prefix = prefix * 10 + (ch - '0');
    }
    if (prefix > max) return std::nullopt;
  }
  c.prefix = v4 ? 96 + prefix : prefix;
  return c;
}

namespace {

bool InNetwork(const std::array<uint8_t, 16>& a, const Cidr& net) {
  int bits = net.prefix;
  for (int i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((a[i] & mask) != (net.address[i] & mask)) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

TrustedProxies TrustedProxies::Parse(const std::vector<std::string>& cidrs) {
  TrustedProxies t;
  for (size_t i = 0; i < cidrs.size(); ++i) {
    auto c = ParseCidr(cidrs[i]);
    if (!c) {
      throw std::invalid_argument("http.trusted_proxies[" + std::to_string(i) +
                                  "]: not an IP address or CIDR network");
    }
    t.networks_.push_back(*c);
  }
  return t;
}

bool TrustedProxies::Contains(std::string_view ip) const {
  auto a = ParseIp(ip);
  if (!a) return false;
  for (const auto& n : networks_) {
    if (InNetwork(*a, n)) return true;
  }
  return false;
}

std::string ClientIp(const std::string& peer, const std::string& forwarded_for,
                     const TrustedProxies& trusted) {
  if (forwarded_for.empty() || !trusted.Contains(peer)) return peer;
  std::string client = peer;
  std::string_view rest(forwarded_for);
  while (!rest.empty()) {
    auto comma = rest.rfind(',');
    std::string_view hop = Trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    if (!ParseIp(hop)) break;  // garbage: keep the last hop we could vouch for
    client = std::string(hop);
    if (!trusted.Contains(hop)) break;
  }
  return client;
}

std::string ClientKey(std::string_view ip) {
  auto a = ParseIp(ip);
  if (!a) return std::string(ip);
  const auto& b = *a;
  bool mapped = b[10] == 0xff && b[11] == 0xff;
  for (int i = 0; i < 10 && mapped; ++i) mapped = b[i] == 0;
  char out[INET6_ADDRSTRLEN + 4];
  if (mapped) {
    inet_ntop(AF_INET, b.data() + 12, out, sizeof out);
    return out;
  }
  std::array<uint8_t, 16> net{};
  std::copy(b.begin(), b.begin() + 8, net.begin());
  inet_ntop(AF_INET6, net.data(), out, sizeof out);
  return std::string(out) + "/64";
}

}  // namespace herald::web
