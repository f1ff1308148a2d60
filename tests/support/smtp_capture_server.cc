#include "tests/support/smtp_capture_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "tests/support/smtp_capture.h"

extern char** environ;

namespace herald::testing {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(20);

std::vector<std::string> ReadLines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Reads one line from `fd`, waiting at most until `deadline`.
std::string ReadLineUntil(int fd, std::chrono::steady_clock::time_point deadline) {
  std::string line;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return line;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return line;
    char c;
    if (read(fd, &c, 1) != 1 || c == '\n') return line;
    line += c;
  }
}

}  // namespace

CaptureServer::CaptureServer(const CaptureServerOptions& options, std::string out_dir)
    : out_dir_(std::move(out_dir)) {
  std::filesystem::remove_all(out_dir_);
  std::filesystem::create_directories(out_dir_);
  // The system interpreter: it is the one with python3-aiosmtpd installed.
  std::vector<std::string> args = {"/usr/bin/python3",
                                   (HERALD_SOURCE_DIR "/tests/support/smtp_capture_server.py"),
                                   "--port",
                                   "0",
                                   "--out",
                                   out_dir_};
  if (options.starttls) args.insert(args.end(), {"--starttls"});
  if (options.smtps) args.insert(args.end(), {"--smtps"});
  if (!options.cert.empty())
    args.insert(args.end(), {"--cert", options.cert, "--key", options.key});
  if (!options.auth.empty()) args.insert(args.end(), {"--auth", options.auth});
  for (const std::string& rule : options.fail_rcpt) args.insert(args.end(), {"--fail-rcpt", rule});
  if (options.delay_ms > 0)
    args.insert(args.end(), {"--delay-ms", std::to_string(options.delay_ms)});
  if (options.drop_mail_after > 0) {
    args.insert(args.end(), {"--drop-mail-after", std::to_string(options.drop_mail_after)});
  }
  if (!options.rcpt_script.empty()) {
    args.insert(args.end(), {"--rcpt-script", options.rcpt_script});
  }
  if (options.log_rcpts) args.insert(args.end(), {"--log-rcpts"});
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    error_ = "pipe failed";
    return;
  }
  std::string stderr_path = out_dir_ + "/server.stderr";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    pid_ = -1;
    close(out[0]);
    error_ = "cannot run /usr/bin/python3";
    return;
  }
  std::string line = ReadLineUntil(out[0], std::chrono::steady_clock::now() + kStartTimeout);
  close(out[0]);
  if (line.rfind("READY ", 0) == 0) port_ = std::stoi(line.substr(6));
  if (port_ <= 0) error_ = "no READY line; stderr: " + ReadFile(stderr_path);
}

CaptureServer::~CaptureServer() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > give_up) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(out_dir_, ignored);
}

std::string CaptureServer::Url(const char* scheme) const {
  return std::string(scheme) + "://127.0.0.1:" + std::to_string(port_);
}

std::vector<nlohmann::json> CaptureServer::Messages() const {
  std::vector<nlohmann::json> messages;
  for (const std::string& line : ReadLines(out_dir_ + "/index.jsonl")) {
    messages.push_back(nlohmann::json::parse(line));
  }
  return messages;
}

int CaptureServer::ConnectionCount() const {
  return static_cast<int>(ReadLines(out_dir_ + "/connections.jsonl").size());
}

bool CaptureServer::RefuseConnections(bool refuse) {
  if (pid_ <= 0) return false;
  kill(pid_, refuse ? SIGUSR1 : SIGUSR2);
  const std::string want = refuse ? "1" : "0";
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < give_up) {
    if (ReadFile(out_dir_ + "/refusing") == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

int CaptureServer::RefusedCount() const {
  return static_cast<int>(ReadLines(out_dir_ + "/refused.jsonl").size());
}

std::vector<CaptureServer::Rcpt> CaptureServer::RcptAttempts() const {
  std::vector<Rcpt> out;
  for (const std::string& line : ReadLines(out_dir_ + "/rcpts.jsonl")) {
    auto rec = nlohmann::json::parse(line);
    out.push_back({rec["rcpt"].get<std::string>(), rec["reply"].get<std::string>(),
                   ParseIsoUtc(rec["time"].get<std::string>())});
  }
  return out;
}

}  // namespace herald::testing
