// STANDARDS S1-S2: only a message that is a keyword alone counts, case and surrounding
// white space ignored, Russian and Azerbaijani keywords included.
#include "services/inbound/sms/keywords.h"

#include <gtest/gtest.h>

namespace herald::inbound::sms {
namespace {

TEST(KeywordMatcherTest, S1_EveryDefaultStopKeywordIsStop) {
  KeywordMatcher m;
  for (const auto& k : DefaultStopKeywords()) EXPECT_EQ(m.Classify(k), KeywordClass::kStop) << k;
  for (const auto& k : DefaultStartKeywords()) EXPECT_EQ(m.Classify(k), KeywordClass::kStart) << k;
  for (const auto& k : DefaultHelpKeywords()) EXPECT_EQ(m.Classify(k), KeywordClass::kHelp) << k;
}

TEST(KeywordMatcherTest, S1_CaseAndSurroundingWhitespaceAreIgnored) {
  KeywordMatcher m;
  EXPECT_EQ(m.Classify("stop"), KeywordClass::kStop);
  EXPECT_EQ(m.Classify("Stop"), KeywordClass::kStop);
  EXPECT_EQ(m.Classify("  sToP \r\n"), KeywordClass::kStop);
  EXPECT_EQ(m.Classify("\tunstop\t"), KeywordClass::kStart);
  EXPECT_EQ(m.Classify("opt-out"), KeywordClass::kStop);
  EXPECT_EQ(m.Classify("\xC2\xA0"
                       "help"
                       "\xC2\xA0"),
            KeywordClass::kHelp);  // no-break spaces
  EXPECT_EQ(m.Classify("Dayan"), KeywordClass::kStop);
  EXPECT_EQ(m.Classify("dayan "), KeywordClass::kStop);
}

TEST(KeywordMatcherTest, S1_CyrillicCaseVariants) {
  KeywordMatcher m;
  EXPECT_EQ(m.Classify("СТОП"), KeywordClass::kStop);
  EXPECT_EQ(m.Classify("стоп"), KeywordClass::kStop);
  EXPECT_EQ(m.Classify("Стоп"), KeywordClass::kStop);
  EXPECT_EQ(m.Classify(" сТоП\n"), KeywordClass::kStop);
  EXPECT_EQ(m.Classify("отписаться"), KeywordClass::kStop);
  EXPECT_EQ(m.Classify("Отписаться"), KeywordClass::kStop);
  // Latin "CTOII" look-alikes and a Latin "STOP" typed with a Cyrillic "С" are not keywords.
  EXPECT_EQ(m.Classify("СTOP"), KeywordClass::kNone);
}

TEST(KeywordMatcherTest, S1_OnlyTheKeywordAloneCounts) {
  KeywordMatcher m;
  EXPECT_EQ(m.Classify("STOP PLEASE"), KeywordClass::kNone);
  EXPECT_EQ(m.Classify("please stop"), KeywordClass::kNone);
  EXPECT_EQ(m.Classify("STOP."), KeywordClass::kNone);
  EXPECT_EQ(m.Classify("S T O P"), KeywordClass::kNone);
  EXPECT_EQ(m.Classify("STOPP"), KeywordClass::kNone);
  EXPECT_EQ(m.Classify("стоп пожалуйста"), KeywordClass::kNone);
  EXPECT_EQ(m.Classify(""), KeywordClass::kNone);
  EXPECT_EQ(m.Classify("   "), KeywordClass::kNone);
  EXPECT_EQ(m.Classify("\xFF\xFEstop"), KeywordClass::kNone);  // not UTF-8
  EXPECT_EQ(m.Classify("ST\xC3"), KeywordClass::kNone);        // truncated sequence
}

TEST(KeywordMatcherTest, ConfiguredListsReplaceTheDefaults) {
  KeywordMatcher m({"HALT", "Dayandır"}, {"ON"}, {"SOS"});
  EXPECT_EQ(m.Classify("halt"), KeywordClass::kStop);
  EXPECT_EQ(m.Classify("DAYANDIR"), KeywordClass::kStop);  // I, ı, İ and i compare equal
  EXPECT_EQ(m.Classify("dayandir"), KeywordClass::kStop);
  EXPECT_EQ(m.Classify("DAYANDİR"), KeywordClass::kStop);
  EXPECT_EQ(m.Classify("STOP"), KeywordClass::kNone);
  EXPECT_EQ(m.Classify("on"), KeywordClass::kStart);
  EXPECT_EQ(m.Classify("sos"), KeywordClass::kHelp);
}

TEST(KeywordMatcherTest, BadConfiguredListsAreRefused) {
  EXPECT_THROW(KeywordMatcher({"STOP"}, {"stop"}, {}), std::invalid_argument);
  EXPECT_THROW(KeywordMatcher({" "}, {}, {}), std::invalid_argument);
  EXPECT_THROW(KeywordMatcher({"\xFF"}, {}, {}), std::invalid_argument);
}

}  // namespace
}  // namespace herald::inbound::sms
