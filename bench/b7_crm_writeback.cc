// B7: contacts written back to Creatio per second. N linked subjects (external_id a GUID the
// Creatio stand-in holds as a contact) are opted out of e-mail while heraldd runs the api role
// only, so every change waits in crm_outbox; heraldd is then restarted with api,worker
// (crm.workers 2, crm.batch_size 100) and timed from its start until the stand-in has applied
// every contact's write, each checked (DoNotUseEmail true on the card). Beside it: the same
// stand-in driven directly by a minimal client (2 threads, one cookie login, the same $batch
// requests of 100 PATCHes with the same bodies), so the ratio is Herald's share of what the
// stand-in can take on this machine.
//   build/bench/bench_b7 [--smoke]
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "bench/bench_support.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/creatio_stand_in.h"

using namespace herald::bench;
using herald::testing::CreatioContact;
using herald::testing::CreatioStandIn;
using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr int kBatch = 100;  // crm.batch_size, and Creatio's limit of items per $batch
constexpr int kThreads = 2;  // crm.workers

double Seconds(SteadyClock::time_point since) {
  return std::chrono::duration<double>(SteadyClock::now() - since).count();
}

// Opts every subject out of e-mail (a CRM-sourced OptOut each), `threads` callers.
void OptOutAll(const Server& server, const std::vector<std::string>& subjects, int threads) {
  std::atomic<size_t> next{0};
  std::atomic<long> failed{0};
  std::mutex mu;
  std::string first_error;
  std::vector<std::thread> callers;
  for (int t = 0; t < threads; ++t) {
    callers.emplace_back([&] {
      auto stub = herald::v1::SubscriptionService::NewStub(server.Channel());
      for (size_t i = next++; i < subjects.size(); i = next++) {
        herald::v1::OptOutRequest req;
        req.set_idempotency_key("b7-" + std::to_string(i));
        req.set_subject_id(subjects[i]);
        req.set_scope(herald::v1::CHANNEL);
        req.set_channel(herald::v1::EMAIL);
        req.mutable_proof()->set_source(herald::v1::CRM);
        grpc::ClientContext ctx;
        Authorize(ctx);
        herald::v1::OptOutResponse resp;
        grpc::Status s = stub->OptOut(&ctx, req, &resp);
        if (!s.ok()) {
          ++failed;
          std::lock_guard lock(mu);
          if (first_error.empty()) first_error = s.error_message();
        }
      }
    });
  }
  for (auto& c : callers) c.join();
  if (failed > 0) {
    throw std::runtime_error("OptOut failed " + std::to_string(failed.load()) + " times (" +
                             first_error + ")");
  }
}

// The contacts (of `wanted`) whose card shows DoNotUseEmail and whose applied Contact write
// set it; `bodies` gets each one's last such write.
size_t CheckedWrites(const CreatioStandIn& creatio, const std::set<std::string>& wanted,
                     std::map<std::string, std::string>* bodies) {
  std::map<std::string, std::string> written;
  for (const auto& w : creatio.writes()) {
    if (w.entity != "Contact" || wanted.count(w.id) == 0) continue;
    Json body = Json::parse(w.body, nullptr, false);
    if (body.is_object() && body.value("DoNotUseEmail", false)) written[w.id] = w.body;
  }
  size_t checked = 0;
  for (const auto& c : creatio.contacts()) {
    if (c.do_not_use_email && written.count(c.id)) ++checked;
  }
  if (bodies) *bodies = std::move(written);
  return checked;
}

