#include "services/heraldctl/command.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "services/heraldctl/print.h"

namespace herald::ctl {

const char kExitStatusHelp[] =
    "Exit status (every command but inbound-mail):\n"
    "  0  done (health: SERVING)\n"
    "  1  the call failed: the server refused it (its gRPC status is printed) or could\n"
    "     not be reached in time; health not SERVING\n"
    "  2  usage: a bad flag or value, or bad input (a file, a CSV line); nothing was sent\n"
    "inbound-mail answers Postfix in sysexits codes (heraldctl inbound-mail --help).\n";

namespace {

constexpr char kDefaultAddr[] = "127.0.0.1:50051";
constexpr double kMaxTimeoutSeconds = 24 * 3600;

const std::vector<FlagSpec>& GlobalFlags() {
  static const std::vector<FlagSpec> flags = {
      {"addr", "HOST:PORT",
       std::string("server address (default $HERALDCTL_ADDR, else ") + kDefaultAddr + ")"},
      {"key", "KEY", "API key (default $HERALDCTL_API_KEY, which keeps it out of `ps`)"},
      {"json", "", "print the response as JSON"},
      {"timeout", "SECONDS", "deadline of each call (default 10)"},
      {"tls", "", "speak TLS, trusting the system's CAs (default $HERALDCTL_TLS=1)"},
      {"ca", "FILE", "PEM CA that issued the server's certificate; implies --tls ($HERALDCTL_CA)"},
      {"cert", "FILE",
       "PEM client certificate, for a listener that requires one; implies --tls "
       "($HERALDCTL_CERT)"},
      {"cert-key", "FILE",
       "PEM private key of --cert (default: read from the --cert file) ($HERALDCTL_CERT_KEY)"},
  };
  return flags;
}

std::string HelpOf(const FlagSpec& s) {
  std::string out;
  if (s.choices) out = EnumChoices(s.choices) + (s.help.empty() ? "" : "; ");
  out += s.help;
  if (s.repeated) out += " (repeatable)";
  return out;
}

// The usage line CLI11 would print lists "[OPTIONS]"; ours lists the flags that matter, and
// comes first, above the description.
class Formatter : public CLI::Formatter {
 public:
  std::string make_description(const CLI::App*) const override { return ""; }
  std::string make_usage(const CLI::App* app, std::string name) const override {
    auto it = usage_.find(app);
    std::string usage = it == usage_.end() ? CLI::Formatter::make_usage(app, std::move(name))
                                           : "Usage: " + it->second + "\n";
    return usage + "\n" + app->get_description() + "\n";
  }
  void SetUsage(const CLI::App* app, std::string usage) { usage_[app] = std::move(usage); }

 private:
  std::map<const CLI::App*, std::string> usage_;
};

// A CLI11 option for each flag of a command, to read the values back after parsing.
struct Bound {
  const Command* command = nullptr;  // null for the global flags
  CLI::App* app = nullptr;
  std::vector<std::pair<const FlagSpec*, CLI::Option*>> options;
};

void AddFlags(CLI::App* app, const std::vector<FlagSpec>& specs, const std::string& group,
              Bound* bound) {
  if (CLI::Option* help = app->get_help_ptr()) help->description("show help")->group(group);
  for (const auto& s : specs) {
    CLI::Option* o = nullptr;
    if (s.value.empty()) {
      o = app->add_flag("--" + s.name)->description(HelpOf(s));
    } else {
      o = app->add_option((s.positional ? s.name + ",--" : "--") + s.name);
      o->description(HelpOf(s))->type_name(s.value);
      if (s.repeated) o->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    }
    o->group(group);
    bound->options.emplace_back(&s, o);
  }
}

void ReadFlags(const Bound& bound, Flags* out) {
  for (const auto& [spec, option] : bound.options) {
    if (option->count() == 0) continue;
    if (spec->value.empty()) {
      out->Add(spec->name, "");
    } else {
      for (const auto& v : option->results()) out->Add(spec->name, v);
    }
  }
}

// Valued flags and their placeholders, over every command; a name that is a boolean flag
// anywhere is left out.
void CollectValued(const std::vector<Command>& commands, std::map<std::string, std::string>* valued,
                   std::set<std::string>* boolean) {
  for (const auto& c : commands) {
    for (const auto& f : c.flags) {
      if (f.value.empty()) {
        boolean->insert(f.name);
      } else {
        (*valued)[f.name] = f.value;
      }
    }
    CollectValued(c.subcommands, valued, boolean);
  }
}

// "--topic --channel SMS" is a forgotten value, not a topic called "--channel" (CLI11 would
// take it as the value); a value that starts with "--" is written --text=--VALUE.
void RejectMissingValues(const std::vector<std::string>& args,
                         const std::vector<Command>& commands) {
  std::map<std::string, std::string> valued;
  std::set<std::string> boolean;
  CollectValued(commands, &valued, &boolean);
  for (const auto& g : GlobalFlags()) {
    if (!g.value.empty()) valued[g.name] = g.value;
  }
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--") return;
    if (args[i].rfind("--", 0) != 0 || args[i].find('=') != std::string::npos) continue;
    std::string name = args[i].substr(2);
    auto it = valued.find(name);
    if (it == valued.end() || boolean.count(name)) continue;
    if (i + 1 == args.size() || args[i + 1].rfind("--", 0) == 0) {
      throw UsageError("--" + name + " needs a value (" + it->second + ")");
    }
    ++i;
  }
}

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

std::string ReadPem(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || text.str().find("-----BEGIN ") == std::string::npos) {
    throw UsageError("--" + flag + ": cannot read a PEM file at '" + path + "'");
  }
  return text.str();
}

