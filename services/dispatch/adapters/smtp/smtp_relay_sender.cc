#include "services/dispatch/adapters/smtp/smtp_relay_sender.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string_view>

#include "services/dispatch/adapters/smtp/mime_message.h"
#include "services/dispatch/adapters/smtp/smtp_outcome.h"
#include "services/dispatch/adapters/smtp/smtp_transcript.h"

namespace herald::dispatch {
namespace {

using Clock = std::chrono::steady_clock;

// Relays drop idle sessions (Postfix after 300 s, many after 60 s); a connection idle
// longer than this is closed and replaced rather than risked.
constexpr long kMaxIdleConnectionSeconds = 30;

struct CurlUrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct CurlStringDeleter {
  void operator()(char* s) const { curl_free(s); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

std::string UrlPart(CURLU* url, CURLUPart part) {
  char* raw = nullptr;
  if (curl_url_get(url, part, &raw, 0) != CURLUE_OK) return "";
  std::unique_ptr<char, CurlStringDeleter> owned(raw);
  return raw;
}

bool LibcurlSupports(std::string_view protocol) {
  const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
  for (const char* const* p = info->protocols; *p != nullptr; ++p) {
    if (protocol == *p) return true;
  }
  return false;
}

bool IsHostName(std::string_view s) {
  return !s.empty() && s.size() <= 253 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
  });
}

// libcurl takes the EHLO name from the SMTP URL's path ("smtp://relay:25/client.example").
std::string RelayUrl(const SmtpRelayConfig& config) {
  std::unique_ptr<CURLU, CurlUrlDeleter> url(curl_url());
  if (url == nullptr) throw std::runtime_error("libcurl could not allocate a URL");
  if (curl_url_set(url.get(), CURLUPART_URL, config.url.c_str(), 0) != CURLUE_OK) {
    throw std::invalid_argument("smtp relay url is not a valid URL");
  }
  std::string scheme = UrlPart(url.get(), CURLUPART_SCHEME);
  if (scheme != "smtp" && scheme != "smtps") {
    throw std::invalid_argument("smtp relay url must start with smtp:// or smtps://");
  }
  if (!LibcurlSupports(scheme)) {
    throw std::invalid_argument("this libcurl was built without " + scheme + " support");
  }
  if (!config.helo_name.empty()) {
    if (!IsHostName(config.helo_name)) {
      throw std::invalid_argument("smtp helo_name must be a host name");
    }
    std::string path = UrlPart(url.get(), CURLUPART_PATH);
    if (!path.empty() && path != "/") {
      throw std::invalid_argument("smtp relay url has a path and helo_name is set too");
    }
    std::string new_path = "/" + config.helo_name;
    curl_url_set(url.get(), CURLUPART_PATH, new_path.c_str(), 0);
  }
  return UrlPart(url.get(), CURLUPART_URL);
}

SmtpRelayConfig Validated(SmtpRelayConfig config) {
  if (config.timeout_s <= 0) throw std::invalid_argument("smtp timeout_s must be positive");
  if (config.max_connections <= 0) {
    throw std::invalid_argument("smtp max_connections must be positive");
  }
  if (!IsHostName(config.message_id_domain)) {
    throw std::invalid_argument("smtp message_id_domain must be a host name");
  }
  if (!config.return_path.empty()) {
    const std::string& rp = config.return_path;
    size_t at = rp.rfind('@');
    bool plain = std::all_of(rp.begin(), rp.end(), [](char c) {
      return static_cast<unsigned char>(c) > 0x20 && c != 0x7F && c != '<' && c != '>';
    });
    if (!plain || at == std::string::npos || at == 0 || !IsHostName(rp.substr(at + 1))) {
      throw std::invalid_argument("smtp return_path must be an address local@domain");
    }
    if (at > kMaxReturnPathLocalChars) {
      throw std::invalid_argument(
          "smtp return_path: the local part must be at most 14 characters, so that it "
          "with '+' and the 49-character report token fits 64 octets");
    }
  }
  // Opportunistic STARTTLS falls back to cleartext when the offer is stripped, and would
  // then hand the password to whoever stripped it. Credentials need TLS required, or an
  // explicit kNone (a relay on the same host).
  if (!config.username.empty() && config.url.rfind("smtps:", 0) != 0 &&
      config.starttls == SmtpRelayConfig::StartTls::kOpportunistic) {
    throw std::invalid_argument(
        "smtp username is set: starttls must be kRequired (or kNone for a local relay)");
  }
  return config;
}

// curl_global_init is not thread-safe and must precede the first easy handle.
void InitialiseCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct UploadCursor {
  std::string_view rest;
};

size_t ReadMessage(char* buffer, size_t size, size_t count, void* userp) {
  auto* cursor = static_cast<UploadCursor*>(userp);
  size_t n = std::min(size * count, cursor->rest.size());
  std::memcpy(buffer, cursor->rest.data(), n);
  cursor->rest.remove_prefix(n);
  return n;
}

// The bytes libcurl writes for `mime` between the 354 and the end-of-data line: it doubles
// the dot of every line that starts with one (RFC 5321 4.5.2). Headers never start with a
// dot, so only "CRLF." inside the message counts.
curl_off_t DotStuffedSize(std::string_view mime) {
  curl_off_t size = static_cast<curl_off_t>(mime.size());
  for (size_t at = mime.find("\r\n."); at != std::string_view::npos;
       at = mime.find("\r\n.", at + 3)) {
    ++size;
  }
  return size;
}

// A stop requested while the message is not yet written in full ends the transfer: the relay
// cannot have a message whose end-of-data line never came, so nothing can go out twice. Once
// it is written, the relay's reply is awaited as usual (ending now would leave a message the
// relay may have queued). libcurl calls this at least once a second, in every phase.
struct StopWatch {
  const std::stop_token* stop = nullptr;
  curl_off_t whole = 0;  // the message's size on the wire (DotStuffedSize)
  bool stopped = false;
};

int OnCurlProgress(void* userp, curl_off_t, curl_off_t, curl_off_t, curl_off_t uploaded) {
  auto* watch = static_cast<StopWatch*>(userp);
  if (watch == nullptr || !watch->stop->stop_requested() || uploaded >= watch->whole) return 0;
  watch->stopped = true;
  return 1;
}

int OnCurlDebug(CURL*, curl_infotype type, char* data, size_t size, void* userp) {
  // Cleanup of an idle handle sends QUIT after the transcript is gone: userp is null then.
  auto* transcript = static_cast<SmtpTranscript*>(userp);
  if (transcript == nullptr) return 0;
  if (type == CURLINFO_HEADER_IN) transcript->OnServerBytes(std::string_view(data, size));
  if (type == CURLINFO_HEADER_OUT) transcript->OnClientBytes(std::string_view(data, size));
  return 0;
}

struct Attempt {
  CURLcode rc = CURLE_OK;
  std::string error;
  SmtpTranscript transcript;
  bool reused_connection = false;
  // The whole message went out on the connection: libcurl wrote every byte of the body (as
  // it counts them, dots doubled), after which it writes the "." ending DATA and waits for
  // the final reply. Only a failure after this point can have left the message with the
  // relay.
  bool message_written = false;
  // Ended by a stop before the message was written (OnCurlProgress).
  bool stopped = false;
};

// One SMTP transaction on `handle`. Every pointer lent to the handle is taken back before
// returning, so the idle handle holds nothing that dies with this frame.
void Transfer(CURL* handle, const EmailMessage& m, const std::string& return_path,
              std::string_view mime, Clock::time_point deadline, const std::stop_token& stop,
              Attempt& attempt) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) {
    attempt.rc = CURLE_OPERATION_TIMEDOUT;
    attempt.error = "timed out waiting for a relay connection";
    return;
  }
  // RenderMime has already refused CR, LF, '<' and '>' in both addresses and made sure the
  // token is dot-atom text, which is what makes them safe inside the envelope's "<...>".
  std::string from = "<" + EnvelopeSender(m, return_path) + ">";
  std::unique_ptr<curl_slist, SlistDeleter> rcpt(
      curl_slist_append(nullptr, ("<" + m.to_address + ">").c_str()));
  UploadCursor cursor{mime};
  char error[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(handle, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(handle, CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(handle, CURLOPT_READDATA, &cursor);
  curl_easy_setopt(handle, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(mime.size()));
  curl_easy_setopt(handle, CURLOPT_DEBUGDATA, &attempt.transcript);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(left.count()));
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(left.count()));
  StopWatch watch{&stop, DotStuffedSize(mime)};
  if (stop.stop_possible()) {
    curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, OnCurlProgress);
    curl_easy_setopt(handle, CURLOPT_XFERINFODATA, &watch);
    curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
  }

