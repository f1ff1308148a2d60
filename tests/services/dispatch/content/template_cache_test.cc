// TemplateCache: each key's content is loaded and compiled once, within a bound.
#include "services/dispatch/content/template_cache.h"

#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <string>

namespace herald::dispatch {
namespace {

// Loads "Hi {{given_name}} from <key>" and counts the loads per key.
struct CountingLoader {
  std::map<std::string, int> loads;
  bool fail = false;

  TemplateCache::Loader Fn() {
    return [this](const std::string& key) {
      ++loads[key];
      if (fail) throw std::runtime_error("database away");
      return MessageTemplate::Compile({"S", "Hi {{given_name}} from " + key, ""},
                                      BuiltInTemplateVariables());
    };
  }
};

std::string TextFor(TemplateCache& cache, const std::string& key) {
  return cache.Get(key).Render({{"given_name", "Aysel"}}).text;
}

TEST(TemplateCache, LoadsEachKeyOnceAndRendersItsOwnContent) {
  CountingLoader loader;
  TemplateCache cache(loader.Fn());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(TextFor(cache, "a"), "Hi Aysel from a");
    EXPECT_EQ(TextFor(cache, "b"), "Hi Aysel from b");
  }
  EXPECT_EQ(loader.loads["a"], 1);
  EXPECT_EQ(loader.loads["b"], 1);
}

TEST(TemplateCache, KeepsAtMostItsCapacityAndEvictsTheLeastRecentlyUsed) {
  CountingLoader loader;
  TemplateCache cache(loader.Fn(), 2);
  TextFor(cache, "a");
  TextFor(cache, "b");
  TextFor(cache, "a");  // b is now the least recently used
  TextFor(cache, "c");  // evicts b
  EXPECT_EQ(cache.size(), 2u);
  TextFor(cache, "a");
  EXPECT_EQ(loader.loads["a"], 1);
  EXPECT_EQ(TextFor(cache, "b"), "Hi Aysel from b");
  EXPECT_EQ(loader.loads["b"], 2);
}

TEST(TemplateCache, AFailedLoadIsTriedAgain) {
  CountingLoader loader;
  TemplateCache cache(loader.Fn());
  loader.fail = true;
  EXPECT_THROW(cache.Get("a"), std::runtime_error);
  EXPECT_EQ(cache.size(), 0u);
  loader.fail = false;
  EXPECT_EQ(TextFor(cache, "a"), "Hi Aysel from a");
  EXPECT_EQ(loader.loads["a"], 2);
}

}  // namespace
}  // namespace herald::dispatch
