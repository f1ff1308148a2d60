// `heraldctl send|preview|get-message|list-messages`: one message at a time through
// herald.v1.DispatchService.
#include "services/heraldctl/dispatch_commands.h"

#include <iostream>
#include <string>
#include <vector>

#include "herald/v1/dispatch.grpc.pb.h"
#include "services/heraldctl/print.h"
#include "services/heraldctl/shared_flags.h"
#include "services/heraldctl/subscription_commands.h"

namespace herald::ctl {
namespace {

using v1::DispatchService;

// Fills what `send` and `preview` share: recipient, channel, topic, content and variables.
// The channel/content rules are the server's, checked here to fail before the call.
template <typename Req>
void MessageFromFlags(const Flags& f, Req* req) {
  *req->mutable_recipient() = RecipientFromFlags(f);
  std::string given = f.Require("channel");
  v1::Channel channel{};
  if (!v1::Channel_Parse(Upper(given), &channel) || (channel != v1::EMAIL && channel != v1::SMS)) {
    throw UsageError("--channel: expected EMAIL or SMS, got '" + given + "'");
  }
  req->set_channel(channel);
  req->set_topic(f.Require("topic"));
  v1::Content* c = req->mutable_content();
  c->set_text(f.Require("text"));
  if (channel == v1::EMAIL) {
    c->set_subject(f.Require("subject"));
    c->set_html(f.Get("html"));
  } else if (f.Has("subject") || f.Has("html")) {
    throw UsageError("--subject and --html are for e-mail; an SMS is --text only");
  }
  auto* vars = req->mutable_variables();
  for (const auto& spec : f.GetAll("var")) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw UsageError("--var: expected NAME=VALUE, got '" + spec + "'");
    }
    std::string name = spec.substr(0, eq);
    if (!vars->insert({name, spec.substr(eq + 1)}).second) {
      throw UsageError("--var: " + name + " given more than once");
    }
  }
}

int Send(const Context& ctx, const Flags& f) {
  v1::SendRequest req;
  req.set_idempotency_key(f.Require("idempotency-key"));
  MessageFromFlags(f, &req);
  return Call(ctx, &DispatchService::Stub::Send, req,
              [](const v1::SendResponse& r) { std::cout << FormatSendResult(r) << '\n'; });
}

int Preview(const Context& ctx, const Flags& f) {
  v1::PreviewMessageRequest req;
  MessageFromFlags(f, &req);
  return Call(ctx, &DispatchService::Stub::PreviewMessage, req,
              [](const v1::PreviewMessageResponse& r) { PrintPreview(std::cout, r); });
}

int GetMessage(const Context& ctx, const Flags& f) {
  v1::GetMessageRequest req;
  req.set_message_id(f.Require("message-id"));
  return Call(ctx, &DispatchService::Stub::GetMessage, req,
              [](const v1::Message& m) { PrintMessage(std::cout, m); });
}

int ListMessages(const Context& ctx, const Flags& f) {
  v1::ListMessagesRequest req;
  if (OneOf(f, "campaign-id", "subject-id")) {
    req.set_campaign_id(f.Get("campaign-id"));
  } else {
    req.set_subject_id(f.Get("subject-id"));
  }
  if (f.Has("status")) {
    req.set_status(EnumFlag<v1::MessageStatus>(f, "status", v1::MessageStatus_Parse));
  }
  req.set_page_size(IntFlag(f, "page-size"));
  req.set_page_token(f.Get("page-token"));
  return Call(ctx, &DispatchService::Stub::ListMessages, req,
              [](const v1::ListMessagesResponse& r) {
                PrintMessageList(std::cout, r.messages());
                PrintNextPage(std::cout, r.next_page_token());
              });
}

}  // namespace

std::vector<Command> DispatchCommands() {
  const FlagSpec& subject_id = kSubjectIdFlag;
  const FlagSpec& idempotency = kIdempotencyFlag;
  const std::vector<FlagSpec>& paging = kPagingFlags;
  FlagSpec required_idempotency = idempotency;
  required_idempotency.help = "required; " + idempotency.help;
  // What `send` and `preview` share.
  const std::vector<FlagSpec> message = {
      subject_id,
      {"address", "A", "the address to send to (default: the subject's)"},
      {"channel", "CHANNEL", "EMAIL|SMS; required"},
      {"topic", "T", "topic of the message (required; see `topics`)"},
      {"subject", "S", "e-mail subject (required for EMAIL)"},
      {"text", "TEXT", "e-mail text part or SMS body (required)"},
      {"html", "HTML", "e-mail HTML part"},
      {"var", "NAME=VALUE", "a per-recipient template variable", true},
  };
  const std::string message_details =
      "Subject, text and html are Mustache templates. Built-in variables: surname, given_name,\n"
      "patronymic, locale, unsubscribe_url, preferences_url; --var adds more.\n"
      "Write a value that starts with -- as --text=VALUE.\n";

  return {
      {"send",
       "--idempotency-key K (--subject-id ID and/or --address A) --channel EMAIL|SMS --topic T "
       "[--subject S] --text TEXT [--html HTML] [--var NAME=VALUE]...",
       "Send one message: QUEUED ID, or SUPPRESSED REASON ID when the gate refused.",
       Concat({{required_idempotency}, message}), Send, true, message_details},
      {"preview",
       "(--subject-id ID and/or --address A) --channel EMAIL|SMS --topic T [--subject S] "
       "--text TEXT [--html HTML] [--var NAME=VALUE]...",
       "Render a message and ask the gate about it, without sending.", message, Preview, true,
       message_details +
           "Prints the decision (ALLOW or DENY REASON), the rendered content and, for SMS,\n"
           "its encoding (GSM7 or UCS2) and number of segments.\n"},
      {"get-message",
       "--message-id ID",
       "Show one message with its status history and delivery attempts.",
       {{"message-id", "ID", "the message's id (UUID)"}},
       GetMessage},
      {"list-messages",
       "(--campaign-id ID | --subject-id ID) [--status STATUS] [--page-size N] [--page-token T]",
       "List messages: id, status, deny reason, channel, topic, updated.",
       Concat({{{"campaign-id", "ID", "the campaign's id (UUID)"},
                subject_id,
                EnumSpec("status", "STATUS", "only messages in this status",
                         v1::MessageStatus_descriptor())},
               paging}),
       ListMessages},
  };
}

}  // namespace herald::ctl
