#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace herald {

// Notices when files change on disk, by polling: a certificate renewed by cert-manager or a
// mounted Kubernetes Secret is swapped in by a rename (a new inode), a file edited in place
// changes its size or modification time, and either shows in stat(). Polling, unlike
// inotify, follows the symbolic links a Secret mount is made of and needs no care for
// watches that go stale when the folder they point at is replaced.
class FileWatcher {
 public:
  explicit FileWatcher(std::chrono::milliseconds interval);
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  // Calls `changed` (on the watcher's thread) after any of `paths` changes, once per pass
  // however many of them did. A file that disappears or is unreadable counts as a change;
  // `changed` decides what to make of it (keep what it has, typically).
  void Watch(std::vector<std::string> paths, std::function<void()> changed);
  void Start();
  void Stop();
  // One pass now, on the caller's thread.
  void CheckNow();

 private:
  struct Signature {
    bool exists = false;
    unsigned long long device = 0, inode = 0, size = 0;
    long long mtime_ns = 0;
    bool operator==(const Signature&) const = default;
  };
  struct Entry {
    std::vector<std::string> paths;
    std::vector<Signature> seen;
    std::function<void()> changed;
  };
  static Signature Stat(const std::string& path);

  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<Entry> entries_;
  std::thread thread_;
};

}  // namespace herald
