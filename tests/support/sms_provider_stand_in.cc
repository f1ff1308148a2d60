#include "tests/support/sms_provider_stand_in.h"

#include <chrono>
#include <nlohmann/json.hpp>

namespace herald::testing {

using json = nlohmann::json;

namespace {

double EpochSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

SmsProviderStandIn::SmsProviderStandIn() {
  server_.server().Post(
      R"(/2010-04-01/Accounts/([A-Za-z0-9]+)/Messages\.json)",
      [this](const httplib::Request& req, httplib::Response& res) {
        std::lock_guard lock(mu_);
        SmsRequest r{req.get_param_value("To"), req.get_param_value("Body"), "twilio", 0,
                     EpochSeconds()};
        if (++twilio_requests_ == refuse_twilio_request_) {
          r.status = 400;
          res.set_content(json{{"code", 21614},
                               {"message", "'To' number " + r.to + " is not a valid mobile number"},
                               {"status", 400}}
                              .dump(),
                          "application/json");
        } else if (twilio_status_ != 201) {
          r.status = twilio_status_;
          if (twilio_retry_after_s_ > 0) {
            res.set_header("Retry-After", std::to_string(twilio_retry_after_s_));
          }
          res.set_content(R"({"code":20500,"message":"oops"})", "application/json");
        } else {
          r.status = 201;
          res.set_content(json{{"sid", "SMout" + std::to_string(++accepted_)},
                               {"to", r.to},
                               {"from", req.get_param_value("From")},
                               {"body", r.body},
                               {"status", "queued"}}
                              .dump(),
                          "application/json");
        }
        res.status = r.status;
        requests_.push_back(std::move(r));
      });
  server_.server().Post("/json", [this](const httplib::Request& req, httplib::Response& res) {
    auto j = json::parse(req.body);
    std::lock_guard lock(mu_);
    requests_.push_back({j.value("to", ""), j.value("text", ""), "json", 200, EpochSeconds()});
    res.status = 200;
    res.set_content(json{{"id", "J-out-" + std::to_string(++accepted_)}}.dump(),
                    "application/json");
  });
  server_.Start();
}

void SmsProviderStandIn::AnswerTwilioWith(int status) { AnswerTwilioWith(status, 0); }

void SmsProviderStandIn::AnswerTwilioWith(int status, int retry_after_s) {
  std::lock_guard lock(mu_);
  twilio_status_ = status;
  twilio_retry_after_s_ = retry_after_s;
}

void SmsProviderStandIn::RefuseTwilioRequest(int n) {
  std::lock_guard lock(mu_);
  refuse_twilio_request_ = n;
}

std::vector<SmsRequest> SmsProviderStandIn::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

std::vector<SmsRequest> SmsProviderStandIn::sent() const {
  std::lock_guard lock(mu_);
  std::vector<SmsRequest> out;
  for (const auto& r : requests_) {
    if (r.status / 100 == 2) out.push_back(r);
  }
  return out;
}

}  // namespace herald::testing
