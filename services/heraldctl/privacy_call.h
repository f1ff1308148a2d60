// What `heraldctl privacy` subcommands share: how a call is made and how its answer or
// failure is printed. Both halves (privacy_commands.cc, privacy_erasure_commands.cc) use it.
#pragma once

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "herald/v1/privacy.grpc.pb.h"
#include "services/heraldctl/flags.h"
#include "services/heraldctl/print.h"

namespace herald::ctl::privacy_cli {

// How each call is made: from the global flags.
struct Call {
  std::string key;
  bool json = false;
  std::chrono::milliseconds timeout{10000};
};

// One subcommand: its name, help, flags, and what it runs.
struct Sub {
  std::string name;
  std::string synopsis;
  std::string summary;
  std::vector<FlagSpec> flags;
  std::function<int(v1::PrivacyService::Stub&, const Flags&, const Call&)> run;
};

// The key (--key or HERALDCTL_API_KEY), --json and --timeout of the global flags; throws
// UsageError for a missing key or a bad timeout.
inline Call CallFromFlags(const Flags& flags) {
  const char* env_key = std::getenv("HERALDCTL_API_KEY");
  Call call;
  call.key = flags.Get("key", env_key ? env_key : "");
  if (call.key.empty()) throw UsageError("no API key: set HERALDCTL_API_KEY or pass --key");
  call.json = flags.Has("json");
  if (flags.Has("timeout")) {
    std::string v = flags.Get("timeout");
    double seconds = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
    if (ec != std::errc() || end != v.data() + v.size() || !(seconds > 0) || seconds > 86400) {
      throw UsageError("--timeout: expected a positive number of seconds, got '" + v + "'");
    }
    call.timeout = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000 + 0.5));
  }
  return call;
}

// A stub for --addr, else HERALDCTL_ADDR, else 127.0.0.1:50051.
inline std::unique_ptr<v1::PrivacyService::Stub> StubFromFlags(const Flags& flags) {
  const char* env_addr = std::getenv("HERALDCTL_ADDR");
  std::string addr = flags.Get("addr", env_addr && *env_addr ? env_addr : "127.0.0.1:50051");
  return v1::PrivacyService::NewStub(
      grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
}

// Prints the failed status the way the rest of heraldctl does; returns exit status 1.
inline int Fail(const grpc::Status& s) {
  std::cerr << "heraldctl: " << StatusCodeName(s.error_code()) << ": " << s.error_message()
            << '\n';
  return 1;
}

// Makes one call with the key and deadline, then prints the answer as JSON (--json) or
// through `print`. Returns the exit status.
template <typename Req, typename Resp, typename PrintFn>
int Invoke(const Call& call,
           grpc::Status (v1::PrivacyService::Stub::*rpc)(grpc::ClientContext*, const Req&,
                                                         Resp*),
           v1::PrivacyService::Stub& stub, const Req& req, PrintFn print) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + call.timeout);
  ctx.AddMetadata("authorization", "Bearer " + call.key);
  Resp resp;
  grpc::Status status = (stub.*rpc)(&ctx, req, &resp);
  if (!status.ok()) return Fail(status);
  if (call.json) {
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    std::string json;
    if (!google::protobuf::util::MessageToJsonString(resp, &json, options).ok()) {
      std::cerr << "heraldctl: cannot print the response as JSON\n";
      return 1;
    }
    std::cout << json << '\n';
  } else {
    print(resp);
  }
  return 0;
}

}  // namespace herald::ctl::privacy_cli
