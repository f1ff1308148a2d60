#include "common/translations.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

struct Texts {
  const char* title;
  const char* body;
};

TEST(TranslationsTest, ACompleteTablePasses) {
  const Texts texts[2] = {{"Başlıq", "Mətn"}, {"Title", "Text"}};
  EXPECT_NO_THROW(RequireCompleteTranslations(texts, "texts"));
}

TEST(TranslationsTest, AFieldLeftOutOfOneLanguageStopsStartUp) {
  const Texts missing[2] = {{"Başlıq", "Mətn"}, {"Title", nullptr}};
  EXPECT_THROW(RequireCompleteTranslations(missing, "texts"), std::logic_error);
  const Texts empty[1] = {{"", "Text"}};
  EXPECT_THROW(RequireCompleteTranslations(empty, "texts"), std::logic_error);
}

}  // namespace
}  // namespace herald
