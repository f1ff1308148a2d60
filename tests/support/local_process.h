#pragma once

#include <string>

namespace herald::testing {

// A free TCP port on 127.0.0.1 (bound to 0, then released).
int FreePort();
// Runs a shell command; returns its exit status (-1 when it did not exit) and its stdout.
int RunCommand(const std::string& command, std::string* out);

}  // namespace herald::testing
