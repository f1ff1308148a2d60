// What every fuzz target shares: splitting one input into the several values a target
// needs (the same way everywhere, so a crash's input file reads like a regression test's
// literals), and the check that turns a broken promise of a parser into a crash libFuzzer
// keeps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace herald::fuzz {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}

  // The next byte, or 0 when none is left.
  uint8_t Byte() {
    if (rest_.empty()) return 0;
    auto b = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }

  // Up to the next NUL (consumed) or the end: a field of a multi-field input.
  std::string_view Field() {
    size_t nul = rest_.find('\0');
    std::string_view field = rest_.substr(0, nul);
    rest_.remove_prefix(nul == std::string_view::npos ? rest_.size() : nul + 1);
    return field;
  }

  std::string_view Bytes(size_t n) {
    std::string_view out = rest_.substr(0, n);
    rest_.remove_prefix(out.size());
    return out;
  }

  std::string_view Rest() {
    std::string_view out = rest_;
    rest_ = {};
    return out;
  }

 private:
  std::string_view rest_;
};

// A property the parser's header promises; a violation aborts, so libFuzzer saves the input.
#define HERALD_FUZZ_CHECK(cond)                                                       \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::fprintf(stderr, "%s:%d: broken promise: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)

}  // namespace herald::fuzz
