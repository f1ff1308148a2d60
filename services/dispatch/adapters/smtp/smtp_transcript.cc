#include "services/dispatch/adapters/smtp/smtp_transcript.h"

#include <cctype>

namespace herald::dispatch {
namespace {

// Keeps a hostile or chatty server from growing the reply without bound; the caller cuts
// the detail to 300 bytes anyway.
constexpr std::size_t kMaxReplyText = 1024;
constexpr std::size_t kMaxPartialLine = 4096;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// "5.1.1" style: class digit, then 1-3 digits, then 1-3 digits.
std::size_t EnhancedStatusLength(std::string_view s) {
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return 0;
  std::size_t i = 2;
  for (int part = 0; part < 2; ++part) {
    std::size_t digits = 0;
    while (i < s.size() && IsDigit(s[i]) && digits < 3) ++i, ++digits;
    if (digits == 0) return 0;
    if (part == 0) {
      if (i >= s.size() || s[i] != '.') return 0;
      ++i;
    }
  }
  return (i == s.size() || s[i] == ' ') ? i : 0;
}

SmtpCommand CommandOf(std::string_view line) {
  std::string verb;
  for (char c : line) {
    if (c == ' ' || c == '\r' || c == '\n' || verb.size() > 8) break;
    verb += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (verb == "EHLO" || verb == "HELO") return SmtpCommand::kEhlo;
  if (verb == "STARTTLS") return SmtpCommand::kStartTls;
  if (verb == "AUTH") return SmtpCommand::kAuth;
  if (verb.rfind("MAIL", 0) == 0) return SmtpCommand::kMail;
  if (verb.rfind("RCPT", 0) == 0) return SmtpCommand::kRcpt;
  if (verb == "DATA") return SmtpCommand::kData;
  if (verb == "QUIT") return SmtpCommand::kQuit;
  if (verb == "RSET" || verb == "NOOP" || verb == "VRFY") {
    return SmtpCommand::kOther;
  }
  return SmtpCommand::kUnknown;
}

}  // namespace

const char* SmtpCommandName(SmtpCommand c) {
  switch (c) {
    case SmtpCommand::kGreeting:
      return "greeting";
    case SmtpCommand::kEhlo:
      return "EHLO";
    case SmtpCommand::kStartTls:
      return "STARTTLS";
    case SmtpCommand::kAuth:
      return "AUTH";
    case SmtpCommand::kMail:
      return "MAIL FROM";
    case SmtpCommand::kRcpt:
      return "RCPT TO";
    case SmtpCommand::kData:
      return "DATA";
    case SmtpCommand::kQuit:
      return "QUIT";
    case SmtpCommand::kOther:
    case SmtpCommand::kUnknown:
      return "command";
  }
  return "command";
}

void SmtpTranscript::OnClientBytes(std::string_view bytes) {
  // A line that is no command (an AUTH exchange's base64, the "." ending DATA) continues
  // the previous command: the reply to it still answers AUTH or DATA.
  if (client_line_start_) {
    SmtpCommand c = CommandOf(bytes);
    if (c != SmtpCommand::kUnknown) last_command_ = c;
  }
  client_line_start_ = !bytes.empty() && bytes.back() == '\n';
}

void SmtpTranscript::OnServerBytes(std::string_view bytes) {
  for (char c : bytes) {
    if (c == '\n') {
      std::string_view line = partial_;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      OnServerLine(line);
      partial_.clear();
    } else if (partial_.size() < kMaxPartialLine) {
      partial_ += c;
    }
  }
}

void SmtpTranscript::OnServerLine(std::string_view line) {
  if (line.size() < 3 || !IsDigit(line[0]) || !IsDigit(line[1]) || !IsDigit(line[2])) return;
  bool final_line = line.size() == 3 || line[3] == ' ';
  if (!final_line && line[3] != '-') return;
  std::string_view rest = line.size() > 4 ? line.substr(4) : std::string_view();
  std::size_t enhanced = EnhancedStatusLength(rest);
  if (enhanced > 0 && rest[0] != line[0]) enhanced = 0;  // "250 5.1.1" would be nonsense
  if (!pending_started_) {
    pending_ = SmtpReply{};
    pending_.enhanced_status = std::string(rest.substr(0, enhanced));
    pending_started_ = true;
  }
  if (enhanced > 0) {
    rest.remove_prefix(enhanced);
    if (!rest.empty()) rest.remove_prefix(1);
  }
  if (pending_.text.size() < kMaxReplyText) {
    if (!pending_.text.empty()) pending_.text += ' ';
    pending_.text += std::string(rest.substr(0, kMaxReplyText - pending_.text.size()));
  }
  if (final_line) {
    pending_.code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    pending_.answers = last_command_;
    pending_started_ = false;
    ++reply_count_;
    if (last_command_ != SmtpCommand::kQuit) last_reply_ = std::move(pending_);
  }
}

}  // namespace herald::dispatch
