#include "tests/support/smtp_capture.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace herald::testing {

SmtpCapture::SmtpCapture(const std::vector<std::string>& extra_args) {
  char tmpl[] = "/tmp/smtp-capture.XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  CaptureServerOptions options;
  options.extra_args = extra_args;
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
