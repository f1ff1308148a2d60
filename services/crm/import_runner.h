#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "services/crm/contact_import.h"

namespace herald::crm {

// Steps the running import page by page on a thread of its own (worker role), so an import
// started by `heraldctl crm import` survives the caller going away and, its cursor being in
// the database, a restart of heraldd.
class ImportRunner {
 public:
  ImportRunner(ContactImport& import, const Clock& clock) : import_(import), clock_(clock) {}
  ~ImportRunner() { Stop(); }
  ImportRunner(const ImportRunner&) = delete;
  ImportRunner& operator=(const ImportRunner&) = delete;

  // `idle`: how often to look for a run when there is none.
  void Start(std::chrono::milliseconds idle = std::chrono::milliseconds(500));
  void Stop();

 private:
  ContactImport& import_;
  const Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace herald::crm
