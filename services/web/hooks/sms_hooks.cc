#include "services/web/hooks/sms_hooks.h"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log/log.h"

namespace herald::web {
namespace {

using inbound::sms::Dialect;

HttpResponse Answer(int status, const std::string& message) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = nlohmann::json{{"error", message}}.dump();
  return r;
}

std::string Header(const HttpRequest& req, const std::string& name) {
  for (const auto& [k, v] : req.headers) {
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return tolower(static_cast<unsigned char>(a)) == tolower(static_cast<unsigned char>(b));
        })) {
      return v;
    }
  }
  return "";
}

}  // namespace

struct SmsHooks::Counters {
  prometheus::Family<prometheus::Counter>* inbound = nullptr;
  prometheus::Family<prometheus::Counter>* receipts = nullptr;
  void Inbound(const char* keyword) {
    if (inbound) inbound->Add({{"keyword", keyword}}).Increment();
  }
  void Receipt(const char* status) {
    if (receipts) receipts->Add({{"status", status}}).Increment();
  }
};

SmsHooks::SmsHooks(std::vector<SmsHookProvider> providers, std::string public_base_url,
                   inbound::sms::InboundSmsService& service, prometheus::Registry* metrics)
    : providers_(std::move(providers)),
      public_base_url_(std::move(public_base_url)),
      service_(service),
      counters_(std::make_shared<Counters>()) {
  while (!public_base_url_.empty() && public_base_url_.back() == '/') public_base_url_.pop_back();
  if (metrics) {
    counters_->inbound = &prometheus::BuildCounter()
                              .Name("herald_sms_inbound_total")
                              .Help("Inbound SMS by keyword class (stop, start, help, none)")
                              .Register(*metrics);
    counters_->receipts = &prometheus::BuildCounter()
                               .Name("herald_sms_receipts_total")
                               .Help("SMS delivery receipts by what they did")
                               .Register(*metrics);
  }
}

const SmsHookProvider* SmsHooks::Authenticate(const HttpRequest& req, HttpResponse* refusal) const {
  const std::string& name = req.path_params.at(0);
  const SmsHookProvider* p = nullptr;
  for (const auto& candidate : providers_) {
    if (candidate.name == name) p = &candidate;
  }
  if (!p) {
    *refusal = Answer(404, "provider: unknown");
    return nullptr;
  }
  if (p->secret.empty()) {
    *refusal = Answer(403, "signature: no secret configured for this provider");
    return nullptr;
  }
  if (p->dialect == Dialect::kTwilio) {
    auto form = inbound::sms::ParseForm(req.body);
    if (!form) {
      *refusal = Answer(400, "body: malformed form encoding");
      return nullptr;
    }
    std::string expected =
        inbound::sms::TwilioSignature(p->secret, public_base_url_ + req.path, *form);
    if (!inbound::sms::SignatureMatches(Header(req, "X-Twilio-Signature"), expected)) {
      *refusal = Answer(403, "X-Twilio-Signature: missing or invalid");
      return nullptr;
    }
  } else {
    std::string expected = inbound::sms::JsonSignature(p->secret, req.body);
    if (!inbound::sms::SignatureMatches(Header(req, "X-Herald-Signature"), expected)) {
      *refusal = Answer(403, "X-Herald-Signature: missing or invalid");
      return nullptr;
    }
  }
  return p;
}

HttpResponse SmsHooks::Inbound(const HttpRequest& req) {
  HttpResponse refusal;
  const SmsHookProvider* p = Authenticate(req, &refusal);
  if (!p) return refusal;
  inbound::sms::ParseError error;
  auto sms = inbound::sms::ParseInbound(p->dialect, req.body, &error);
  if (!sms) return Answer(400, error.field + ": " + error.message);
  inbound::sms::InboundResult result;
  try {
    result = service_.HandleInbound(p->name, *sms);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kInvalidArgument) return Answer(400, e.what());
    log::Warn("inbound sms not handled", {{"provider", p->name}, {"error", e.what()}});
    return Answer(503, "temporarily unavailable; retry");
  } catch (const std::exception& e) {
    log::Warn("inbound sms not handled", {{"provider", p->name}});
    return Answer(503, "temporarily unavailable; retry");
  }
  if (!result.duplicate) counters_->Inbound(inbound::sms::KeywordClassName(result.keyword));
  log::Info("inbound sms", {{"provider", p->name},
                            {"keyword", inbound::sms::KeywordClassName(result.keyword)},
                            {"outcome", result.outcome},
                            {"duplicate", result.duplicate},
                            {"reply_message_id", result.reply_message_id}});
  HttpResponse r;
  if (p->dialect == Dialect::kTwilio) {
    // Empty TwiML: no automatic reply; ours goes through dispatch.
    r.content_type = "text/xml";
    r.body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";
  } else {
    r.content_type = "application/json";
    r.body = nlohmann::json{{"keyword", inbound::sms::KeywordClassName(result.keyword)},
                            {"outcome", result.outcome},
                            {"duplicate", result.duplicate}}
                 .dump();
  }
  return r;
}

HttpResponse SmsHooks::Status(const HttpRequest& req) {
  HttpResponse refusal;
  const SmsHookProvider* p = Authenticate(req, &refusal);
  if (!p) return refusal;
  inbound::sms::ParseError error;
  auto receipt = inbound::sms::ParseReceipt(p->dialect, req.body, &error);
  if (!receipt) return Answer(400, error.field + ": " + error.message);
  inbound::sms::ReceiptResult result;
  try {
    result = service_.HandleReceipt(p->name, *receipt);
  } catch (const std::exception& e) {
    log::Warn("sms receipt not handled", {{"provider", p->name}});
    return Answer(503, "temporarily unavailable; retry");
  }
  const char* what = "updated";
  switch (result) {
    case inbound::sms::ReceiptResult::kUpdated:
      what = receipt->status.c_str();
      break;
    case inbound::sms::ReceiptResult::kUnchanged:
      what = "unchanged";
      break;
    case inbound::sms::ReceiptResult::kNotFinal:
      what = "not_final";
      break;
    case inbound::sms::ReceiptResult::kUnknownMessage:
      what = "unknown";
      // Answered 200 so the provider does not retry forever.
      log::Info("sms receipt for an unknown message", {{"provider", p->name}});
      break;
  }
  counters_->Receipt(what);
  HttpResponse r;
  r.content_type = "application/json";
  r.body = nlohmann::json{{"result", what}}.dump();
  return r;
}

void AddSmsHooks(HttpServer& server, SmsHooks& hooks) {
  server.Post(R"(/hooks/sms/([A-Za-z0-9_.-]{1,64})/inbound)",
              [&hooks](const HttpRequest& req) { return hooks.Inbound(req); });
  server.Post(R"(/hooks/sms/([A-Za-z0-9_.-]{1,64})/status)",
              [&hooks](const HttpRequest& req) { return hooks.Status(req); });
}

}  // namespace herald::web
