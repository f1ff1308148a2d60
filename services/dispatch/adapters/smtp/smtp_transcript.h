#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace herald::dispatch {

// The SMTP command a server reply answers. kGreeting is the banner before any command;
// kUnknown marks a client line that is no command (it never labels a reply).
enum class SmtpCommand {
  kGreeting,
  kEhlo,
  kStartTls,
  kAuth,
  kMail,
  kRcpt,
  kData,
  kQuit,
  kOther,
  kUnknown,
};

const char* SmtpCommandName(SmtpCommand c);

// One complete (possibly multi-line) server reply.
struct SmtpReply {
  int code = 0;
  std::string enhanced_status;  // RFC 3463 "5.1.1", when the server gave one
  std::string text;             // the rest, lines joined by a space
  SmtpCommand answers = SmtpCommand::kGreeting;
};

// Rebuilds the dialogue from libcurl's debug stream, because libcurl itself reports only
// "RCPT failed: 550" and drops the enhanced status and the server's words. Feed it
// CURLINFO_HEADER_IN (server lines) and CURLINFO_HEADER_OUT (client commands); it keeps
// only the last reply and the verb of the last command, never the commands' arguments
// (AUTH lines carry credentials, MAIL/RCPT carry addresses).
class SmtpTranscript {
 public:
  void OnServerBytes(std::string_view bytes);
  void OnClientBytes(std::string_view bytes);

  // The last reply about the transaction. The "221 Bye" to the QUIT that libcurl sends
  // when it drops a connection after an error is left out: it would hide the refusal.
  const std::optional<SmtpReply>& last_reply() const { return last_reply_; }
  // Replies seen since construction; 0 means the server never said a word.
  int reply_count() const { return reply_count_; }

 private:
  void OnServerLine(std::string_view line);

  std::string partial_;  // server bytes not yet ended by a line feed
  SmtpReply pending_;    // a multi-line reply being assembled
  bool pending_started_ = false;
  std::optional<SmtpReply> last_reply_;
  int reply_count_ = 0;
  SmtpCommand last_command_ = SmtpCommand::kGreeting;
  bool client_line_start_ = true;
};

}  // namespace herald::dispatch
