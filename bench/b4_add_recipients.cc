// B4: AddRecipients rows/s for 1,000,000 recipients given by CRM id with one variable each
// (subjects loaded beforehand), beside psql -c "\copy" of the same rows (CSV) into an
// unindexed table of the same columns, same server, same run. B4b: rows given as raw phone
// numbers (parsed and normalised by libphonenumber), no goal. The rows are serialised before
// the clock starts (the timed window is the stream, not the client building a million
// protobuf rows); full mode streams three times (a new campaign each) and reports the median.
//   build/bench/bench_b4 [--smoke]
#include <grpcpp/generic/generic_stub.h>

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

// `n` rows (5,000 a message) made by `fill`, serialised: what the client sends, built and
// encoded before the clock starts so that the timed window holds only the stream itself.
std::vector<grpc::ByteBuffer> Serialise(
    const std::string& campaign, int n,
    const std::function<void(int, herald::v1::RecipientRow&)>& fill) {
  std::vector<grpc::ByteBuffer> out;
  herald::v1::AddRecipientsRequest m;
  m.set_campaign_id(campaign);
  for (int i = 1; i <= n; ++i) {
    fill(i, *m.add_rows());
    if (m.rows_size() == 5000 || i == n) {
      std::string bytes = m.SerializeAsString();
      grpc::Slice slice(bytes);
      out.emplace_back(&slice, 1);
      m.clear_rows();
    }
  }
  return out;
}

