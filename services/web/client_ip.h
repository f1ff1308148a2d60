#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::web {

// An IP network: IPv4 networks are kept as IPv4-mapped IPv6 (::ffff:a.b.c.d/96+n), so one
// comparison serves both families.
struct Cidr {
  std::array<uint8_t, 16> address{};
  int prefix = 128;
};

// Parses "a.b.c.d", "a.b.c.d/n", "x::y" or "x::y/n"; nullopt when it is not one.
std::optional<Cidr> ParseCidr(std::string_view text);
// An IPv4 or IPv6 address as 16 bytes (IPv4 mapped); nullopt when it is not one.
std::optional<std::array<uint8_t, 16>> ParseIp(std::string_view text);

// The peers whose X-Forwarded-For we believe (http.trusted_proxies).
class TrustedProxies {
 public:
  TrustedProxies() = default;
  // Throws std::invalid_argument naming the position of an entry that is not a CIDR.
  static TrustedProxies Parse(const std::vector<std::string>& cidrs);
  bool Contains(std::string_view ip) const;
  bool empty() const { return networks_.empty(); }

 private:
  std::vector<Cidr> networks_;
};

// The client an HTTP request is charged to. The TCP peer, unless the peer is a trusted
// proxy: then X-Forwarded-For is read from the right, skipping trusted hops, and the first
// untrusted address is the client. A malformed hop stops the walk at the last good one, so
// a client cannot pick its own identity by writing garbage or addresses into the header.
std::string ClientIp(const std::string& peer, const std::string& forwarded_for,
                     const TrustedProxies& trusted);

// The key a client is counted under (rate limits, connections per client). An IPv6 client
// is its /64: one subscriber line usually holds a whole /64, so keying the exact address
// would hand an attacker 2^64 fresh buckets. IPv4 (also IPv4-mapped IPv6) is the address.
// Anything that is not an address is its own key.
std::string ClientKey(std::string_view ip);

}  // namespace herald::web
