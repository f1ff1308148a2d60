#pragma once

#include <string>

namespace herald::privacy {

// Destroys a subject's personal data irreversibly and returns the id of the destruction
// record written for it. Called by DestroySubject and by the scheduled-destruction job.
class SubjectDestroyer {
 public:
  virtual ~SubjectDestroyer() = default;
  virtual std::string Destroy(const std::string& subject_id, const std::string& reason,
                              const std::string& performed_by) = 0;
};

}  // namespace herald::privacy
