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
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/crypto/hash.h"

namespace herald::testing {
namespace {

std::string Sha256Hex(const std::string& s) { return crypto::ToHex(crypto::Sha256(s)); }

}  // namespace

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

int HttpGet(int port, const std::string& path, std::string* body) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  auto res = client.Get(path.c_str());
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
  grpc_port_ = FreePort();
  http_port_ = FreePort();
  ops_port_ = FreePort();
  mail_port_ = FreePort();
  std::string config = dir_ + "/herald.yaml";
  {
    std::ofstream out(config);
    out << "database:\n  url: " << database_url_ << "\n  pool_size: 4\n"
        << "grpc:\n  listen: 127.0.0.1:" << grpc_port_ << "\n"
        << "http:\n  listen: 127.0.0.1:" << http_port_ << "\n"
        << "topics:\n  - name: webinars\n    description: Webinars\n"
        << "clients:\n"
        << "  - id: it-admin\n    key_sha256: " << Sha256Hex(kAdminKey) << "\n    scopes: [admin]\n"
        << "  - id: it-crm\n    key_sha256: " << Sha256Hex(kCrmKey) << "\n    scopes: [crm]\n"
        << "  - id: it-scheduler\n    key_sha256: " << Sha256Hex(kSchedulerKey)
        << "\n    scopes: [scheduler]\n"
        << "  - id: it-privacy\n    key_sha256: " << Sha256Hex(kPrivacyKey)
        << "\n    scopes: [privacy]\n"
        << "public_base_url: https://herald.test\n"
        << extra_yaml_;
  }
  std::string log = dir_ + "/heraldd.log";
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
    std::string ops = "HERALD_OPS_LISTEN=127.0.0.1:" + std::to_string(ops_port_);
    std::string mail = "HERALD_INBOUND_MAIL_LISTEN=127.0.0.1:" + std::to_string(mail_port_);
    std::vector<char*> envp = {keys.data(), path.data(), ops.data(), mail.data()};
    for (auto& e : env_) envp.push_back(e.data());
    envp.push_back(nullptr);
    const char* bin = HERALD_HERALDD_PATH;
    execle(bin, bin, "serve", "--config", config.c_str(), "--wait-for-db", "5",
           static_cast<char*>(nullptr), envp.data());
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("heraldd exited during start-up:\n" + Log());
    }
    if (HttpGet(ops_port_, "/readyz") == 200) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("heraldd did not become ready in 30 s:\n" + Log());
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

std::shared_ptr<grpc::Channel> HeralddProcess::Channel() const {
  return grpc::CreateChannel(grpc_target(), grpc::InsecureChannelCredentials());
}

}  // namespace herald::testing
