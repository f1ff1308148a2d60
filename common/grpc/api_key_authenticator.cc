#include "common/grpc/api_key_authenticator.h"

#include "common/crypto/hash.h"

namespace herald {

const ApiClient* ApiKeyAuthenticator::Authenticate(std::string_view authorization) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() ||
      authorization.substr(0, kBearer.size()) != kBearer) {
    return nullptr;
  }
  std::string digest = crypto::ToHex(crypto::Sha256(authorization.substr(kBearer.size())));
  const ApiClient* found = nullptr;
  for (const auto& c : clients_) {
    // No early exit: every configured hash is compared.
    if (crypto::ConstantTimeEquals(digest, c.key_sha256_hex)) found = &c;
  }
  return found;
}

bool ApiKeyAuthenticator::Allows(const ApiClient& client, std::initializer_list<Scope> any_of) {
  if (client.scopes.count(Scope::kAdmin)) return true;
  for (Scope s : any_of) {
    if (client.scopes.count(s)) return true;
  }
  return false;
}

}  // namespace herald
