#include "services/heraldctl/inbound_mail_command.h"

#include <httplib.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <regex>
#include <sstream>

namespace herald::ctl {
namespace {

// sysexits.h
constexpr int kExOk = 0;
constexpr int kExUsage = 64;
constexpr int kExDataErr = 65;
constexpr int kExIoErr = 74;
constexpr int kExTempFail = 75;

constexpr char kDefaultUrl[] = "http://127.0.0.1:8081/hooks/email/inbound";
constexpr size_t kMaxRead = 64 * 1024 * 1024;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string TrimLine(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

int Fail(int code, const std::string& message) {
  std::cerr << "heraldctl inbound-mail: " << message << "\n";
  return code;
}

}  // namespace

std::string InboundMailUsage() {
  return "Usage: heraldctl inbound-mail [--url URL] [--secret-file FILE] [--timeout SECONDS]\n"
         "                             [--ca FILE] [--cert FILE --cert-key FILE] < message.eml\n\n"
         "Posts one raw RFC 5322 message from standard input to heraldd's inbound mail hook\n"
         "(a Postfix pipe transport). Nothing is ever answered to the sender.\n\n"
         "  --url URL           the hook (HERALDCTL_INBOUND_URL; default " +
         std::string(kDefaultUrl) +
         ")\n"
         "  --secret-file FILE  file holding the bearer secret (otherwise\n"
         "                      HERALDCTL_INBOUND_SECRET)\n"
         "  --timeout SECONDS   whole request timeout (default 30)\n"
         "  --ca FILE           PEM CA of an https:// hook's certificate (HERALDCTL_INBOUND_CA;\n"
         "                      default: the system's CAs)\n"
         "  --cert FILE         PEM client certificate, when the mail listener requires one\n"
         "  --cert-key FILE     its private key (HERALDCTL_INBOUND_CERT, _CERT_KEY)\n\n"
         "Exit status (sysexits): 0 taken; 65 refused (not a message, too large); 75 try\n"
         "again later (unreachable, 5xx, 429, secret missing or refused); 64 usage; 74 stdin.\n";
}

int RunInboundMail(const std::vector<std::string>& args) {
  std::string url = Env("HERALDCTL_INBOUND_URL");
  if (url.empty()) url = kDefaultUrl;
  std::string secret = Env("HERALDCTL_INBOUND_SECRET");
  std::string secret_file;
  std::string ca = Env("HERALDCTL_INBOUND_CA");
  std::string cert = Env("HERALDCTL_INBOUND_CERT");
  std::string cert_key = Env("HERALDCTL_INBOUND_CERT_KEY");
  int timeout_s = 30;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const std::string& name) -> std::string {
      if (a.rfind(name + "=", 0) == 0) return a.substr(name.size() + 1);
      if (a == name && i + 1 < args.size()) return args[++i];
      throw std::invalid_argument(name + ": expected a value");
    };
    try {
      if (a == "--help" || a == "-h") {
        std::cout << InboundMailUsage();
        return kExOk;
      } else if (a.rfind("--url", 0) == 0) {
        url = value("--url");
      } else if (a == "--ca" || a.rfind("--ca=", 0) == 0) {
        ca = value("--ca");
      } else if (a == "--cert" || a.rfind("--cert=", 0) == 0) {
        cert = value("--cert");
      } else if (a == "--cert-key" || a.rfind("--cert-key=", 0) == 0) {
        cert_key = value("--cert-key");
      } else if (a.rfind("--secret-file", 0) == 0) {
        secret_file = value("--secret-file");
      } else if (a.rfind("--timeout", 0) == 0) {
        std::string t = value("--timeout");
        size_t used = 0;
        timeout_s = std::stoi(t, &used);
        if (used != t.size() || timeout_s < 1 || timeout_s > 3600) throw std::out_of_range("");
      } else {
        return Fail(kExUsage, "unknown argument '" + a + "'\n\n" + InboundMailUsage());
      }
    } catch (const std::exception&) {
      return Fail(kExUsage, "bad value for " + a + "\n\n" + InboundMailUsage());
    }
  }
  if (!secret_file.empty()) {
    std::ifstream in(secret_file);
    if (!in) return Fail(kExTempFail, "--secret-file: cannot be read; the mail stays queued");
    std::getline(in, secret);
    secret = TrimLine(secret);
  }
  if (secret.empty()) {
    return Fail(kExTempFail,
                "no secret (HERALDCTL_INBOUND_SECRET or --secret-file); the mail stays queued");
  }
  static const std::regex kUrl(R"(^(https?://[^/]+)(/.*)?$)");
  std::smatch m;
  if (!std::regex_match(url, m, kUrl)) {
    return Fail(kExUsage, "--url: expected http(s)://host[:port]/path");
  }
  std::string origin = m[1].str();
  std::string path = m[2].matched ? m[2].str() : "/hooks/email/inbound";
  const bool https = origin.rfind("https://", 0) == 0;
  if (!https && !(ca.empty() && cert.empty())) {
    return Fail(kExUsage, "--ca and --cert need an https:// --url");
  }
  if (cert.empty() != cert_key.empty()) {
    return Fail(kExUsage, "--cert and --cert-key go together");
  }

  std::string body;
  {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    if (std::cin.bad()) return Fail(kExIoErr, "cannot read the message on standard input");
    body = ss.str();
  }
  if (body.size() > kMaxRead) return Fail(kExDataErr, "message too large");
  if (body.empty()) return Fail(kExDataErr, "empty message on standard input");

  httplib::Client client =
      cert.empty() ? httplib::Client(origin) : httplib::Client(origin, cert, cert_key);
  if (!ca.empty()) client.set_ca_cert_path(ca);
  client.set_connection_timeout(10, 0);
  client.set_read_timeout(timeout_s, 0);
  client.set_write_timeout(timeout_s, 0);
  httplib::Headers headers = {{"Authorization", "Bearer " + secret}};
  auto res = client.Post(path, headers, body, "message/rfc822");
  if (!res) {
    return Fail(kExTempFail, "service unreachable (" + httplib::to_string(res.error()) +
                                 "); the mail stays queued");
  }
  int status = res->status;
  if (status >= 200 && status < 300) {
    std::cout << TrimLine(res->body) << "\n";
    return kExOk;
  }
  std::string reason = "HTTP " + std::to_string(status) + ": " + TrimLine(res->body);
  if (status == 413) {
    // heraldd's answer names its limit; say which knob it is and how large this one was.
    reason = "message of " + std::to_string(body.size()) + " bytes refused as too large (" +
             reason + "); heraldd's limit is inbound_mail.max_bytes";
  }
  if (status >= 500 || status == 408 || status == 429 || status == 401 || status == 403) {
    return Fail(kExTempFail, reason + "; the mail stays queued");
  }
  return Fail(kExDataErr, reason);
}

Command InboundMailCommand() {
  Command c{"inbound-mail",
            "[--url URL] [--secret-file FILE] [--timeout SECONDS] < message.eml",
            "Post a raw e-mail from standard input to heraldd (a Postfix pipe; sysexits codes).",
            {},
            nullptr,
            /*needs_key=*/false};
  c.run_raw = RunInboundMail;
  return c;
}

}  // namespace herald::ctl
