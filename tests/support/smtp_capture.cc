#include "tests/support/smtp_capture.h"

#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace herald::testing {

// "2026-11-27T19:10:00.123456+00:00" (Python's isoformat of a UTC time) in seconds.
double ParseIsoUtc(const std::string& text) {
  std::tm tm{};
  double seconds = 0;
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%lf", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &seconds) != 6) {
    throw std::runtime_error("not an ISO time: " + text);
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<double>(timegm(&tm)) + seconds;
}

namespace {}  // namespace

namespace {

CaptureServerOptions WithArgs(const std::vector<std::string>& extra_args) {
  CaptureServerOptions options;
  options.extra_args = extra_args;
  return options;
}

}  // namespace

SmtpCapture::SmtpCapture(const std::vector<std::string>& extra_args)
    : SmtpCapture(ByOptions{}, WithArgs(extra_args)) {}

std::unique_ptr<SmtpCapture> SmtpCapture::WithOptions(const CaptureServerOptions& options) {
  return std::unique_ptr<SmtpCapture>(new SmtpCapture(ByOptions{}, options));
}

SmtpCapture::SmtpCapture(ByOptions, const CaptureServerOptions& options) {
  char tmpl[] = "/tmp/smtp-capture.XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  server_ = std::make_unique<CaptureServer>(options, dir_);
  if (!server_->started()) {
    throw std::runtime_error("the capturing SMTP server did not start: " + server_->error());
  }
}

std::vector<std::string> SmtpCapture::Messages() const {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    if (e.path().extension() == ".eml") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) {
    return std::stoi(a.stem().string()) < std::stoi(b.stem().string());
  });
  std::vector<std::string> out;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    out.push_back(ss.str());
  }
  return out;
}

}  // namespace herald::testing

namespace herald::testing {

std::vector<SmtpCapture::Arrival> SmtpCapture::Arrivals() const {
  std::vector<Arrival> out;
  std::ifstream in(dir_ + "/index.jsonl");
  // Read while the sink appends: a last line without its newline is still being written.
  for (std::string line; std::getline(in, line) && !in.eof();) {
    auto rec = nlohmann::json::parse(line);
    const auto& rcpts = rec["rcpt_tos"];
    out.push_back({rec["parsed"]["headers"]["X-Herald-Message-Id"].get<std::string>(),
                   rcpts.size() == 1 ? rcpts[0].get<std::string>() : rcpts.dump(),
                   ParseIsoUtc(rec["time"].get<std::string>())});
  }
  return out;
}

}  // namespace herald::testing
