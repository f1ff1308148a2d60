#pragma once

#include "services/privacy/destruction_records.h"
#include "services/privacy/subject_erasure.h"
#include "services/privacy/subject_export.h"

namespace herald::privacy {

// The erasure half of PrivacyService, handed to its transport (grpc_service_erasure.cc).
struct ErasureServices {
  SubjectErasure& erasure;
  SubjectExport& exporter;
  DestructionRecords& records;
};

}  // namespace herald::privacy
