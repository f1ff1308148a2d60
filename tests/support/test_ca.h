#pragma once

#include <string>
#include <vector>

namespace herald::testing {

// A certificate and its private key, both PEM.
struct KeyPair {
  std::string cert_pem;
  std::string key_pem;
};

// A throwaway certificate authority made in memory by a test, so TLS is proven with real
// handshakes and no certificate ever has to be checked into the tree or expire there.
// EC P-256 keys, SHA-256 signatures, valid from an hour ago (clock skew between a test and
// the server it starts) to two days ahead (longer than any run).
class TestCa {
 public:
  explicit TestCa(const std::string& common_name);

  const std::string& cert_pem() const { return cert_pem_; }

  // A leaf signed by this CA. Each of `names` becomes a subjectAltName: an IPv4/IPv6 literal
  // as IP:, anything else as DNS:. Extended key usage serverAuth (server=true) or clientAuth.
  // Each call gets a fresh key and a new random serial, so a reissued certificate is
  // distinguishable from the one it replaces.
  KeyPair Issue(const std::string& common_name, const std::vector<std::string>& names,
                bool server = true) const;

 private:
  std::string cert_pem_;
  std::string key_pem_;
};

// Writes `text` to `path` the way a mounted Kubernetes Secret changes: a temporary file in
// the same folder, then rename() over the old one, so a reader never sees half a file.
// Mode 0600 for files ending in .key, 0644 otherwise. Throws std::runtime_error on failure.
void WriteFileAtomically(const std::string& path, const std::string& text);

// Subject common name of a PEM certificate (for asserting which certificate a server showed);
// "" when the text is not a certificate or has no common name.
std::string CommonNameOf(const std::string& cert_pem);

// OpenSSL's error queue as text ("; " between entries), emptied.
std::string OpenSslErrors();

}  // namespace herald::testing
