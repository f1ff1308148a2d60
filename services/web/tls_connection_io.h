#pragma once

#include <memory>

#include "common/tls/server_context.h"
#include "services/web/connection_io.h"

namespace herald::web {

// TLS over each accepted socket, non-blocking: the handshake and the records happen inside
// Read and Write, so the connection front's deadlines and limits hold for TLS clients as
// for plain ones (a handshake that stalls runs into the request timeout). Each connection
// takes the context current at its accept and keeps it, so a certificate reload switches
// new connections only.
ConnectionIoFactory TlsConnections(std::shared_ptr<const tls::ServerContext> context);

}  // namespace herald::web
