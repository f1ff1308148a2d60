// SMS keywords: an inbound text classified by the default lists and by lists read from the
// configuration (any bytes, so the matcher's own checks are fuzzed too).
//
// Input: one byte; when odd, three NUL-terminated keyword lists (stop, start, help; words
// separated by newlines) follow; then the text to classify.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "services/inbound/sms/keywords.h"

namespace {

using namespace herald::inbound::sms;

std::vector<std::string> Words(std::string_view list) {
  std::vector<std::string> words;
  size_t pos = 0;
  while (pos <= list.size() && !list.empty()) {
    size_t nl = list.find('\n', pos);
    if (nl == std::string_view::npos) nl = list.size();
    words.emplace_back(list.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return words;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const KeywordMatcher kDefaults;
  herald::fuzz::Input in(data, size);
  bool configured = (in.Byte() & 1) != 0;
  if (!configured) {
    std::string_view text = in.Rest();
    KeywordClass k = kDefaults.Classify(text);
    std::string folded;
    if (!FoldKeyword(text, &folded)) HERALD_FUZZ_CHECK(k == KeywordClass::kNone);
    return 0;
  }
  std::vector<std::string> lists[3];
  for (auto& list : lists) list = Words(in.Field());
  std::string_view text = in.Rest();
  try {
    KeywordMatcher matcher(lists[0], lists[1], lists[2]);
    matcher.Classify(text);
    // Every configured word is recognised as its own list's keyword.
    const KeywordClass classes[] = {KeywordClass::kStop, KeywordClass::kStart, KeywordClass::kHelp};
    for (int i = 0; i < 3; ++i) {
      for (const auto& word : lists[i]) HERALD_FUZZ_CHECK(matcher.Classify(word) == classes[i]);
    }
  } catch (const std::invalid_argument&) {
    // An empty, non-UTF-8 or repeated keyword: refused at start-up, as documented.
  }
  return 0;
}
