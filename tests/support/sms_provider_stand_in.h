#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "tests/support/loopback_server.h"

namespace herald::testing {

// One request an SMS provider stand-in received.
struct SmsRequest {
  std::string to, body;
  std::string via;  // "twilio" or "json"
  int status = 0;   // what the stand-in answered
  double time = 0;  // when it arrived: seconds since the epoch
};

// An SMS provider on 127.0.0.1 speaking Twilio's Messages API (base_url(), any account) and
// a JSON API (json_url(): {"to", "text"} in, {"id"} out), recording every request. Accepted
// messages get ids SMout<n> (Twilio) and J-out-<n> (JSON), n counting accepted messages of
// both, and Twilio's answer quotes number and text back as Twilio does.
class SmsProviderStandIn {
 public:
  SmsProviderStandIn();
  SmsProviderStandIn(const SmsProviderStandIn&) = delete;
  SmsProviderStandIn& operator=(const SmsProviderStandIn&) = delete;

  // Every Twilio request is answered with `status`; anything but 201 with an error body.
  void AnswerTwilioWith(int status);
  // Every Twilio request is answered with `status` and a Retry-After of `retry_after_s`
  // seconds (a rate limit: 429).
  void AnswerTwilioWith(int status, int retry_after_s);
  // The n-th Twilio request (from 1) is refused with HTTP 400 and Twilio's error body, which
  // names the number.
  void RefuseTwilioRequest(int n);

  std::string base_url() const { return server_.base_url(); }
  std::string json_url() const { return server_.base_url() + "/json"; }

  // Every request, in arrival order.
  std::vector<SmsRequest> requests() const;
  // The requests that were accepted.
  std::vector<SmsRequest> sent() const;

 private:
  LoopbackServer server_;
  mutable std::mutex mu_;
  std::vector<SmsRequest> requests_;
  int accepted_ = 0;
  int twilio_requests_ = 0;
  int twilio_status_ = 201;
  int twilio_retry_after_s_ = 0;
  int refuse_twilio_request_ = 0;
};

}  // namespace herald::testing