  attempt.rc = curl_easy_perform(handle);
  attempt.stopped = watch.stopped;
  attempt.error = error;
  long connects = 0;
  curl_easy_getinfo(handle, CURLINFO_NUM_CONNECTS, &connects);
  attempt.reused_connection = connects == 0;
  curl_off_t uploaded = 0;
  curl_easy_getinfo(handle, CURLINFO_SIZE_UPLOAD_T, &uploaded);
  attempt.message_written = uploaded >= DotStuffedSize(mime);
  curl_socket_t kept = CURL_SOCKET_BAD;
  if (attempt.rc != CURLE_OK &&
      curl_easy_getinfo(handle, CURLINFO_ACTIVESOCKET, &kept) == CURLE_OK &&
      kept != CURL_SOCKET_BAD) {
    // libcurl keeps a connection whose final reply to DATA never came. The relay may still
    // send it, and the next message would read it as the answer to its MAIL FROM; closing
    // the handle would send QUIT and wait minutes for the reply. Shut it down instead: the
    // next Send finds it dead and opens another, and a cleanup's QUIT fails at once.
    shutdown(kept, SHUT_RDWR);
  }

  curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 1L);
  curl_easy_setopt(handle, CURLOPT_XFERINFODATA, nullptr);
  curl_easy_setopt(handle, CURLOPT_MAIL_RCPT, nullptr);
  curl_easy_setopt(handle, CURLOPT_READDATA, nullptr);
  curl_easy_setopt(handle, CURLOPT_DEBUGDATA, nullptr);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, nullptr);
}

