#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "services/dispatch/content/message_template.h"

namespace herald::dispatch {

// Compiled templates by key (a campaign's id), so that content shared by many messages is
// fetched and compiled once instead of once per message. Only for content that never changes
// under its key: an entry is never reloaded, only evicted.
//
// Bounded: beyond `capacity` entries the least recently used one goes (a worker sends a
// handful of campaigns at a time; an evicted one is loaded again when it comes back).
// Thread-safe; a load runs outside the lock, so two threads missing the same key at once may
// both load it. A load that throws is not kept: the next Get tries again.
class TemplateCache {
 public:
  using Loader = std::function<MessageTemplate(const std::string& key)>;

  explicit TemplateCache(Loader load, size_t capacity = 64);

  MessageTemplate Get(const std::string& key);

  size_t size() const;

 private:
  struct Entry {
    MessageTemplate tpl;
    uint64_t last_used;
  };

  Loader load_;
  size_t capacity_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  uint64_t uses_ = 0;
};

}  // namespace herald::dispatch
