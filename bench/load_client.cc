#include "bench/load_client.h"

#include <httplib.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace herald::bench {
namespace {

// Latencies and counts shared by completion callbacks (gRPC threads).
class Recorder {
 public:
  void Record(SteadyClock::time_point start, SteadyClock::time_point end, bool ok,
              const std::string& error, bool counted) {
    std::lock_guard lock(mu_);
    if (!counted) return;
    if (ok) {
      ++ok_;
      lat_us_.push_back(std::chrono::duration<double, std::micro>(end - start).count());
    } else {
      ++errors_;
      if (first_error_.empty()) first_error_ = error;
    }
  }
  LoadResult Finish(double seconds) {
    std::lock_guard lock(mu_);
    LoadResult r;
    r.ok = ok_;
    r.errors = errors_;
    r.seconds = seconds;
    r.rate = seconds > 0 ? ok_ / seconds : 0;
    r.first_error = first_error_;
    if (!lat_us_.empty()) {
      std::sort(lat_us_.begin(), lat_us_.end());
      auto at = [&](double q) {
        size_t i = std::min(lat_us_.size() - 1, static_cast<size_t>(q * lat_us_.size()));
        return lat_us_[i] / 1000.0;
      };
      r.p50_ms = at(0.50);
      r.p99_ms = at(0.99);
      r.max_ms = lat_us_.back() / 1000.0;
    }
    return r;
  }

 private:
  std::mutex mu_;
  uint64_t ok_ = 0, errors_ = 0;
  std::string first_error_;
  std::vector<double> lat_us_;
};

// Waits until every issued call has completed (callbacks reference the shared state).
class InFlight {
 public:
  void Add() {
    std::lock_guard lock(mu_);
    ++n_;
  }
  void Remove() {
    std::lock_guard lock(mu_);
    if (--n_ == 0) cv_.notify_all();
  }
  int Count() {
    std::lock_guard lock(mu_);
    return n_;
  }
  void WaitBelow(int limit) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return n_ < limit; });
  }
  void WaitZero() { WaitBelow(1); }
  void Notify() { cv_.notify_all(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_ = 0;
};

}  // namespace

LoadResult ClosedLoop(const IssueFn& issue, int concurrency, std::chrono::milliseconds duration,
                      std::chrono::milliseconds warmup) {
  auto rec = std::make_shared<Recorder>();
  auto flight = std::make_shared<InFlight>();
  auto seq = std::make_shared<std::atomic<uint64_t>>(0);
  auto t0 = SteadyClock::now();
  auto measure_from = t0 + warmup;
  auto stop_at = measure_from + duration;
  // One "slot" per concurrent call: on completion it records and issues the next call.
  auto next = std::make_shared<std::function<void()>>();
  *next = [=, &issue, weak = std::weak_ptr<std::function<void()>>(next)]() {
    auto start = SteadyClock::now();
    if (start >= stop_at) return;
    flight->Add();
    issue((*seq)++, [=](bool ok, const std::string& err) {
      auto end = SteadyClock::now();
      rec->Record(start, end, ok, err, start >= measure_from && end <= stop_at);
      if (auto n = weak.lock()) (*n)();
      flight->Remove();
    });
  };
  for (int i = 0; i < concurrency; ++i) (*next)();
  std::this_thread::sleep_until(stop_at);
  flight->WaitZero();
  *next = nullptr;
  return rec->Finish(std::chrono::duration<double>(duration).count());
}

LoadResult OpenLoop(const IssueFn& issue, double rate, std::chrono::milliseconds duration,
                    int max_outstanding) {
  auto rec = std::make_shared<Recorder>();
  auto flight = std::make_shared<InFlight>();
  auto t0 = SteadyClock::now() + std::chrono::milliseconds(10);
  auto total = static_cast<uint64_t>(rate * std::chrono::duration<double>(duration).count());
  for (uint64_t i = 0; i < total; ++i) {
    auto scheduled = t0 + std::chrono::duration_cast<SteadyClock::duration>(
                              std::chrono::duration<double>(i / rate));
    std::this_thread::sleep_until(scheduled);
    flight->WaitBelow(max_outstanding);
    flight->Add();
    issue(i, [=](bool ok, const std::string& err) {
      rec->Record(scheduled, SteadyClock::now(), ok, err, true);
      flight->Remove();
    });
  }
  flight->WaitZero();
  double seconds = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  return rec->Finish(seconds);
}

struct JsonPoster::Shared {
  int port;
  std::string path, key;
  std::function<std::string(uint64_t)> body;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<uint64_t, Done>> calls;
  bool stop = false;
};

JsonPoster::JsonPoster(int port, std::string path, std::string bearer_key, int connections,
                       std::function<std::string(uint64_t)> body)
    : shared_(std::make_shared<Shared>()) {
  shared_->port = port;
  shared_->path = std::move(path);
  shared_->key = std::move(bearer_key);
  shared_->body = std::move(body);
  for (int i = 0; i < connections; ++i) {
    threads_.emplace_back([s = shared_] {
      httplib::Client client("127.0.0.1", s->port);
      client.set_keep_alive(true);
      client.set_read_timeout(30, 0);
      httplib::Headers headers = {{"Authorization", "Bearer " + s->key}};
      while (true) {
        std::pair<uint64_t, Done> call;
        {
          std::unique_lock<std::mutex> lock(s->mu);
          s->cv.wait(lock, [&] { return s->stop || !s->calls.empty(); });
          if (s->calls.empty()) return;
          call = std::move(s->calls.front());
          s->calls.pop_front();
        }
        auto res = client.Post(s->path, headers, s->body(call.first), "application/json");
        if (res && res->status == 200) {
          call.second(true, "");
        } else {
          call.second(false, res ? std::to_string(res->status) + " " + res->body
                                 : "HTTP error " + httplib::to_string(res.error()));
        }
      }
    });
  }
}

JsonPoster::~JsonPoster() {
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->stop = true;
  }
  shared_->cv.notify_all();
  for (auto& t : threads_) t.join();
}

IssueFn JsonPoster::issue() {
  return [s = shared_](uint64_t seq, Done done) {
    {
      std::lock_guard<std::mutex> lock(s->mu);
      s->calls.emplace_back(seq, std::move(done));
    }
    s->cv.notify_one();
  };
}

}  // namespace herald::bench
