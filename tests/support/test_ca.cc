#include "tests/support/test_ca.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace herald::testing {
namespace {

struct Free {
  void operator()(BIO* p) const { BIO_free_all(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
template <typename T>
using Owned = std::unique_ptr<T, Free>;

[[noreturn]] void Fail(const std::string& what) {
  throw std::runtime_error("TestCa: " + what + ": " + OpenSslErrors());
}

void Check(int ok, const char* what) {
  if (ok <= 0) Fail(what);
}

Owned<EVP_PKEY> NewKey() {
  Owned<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (!key) Fail("EC key generation");
  return key;
}

std::string CertPem(X509* cert) {
  Owned<BIO> bio(BIO_new(BIO_s_mem()));
  Check(PEM_write_bio_X509(bio.get(), cert), "PEM_write_bio_X509");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string KeyPem(EVP_PKEY* key) {
  Owned<BIO> bio(BIO_new(BIO_s_mem()));
  Check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr),
        "PEM_write_bio_PrivateKey");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

Owned<X509> ReadCert(const std::string& pem) {
  Owned<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return Owned<X509>(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

Owned<EVP_PKEY> ReadKey(const std::string& pem) {
  Owned<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return Owned<EVP_PKEY>(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

// A certificate with everything but extensions and signature: a random 159-bit serial
// (positive, under the 20-octet limit), validity, subject CN, public key.
Owned<X509> NewCert(const std::string& common_name, EVP_PKEY* key) {
  Owned<X509> cert(X509_new());
  if (!cert) Fail("X509_new");
  Check(X509_set_version(cert.get(), 2), "X509_set_version");
  Owned<BIGNUM> serial(BN_new());
  Check(BN_rand(serial.get(), 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY), "BN_rand");
  if (!BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()))) Fail("serial");
  if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600)) Fail("notBefore");
  if (!X509_gmtime_adj(X509_getm_notAfter(cert.get()), 2L * 24 * 3600)) Fail("notAfter");
  X509_NAME* name = X509_get_subject_name(cert.get());
  Check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                   -1, 0),
        "subject CN");
  Check(X509_set_pubkey(cert.get(), key), "X509_set_pubkey");
  return cert;
}

void AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Owned<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext) Fail("extension " + value);
  Check(X509_add_ext(cert, ext.get(), -1), "X509_add_ext");
}

bool IsIpLiteral(const std::string& name) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

}  // namespace

TestCa::TestCa(const std::string& common_name) {
  auto key = NewKey();
  auto cert = NewCert(common_name, key.get());
  Check(X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())), "issuer");
  AddExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  AddExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  Check(X509_sign(cert.get(), key.get(), EVP_sha256()), "X509_sign");
  cert_pem_ = CertPem(cert.get());
  key_pem_ = KeyPem(key.get());
}

KeyPair TestCa::Issue(const std::string& common_name, const std::vector<std::string>& names,
                      bool server) const {
  auto ca_cert = ReadCert(cert_pem_);
  auto ca_key = ReadKey(key_pem_);
  if (!ca_cert || !ca_key) Fail("reading the CA back");
  auto key = NewKey();
  auto cert = NewCert(common_name, key.get());
  Check(X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get())), "issuer");
  AddExtension(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  AddExtension(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature");
  AddExtension(cert.get(), ca_cert.get(), NID_ext_key_usage, server ? "serverAuth" : "clientAuth");
  AddExtension(cert.get(), ca_cert.get(), NID_subject_key_identifier, "hash");
  AddExtension(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always");
  if (!names.empty()) {
    std::string san;
    for (const auto& n : names) {
      if (!san.empty()) san += ",";
      san += (IsIpLiteral(n) ? "IP:" : "DNS:") + n;
    }
    AddExtension(cert.get(), ca_cert.get(), NID_subject_alt_name, san);
  }
  Check(X509_sign(cert.get(), ca_key.get(), EVP_sha256()), "X509_sign");
  return KeyPair{CertPem(cert.get()), KeyPem(key.get())};
}

void WriteFileAtomically(const std::string& path, const std::string& text) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  std::string tmp = dir + "/.tmp-XXXXXX";
  int fd = mkstemp(tmp.data());
  auto fail = [&](const char* step) {
    int e = errno;
    if (fd >= 0) close(fd);
    unlink(tmp.c_str());
    throw std::runtime_error("WriteFileAtomically: " + std::string(step) + " " + path + ": " +
                             std::strerror(e));
  };
  if (fd < 0) fail("mkstemp for");
  bool key = path.size() >= 4 && path.compare(path.size() - 4, 4, ".key") == 0;
  if (fchmod(fd, key ? 0600 : 0644) != 0) fail("fchmod");
  for (size_t done = 0; done < text.size();) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write");
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) fail("fsync");
  int closing = fd;
  fd = -1;
  if (close(closing) != 0) fail("close");
  if (rename(tmp.c_str(), path.c_str()) != 0) fail("rename onto");
}

std::string CommonNameOf(const std::string& cert_pem) {
  auto cert = ReadCert(cert_pem);
  ERR_clear_error();
  if (!cert) return "";
  X509_NAME* name = X509_get_subject_name(cert.get());
  int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (i < 0) return "";
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
  if (len < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

std::string OpenSslErrors() {
  std::string out;
  char buf[256];
  while (unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

}  // namespace herald::testing