// Plaintext, or TLS trusting --ca (else the system's CAs) and showing --cert when given.
std::shared_ptr<grpc::ChannelCredentials> Credentials(const Flags& f) {
  std::string ca = f.Get("ca", EnvOr("HERALDCTL_CA", ""));
  std::string cert = f.Get("cert", EnvOr("HERALDCTL_CERT", ""));
  std::string cert_key = f.Get("cert-key", EnvOr("HERALDCTL_CERT_KEY", ""));
  bool tls = f.Has("tls") || EnvOr("HERALDCTL_TLS", "") == "1" || !ca.empty() || !cert.empty();
  if (!tls) {
    if (!cert_key.empty()) throw UsageError("--cert-key needs --cert");
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions options;
  if (!ca.empty()) options.pem_root_certs = ReadPem("ca", ca);
  if (!cert.empty()) {
    options.pem_cert_chain = ReadPem("cert", cert);
    options.pem_private_key =
        cert_key.empty() ? options.pem_cert_chain : ReadPem("cert-key", cert_key);
    if (options.pem_private_key.find("PRIVATE KEY-----") == std::string::npos) {
      throw UsageError("--cert-key: no private key in '" + (cert_key.empty() ? cert : cert_key) +
                       "'");
    }
  } else if (!cert_key.empty()) {
    throw UsageError("--cert-key needs --cert");
  }
  return grpc::SslCredentials(options);
}

Context MakeContext(const Flags& f, const Command& cmd) {
  Context ctx;
  ctx.key = f.Get("key", EnvOr("HERALDCTL_API_KEY", ""));
  if (cmd.needs_key && ctx.key.empty()) {
    throw UsageError("no API key: set HERALDCTL_API_KEY or pass --key");
  }
  ctx.json = f.Has("json");
  if (f.Has("timeout")) {
    std::string v = f.Get("timeout");
    double seconds = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
    if (ec != std::errc() || end != v.data() + v.size() || !(seconds > 0) ||
        seconds > kMaxTimeoutSeconds) {
      throw UsageError("--timeout: expected a positive number of seconds, got '" + v + "'");
    }
    ctx.timeout = std::chrono::milliseconds(std::llround(seconds * 1000));
  }
  ctx.channel =
      grpc::CreateChannel(f.Get("addr", EnvOr("HERALDCTL_ADDR", kDefaultAddr)), Credentials(f));
  return ctx;
}

// The deepest command the parser selected, and its path ("privacy act").
const CLI::App* Selected(const CLI::App& root, std::string* path) {
  const CLI::App* app = &root;
  while (true) {
    auto subs = app->get_subcommands();
    if (subs.empty()) return app;
    app = subs.front();
    *path += (path->empty() ? "" : " ") + app->get_name();
  }
}

class Cli {
 public:
  explicit Cli(const std::vector<Command>& commands)
      : commands_(commands),
        app_("Operator client of the Herald subscription, dispatch and privacy services.",
             "heraldctl"),
        formatter_(std::make_shared<Formatter>()) {
    app_.formatter(formatter_);
    app_.require_subcommand(1);
    app_.get_formatter()->column_width(34);
    formatter_->SetUsage(&app_, "heraldctl [global flags] <command> [flags]");
    std::string footer =
        "Global flags are also accepted after the command. Run 'heraldctl <command> --help'\n"
        "for a command's flags.\n\n";
    app_.footer(footer + kExitStatusHelp);
    global_.app = &app_;
    AddFlags(&app_, GlobalFlags(), "Global flags", &global_);
    for (const auto& c : commands) Add(&app_, c, "");
  }

  int Run(const std::vector<std::string>& args) {
    // CLI11 takes the arguments last to first.
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    app_.parse(reversed);
    RejectMissingValues(args, commands_);
    std::string path;
    const CLI::App* leaf = Selected(app_, &path);
    for (const auto& b : bound_) {
      if (b.app != leaf) continue;
      if (b.command->run_raw) return b.command->run_raw(b.app->remaining());
      Flags flags;
      ReadFlags(global_, &flags);
      ReadFlags(b, &flags);
      Context ctx = MakeContext(flags, *b.command);
      return b.command->run(ctx, flags);
    }
    throw UsageError("no command given");
  }

  const CLI::App& app() const { return app_; }

 private:
  void Add(CLI::App* parent, const Command& c, const std::string& prefix) {
    CLI::App* sub = parent->add_subcommand(c.name, c.summary);
    sub->fallthrough();  // global flags after the command
    std::string path = prefix.empty() ? c.name : prefix + " " + c.name;
    if (c.run_raw) {
      // Everything after the name is the command's own, flags included.
      sub->prefix_command();
      sub->allow_extras();
      sub->fallthrough(false);
      sub->set_help_flag();
    }
    if (!c.subcommands.empty()) {
      sub->require_subcommand(1);
      formatter_->SetUsage(sub, "heraldctl [global flags] " + path + " <subcommand> [flags]");
      for (const auto& s : c.subcommands) Add(sub, s, path);
    } else {
      formatter_->SetUsage(
          sub, "heraldctl [global flags] " + path + (c.synopsis.empty() ? "" : " " + c.synopsis));
    }
    std::string footer = c.details;
    if (!c.run_raw) {
      footer += std::string(footer.empty() ? "" : "\n") +
                "Global flags --addr, --key, --json and --timeout: see heraldctl --help.";
    }
    sub->footer(footer);
    Bound b;
    b.command = &c;
    b.app = sub;
    AddFlags(sub, c.flags, "Flags", &b);
    bound_.push_back(std::move(b));
  }

  const std::vector<Command>& commands_;
  CLI::App app_;
  std::shared_ptr<Formatter> formatter_;
  Bound global_;
  std::vector<Bound> bound_;
};

}  // namespace

