#include "common/domain/topics.h"

namespace herald {

TopicCatalog::TopicCatalog(const std::vector<TopicConfig>& extra)
    : topics_({
          {"product_news", true, "News about products and services", true, {}, {}},
          {"special_offers", true, "Special offers", true, {}, {}},
          {"events", true, "Events, webinars and conferences", true, {}, {}},
          {"service",
           false,
           "Notices about the person's own requests (not marketing)",
           true,
           {},
           {}},
      }) {
  for (const auto& t : extra) {
    if (Find(t.name)) throw ConfigError("topics: '" + t.name + "' is defined twice");
    auto english = t.description.find("en");
    topics_.push_back({t.name, t.marketing,
                       english == t.description.end() ? std::string() : english->second, false,
                       t.label, t.description});
  }
}

const TopicInfo* TopicCatalog::Find(std::string_view name) const {
  for (const auto& t : topics_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::vector<std::string> TopicCatalog::MarketingTopicNames() const {
  std::vector<std::string> out;
  for (const auto& t : topics_) {
    if (t.marketing) out.push_back(t.name);
  }
  return out;
}

}  // namespace herald
