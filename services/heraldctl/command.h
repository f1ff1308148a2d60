// heraldctl's one command model. Every command is a Command: its name, help, flags and a
// handler that gets the flag values and a Context made from the global flags. Commands are
// grouped in one file per service (subscription_commands, dispatch_commands,
// campaign_commands, privacy_commands, health_command, inbound_mail_command) and parsed
// by CLI11 in RunCommandLine, so flags, help, the deadline and exit statuses are the same
// for all of them.
#pragma once

#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "services/heraldctl/flags.h"

namespace herald::ctl {

// Exit statuses of every command except inbound-mail, whose reader is Postfix (sysexits).
inline constexpr int kExitOk = 0;
inline constexpr int kExitCallFailed = 1;
inline constexpr int kExitUsage = 2;

// The table printed by `heraldctl --help` and written in README.md.
extern const char kExitStatusHelp[];

// What every call needs, from the global flags.
struct Context {
  std::string key;
  bool json = false;
  std::chrono::milliseconds timeout{10000};
  std::shared_ptr<grpc::Channel> channel;

  // Sets the deadline (now + --timeout) and, when `authenticate`, the bearer key.
  void Prepare(grpc::ClientContext* ctx, bool authenticate = true) const;
};

using Handler = std::function<int(const Context&, const Flags&)>;
// A command that reads its own arguments (inbound-mail: a Postfix pipe with its own
// contract); gets everything after its name.
using RawHandler = std::function<int(const std::vector<std::string>&)>;

struct Command {
  std::string name;
  // The flags part of the usage line, e.g. "--subject-id ID".
  std::string synopsis;
  std::string summary;
  std::vector<FlagSpec> flags;
  Handler run;
  bool needs_key = true;
  // More help text, shown by `<command> --help`.
  std::string details = "";
  // A group (`privacy`, `campaign`) has subcommands and no handler of its own.
  std::vector<Command> subcommands = {};
  RawHandler run_raw = nullptr;
};

// Parses args (without the program name) against `commands` and runs the chosen one;
// returns the exit status.
int RunCommandLine(const std::vector<std::string>& args, const std::vector<Command>& commands);

// ---------------------------------------------------------------------------------------
// Calls and output

// Prints the failed status ("heraldctl: NOT_FOUND: ..."); returns kExitCallFailed.
int Fail(const grpc::Status& s);

// Prints `resp` as JSON under --json, otherwise through `human`; returns the exit status.
int Output(const Context& ctx, const google::protobuf::Message& resp,
           const std::function<void()>& human);

template <typename Stub, typename Req, typename Resp>
using Rpc = grpc::Status (Stub::*)(grpc::ClientContext*, const Req&, Resp*);

// Makes one authenticated unary call with the context's deadline and prints its answer with
// `print` (or as JSON); returns the exit status.
template <typename Stub, typename Req, typename Resp, typename PrintFn>
int Call(const Context& ctx, Rpc<Stub, Req, Resp> rpc, const Req& req, PrintFn print) {
  Stub stub(ctx.channel);
  grpc::ClientContext call;
  ctx.Prepare(&call);
  Resp resp;
  grpc::Status status = (stub.*rpc)(&call, req, &resp);
  if (!status.ok()) return Fail(status);
  return Output(ctx, resp, [&] { print(resp); });
}

// ---------------------------------------------------------------------------------------
// Flag values

std::string Upper(std::string s);
std::string Lower(std::string s);
std::string Trim(const std::string& s);

// Parses an enum value name case-insensitively with the generated E_Parse function.
// The zero "..._UNSPECIFIED" value is not accepted: a flag given must mean something.
template <typename E, typename ParseFn>
E ParseEnum(const std::string& flag, const std::string& given, ParseFn parse) {
  E value{};
  if (!parse(Upper(given), &value) || static_cast<int>(value) == 0) {
    throw UsageError("--" + flag + ": unknown value '" + given + "' (expected " +
                     EnumChoices(google::protobuf::GetEnumDescriptor<E>()) + ")");
  }
  return value;
}

// A required enum flag.
template <typename E, typename ParseFn>
E EnumFlag(const Flags& f, const std::string& flag, ParseFn parse) {
  return ParseEnum<E>(flag, f.Require(flag), parse);
}

// A non-negative int32 flag; 0 when not given.
int32_t IntFlag(const Flags& f, const std::string& flag);
// Exactly one of two alternative flags; returns true for the first.
bool OneOf(const Flags& f, const std::string& a, const std::string& b);
// An RFC 3339 time flag; nothing when not given (so that no empty message field is set).
std::optional<google::protobuf::Timestamp> TimeFlag(const Flags& f, const std::string& flag);

FlagSpec EnumSpec(std::string name, std::string value, std::string help,
                  const google::protobuf::EnumDescriptor* choices);
std::vector<FlagSpec> Concat(std::initializer_list<std::vector<FlagSpec>> parts);

}  // namespace herald::ctl
