// The erasure half of PrivacyService on a running heraldd, driven over gRPC and through
// heraldctl: scopes (the CRM scope cannot destroy or export), export, destroy, the act with
// the operator from config, the records list, destroying twice, and logs without the data.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <regex>

#include "herald/v1/privacy.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using testing::HeralddProcess;
using ::testing::Not;

int Ctl(const HeralddProcess& server, const std::string& key, const std::string& args,
        std::string* out) {
  return server.Heraldctl(key, args, out);
}

class PrivacyErasureIt : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
    server_ = std::make_unique<HeralddProcess>(
        db_->dsn(),
        "operator:\n  name: OOO Integration Operator\n  address: 7 Loopback Lane, Moscow\n"
        "  information_system: Herald IT\n");
    server_->Start();
    subs_ = v1::SubscriptionService::NewStub(server_->Channel());
    privacy_ = v1::PrivacyService::NewStub(server_->Channel());
  }

  std::string NewSubject() {
    v1::UpsertSubjectRequest r;
    r.set_surname("Erasurova");
    r.set_given_name("Itina");
    r.add_emails("itina.erasurova@xn--e1afmkfd.xn--p1ai");
    r.add_phones("+79995550011");
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kCrmKey);
    v1::UpsertSubjectResponse resp;
    EXPECT_TRUE(subs_->UpsertSubject(&ctx, r, &resp).ok());
    return resp.subject().id();
  }

  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<HeralddProcess> server_;
  std::unique_ptr<v1::SubscriptionService::Stub> subs_;
  std::unique_ptr<v1::PrivacyService::Stub> privacy_;
};

TEST_F(PrivacyErasureIt, CrmScopeCannotDestroyOrExport) {
  std::string id = NewSubject();
  {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kCrmKey);
    v1::DestroySubjectRequest r;
    r.set_subject_id(id);
    r.set_reason("consent revoked");
    v1::DestroySubjectResponse resp;
    EXPECT_EQ(privacy_->DestroySubject(&ctx, r, &resp).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kCrmKey);
    v1::ExportSubjectDataRequest r;
    r.set_subject_id(id);
    v1::ExportSubjectDataResponse resp;
    EXPECT_EQ(privacy_->ExportSubjectData(&ctx, r, &resp).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  EXPECT_EQ(db_->Scalar("SELECT state FROM subjects WHERE id = '" + id + "'"), "active");
}

TEST_F(PrivacyErasureIt, HeraldctlExportsDestroysAndPrintsTheAct) {
  std::string id = NewSubject();
  const std::string key = HeralddProcess::kAdminKey;
  std::string out;
  ASSERT_EQ(Ctl(*server_, key, "privacy export --subject-id " + id, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("itina.erasurova@xn--e1afmkfd.xn--p1ai"));
  EXPECT_THAT(out, HasSubstr("Erasurova"));
  ASSERT_EQ(Ctl(*server_, key, "privacy export --format json --subject-id " + id, &out), 0);
  EXPECT_THAT(out, HasSubstr("\"surname\": \"Erasurova\""));

  EXPECT_EQ(Ctl(*server_, key, "privacy destroy --subject-id " + id, &out), 2);  // no reason
  EXPECT_THAT(out, HasSubstr("--reason"));
  ASSERT_EQ(Ctl(*server_, key, "privacy destroy --subject-id " + id + " --reason 'consent revoked'",
                &out),
            0)
      << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("DESTROYED record ([0-9a-f-]{36})"))) << out;
  std::string record = m[1];

  ASSERT_EQ(Ctl(*server_, key, "privacy act " + record, &out), 0) << out;
  for (const char* s : {"ACT OF DESTRUCTION", "OOO Integration Operator", "7 Loopback Lane, Moscow",
                        "Herald IT", "Erasurova Itina", "consent revoked", "it-admin"}) {
    EXPECT_THAT(out, HasSubstr(s));
  }
  ASSERT_EQ(Ctl(*server_, key, "privacy records", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr(record));

  EXPECT_EQ(Ctl(*server_, key, "privacy destroy --subject-id " + id + " --reason 'consent revoked'",
                &out),
            1);
  EXPECT_THAT(out, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_EQ(Ctl(*server_, key, "privacy act 00000000-0000-4000-8000-000000000000", &out), 1);
  EXPECT_THAT(out, HasSubstr("NOT_FOUND"));
  EXPECT_EQ(Ctl(*server_, key, "privacy export --subject-id not-a-uuid", &out), 1);
  EXPECT_THAT(out, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(out, Not(HasSubstr("not-a-uuid")));

  // Nothing personal reached the log.
  std::string log = server_->Log();
  EXPECT_THAT(log, Not(HasSubstr("erasurova")));
  EXPECT_THAT(log, Not(HasSubstr("Erasurova")));
  EXPECT_THAT(log, Not(HasSubstr("79995550011")));
}

}  // namespace
}  // namespace herald
