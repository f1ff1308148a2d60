#include "common/log/log.h"

#include <google/protobuf/stubs/logging.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "common/clock.h"

namespace herald::log {
namespace {

std::shared_ptr<spdlog::logger> Logger() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::stderr_logger_mt("herald");
    l->set_pattern("%v");
    l->flush_on(spdlog::level::info);
    return l;
  }();
  return logger;
}

void Write(spdlog::level::level_enum level, const char* name, const std::string& msg,
           const Fields& fields) {
  auto logger = Logger();
  if (!logger->should_log(level)) return;
  nlohmann::json line = {{"ts", ToIso8601(SystemClock().Now())}, {"level", name}, {"msg", msg}};
  for (const auto& field : fields.items()) {
    const std::string& key = field.first;
    std::visit([&line, &key](const auto& v) { line[key] = v; }, field.second.get());
  }
  // Invalid UTF-8 in a value is replaced rather than thrown: a log line never fails a call.
  logger->log(level, line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

// protobuf writes its own "[libprotobuf ERROR ...]" lines to stderr (e.g. a string field
// that is not UTF-8); they join the JSON log instead. Its messages name fields and types,
// never values.
void ProtobufLog(google::protobuf::LogLevel level, const char* filename, int line,
                 const std::string& message) {
  Fields fields = {{"component", "protobuf"},
                   {"detail", message.substr(0, 512)},
                   {"source", std::string(filename ? filename : "") + ":" + std::to_string(line)}};
  switch (level) {
    case google::protobuf::LOGLEVEL_INFO:
      Write(spdlog::level::info, "info", "protobuf", fields);
      break;
    case google::protobuf::LOGLEVEL_WARNING:
      Write(spdlog::level::warn, "warn", "protobuf", fields);
      break;
    default:
      Write(spdlog::level::err, "error", "protobuf", fields);
      break;
  }
}

}  // namespace

void Init(const std::string& level) {
  Logger()->set_level(spdlog::level::from_str(level));
  google::protobuf::SetLogHandler(&ProtobufLog);
}
void Debug(const std::string& m, const Fields& f) { Write(spdlog::level::debug, "debug", m, f); }
void Info(const std::string& m, const Fields& f) { Write(spdlog::level::info, "info", m, f); }
void Warn(const std::string& m, const Fields& f) { Write(spdlog::level::warn, "warn", m, f); }
void Error(const std::string& m, const Fields& f) { Write(spdlog::level::err, "error", m, f); }

}  // namespace herald::log
