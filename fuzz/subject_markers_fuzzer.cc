// The subject markers: a decoded subject (any bytes, invalid UTF-8 included) through
// NormalizeSubject, FoldForMatch and FindMarkers, as the inbound mail service runs them.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_support.h"
#include "services/inbound/mail/subject_markers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace herald::inbound;
  using herald::fuzz::ValidUtf8;
  std::string_view subject(reinterpret_cast<const char*>(data), size);
  std::string normalized = NormalizeSubject(subject);
  // "Invalid UTF-8 is replaced, never kept"; white space collapsed and trimmed.
  HERALD_FUZZ_CHECK(ValidUtf8(normalized));
  HERALD_FUZZ_CHECK(normalized.empty() || (normalized.front() != ' ' && normalized.back() != ' '));
  HERALD_FUZZ_CHECK(normalized.find("  ") == std::string::npos);
  std::string folded = FoldForMatch(normalized);
  HERALD_FUZZ_CHECK(ValidUtf8(folded));
  auto markers = FindMarkers(subject);
  HERALD_FUZZ_CHECK(markers.size() <= 3);
  return 0;
}
