#include "common/files/file_watcher.h"

#include <sys/stat.h>

#include "common/log/log.h"

namespace herald {

FileWatcher::FileWatcher(std::chrono::milliseconds interval) : interval_(interval) {}

FileWatcher::~FileWatcher() { Stop(); }

FileWatcher::Signature FileWatcher::Stat(const std::string& path) {
  struct stat st {};
  Signature s;
  if (stat(path.c_str(), &st) != 0) return s;
  s.exists = true;
  s.device = st.st_dev;
  s.inode = st.st_ino;
  s.size = static_cast<unsigned long long>(st.st_size);
  s.mtime_ns = static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  return s;
}

void FileWatcher::Watch(std::vector<std::string> paths, std::function<void()> changed) {
  Entry e;
  for (const auto& p : paths) e.seen.push_back(Stat(p));
  e.paths = std::move(paths);
  e.changed = std::move(changed);
  std::lock_guard lock(mu_);
  entries_.push_back(std::move(e));
}

void FileWatcher::CheckNow() {
  std::vector<std::function<void()>> due;
  {
    std::lock_guard lock(mu_);
    for (auto& e : entries_) {
      bool changed = false;
      for (size_t i = 0; i < e.paths.size(); ++i) {
        Signature now = Stat(e.paths[i]);
        if (!(now == e.seen[i])) {
          e.seen[i] = now;
          changed = true;
        }
      }
      if (changed) due.push_back(e.changed);
    }
  }
  for (auto& fn : due) {
    try {
      fn();
    } catch (const std::exception& ex) {
      log::Warn("reloading a changed file failed; the previous contents stay in use",
                {{"error", ex.what()}});
    }
  }
}

void FileWatcher::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || entries_.empty()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
      lock.unlock();
      CheckNow();
      lock.lock();
    }
  });
}

void FileWatcher::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace herald
