// The provider HTTP client against a provider that speaks HTTP by hand on 127.0.0.1 and
// fails at one exact point: whether the whole request had been sent when the answer failed
// to come decides between "retry" and "may have been delivered".
#include "services/dispatch/adapters/sms/http_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <string>

#include "services/dispatch/adapters/sms/provider_reply.h"
#include "tests/services/dispatch/adapters/delivery_printers.h"
#include "tests/support/loopback_server.h"
#include "tests/support/raw_tcp_server.h"

namespace herald::dispatch::sms {
namespace {

using herald::testing::RawConnection;
using herald::testing::RawTcpServer;

enum class ProviderFault {
  kNone,               // answers 201 to every request on the connection
  kStopReadingBody,    // reads the headers, then nothing more, and never answers
  kResetDuringBody,    // reads the headers and part of the body, then resets
  kHangAfterRequest,   // reads the whole request, never answers
  kCloseAfterRequest,  // reads the whole request, closes without a word
  kResetAfterRequest,  // reads the whole request, resets
};

size_t ContentLength(std::string head) {
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t at = head.find("\r\ncontent-length:");
  if (at == std::string::npos) return 0;
  return std::stoul(head.substr(at + std::string("\r\ncontent-length:").size()));
}

class FaultyProvider {
 public:
  explicit FaultyProvider(ProviderFault fault)
      : fault_(fault),
        // A small receive buffer, so that a body the provider stops reading cannot all sit
        // in the kernel's buffers as if it had been taken.
        server_([this](RawConnection& c) { Serve(c); }, 4096) {}

  std::string Url() const {
    return "http://127.0.0.1:" + std::to_string(server_.port()) + "/messages";
  }
  // Requests the provider read whole: each one it could have acted on.
  int whole_requests() const { return whole_requests_.load(); }

 private:
  void Serve(RawConnection& c) {
    std::string head, body;
    while (c.ReadUntil("\r\n\r\n", head)) {
      if (fault_ == ProviderFault::kStopReadingBody) return c.HangUntilStopped();
      if (fault_ == ProviderFault::kResetDuringBody) {
        if (c.ReadExactly(64 * 1024, body)) c.Reset();
        return;
      }
      if (!c.ReadExactly(ContentLength(head), body)) return;
      ++whole_requests_;
      switch (fault_) {
        case ProviderFault::kHangAfterRequest:
          return c.HangUntilStopped();
        case ProviderFault::kCloseAfterRequest:
          return c.Close();
        case ProviderFault::kResetAfterRequest:
          return c.Reset();
        default:
          c.Write(
              "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 13\r\n"
              "\r\n{\"sid\":\"SM1\"}");
      }
    }
  }

  const ProviderFault fault_;
  std::atomic<int> whole_requests_{0};
  RawTcpServer server_;  // last: stopped before what its handlers touch
};

HttpPost Post(const std::string& url, std::string body = "To=%2B994501234567&Body=Salam") {
  HttpPost post;
  post.url = url;
  post.content_type = "application/x-www-form-urlencoded";
  post.body = std::move(body);
  post.timeout_s = 1;
  return post;
}

// Several megabytes: more than the loopback connection's buffers hold.
std::string LargeBody() { return "Body=" + std::string(16 * 1024 * 1024, 'a'); }

constexpr Timestamp kNow{std::chrono::microseconds(1795802313000000)};

TEST(HttpClientTest, AnsweredRequestHasItsStatus) {
  FaultyProvider provider(ProviderFault::kNone);
  HttpClient client;

  HttpReply reply = client.Post(Post(provider.Url()));

  EXPECT_EQ(reply.status, 201) << reply.transport_error;
  EXPECT_EQ(reply.body, R"({"sid":"SM1"})");
  EXPECT_FALSE(reply.request_sent);  // only said of a request that got no answer
  EXPECT_EQ(provider.whole_requests(), 1);
}

class AfterTheWholeRequestTest : public ::testing::TestWithParam<ProviderFault> {};

TEST_P(AfterTheWholeRequestTest, NoAnswerIsMaybeSent) {
  FaultyProvider provider(GetParam());
  HttpClient client;

  auto start = std::chrono::steady_clock::now();
  HttpReply reply = client.Post(Post(provider.Url()));

  EXPECT_EQ(reply.status, 0);
  EXPECT_FALSE(reply.transport_error.empty());
  EXPECT_TRUE(reply.request_sent) << reply.transport_error;
  EXPECT_EQ(provider.whole_requests(), 1);
  EXPECT_EQ(ResultFromReply(reply, kNow).outcome, DeliveryOutcome::kMaybeSent);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
}

INSTANTIATE_TEST_SUITE_P(Faults, AfterTheWholeRequestTest,
                         ::testing::Values(ProviderFault::kHangAfterRequest,
                                           ProviderFault::kCloseAfterRequest,
                                           ProviderFault::kResetAfterRequest),
                         [](const ::testing::TestParamInfo<ProviderFault>& info) {
                           switch (info.param) {
                             case ProviderFault::kHangAfterRequest:
                               return "Timeout";
                             case ProviderFault::kCloseAfterRequest:
                               return "Close";
                             default:
                               return "Reset";
                           }
                         });

// The large body itself is no problem: a provider that reads it whole and then closes
// leaves a request that may have been acted on, as with a small one.
TEST(HttpClientTest, LargeBodyReadWholeThenClosedIsMaybeSent) {
  FaultyProvider provider(ProviderFault::kCloseAfterRequest);
  HttpClient client;
  HttpPost post = Post(provider.Url(), LargeBody());
  post.timeout_s = 10;

  HttpReply reply = client.Post(post);

  EXPECT_TRUE(reply.request_sent) << reply.transport_error;
  EXPECT_EQ(provider.whole_requests(), 1);
}

TEST(HttpClientTest, TimeoutWhileTheBodyIsStillBeingSentIsRetry) {
  FaultyProvider provider(ProviderFault::kStopReadingBody);
  HttpClient client;

  HttpReply reply = client.Post(Post(provider.Url(), LargeBody()));

  EXPECT_EQ(reply.status, 0);
  EXPECT_FALSE(reply.request_sent) << reply.transport_error;
  EXPECT_EQ(ResultFromReply(reply, kNow).outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(provider.whole_requests(), 0);
}

TEST(HttpClientTest, ResetWhileTheBodyIsStillBeingSentIsRetry) {
  FaultyProvider provider(ProviderFault::kResetDuringBody);
  HttpClient client;
  HttpPost post = Post(provider.Url(), LargeBody());
  post.timeout_s = 10;

  HttpReply reply = client.Post(post);

  EXPECT_EQ(reply.status, 0);
  EXPECT_FALSE(reply.request_sent) << reply.transport_error;
  EXPECT_EQ(ResultFromReply(reply, kNow).outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(provider.whole_requests(), 0);
}

TEST(HttpClientTest, RefusedConnectionIsRetry) {
  herald::testing::RefusingPort closed;
  HttpClient client;

  HttpReply reply = client.Post(Post(closed.base_url() + "/messages"));

  EXPECT_EQ(reply.status, 0);
  EXPECT_FALSE(reply.request_sent) << reply.transport_error;
  EXPECT_EQ(ResultFromReply(reply, kNow).outcome, DeliveryOutcome::kRetry);
}

}  // namespace
}  // namespace herald::dispatch::sms
