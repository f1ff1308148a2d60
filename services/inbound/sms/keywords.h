#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace herald::inbound::sms {

enum class KeywordClass { kNone, kStop, kStart, kHelp };
const char* KeywordClassName(KeywordClass k);  // "stop", "start", "help", "none"

// STANDARDS S1-S2 defaults; config may replace each list.
std::vector<std::string> DefaultStopKeywords();
std::vector<std::string> DefaultStartKeywords();
std::vector<std::string> DefaultHelpKeywords();

// Classifies an inbound SMS text. Only a message that is a keyword alone counts: surrounding
// white space (ASCII, no-break space) is ignored and letters are compared case-insensitively
// (Latin, Latin-1, Latin Extended-A and Cyrillic), so "stop", " Stop\n", "стоп" and "Dayan"
// match, while "STOP PLEASE" and "STOP." do not.
class KeywordMatcher {
 public:
  // Throws std::invalid_argument when a keyword is empty, not UTF-8 or in two lists.
  KeywordMatcher(const std::vector<std::string>& stop, const std::vector<std::string>& start,
                 const std::vector<std::string>& help);
  KeywordMatcher()
      : KeywordMatcher(DefaultStopKeywords(), DefaultStartKeywords(), DefaultHelpKeywords()) {}

  KeywordClass Classify(std::string_view text) const;

 private:
  std::vector<std::pair<std::string, KeywordClass>> folded_;
};

// `text` trimmed and case-folded into `out`; false when it is not valid UTF-8.
bool FoldKeyword(std::string_view text, std::string* out);

}  // namespace herald::inbound::sms
