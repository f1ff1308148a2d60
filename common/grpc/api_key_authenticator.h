#pragma once

#include <string_view>
#include <vector>

#include "common/config/config.h"

namespace herald {

// Bearer API keys, compared by SHA-256 in constant time against the configured hashes.
class ApiKeyAuthenticator {
 public:
  explicit ApiKeyAuthenticator(std::vector<ApiClient> clients) : clients_(std::move(clients)) {}

  // The client for an "authorization" header value ("Bearer <key>"), or nullptr.
  const ApiClient* Authenticate(std::string_view authorization) const;

  // The admin scope grants everything.
  static bool Allows(const ApiClient& client, std::initializer_list<Scope> any_of);

 private:
  std::vector<ApiClient> clients_;
};

}  // namespace herald
