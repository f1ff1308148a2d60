#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace herald {

// Texts kept as a struct of `const char*` fields, one struct per language: a field left out
// of one language's initializer is null, and would crash a page or a message only when that
// text is first shown. Services call this at construction, so start-up fails instead,
// naming the table, the language's index and the field's.
template <typename Text, std::size_t N>
void RequireCompleteTranslations(const Text (&texts)[N], const char* table) {
  constexpr std::size_t kFields = sizeof(Text) / sizeof(const char*);
  static_assert(sizeof(Text) == kFields * sizeof(const char*), "only const char* fields");
  for (std::size_t l = 0; l < N; ++l) {
    const char* const* fields = reinterpret_cast<const char* const*>(&texts[l]);
    for (std::size_t i = 0; i < kFields; ++i) {
      if (fields[i] == nullptr || *fields[i] == '\0') {
        throw std::logic_error(std::string(table) + ": language " + std::to_string(l) +
                               " has no text for field " + std::to_string(i));
      }
    }
  }
}

}  // namespace herald
