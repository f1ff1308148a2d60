// B5 (first cut): messages per second from StartCampaign to the last message accepted, for
// a campaign of N recipients with 10% opted out and 2 KB bodies, into Postfix's smtp-sink,
// printed beside smtp-source's rate into the same sink in the same run.
//
//   HERALD_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:PORT/postgres \
//     build/bench/bench_campaign_throughput [recipients]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <pqxx/pqxx>
#include <string>
#include <thread>

#include "herald/v1/dispatch.grpc.pb.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/test_database.h"

namespace {

using herald::testing::HeralddProcess;
using Clock = std::chrono::steady_clock;

pid_t Spawn(std::vector<std::string> args) {
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

long PeakRssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 100000;
  auto db = herald::testing::TestDatabase::Create();
  if (!db) {
    std::cerr << "set HERALD_TEST_DATABASE_URL\n";
    return 2;
  }
  int sink_port = herald::testing::FreePort();
  pid_t sink = Spawn({"/usr/sbin/smtp-sink", "-u", "postfix",
                      "127.0.0.1:" + std::to_string(sink_port), "1000"});
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  // Reference: smtp-source into the same sink, same count and size.
  auto ref_start = Clock::now();
  pid_t source = Spawn({"/usr/sbin/smtp-source", "-d", "-s", "8", "-m", std::to_string(n), "-l",
                        "2048", "-f", "bench@herald.test", "-t", "sink@herald.test",
                        "127.0.0.1:" + std::to_string(sink_port)});
  waitpid(source, nullptr, 0);
  double ref_rate = n / std::chrono::duration<double>(Clock::now() - ref_start).count();

  db->Exec("INSERT INTO subjects (id, surname, processing_consent, marketing_channels,"
           " created_at, updated_at) SELECT gen_random_uuid(), 'b' || g, true, 2, now(), now()"
           " FROM generate_series(1, " + std::to_string(n) + ") g");
  db->Exec("INSERT INTO addresses (subject_id, kind, value, match_key, added_at)"
           " SELECT id, 1, surname || '@example.com', surname || '@example.com', now()"
           " FROM subjects");
  // 10% opted out of everything.
  db->Exec("INSERT INTO preferences (subject_id, channel, topic, subscribed, seq, updated_at)"
           " SELECT id, 0, '', false, 1, now() FROM subjects WHERE substr(surname, 2)::int % 10 = 0");

  std::string config = "email:\n  from_address: bench@herald.test\n"
                       "dispatch:\n  workers: 4\n  batch_size: 200\n"
                       "providers:\n  - name: sink\n    kind: smtp\n    country: RU\n"
                       "    settings:\n      url: smtp://127.0.0.1:" +
                       std::to_string(sink_port) + "\n      starttls: none\n      max_connections: 8\n";
  HeralddProcess server(db->dsn(), config);
  server.Start();
  auto stub = herald::v1::DispatchService::NewStub(server.Channel());
  std::string body(2048, 'x');
  for (size_t i = 64; i < body.size(); i += 72) body[i] = '\n';
  herald::v1::CreateCampaignResponse created;
  {
    grpc::ClientContext ctx;
    herald::testing::Authorize(ctx, HeralddProcess::kSchedulerKey);
    herald::v1::CreateCampaignRequest r;
    r.set_idempotency_key("bench");
    r.set_name("Bench");
    r.set_topic("special_offers");
    r.set_channel(herald::v1::EMAIL);
    r.mutable_content()->set_subject("Offer");
    r.mutable_content()->set_text(body);
    stub->CreateCampaign(&ctx, r, &created);
  }
  {
    pqxx::connection conn(db->dsn());
    pqxx::read_transaction txn(conn);
    grpc::ClientContext ctx;
    herald::testing::Authorize(ctx, HeralddProcess::kSchedulerKey);
    herald::v1::AddRecipientsResponse added;
    auto writer = stub->AddRecipients(&ctx, &added);
    herald::v1::AddRecipientsRequest m;
    m.set_campaign_id(created.campaign().id());
    for (const auto& row : txn.exec("SELECT id::text FROM subjects")) {
      m.add_rows()->set_subject_id(row[0].c_str());
      if (m.rows_size() == 5000) {
        writer->Write(m);
        m.Clear();
      }
    }
    if (m.rows_size()) writer->Write(m);
    writer->WritesDone();
    writer->Finish();
  }
  auto start = Clock::now();
  {
    grpc::ClientContext ctx;
    herald::testing::Authorize(ctx, HeralddProcess::kSchedulerKey);
    herald::v1::StartCampaignRequest s;
    s.set_campaign_id(created.campaign().id());
    herald::v1::Campaign c;
    stub->StartCampaign(&ctx, s, &c);
  }
  while (std::stoll(db->Scalar("SELECT count(*) FROM messages WHERE status IN"
                               " ('queued', 'retrying', 'sending')")) > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  long sent = std::stol(db->Scalar("SELECT count(*) FROM messages WHERE status = 'sent'"));
  long suppressed = std::stol(db->Scalar("SELECT count(*) FROM messages WHERE status = 'suppressed'"));
  // heraldd's pid is not exposed; read its peak RSS through /proc by name.
  std::string pid_text;
  {
    FILE* p = popen(("pgrep -f 'heraldd serve --config .*heraldd-it' | head -1"), "r");
    char buf[32] = {0};
    if (fgets(buf, sizeof buf, p)) pid_text = buf;
    pclose(p);
  }
  long rss = pid_text.empty() ? -1 : PeakRssKb(std::stoi(pid_text));
  double rate = n / seconds;
  std::cout << "B5 campaign " << n << " recipients (10% opted out), 2 KB: " << rate
            << " recipients/s (" << sent << " sent, " << suppressed << " suppressed in "
            << seconds << " s)\n"
            << "   reference smtp-source -s 8 into the same smtp-sink: " << ref_rate
            << " messages/s; ratio " << rate / ref_rate << "\n"
            << "   heraldd peak RSS: " << rss / 1024 << " MB\n";
  server.Stop(SIGTERM);
  kill(sink, SIGTERM);
  waitpid(sink, nullptr, 0);
  return 0;
}
