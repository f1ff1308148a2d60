#include "common/tls/grpc_credentials.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "common/tls/server_context.h"

namespace herald::tls {

std::shared_ptr<grpc::ServerCredentials> GrpcServerCredentials(
    const TlsSettings& tls, std::chrono::seconds reload_interval) {
  if (!tls.Enabled("grpc")) return grpc::InsecureServerCredentials();
  const bool mtls = tls.RequiresClientCert("grpc");
  ServerContext check({tls.cert_file, tls.key_file, mtls ? tls.client_ca_file : ""});
  const auto refresh = static_cast<unsigned int>(reload_interval.count());
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider;
  if (mtls) {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        tls.key_file, tls.cert_file, tls.client_ca_file, refresh);
  } else {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        tls.key_file, tls.cert_file, refresh);
  }
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (mtls) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

}  // namespace herald::tls
