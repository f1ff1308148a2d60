#include "tests/fault_matrix/matrix_support.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <pqxx/pqxx>
#include <random>
#include <sstream>
#include <stdexcept>

#include "common/db/migrations.h"
#include "herald/v1/dispatch.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/campaign_driver.h"
#include "tests/support/eventually.h"
#include "tests/support/local_process.h"

namespace herald::fault_matrix {
namespace {

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  try {
    return std::stoi(v);
  } catch (const std::exception&) {
    throw std::runtime_error(std::string(name) + ": not a whole number: " + v);
  }
}

std::string PgScript() { return std::string(HERALD_SOURCE_DIR) + "/deploy/dev/pg"; }

// Runs `command`; throws with its output when it fails.
void Run(const std::string& command) {
  std::string out;
  int status = testing::RunCommand(command + " 2>&1", &out);
  if (status != 0) {
    throw std::runtime_error(command + " failed (" + std::to_string(status) + "): " + out);
  }
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

Size SizeFromEnvironment() {
  Size s{};
  s.recipients = EnvInt("HERALD_FAULT_RECIPIENTS", 300);
  s.pg_outage_s = EnvInt("HERALD_FAULT_PG_OUTAGE_S", 5);
  s.relay_outage_s = EnvInt("HERALD_FAULT_RELAY_OUTAGE_S", 10);
  s.disk_full_s = EnvInt("HERALD_FAULT_DISK_FULL_S", 5);
  s.lease_s = EnvInt("HERALD_FAULT_LEASE_S", 30);
  s.sink_delay_ms = EnvInt("HERALD_FAULT_SINK_DELAY_MS", 150);
  s.send_concurrency = EnvInt("HERALD_FAULT_SEND_CONCURRENCY", 4);
  s.opt_outs = std::max(10, s.recipients / 10);
  return s;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

OwnCluster::OwnCluster(const std::string& name, int tmpfs_mb) {
  const char* state = std::getenv("HERALD_TEST_STATE_DIR");
  dir_ = std::string(state && *state ? state : "/var/tmp") + "/fault-" + name + "-" +
         std::to_string(getpid());
  port_ = testing::FreePort();
  (void)std::system(("rm -rf '" + dir_ + "'").c_str());
  if (mkdir(dir_.c_str(), 0700) != 0) {
    throw std::runtime_error("mkdir " + dir_ + ": " + std::strerror(errno));
  }
  if (tmpfs_mb > 0) {
    std::string options = "size=" + std::to_string(tmpfs_mb) + "m";
    if (mount("tmpfs", dir_.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      int error = errno;
      (void)std::system(("rm -rf '" + dir_ + "'").c_str());
      throw std::runtime_error("mount -t tmpfs -o " + options + " tmpfs " + dir_ +
                               " failed: " + std::strerror(error) +
                               " (the disk-full row needs to mount a size-limited tmpfs: root,"
                               " or CAP_SYS_ADMIN)");
    }
    mounted_ = true;
  }
  Start();
}

OwnCluster::~OwnCluster() {
  std::string out;
  if (started_) testing::RunCommand(PgScript() + " stop '" + dir_ + "' 2>&1", &out);
  if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
  (void)std::system(("rm -rf '" + dir_ + "'").c_str());
}

void OwnCluster::Stop() { Run(PgScript() + " stop '" + dir_ + "'"); }

void OwnCluster::Start() {
  started_ = true;  // a half-started server is stopped too
  Run(PgScript() + " start '" + dir_ + "' " + std::to_string(port_));
}

bool OwnCluster::Ready() const {
  std::string out;
  return testing::RunCommand("/usr/lib/postgresql/15/bin/pg_isready -q -h 127.0.0.1 -p " +
                                 std::to_string(port_) + " 2>&1",
                             &out) == 0;
}

std::string OwnCluster::admin_dsn() const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/postgres";
}

std::string OwnCluster::CreateDatabase() const {
  {
    pqxx::connection admin(admin_dsn());
    pqxx::nontransaction(admin).exec("CREATE DATABASE herald_fault");
  }
  std::string dsn = testing::WithDatabase(admin_dsn(), "herald_fault");
  pqxx::connection conn(dsn);
  db::ApplyMigrations(conn, db::BuiltInMigrations());
  return dsn;
}

std::vector<std::string> MakeRecipients(const std::string& dsn, int n, bool phones) {
  pqxx::connection conn(dsn);
  {
    pqxx::work w(conn);
    w.exec_params(
        "INSERT INTO subjects (id, surname, processing_consent, marketing_channels,"
        " created_at, updated_at) SELECT gen_random_uuid(), $1 || g, true, $3, now(), now()"
        " FROM generate_series(1, $2) g",
        std::string(kPersonalMark), n, phones ? 6 : 2);
    w.exec_params(
        "INSERT INTO addresses (subject_id, kind, value, match_key, added_at)"
        " SELECT id, 1, surname || '@example.com', surname || '@example.com', now()"
        " FROM subjects WHERE starts_with(surname, $1)",
        std::string(kPersonalMark));
    if (phones) {
      w.exec_params(
          "INSERT INTO addresses (subject_id, kind, value, match_key, added_at)"
          " SELECT id, 2, p, p, now() FROM (SELECT id, '+' || $2 ||"
          "   lpad(substr(surname, length($1) + 1), 4, '0') AS p"
          "   FROM subjects WHERE starts_with(surname, $1)) s",
          std::string(kPersonalMark), std::string(kPhoneBlock));
    }
    w.commit();
  }
  pqxx::read_transaction txn(conn);
  std::vector<std::string> ids;
  for (const auto& r :
       txn.exec_params("SELECT id::text FROM subjects WHERE starts_with(surname, $1) ORDER BY id",
                       std::string(kPersonalMark))) {
    ids.push_back(r[0].as<std::string>());
  }
  return ids;
}

std::string StartCampaign(const testing::HeralddProcess& api,
                          const std::vector<std::string>& subjects, v1::Channel channel,
                          const std::string& key) {
  v1::Content content;
  if (channel == v1::EMAIL) content.set_subject("Offer");
  content.set_text("Hello {{surname}}");
  return testing::StartCampaign(api, subjects, content, key, 0, channel);
}

OptOutRace::OptOutRace(Target target, std::vector<std::string> victims, int threads,
                       std::chrono::milliseconds pause)
    : target_(std::move(target)), victims_(std::move(victims)) {
  for (int t = 0; t < threads; ++t) {
    threads_.emplace_back([this, t, threads, pause] {
      std::mt19937 rng(7 + t);
      for (size_t i = t; i < victims_.size(); i += threads) {
        grpc::ClientContext ctx;
        testing::Authorize(ctx, testing::HeralddProcess::kCrmKey);
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        v1::OptOutRequest r;
        r.set_subject_id(victims_[i]);
        r.set_scope(v1::ALL_MARKETING);
        r.mutable_proof()->set_source(v1::LINK);
        v1::OptOutResponse resp;
        auto stub = v1::SubscriptionService::NewStub(target_());
        auto status = stub->OptOut(&ctx, r, &resp);
        double at = Now();
        {
          std::lock_guard lock(mu_);
          if (status.ok()) {
            acked_[victims_[i]] = Ack{at, resp.in_flight_messages()};
          } else {
            if (failed_++ == 0) {
              first_error_ = std::to_string(status.error_code()) + " " + status.error_message();
            }
          }
        }
        auto most = std::max<int64_t>(1, pause.count() * 2);
        std::this_thread::sleep_for(std::chrono::milliseconds(rng() % most));
      }
    });
  }
}

OptOutRace::~OptOutRace() { Join(); }

void OptOutRace::Join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

std::map<std::string, std::vector<double>> ByAddress(const testing::SmtpCapture& sink) {
  std::map<std::string, std::vector<double>> out;
  for (const auto& a : sink.Arrivals()) out[Lower(a.recipient)].push_back(a.time);
  return out;
}

std::vector<double> AllTimes(const std::map<std::string, std::vector<double>>& by_address) {
  std::vector<double> out;
  for (const auto& [a, times] : by_address) out.insert(out.end(), times.begin(), times.end());
  return out;
}

Judgement Judge(const std::string& dsn, v1::Channel channel,
                const std::map<std::string, std::vector<double>>& arrivals_by_address,
                const std::map<std::string, OptOutRace::Ack>& acked) {
  Judgement j;
  pqxx::connection conn(dsn);
  pqxx::read_transaction txn(conn);
  std::set<std::string> known;
  auto note = [&](const std::string& what) {
    if (j.examples.size() < 400) j.examples += what + "; ";
  };
  // Each recipient's message as the database ended it, with the reason a failure recorded.
  for (const auto& r : txn.exec_params(
           "SELECT coalesce(m.subject_id::text, ''), lower(a.value), m.status,"
           " m.deny_reason IS NOT NULL,"
           " coalesce((SELECT t.note FROM message_transitions t WHERE t.message_id = m.id"
           "   AND t.status = 'failed' ORDER BY t.seq DESC LIMIT 1), ''), m.id::text"
           " FROM messages m JOIN addresses a ON a.subject_id = m.subject_id AND a.kind = $1"
           " WHERE m.campaign_id IS NOT NULL",
           channel == v1::SMS ? 2 : 1)) {
    ++j.recipients;
    std::string subject = r[0].as<std::string>();
    std::string address = r[1].as<std::string>();
    std::string status = r[2].as<std::string>();
    known.insert(address);
    auto it = arrivals_by_address.find(address);
    size_t copies = it == arrivals_by_address.end() ? 0 : it->second.size();
    if (copies > 1) j.duplicates += static_cast<int64_t>(copies - 1);
    j.max_copies = std::max<int64_t>(j.max_copies, static_cast<int64_t>(copies));
    j.arrivals += static_cast<int64_t>(copies);
    const std::string id = r[5].as<std::string>();
    if (status == "sent") {
      if (copies == 0) {
        ++j.sent_not_delivered;
        ++j.lost;
        note("sent, not at the sink: " + id);
      }
    } else if (status == "suppressed") {
      ++j.suppressed;
      if (copies > 0) {
        ++j.delivered_not_sent;
        note("suppressed, at the sink: " + id);
      }
      if (!r[3].as<bool>()) {
        ++j.lost;
        note("suppressed without a reason: " + id);
      }
    } else if (status == "failed") {
      ++j.failed;
      if (copies > 0) {
        ++j.delivered_not_sent;
        note("failed, at the sink: " + id);
      }
      if (r[4].as<std::string>().empty()) {
        ++j.lost;
        note("failed without a reason: " + id);
      }
    } else {
      ++j.unsettled;
      ++j.lost;
      note(status + ": " + id);
    }
    auto ack = acked.find(subject);
    if (ack != acked.end() && it != arrivals_by_address.end()) {
      int64_t after = 0;
      for (double t : it->second) after += t > ack->second.at;
      if (after > ack->second.in_flight) {
        j.opted_out_reached += after - ack->second.in_flight;
        note("reached after its opt-out: " + id);
      }
    }
  }
  for (const auto& [address, times] : arrivals_by_address) {
    if (!known.count(address)) j.strangers += static_cast<int>(times.size());
  }
  j.acked_opt_outs = static_cast<int>(acked.size());
  std::set<std::string> recorded;
  for (const auto& r : txn.exec("SELECT DISTINCT subject_id::text FROM events"
                                " WHERE type = 'opt_out' AND subject_id IS NOT NULL")) {
    recorded.insert(r[0].as<std::string>());
  }
  for (const auto& [subject, ack] : acked) {
    if (!recorded.count(subject)) {
      ++j.opt_outs_not_recorded;
      note("acknowledged opt-out not recorded: " + subject);
    }
  }
  return j;
}

void ExpectNothingLostAndOptOutsKept(const Judgement& j) {
  EXPECT_GT(j.recipients, 0) << "no campaign message in the database";
  EXPECT_EQ(j.lost, 0) << "recipients neither reached nor ended with a reason: " << j.examples;
  EXPECT_EQ(j.sent_not_delivered, 0) << "marked sent but never at the sink: " << j.examples;
  EXPECT_EQ(j.strangers, 0) << "arrivals for addresses outside the campaign";
  EXPECT_EQ(j.opted_out_reached, 0)
      << "recipients reached after their opt-out was acknowledged: " << j.examples;
  EXPECT_EQ(j.opt_outs_not_recorded, 0) << "acknowledged opt-outs lost: " << j.examples;
  EXPECT_GT(j.acked_opt_outs, 0) << "no opt-out raced the campaign";
}

double LongestGap(std::vector<double> times, double from, double until) {
  times.erase(
      std::remove_if(times.begin(), times.end(), [&](double t) { return t < from || t > until; }),
      times.end());
  times.push_back(from);
  times.push_back(until);
  std::sort(times.begin(), times.end());
  double gap = 0;
  for (size_t i = 1; i < times.size(); ++i) gap = std::max(gap, times[i] - times[i - 1]);
  return gap;
}

std::vector<std::string> PersonalDataInLogs(const std::vector<std::string>& logs) {
  std::vector<std::string> hits;
  for (const auto& log : logs) {
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);) {
      std::string lower = Lower(line);
      if (lower.find(kPersonalMark) != std::string::npos ||
          line.find(kPhoneBlock) != std::string::npos) {
        hits.push_back(line.substr(0, 300));
      }
    }
  }
  return hits;
}

void ExpectNoPersonalData(const std::vector<std::string>& logs, bool require_lines) {
  size_t lines = 0;
  for (const auto& l : logs) lines += std::count(l.begin(), l.end(), '\n');
  if (require_lines) {
    EXPECT_GT(lines, 0u) << "no log to scan";
  }
  auto hits = PersonalDataInLogs(logs);
  std::string shown;
  for (size_t i = 0; i < hits.size() && i < 5; ++i) shown += hits[i] + "\n";
  EXPECT_TRUE(hits.empty()) << hits.size() << " log lines show a recipient's name, address or"
                            << " number, e.g.:\n"
                            << shown;
}

bool WaitUntilSettled(const std::string& dsn, std::chrono::seconds timeout) {
  return testing::Eventually(
      [&] {
        try {
          return Count(dsn,
                       "SELECT count(*) FROM messages WHERE status IN"
                       " ('queued', 'retrying', 'sending')") == 0;
        } catch (const std::exception&) {
          return false;  // the database is away (a fault still holds)
        }
      },
      timeout, std::chrono::milliseconds(100));
}

int64_t Count(const std::string& dsn, const std::string& sql) {
  pqxx::connection conn(dsn);
  pqxx::nontransaction txn(conn);
  return txn.exec(sql)[0][0].as<int64_t>();
}

void PrintRow(const std::string& row, const std::vector<std::pair<std::string, std::string>>& kv) {
  std::string line = "FAULT-ROW " + row;
  for (const auto& [k, v] : kv) line += " " + k + "=" + v;
  std::cout << line << std::endl;
}

std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace herald::fault_matrix