DeliveryResult Retry(std::string detail) {
  DeliveryResult r;
  r.outcome = DeliveryOutcome::kRetry;
  r.detail = std::move(detail);
  return r;
}

}  // namespace

std::string EnvelopeSender(const EmailMessage& message, const std::string& return_path) {
  const std::string& base = return_path.empty() ? message.from_address : return_path;
  size_t at = base.rfind('@');
  if (message.report_token.empty() || at == std::string::npos) return base;
  // Bounces come back to this address, so the token in it identifies the message even when
  // the report does not quote the original (RFC 5321 4.5.3.1.1: a local part has at most 64
  // octets).
  if (at + 1 + message.report_token.size() > 64) return base;
  return base.substr(0, at) + "+" + message.report_token + base.substr(at);
}

SmtpRelaySender::SmtpRelaySender(SmtpRelayConfig config)
    : config_(Validated(std::move(config))),
      url_(RelayUrl(config_)),
      pool_(static_cast<std::size_t>(config_.max_connections),
            [this](CURL* handle) { ConfigureHandle(handle); }) {
  InitialiseCurlOnce();
}

void SmtpRelaySender::ConfigureHandle(CURL* h) const {
  curl_easy_setopt(h, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM timeouts in a threaded server
  curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 0L);
  curl_easy_setopt(h, CURLOPT_MAXAGE_CONN, kMaxIdleConnectionSeconds);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(h, CURLOPT_READFUNCTION, ReadMessage);
  // The debug stream is the only place libcurl shows the server's reply text; VERBOSE is
  // what turns it on, and with a DEBUGFUNCTION set nothing is printed.
  curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
  curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, OnCurlDebug);
  curl_easy_setopt(h, CURLOPT_DEBUGDATA, nullptr);

  long use_ssl = CURLUSESSL_TRY;
  if (url_.rfind("smtps:", 0) == 0 || config_.starttls == SmtpRelayConfig::StartTls::kRequired) {
    use_ssl = CURLUSESSL_ALL;
  } else if (config_.starttls == SmtpRelayConfig::StartTls::kNone) {
    use_ssl = CURLUSESSL_NONE;
  }
  curl_easy_setopt(h, CURLOPT_USE_SSL, use_ssl);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, config_.verify_peer ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, config_.verify_peer ? 2L : 0L);
  if (!config_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, config_.ca_file.c_str());
  if (!config_.username.empty()) {
    curl_easy_setopt(h, CURLOPT_USERNAME, config_.username.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, config_.password.c_str());
  }
}

DeliveryResult SmtpRelaySender::Send(const EmailMessage& message) {
  return SendUnlessStopped(message, std::stop_token());
}

DeliveryResult SmtpRelaySender::SendUnlessStopped(const EmailMessage& message,
                                                  const std::stop_token& stop) {
  Clock::time_point deadline = Clock::now() + std::chrono::seconds(config_.timeout_s);
  std::string mime;
  try {
    mime = RenderMime(message, config_.message_id_domain);
  } catch (const std::invalid_argument& e) {
    DeliveryResult r;
    r.outcome = DeliveryOutcome::kFailed;  // the same message would be refused every time
    r.detail = std::string("not sent, message is malformed: ") + e.what();
    return r;
  }
  auto stopped = [] {
    DeliveryResult r = Retry("shutting down");
    r.not_attempted = true;
    return r;
  };
  CurlHandlePool::Lease lease = pool_.Acquire(deadline, stop);
  if (stop.stop_requested() && !lease) return stopped();
  if (!lease) return Retry("no relay connection came free within the timeout");

  Attempt first;
  Transfer(lease.get(), message, config_.return_path, mime, deadline, stop, first);
  if (first.stopped) return stopped();
  // A relay may close an idle session just as we reuse it. If that connection failed
  // before the server said a word, nothing was accepted, and one try on a fresh connection
  // (libcurl opens one, the dead one is gone) cannot duplicate the message.
  if (first.rc != CURLE_OK && first.reused_connection && first.transcript.reply_count() == 0) {
    Attempt second;
    Transfer(lease.get(), message, config_.return_path, mime, deadline, stop, second);
    if (second.stopped) return stopped();
    return ClassifySmtpTransfer(second.rc, second.error, second.transcript.last_reply(),
                                second.message_written);
  }
  return ClassifySmtpTransfer(first.rc, first.error, first.transcript.last_reply(),
                              first.message_written);
}

}  // namespace herald::dispatch