void Context::Prepare(grpc::ClientContext* ctx, bool authenticate) const {
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  if (authenticate) ctx->AddMetadata("authorization", "Bearer " + key);
}

int RunCommandLine(const std::vector<std::string>& args, const std::vector<Command>& commands) {
  // A command that reads its own arguments, named first, never meets the shared parser.
  if (!args.empty()) {
    for (const auto& c : commands) {
      if (c.run_raw && c.name == args[0]) return c.run_raw({args.begin() + 1, args.end()});
    }
  }
  Cli cli(commands);
  if (args.empty()) {
    std::cerr << cli.app().help();
    return kExitUsage;
  }
  try {
    return cli.Run(args);
  } catch (const CLI::CallForHelp&) {
    std::cout << cli.app().help();
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    std::string path;
    const CLI::App* leaf = Selected(cli.app(), &path);
    std::string message = e.what();
    // A word that names no command falls through to the top, unclaimed.
    auto rest = cli.app().remaining(/*recurse=*/true);
    if (dynamic_cast<const CLI::RequiredError*>(&e) && leaf->get_require_subcommand_min() > 0) {
      message = rest.empty()
                    ? "a command is required"
                    : "unknown command '" + (path.empty() ? "" : path + " ") + rest.front() + "'";
    }
    std::cerr << "heraldctl: " << message << "\nRun 'heraldctl " << (path.empty() ? "" : path + " ")
              << "--help' for usage.\n";
    return kExitUsage;
  } catch (const UsageError& e) {
    std::string path;
    Selected(cli.app(), &path);
    std::cerr << "heraldctl: " << e.what() << "\nRun 'heraldctl "
              << (path.empty() ? "" : path + " ") << "--help' for usage.\n";
    return kExitUsage;
  }
}

int Fail(const grpc::Status& s) {
  std::cerr << "heraldctl: " << StatusCodeName(s.error_code()) << ": " << s.error_message() << '\n';
  return kExitCallFailed;
}

int Output(const Context& ctx, const google::protobuf::Message& resp,
           const std::function<void()>& human) {
  if (!ctx.json) {
    human();
    return kExitOk;
  }
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = false;
  options.preserve_proto_field_names = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(resp, &json, options);
  if (!status.ok()) {
    std::cerr << "heraldctl: cannot print the response as JSON: " << status.ToString() << '\n';
    return kExitCallFailed;
  }
  std::cout << json << '\n';
  return kExitOk;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

int32_t IntFlag(const Flags& f, const std::string& flag) {
  if (!f.Has(flag)) return 0;
  std::string v = f.Get(flag);
  int32_t out = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || end != v.data() + v.size() || out < 0) {
    throw UsageError("--" + flag + ": expected a non-negative number, got '" + v + "'");
  }
  return out;
}

bool OneOf(const Flags& f, const std::string& a, const std::string& b) {
  if (f.Has(a) == f.Has(b)) throw UsageError("give exactly one of --" + a + " and --" + b);
  return f.Has(a);
}

std::optional<google::protobuf::Timestamp> TimeFlag(const Flags& f, const std::string& flag) {
  if (!f.Has(flag)) return std::nullopt;
  google::protobuf::Timestamp t;
  if (!google::protobuf::util::TimeUtil::FromString(f.Get(flag), &t)) {
    throw UsageError("--" + flag + ": not an RFC 3339 time like 2026-11-27T10:00:00Z");
  }
  return t;
}

FlagSpec EnumSpec(std::string name, std::string value, std::string help,
                  const google::protobuf::EnumDescriptor* choices) {
  return FlagSpec{std::move(name), std::move(value), std::move(help), false, choices};
}

std::vector<FlagSpec> Concat(std::initializer_list<std::vector<FlagSpec>> parts) {
  std::vector<FlagSpec> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace herald::ctl