// The reference: the stand-in's own capacity for these $batch requests, driven by a minimal
// client (httplib, keep-alive) on `kThreads` threads after one cookie login. The request
// bodies are built before the clock starts. Returns contacts per second.
double StandInCapacity(const CreatioStandIn& creatio, const std::vector<std::string>& contacts,
                       const std::map<std::string, std::string>& bodies) {
  const std::string base = creatio.base_url();
  httplib::Client login(base);
  const httplib::Headers login_headers = {{"ForceUseSession", "true"}};
  const std::string credentials = R"({"UserName":"Supervisor","UserPassword":"Supervisor!1"})";
  auto res = login.Post("/ServiceModel/AuthService.svc/Login", login_headers, credentials,
                        "application/json");
  if (!res || res->status != 200) throw std::runtime_error("reference: the login failed");
  std::string cookie, csrf;
  for (size_t i = 0; i < res->get_header_value_count("Set-Cookie"); ++i) {
    std::string c = res->get_header_value("Set-Cookie", i);
    c = c.substr(0, c.find(';'));
    if (c.rfind("BPMCSRF=", 0) == 0) csrf = c.substr(8);
    cookie += (cookie.empty() ? "" : "; ") + c;
  }
  if (csrf.empty()) throw std::runtime_error("reference: no BPMCSRF cookie");

  // The worker's $batch: one PATCH Contact(<id>) per contact, with the same item headers.
  std::vector<std::string> batches;
  for (size_t at = 0; at < contacts.size(); at += kBatch) {
    Json requests = Json::array();
    for (size_t i = at; i < std::min(contacts.size(), at + kBatch); ++i) {
      requests.push_back({{"method", "PATCH"},
                          {"url", "Contact(" + contacts[i] + ")"},
                          {"id", std::to_string(i - at + 1)},
                          {"headers",
                           {{"Content-Type", "application/json;odata=verbose"},
                            {"Accept", "application/json;odata=verbose"},
                            {"Prefer", "continue-on-error"}}},
                          {"body", Json::parse(bodies.at(contacts[i]))}});
    }
    batches.push_back(Json{{"requests", std::move(requests)}}.dump());
  }

  const httplib::Headers headers = {{"Accept", "application/json"},
                                    {"ForceUseSession", "true"},
                                    {"Prefer", "continue-on-error"},
                                    {"Cookie", cookie},
                                    {"BPMCSRF", csrf}};
  std::atomic<size_t> next{0};
  std::atomic<long> failed{0};
  std::vector<std::thread> threads;
  auto start = SteadyClock::now();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      httplib::Client client(base);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      for (size_t b = next++; b < batches.size(); b = next++) {
        auto r = client.Post("/0/odata/$batch", headers, batches[b],
                             "application/json; charset=utf-8; IEEE754Compatible=true");
        if (!r || r->status != 200) {
          ++failed;
          continue;
        }
        Json answer = Json::parse(r->body, nullptr, false);
        if (answer.is_discarded() || !answer.contains("responses")) {
          ++failed;
          continue;
        }
        for (const auto& item : answer["responses"]) {
          if (item.value("status", 0) / 100 != 2) ++failed;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  double seconds = Seconds(start);
  if (failed > 0) {
    throw std::runtime_error("reference: " + std::to_string(failed.load()) + " failed writes");
  }
  return contacts.size() / seconds;
}

}  // namespace

int main(int argc, char** argv) try {
  const bool smoke = ParseSmoke(argc, argv);
  const int n = smoke ? 1000 : 20000;
  const int expected_batches = (n + kBatch - 1) / kBatch;

  CreatioStandIn creatio;
  Pg pg("b7");
  pg.CreateDatabase("herald");
  const std::string crm_yaml = "crm:\n  enabled: true\n  base_url: " + creatio.base_url() +
                               "\n  user_name: Supervisor\n  workers: " + std::to_string(kThreads) +
                               "\n  batch_size: " + std::to_string(kBatch) + "\n";

  // Phase 1: the api role only, so the opt-outs queue up in crm_outbox.
  std::vector<std::string> subjects, contacts;
  {
    Server api(pg.Dsn("herald"), 8, "roles: api\n" + crm_yaml);
    api.AddEnv("HERALD_CRM_PASSWORD=Supervisor!1");
    api.Start();
    SeedSubjects(pg, "herald", n, 0);
    // Linked: external_id becomes a fixed GUID per subject, held by the stand-in as a contact.
    pg.Psql(
        "herald",
        "UPDATE subjects SET external_id = md5('contact-' || substr(external_id, 5))::uuid::text");
    std::istringstream rows(pg.Psql("herald", "SELECT id || ' ' || external_id FROM subjects"));
    std::string id, contact;
    while (rows >> id >> contact) {
      subjects.push_back(id);
      contacts.push_back(contact);
      creatio.PutContact(CreatioContact{contact, "Bench Contact", "", ""});
    }
    if (static_cast<int>(subjects.size()) != n) throw std::runtime_error("seeding failed");
    OptOutAll(api, subjects, 8);
    api.Stop();
  }
  const long queued = std::stol(pg.Psql("herald", "SELECT count(*) FROM crm_outbox"));
  if (queued != n || !creatio.writes().empty()) {
    std::cerr << "B7: expected " << n << " queued rows and no write yet, got " << queued
              << " rows and " << creatio.writes().size() << " writes\n";
    return 1;
  }

  // Phase 2: the worker role drains the queue; timed from heraldd's start.
  const std::set<std::string> wanted(contacts.begin(), contacts.end());
  Server worker(pg.Dsn("herald"), 8, "roles: api,worker\n" + crm_yaml);
  worker.AddEnv("HERALD_CRM_PASSWORD=Supervisor!1");
  // Where the CPU goes: this process (the stand-in; its polling here is a few counter reads),
  // PostgreSQL and heraldd (started inside the window: counted from zero), read at both ends
  // of the timed window.
  Costs costs(&pg, /*wal=*/true);
  costs.AddProcess("stand-in", getpid());
  costs.Start();
  const auto start = SteadyClock::now();
  worker.Start();
  const double startup = Seconds(start);
  const auto deadline = start + std::chrono::seconds(smoke ? 120 : 900);
  size_t checked = 0;
  auto last_full_check = start;
  double seconds = 0;
  while (true) {
    // batches() is a counter; writes() copies every write, so it is read when the batches
    // are all in (or once a second, should a retry need more batches).
    auto now = SteadyClock::now();
    if (creatio.batches() >= expected_batches || now - last_full_check > std::chrono::seconds(1)) {
      last_full_check = now;
      checked = CheckedWrites(creatio, wanted, nullptr);
      if (checked == wanted.size()) {
        seconds = Seconds(start);
        break;
      }
    }
    if (now > deadline) {
      std::cerr << "B7: only " << checked << " of " << n << " contacts written in time\n"
                << worker.LogTail();
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  costs.Stop();
  const double heraldd_cpu = CpuSeconds(worker.pid());
  const int batches = creatio.batches();
  const int single_writes = creatio.single_writes();
  worker.Stop();
  std::map<std::string, std::string> bodies;
  checked = CheckedWrites(creatio, wanted, &bodies);
  const double rate = checked / seconds;
  std::cerr << "B7: heraldd answered its readiness probe after " << startup << " s of the "
            << seconds << " s\n";

  creatio.ClearRecord();
  Costs reference_costs;
  reference_costs.AddProcess("stand-in and client", getpid());
  reference_costs.Start();
  const double reference = StandInCapacity(creatio, contacts, bodies);
  reference_costs.Stop();
  std::cerr << "B7 CPU: Herald's run of " << seconds << " s on "
            << std::thread::hardware_concurrency() << " cores: heraldd "
            << static_cast<long>(heraldd_cpu / n * 1e6) << " µs/contact, " << costs.Describe(n)
            << "; the reference's " << n / reference << " s: " << reference_costs.Describe(n)
            << "\n";
  const double ratio = reference > 0 ? rate / reference : 0;
  Figure main{
      "B7",
      "contacts written back/s, " + std::to_string(n) +
          " queued e-mail opt-outs, heraldd start to last write (2 workers x $batch of 100)",
      rate,
      "contacts/s",
      "the same stand-in driven directly (2 threads, one login, the same $batch bodies)",
      reference,
      ratio,
      "ratio >= 0.5",
      ratio >= 0.5};
  costs.Attach(main, n);
  main.cpu_us_per_op.insert(main.cpu_us_per_op.begin(), {"heraldd", heraldd_cpu / n * 1e6});
  main.pg_settings = pg.Settings();
  Report(main);
  Report({"B7.batches", "$batch requests Herald sent for " + std::to_string(n) + " contacts",
          static_cast<double>(batches), "requests", "N/100", static_cast<double>(expected_batches),
          0, "== N/100", batches == expected_batches});
  if (single_writes != 0) {
    std::cerr << "B7: " << single_writes << " writes outside a $batch\n";
    return 1;
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "B7 failed: " << e.what() << "\n";
  return 1;
}
