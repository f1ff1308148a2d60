#pragma once

#include <grpcpp/security/server_credentials.h>

#include <chrono>
#include <memory>

#include "common/tls/tls_settings.h"

namespace herald::tls {

// The gRPC listener's credentials. Plaintext when TLS is off for it; otherwise TLS whose
// certificate (and client CA) gRPC's own file watcher re-reads every `reload_interval`, so
// a renewal needs no restart and connections already open keep theirs; with a client CA
// on this listener, a client without a certificate issued by it is refused (mTLS).
// Loads the files once first, so a wrong path or a key that does not match fails start-up
// with the file named (std::runtime_error) instead of every handshake later.
std::shared_ptr<grpc::ServerCredentials> GrpcServerCredentials(
    const TlsSettings& tls, std::chrono::seconds reload_interval);

}  // namespace herald::tls
