#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/config.h"

namespace herald {

struct TopicInfo {
  std::string name;
  bool marketing;
  std::string description;  // in English: what ListTopics' `description` says
  bool built_in;
  // A configured topic's texts by language (az, ru, en, all present); empty for the built-in
  // topics, whose texts are the pages' own.
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> descriptions;
};

// The built-in topics of the design (product_news, special_offers, events: marketing;
// service: not) plus those from config.
class TopicCatalog {
 public:
  // Throws ConfigError when a configured topic repeats another.
  explicit TopicCatalog(const std::vector<TopicConfig>& extra);

  const TopicInfo* Find(std::string_view name) const;
  const std::vector<TopicInfo>& all() const { return topics_; }
  std::vector<std::string> MarketingTopicNames() const;

 private:
  std::vector<TopicInfo> topics_;
};

}  // namespace herald