// Streams the serialised messages over one AddRecipients call (the generic stub, which sends
// bytes as they are); returns rows/s and checks that all `n` were added. `costs` brackets the
// stream alone.
double Stream(const std::shared_ptr<grpc::Channel>& channel,
              const std::vector<grpc::ByteBuffer>& messages, int n, Costs& costs) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  Authorize(ctx);
  auto await = [&cq](const char* step) {
    void* tag = nullptr;
    bool ok = false;
    if (!cq.Next(&tag, &ok) || !ok) throw std::runtime_error(std::string("AddRecipients: ") + step);
  };
  costs.Start();
  auto start = SteadyClock::now();
  auto call = stub.PrepareCall(&ctx, "/herald.v1.DispatchService/AddRecipients", &cq);
  call->StartCall(nullptr);
  await("start");
  for (const auto& m : messages) {
    call->Write(m, nullptr);
    await("write");
  }
  call->WritesDone(nullptr);
  await("writes done");
  grpc::ByteBuffer reply;
  call->Read(&reply, nullptr);
  void* tag = nullptr;
  bool read_ok = false;
  cq.Next(&tag, &read_ok);  // false when the call ended without a reply: Finish says why
  grpc::Status st;
  call->Finish(&st, nullptr);
  await("finish");
  double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  costs.Stop();
  if (!st.ok()) throw std::runtime_error("AddRecipients: " + st.error_message());
  herald::v1::AddRecipientsResponse resp;
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!read_ok || !reply.Dump(&slices).ok()) throw std::runtime_error("AddRecipients: no reply");
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  if (!resp.ParseFromString(bytes)) throw std::runtime_error("AddRecipients: unreadable reply");
  if (resp.added() != n) {
    throw std::runtime_error("AddRecipients added " + std::to_string(resp.added()) + " of " +
                             std::to_string(n));
  }
  cq.Shutdown();
  while (cq.Next(&tag, &read_ok)) {
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

  auto channel = server.Channel();
  auto by_crm_id = [](int i, herald::v1::RecipientRow& r) {
    r.set_external_id("crm-" + std::to_string(i));
    (*r.mutable_variables())["first_name"] = "N" + std::to_string(i);
  };
  // The reference's rows: the same as CSV, \copy into an unindexed table of the same columns.
  std::string csv = "/tmp/herald-bench-b4-" + std::to_string(getpid()) + ".csv";
  {
    std::ofstream out(csv);
    for (int i = 1; i <= rows; ++i) {
      out << "crm-" << i << ",\"{\"\"first_name\"\": \"\"N" << i << "\"\"}\"\n";
    }
  }
  pg.Psql("herald", "CREATE TABLE bench_copy (external_id text, variables jsonb)");
  const auto settings = pg.Settings();

  // Each run: a new campaign receives the same rows, then \copy loads them into the emptied
  // table; the figure is the median run.
  std::vector<double> rates, copy_rates, ratios;
  std::vector<Costs> costs;
  for (int run = 0; run < RunCount(smoke); ++run) {
    std::string campaign = CreateCampaign(*stub, "b4-" + std::to_string(run), herald::v1::EMAIL);
    auto messages = Serialise(campaign, rows, by_crm_id);
    std::cerr << "B4: heraldd pid " << server.pid() << ", streaming " << rows << " rows"
              << std::endl;
    Costs c(&pg, /*wal=*/true);
    c.AddProcess("heraldd", server.pid());
    c.AddProcess("client", getpid());
    rates.push_back(Stream(channel, messages, rows, c));
    messages.clear();

    pg.Psql("herald", "TRUNCATE bench_copy");
    auto start = SteadyClock::now();
    Sh("/usr/lib/postgresql/15/bin/psql -X -q " + pg.ConnArgs() +
       " -d herald -c \"\\copy bench_copy FROM '" + csv + "' WITH (FORMAT csv)\"");
    copy_rates.push_back(rows / std::chrono::duration<double>(SteadyClock::now() - start).count());
    long copied = std::stol(pg.Psql("herald", "SELECT count(*) FROM bench_copy"));
    if (copied != rows) {
      std::cerr << "B4: \\copy loaded " << copied << " rows\n";
      return 1;
    }
    ratios.push_back(rates.back() / copy_rates.back());
    std::cerr << "B4 run " << run + 1 << ": " << rates.back() << " rows/s beside \\copy "
              << copy_rates.back() << "; " << c.Describe(rows) << std::endl;
    costs.push_back(std::move(c));
  }

  std::string sms = CreateCampaign(*stub, "b4b", herald::v1::SMS);
  auto raw = Serialise(sms, raw_rows, [](int i, herald::v1::RecipientRow& r) {
    char phone[32];
    std::snprintf(phone, sizeof phone, "+7 (916) %03d-%02d-%02d", i / 10000 % 1000, i / 100 % 100,
                  i % 100);
    r.set_address(phone);
    (*r.mutable_variables())["first_name"] = "N" + std::to_string(i);
  });
  Costs raw_costs(&pg, /*wal=*/true);
  raw_costs.AddProcess("heraldd", server.pid());
  raw_costs.AddProcess("client", getpid());
  double raw_rate = Stream(channel, raw, raw_rows, raw_costs);
  server.Stop();
  std::remove(csv.c_str());

  const double ratio = Median(ratios);
  Figure main{"B4",
              "AddRecipients rows/s, " + std::to_string(rows) +
                  " rows by CRM id, one variable (serialised before the clock)",
              Median(rates),
              "rows/s",
              "psql \\copy of the same CSV rows into an unindexed table",
              Median(copy_rates),
              ratio,
              "ratio >= 0.5",
              ratio >= 0.5};
  main.runs = rates;
  costs[MedianIndex(rates)].Attach(main, rows);
  main.pg_settings = settings;
  Report(main);
  Figure raw_figure{"B4b",
                    "AddRecipients rows/s, " + std::to_string(raw_rows) + " raw phone numbers",
                    raw_rate,
                    "rows/s",
                    "psql \\copy (as B4)",
                    Median(copy_rates),
                    raw_rate / Median(copy_rates),
                    "",
                    true};
  raw_costs.Attach(raw_figure, raw_rows);
  Report(raw_figure);
  return 0;
} catch (const std::exception& e) {
  std::cerr << "B4 failed: " << e.what() << "\n";
  return 1;
}
