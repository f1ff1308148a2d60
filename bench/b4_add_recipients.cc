// B4: AddRecipients rows/s for 1,000,000 recipients given by CRM id with one variable each
// (subjects loaded beforehand), beside psql -c "\copy" of the same rows (CSV) into an
// unindexed table of the same columns, same server, same run. B4b: rows given as raw phone
// numbers (parsed and normalised by libphonenumber), no goal.
//   build/bench/bench_b4 [--smoke]
#include <fstream>
#include <iostream>

#include "bench/bench_support.h"
#include "bench/load_client.h"
#include "herald/v1/dispatch.grpc.pb.h"

using namespace herald::bench;

namespace {

std::string CreateCampaign(herald::v1::DispatchService::Stub& stub, const std::string& key,
                           herald::v1::Channel channel) {
  grpc::ClientContext ctx;
  Authorize(ctx);
  herald::v1::CreateCampaignRequest r;
  r.set_idempotency_key(key);
  r.set_name("Bench " + key);
  r.set_topic("special_offers");
  r.set_channel(channel);
  if (channel == herald::v1::EMAIL) r.mutable_content()->set_subject("Hello {{first_name}}");
  r.mutable_content()->set_text("Hello {{first_name}}");
  r.add_variables("first_name");
  herald::v1::CreateCampaignResponse created;
  auto st = stub.CreateCampaign(&ctx, r, &created);
  if (!st.ok()) throw std::runtime_error("CreateCampaign: " + st.error_message());
  return created.campaign().id();
}

// Streams `n` rows (5,000 a message) made by `fill`; returns rows/s; checks they were added.
double Stream(herald::v1::DispatchService::Stub& stub, const std::string& campaign, int n,
              const std::function<void(int, herald::v1::RecipientRow&)>& fill) {
  auto start = SteadyClock::now();
  grpc::ClientContext ctx;
  Authorize(ctx);
  herald::v1::AddRecipientsResponse resp;
  auto writer = stub.AddRecipients(&ctx, &resp);
  herald::v1::AddRecipientsRequest m;
  m.set_campaign_id(campaign);
  for (int i = 1; i <= n; ++i) {
    fill(i, *m.add_rows());
    if (m.rows_size() == 5000 || i == n) {
      if (!writer->Write(m)) break;
      m.clear_rows();
    }
  }
  writer->WritesDone();
  auto st = writer->Finish();
  double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  if (!st.ok()) throw std::runtime_error("AddRecipients: " + st.error_message());
  if (resp.added() != n) {
    throw std::runtime_error("AddRecipients added " + std::to_string(resp.added()) + " of " +
                             std::to_string(n));
  }
  return n / seconds;
}

}  // namespace

int main(int argc, char** argv) try {
  bool smoke = ParseSmoke(argc, argv);
  int rows = smoke ? 20000 : 1000000;
  const int raw_rows = smoke ? 5000 : 200000;
  // HERALD_BENCH_B4_ROWS: another size, for profiling (perf record -p the heraldd or
  // postgres backend pid while the stream runs).
  rows = EnvCount("HERALD_BENCH_B4_ROWS", rows, 100000000);

  Pg pg("b4");
  pg.CreateDatabase("herald");
  Server server(pg.Dsn("herald"), 8, "roles: api,web\n");
  server.Start();
  SeedSubjects(pg, "herald", rows, 0);
  auto stub = herald::v1::DispatchService::NewStub(server.Channel());

  std::string campaign = CreateCampaign(*stub, "b4", herald::v1::EMAIL);
  std::cerr << "B4: heraldd pid " << server.pid() << ", streaming " << rows << " rows" << std::endl;
  double rate = Stream(*stub, campaign, rows, [](int i, herald::v1::RecipientRow& r) {
    r.set_external_id("crm-" + std::to_string(i));
    (*r.mutable_variables())["first_name"] = "N" + std::to_string(i);
  });
  std::string sms = CreateCampaign(*stub, "b4b", herald::v1::SMS);
  double raw_rate = Stream(*stub, sms, raw_rows, [](int i, herald::v1::RecipientRow& r) {
    char phone[32];
    std::snprintf(phone, sizeof phone, "+7 (916) %03d-%02d-%02d", i / 10000 % 1000, i / 100 % 100,
                  i % 100);
    r.set_address(phone);
    (*r.mutable_variables())["first_name"] = "N" + std::to_string(i);
  });
  server.Stop();

  // Reference: the same rows as CSV, \copy into an unindexed table of the same columns.
  std::string csv = "/tmp/herald-bench-b4-" + std::to_string(getpid()) + ".csv";
  {
    std::ofstream out(csv);
    for (int i = 1; i <= rows; ++i) {
      out << "crm-" << i << ",\"{\"\"first_name\"\": \"\"N" << i << "\"\"}\"\n";
    }
  }
  pg.Psql("herald", "CREATE TABLE bench_copy (external_id text, variables jsonb)");
  auto start = SteadyClock::now();
  Sh("/usr/lib/postgresql/15/bin/psql -X -q " + pg.ConnArgs() +
     " -d herald -c \"\\copy bench_copy FROM '" + csv + "' WITH (FORMAT csv)\"");
  double copy_rate = rows / std::chrono::duration<double>(SteadyClock::now() - start).count();
  std::remove(csv.c_str());
  long copied = std::stol(pg.Psql("herald", "SELECT count(*) FROM bench_copy"));
  if (copied != rows) {
    std::cerr << "B4: \\copy loaded " << copied << " rows\n";
    return 1;
  }
  double ratio = rate / copy_rate;
  Report({"B4", "AddRecipients rows/s, " + std::to_string(rows) + " rows by CRM id, one variable",
          rate, "rows/s", "psql \\copy of the same CSV rows into an unindexed table", copy_rate,
          ratio, "ratio >= 0.5", ratio >= 0.5});
  Report({"B4b", "AddRecipients rows/s, " + std::to_string(raw_rows) + " raw phone numbers",
          raw_rate, "rows/s", "psql \\copy (as B4)", copy_rate, raw_rate / copy_rate, "", true});
  return 0;
} catch (const std::exception& e) {
  std::cerr << "B4 failed: " << e.what() << "\n";
  return 1;
}
