#include "tests/support/heraldd_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/crypto/hash.h"
#include "tests/support/eventually.h"

namespace herald::testing {
namespace {

std::string Sha256Hex(const std::string& s) { return crypto::ToHex(crypto::Sha256(s)); }

}  // namespace

int HttpGet(int port, const std::string& path, std::string* body) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  auto res = client.Get(path);
  if (!res) return 0;
  if (body) *body = res->body;
  return res->status;
}

void Authorize(grpc::ClientContext& ctx, const std::string& key) {
  ctx.AddMetadata("authorization", "Bearer " + key);
}

HeralddProcess::HeralddProcess(std::string database_url, std::string extra_yaml)
    : database_url_(std::move(database_url)), extra_yaml_(std::move(extra_yaml)) {
  char tmpl[] = "/tmp/heraldd-it.XXXXXX";
  dir_ = mkdtemp(tmpl);
}

HeralddProcess::~HeralddProcess() {
  if (pid_ > 0) Stop(SIGKILL);
  std::string cmd = "rm -rf '" + dir_ + "'";
  (void)std::system(cmd.c_str());
}

void HeralddProcess::Start() {
  // Every listener on port 0: the kernel picks free ports and heraldd reports what it bound,
  // so parallel tests never race for a port picked beforehand and released.
  grpc_port_ = json_port_ = http_port_ = ops_port_ = mail_port_ = 0;
  std::string config = dir_ + "/herald.yaml";
  {
    std::ofstream out(config);
    out << "database:\n  url: " << database_url_ << "\n  pool_size: 4\n"
        << "grpc:\n  listen: 127.0.0.1:0\n"
        << "http:\n  listen: 127.0.0.1:0\n"
        << "topics:\n  - name: webinars\n"
        << "    label: {az: Vebinarlar, ru: Вебинары, en: Webinars}\n"
        << "    description: {az: Onlayn seminarlar və nümayişlər, ru: Онлайн-семинары и "
           "демонстрации, en: Online seminars and demos}\n"
        << "clients:\n"
        << "  - id: it-admin\n    key_sha256: " << Sha256Hex(kAdminKey) << "\n    scopes: [admin]\n"
        << "  - id: it-crm\n    key_sha256: " << Sha256Hex(kCrmKey) << "\n    scopes: [crm]\n"
        << "  - id: it-scheduler\n    key_sha256: " << Sha256Hex(kSchedulerKey)
        << "\n    scopes: [scheduler]\n"
        << "  - id: it-privacy\n    key_sha256: " << Sha256Hex(kPrivacyKey)
        << "\n    scopes: [privacy]\n"
        << "public_base_url: https://herald.test\n";
    // Tests run at any hour: marketing SMS must not wait for the morning unless a test asks
    // for quiet hours itself.
    if (extra_yaml_.find("quiet_hours:") == std::string::npos) {
      out << "quiet_hours:\n  sms: \"\"\n  call: \"\"\n";
    }
    out << extra_yaml_;
  }
  std::string log = dir_ + "/heraldd.log";
  // Emptied before the child starts: a restart must not read the ports of the last run.
  std::ofstream(log, std::ios::trunc).close();
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::string keys =
        "HERALD_SUPPRESSION_KEYS=it:"
        "abababababababababababababababababababababababababababababababab";
    std::string path = "PATH=/usr/bin:/bin";
    // Environment, not the file: a test's extra_yaml may hold its own inbound_mail section.
    std::string ops = "HERALD_OPS_LISTEN=127.0.0.1:0";
    std::string mail = "HERALD_INBOUND_MAIL_LISTEN=127.0.0.1:0";
    std::string json = "HERALD_JSON_API_LISTEN=127.0.0.1:0";
    std::vector<char*> envp = {keys.data(), path.data(), ops.data(), mail.data(), json.data()};
    for (auto& e : env_) envp.push_back(e.data());
    envp.push_back(nullptr);
    const char* bin = HERALD_HERALDD_PATH;
    execle(bin, bin, "serve", "--config", config.c_str(), "--wait-for-db", "5",
           static_cast<char*>(nullptr), envp.data());
    _exit(127);
  }
  bool started = false;
  bool ready = Eventually(
      [&] {
        int status;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          throw std::runtime_error("heraldd exited during start-up:\n" + Log());
        }
        if (!started) started = ReadBoundPorts();
        if (!started) return false;
        if (tls_) return HttpsRequest(ops_port_, *tls_, "GET", "/readyz", "", {}) == 200;
        return HttpGet(ops_port_, "/readyz") == 200;
      },
      std::chrono::seconds(30), std::chrono::milliseconds(50));
  if (!ready) throw std::runtime_error("heraldd did not become ready in 30 s:\n" + Log());
}

bool HeralddProcess::ReadBoundPorts() {
  std::istringstream log(Log());
  std::string line;
  while (std::getline(log, line)) {
    auto rec = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!rec.is_object() || rec.value("msg", "") != "heraldd started") continue;
    // "host:port", or "" for a listener this process did not open.
    auto port = [&](const char* key) {
      std::string address = rec.value(key, "");
      auto colon = address.rfind(':');
      return colon == std::string::npos ? 0 : std::stoi(address.substr(colon + 1));
    };
    grpc_port_ = port("grpc");
    json_port_ = port("json");
    http_port_ = port("http");
    mail_port_ = port("mail");
    ops_port_ = port("ops");
    return true;
  }
  return false;
}

int HeralddProcess::Stop(int sig) {
  if (pid_ <= 0) return -1;
  kill(pid_, sig);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

std::string HeralddProcess::Log() const {
  std::ifstream in(dir_ + "/heraldd.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool HeralddProcess::LogHasLine(const std::vector<std::string>& parts) const {
  std::istringstream log(Log());
  std::string line;
  while (std::getline(log, line)) {
    bool all = true;
    for (const auto& p : parts) all = all && line.find(p) != std::string::npos;
    if (all) return true;
  }
  return false;
}

bool HeralddProcess::WaitForLogLine(const std::vector<std::string>& parts,
                                    std::chrono::milliseconds timeout) const {
  return Eventually([&] { return LogHasLine(parts); }, timeout, std::chrono::milliseconds(50));
}

int HeralddProcess::Heraldctl(const std::string& key, const std::string& args,
                              std::string* out) const {
  std::string tls;
  if (tls_) {
    // The same files heraldctl's operator would point it at.
    auto write = [this](const std::string& name, const std::string& pem) {
      std::string path = dir_ + "/heraldctl-" + name;
      std::ofstream(path) << pem;
      return path;
    };
    tls = " HERALDCTL_CA=" + write("ca.crt", tls_->ca_pem);
    if (!tls_->cert_pem.empty()) {
      tls += " HERALDCTL_CERT=" + write("client.crt", tls_->cert_pem) +
             " HERALDCTL_CERT_KEY=" + write("client.key", tls_->key_pem);
    }
  }
  return RunCommand("HERALDCTL_ADDR=" + grpc_target() + " HERALDCTL_API_KEY=" + key + tls + " " +
                        HERALD_HERALDCTL_PATH + " " + args + " 2>&1",
                    out);
}

std::shared_ptr<grpc::Channel> HeralddProcess::Channel() const {
  if (!tls_) return grpc::CreateChannel(grpc_target(), grpc::InsecureChannelCredentials());
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = tls_->ca_pem;
  options.pem_cert_chain = tls_->cert_pem;
  options.pem_private_key = tls_->key_pem;
  return grpc::CreateChannel(grpc_target(), grpc::SslCredentials(options));
}

}  // namespace herald::testing
