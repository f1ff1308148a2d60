// heraldd's configuration file: any bytes as the YAML file LoadHeraldConfig reads, through
// every section's keys and checks. LoadHeraldConfig promises ConfigError for everything
// wrong with the file; any other exception is a finding.
//
// The loader reads a path, so the bytes go into an in-memory file (memfd), never the disk.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "fuzz/fuzz_support.h"
#include "services/heraldd/herald_config.h"

// inbound_sms_config.cc also turns the section into the SMS service's options (main.cc
// does, loading never does), whose default replies live in the service's own source; that
// source would bring the registry and PostgreSQL into this build. Reaching it is a bug here.
namespace herald::inbound::sms {
ReplyTexts DefaultReplyTexts() { std::abort(); }
}  // namespace herald::inbound::sms

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int fd = memfd_create("herald-config-fuzz", 0);
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  HERALD_FUZZ_CHECK(fd >= 0);
  HERALD_FUZZ_CHECK(ftruncate(fd, 0) == 0);
  HERALD_FUZZ_CHECK(pwrite(fd, data, size, 0) == static_cast<ssize_t>(size));
  try {
    herald::HeraldConfig config = herald::LoadHeraldConfig(path, {});
    // What --help and `heraldd --print` read back from a loaded configuration.
    static const auto kOptions = herald::HeraldOptionTable();
    for (const auto& option : kOptions) {
      if (!option.key.empty()) herald::HeraldOptionValue(config, option.key);
    }
  } catch (const herald::ConfigError&) {
    // A file heraldd refuses with a message naming the key.
  }
  return 0;
}
