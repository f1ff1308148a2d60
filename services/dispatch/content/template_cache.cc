#include "services/dispatch/content/template_cache.h"

#include <algorithm>
#include <utility>

namespace herald::dispatch {

TemplateCache::TemplateCache(Loader load, size_t capacity)
    : load_(std::move(load)), capacity_(std::max<size_t>(capacity, 1)) {}

MessageTemplate TemplateCache::Get(const std::string& key) {
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      it->second.last_used = ++uses_;
      return it->second.tpl;
    }
  }
  MessageTemplate loaded = load_(key);
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) {  // another thread loaded it meanwhile
    it->second.last_used = ++uses_;
    return it->second.tpl;
  }
  if (entries_.size() >= capacity_) {
    entries_.erase(std::min_element(
        entries_.begin(), entries_.end(),
        [](const auto& a, const auto& b) { return a.second.last_used < b.second.last_used; }));
  }
  entries_.emplace(key, Entry{loaded, ++uses_});
  return loaded;
}

size_t TemplateCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace herald::dispatch
