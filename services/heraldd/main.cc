// heraldd: one server binary that runs any set of roles (api, web, worker).
#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <iostream>
#include <thread>

#include "common/clock.h"
#include "common/crypto/key_ring.h"
#include "common/db/idempotency.h"
#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "common/domain/topics.h"
#include "common/files/file_watcher.h"
#include "common/grpc/api_key_authenticator.h"
#include "common/grpc/edge_interceptor.h"
#include "common/grpc/reflection_service.h"
#include "common/grpc/rpc_runner.h"
#include "common/log/log.h"
#include "common/metrics/metrics.h"
#include "common/strict_int.h"
#include "common/tls/grpc_credentials.h"
#include "common/tls/server_context.h"
#include "services/capture/capture_job.h"
#include "services/capture/capture_service.h"
#include "services/crm/creatio_client.h"
#include "services/crm/crm_connector.h"
#include "services/crm/grpc_service.h"
#include "services/crm/import_runner.h"
#include "services/crm/writeback_worker.h"
#include "services/dispatch/dispatch_metrics.h"
#include "services/dispatch/grpc_service.h"
#include "services/dispatch/message_service.h"
#include "services/dispatch/outbox/outbox.h"
#include "services/dispatch/providers/provider_registry.h"
#include "services/dispatch/throttle/shared_rate.h"
#include "services/dispatch/upload_resolver.h"
#include "services/dispatch/worker/dispatch_worker.h"
#include "services/heraldd/herald_config.h"
#include "services/heraldd/readiness.h"
#include "services/heraldd/wiring.h"
#include "services/inbound/mail/complaint_metrics.h"
#include "services/inbound/mail/inbound_mail_service.h"
#include "services/inbound/sms/inbound_sms_config.h"
#include "services/inbound/sms/inbound_sms_service.h"
#include "services/privacy/deadlines.h"
#include "services/privacy/grpc_service.h"
#include "services/privacy/privacy_job.h"
#include "services/privacy/privacy_operations.h"
#include "services/privacy/privacy_service.h"
#include "services/privacy/request_intake.h"
#include "services/privacy/retention_sweep.h"
#include "services/subscriptions/gate/eligibility_gate.h"
#include "services/subscriptions/grpc_service.h"
#include "services/subscriptions/recipient_links.h"
#include "services/subscriptions/registry.h"
#include "services/subscriptions/suppressions.h"
#include "services/web/hooks/mail_hook.h"
#include "services/web/hooks/sms_hooks.h"
#include "services/web/http_server.h"
#include "services/web/json_api/json_api.h"
#include "services/web/ops_routes.h"
#include "services/web/recipient/capture_page.h"
#include "services/web/recipient/privacy_confirmation_page.h"
#include "services/web/recipient/recipient_pages.h"
#include "services/web/tls_connection_io.h"

namespace herald {
namespace {

constexpr char kUsage[] =
    "Usage: heraldd [serve|migrate] [--config FILE] [--wait-for-db SECONDS]\n"
    "\n"
    "  serve    apply migrations, then run the configured roles (default)\n"
    "  migrate  apply migrations and exit\n"
    "\n"
    "  --config FILE        YAML config file (also HERALD_CONFIG)\n"
    "  --wait-for-db SECS   how long to retry reaching PostgreSQL at start-up (default 60)\n"
    "  --version            the version, then exit\n"
    "  --help               this text\n"
    "\n"
    "Roles: api (gRPC: SubscriptionService, DispatchService, PrivacyService, health,\n"
    "reflection; the same RPCs as JSON over HTTP on json_api.listen), web (HTTP: recipient\n"
    "pages and SMS hooks; the inbound-mail hook on its own listener), worker (the outbox:\n"
    "claims, gate, sends; the privacy job). Every role starts the ops listener: /healthz,\n"
    "/readyz, /metrics. SIGTERM or SIGINT: stop accepting, finish in-flight calls, exit 0.\n\n";

struct Args {
  std::string command = "serve";
  std::string config_path;
  int wait_for_db_s = 60;
};

Args ParseArgs(int argc, char** argv) {
  Args a;
  auto env = ProcessEnvironment();
  if (env.count("HERALD_CONFIG")) a.config_path = env["HERALD_CONFIG"];
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage << DescribeHeraldOptions();
      std::exit(0);
    } else if (arg == "--version") {
      std::cout << "heraldd " << HERALD_VERSION << "\n";
      std::exit(0);
    } else if (arg == "--config" && i + 1 < argc) {
      a.config_path = argv[++i];
    } else if (arg == "--wait-for-db" && i + 1 < argc) {
      auto seconds = ParseStrictInt<int>(argv[++i]);
      if (!seconds || *seconds < 0 || *seconds > 86400) {
        std::cerr << "heraldd: --wait-for-db: expected whole seconds from 0 to 86400\n";
        std::exit(2);
      }
      a.wait_for_db_s = *seconds;
    } else if (arg == "serve" || arg == "migrate") {
      a.command = arg;
    } else {
      std::cerr << "heraldd: unknown argument '" << arg << "'\n\n" << kUsage;
      std::exit(2);
    }
  }
  return a;
}

// Applies migrations, retrying while PostgreSQL is not reachable yet.
void Migrate(const HeraldConfig& config, int wait_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_s);
  while (true) {
    try {
      pqxx::connection conn(config.core.database_url);
      int n = db::ApplyMigrations(conn, db::BuiltInMigrations());
      log::Info("migrations current", {{"applied", n}});
      return;
    } catch (const pqxx::broken_connection&) {
      if (std::chrono::steady_clock::now() > deadline) throw;
      log::Warn("database not reachable yet; retrying");
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
}

// The TLS of the HTTP listeners: one reloadable context per listener that speaks TLS
// (whether it asks for client certificates differs), each re-read when its files change.
class ListenerTls {
 public:
  ListenerTls(const tls::TlsSettings& settings, FileWatcher& watcher)
      : settings_(settings), watcher_(watcher) {}

  // The byte I/O of `listener`'s connections: TLS, or empty (plain TCP).
  web::ConnectionIoFactory For(const std::string& listener) {
    if (!settings_.Enabled(listener)) return {};
    auto context = std::make_shared<tls::ServerContext>(
        tls::ServerFiles{settings_.cert_file, settings_.key_file,
                         settings_.RequiresClientCert(listener) ? settings_.client_ca_file : ""});
    std::vector<std::string> paths = {context->files().cert_file, context->files().key_file};
    if (!context->files().client_ca_file.empty()) paths.push_back(context->files().client_ca_file);
    watcher_.Watch(paths, [context, listener] {
      context->Reload();
      log::Info("certificate reloaded", {{"listener", listener}});
    });
    return web::TlsConnections(context);
  }

 private:
  const tls::TlsSettings& settings_;
  FileWatcher& watcher_;
};

// A key ring kept in a file: re-read when the file changes, and swapped in for every signer
// and verifier made from `ring` once `check` accepts it (the old keys stay otherwise).
void WatchKeyRing(FileWatcher& watcher, const std::string& path, const char* name,
                  crypto::KeyRing ring, const std::function<void(const crypto::KeyRing&)>& check) {
  if (path.empty()) return;
  watcher.Watch({path}, [path, name, ring, check]() mutable {
    crypto::KeyRing next = crypto::KeyRing::Parse(crypto::ReadKeyRingFile(path));
    if (check) check(next);
    ring.Replace(next);
    log::Info("key ring reloaded", {{"ring", name}, {"newest_key", next.newest().id}});
  });
}

// What every HTTP listener of the table shares: the connection front's deadline, head and
// connection limits, the trusted proxies, and its TLS. Each listener then sets its routes,
// body limits and limiters.
web::HttpServerOptions ListenerOptions(const web::HttpSettings& http, const std::string& listen,
                                       const Clock& clock, web::ConnectionIoFactory io) {
  web::HttpServerOptions opts;
  opts.listen = listen;
  opts.io = std::move(io);
  opts.request_timeout_ms = http.request_timeout_ms;
  opts.max_connections = static_cast<size_t>(http.max_connections);
  opts.max_connections_per_client = static_cast<size_t>(http.max_connections_per_client);
  opts.max_request_line_bytes = static_cast<size_t>(http.max_uri_bytes);
  opts.max_header_bytes = static_cast<size_t>(http.max_header_bytes);
  opts.max_headers = static_cast<size_t>(http.max_headers);
  opts.max_body_bytes = static_cast<size_t>(http.max_body_bytes);
  opts.trusted_proxies = http.trusted_proxies;
  opts.clock = &clock;
  return opts;
}

int Serve(const HeraldConfig& config) {
  // Debian's Abseil checks every mutex gRPC takes for lock-order cycles, a debugging aid
  // that costs a graph update per lock and per mutex destroyed on every call.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Signals are taken by sigwait in this thread only; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A TLS client that hangs up while OpenSSL writes to it must not end the process.
  signal(SIGPIPE, SIG_IGN);

  SystemClock clock;
  Metrics metrics;
  // Mounted certificates and key rings are re-read when they change.
  FileWatcher files(std::chrono::seconds(config.core.files_reload_interval_s));
  ListenerTls listener_tls(config.tls, files);
  crypto::KeyRing suppression_ring = crypto::KeyRing::Parse(config.core.suppression_keys);
  crypto::KeyRing link_ring = crypto::KeyRing::Parse(config.core.link_keys);
  WatchKeyRing(files, config.core.link_keys_file, "link", link_ring,
               [](const crypto::KeyRing& next) {
                 crypto::LinkSigner check_links(next);
                 privacy::ConfirmationTokens check_confirmations(next);
               });
  crypto::SuppressionHasher hasher(suppression_ring);
  // Idempotency rows outlive a destroyed subject: their request hashes are keyed too (L6).
  db::IdempotencyKey::UseRequestHashKeys(suppression_ring);
  crypto::LinkSigner links(link_ring);
  // Report tags share the link keys' ring (their own MAC context keeps them apart): both
  // must keep verifying for as long as mail sent under a key can come back.
  crypto::ReportTagger report_tags(link_ring);
  db::Pool pool(config.core.database_url, config.core.database_pool_size,
                std::chrono::milliseconds(config.core.database_acquire_timeout_ms),
                [&metrics](const char* name, std::chrono::nanoseconds d) {
                  metrics.ObserveStatement(name, d);
                });
  // A suppression matches only while its key is in the ring: refuse to serve, and refuse a
  // changed ring file, while active suppressions use a key the ring lacks (SEC-15).
  auto require_suppression_keys = [&pool](const crypto::KeyRing& ring) {
    auto conn = pool.Acquire();
    subscriptions::RequireSuppressionKeysInRing(*conn, *ring.Snapshot());
  };
  require_suppression_keys(suppression_ring);
  WatchKeyRing(
      files, config.core.suppression_keys_file, "suppression", suppression_ring,
      [&require_suppression_keys, current = suppression_ring](const crypto::KeyRing& next) {
        // New suppressions are being written under the current newest key, here and
        // on replicas still on the old file: a ring without it would let rows written
        // after the count below slip under a key nobody checks any more.
        const std::string newest = current.newest().id;
        bool kept = false;
        for (const auto& key : *next.Snapshot()) kept = kept || key.id == newest;
        if (!kept) {
          throw std::invalid_argument(
              "the new suppression ring drops key '" + newest +
              "', the one suppressions are written under now: add the new key first, "
              "then remove the old one once `heraldctl suppressions keys` says so");
        }
        require_suppression_keys(next);
      });
  metrics.OnCollect([&pool, &metrics] {
    auto s = pool.Stats();
    metrics.SetPool(s.size, s.open, s.in_use, s.waiting);
  });
  TopicCatalog topics(config.core.topics);
  subscriptions::EligibilityGate gate(hasher, config.core.default_phone_region,
                                      config.core.home_jurisdictions);
  subscriptions::CheckCapTopics(config.fair_sending, topics);
  gate.SetFairSending(config.fair_sending);
  subscriptions::SubscriptionRegistry registry(pool, clock, topics, hasher, gate);
  registry.CoalesceChecks(config.gate.coalesce_max_batch);
  ApiKeyAuthenticator auth(config.core.clients);
  RpcRunner runner(auth, metrics);
  subscriptions::SubscriptionGrpcService subscription_service(registry, runner, pool, hasher);
  dispatch::MessageService messages(pool, clock, topics, gate);
  dispatch::CampaignService campaigns(pool, clock, topics, gate);
  dispatch::DispatchGrpcService dispatch_service(messages, campaigns, runner);
  // PrivacyService: tracked data-subject requests with their legal due dates, block,
  // rectify, revoke, and erasure (destruction, depersonalization, export, records and acts).
  privacy::DeadlinePolicy privacy_deadlines(config.privacy);
  const privacy::ErasureSettings& erasure_settings = config.erasure;
  privacy::PrivacyService privacy(pool, clock, hasher, privacy_deadlines, erasure_settings);
  privacy::PrivacyOperations& privacy_operations = privacy.operations();
  // A STOP_PROCESSING request opened by the API or an operator stops all marketing at once.
  privacy_operations.SetRegistry(&registry);
  privacy::PrivacyGrpcService privacy_service(privacy, runner);
  privacy::RetentionSweep retention_sweep(pool, clock, erasure_settings);
  privacy::RequestIntake privacy_intake(pool, clock, privacy_operations);
  // E-mail requests wait for confirmation before blocking or destruction (STANDARDS §2b).
  privacy::ConfirmationTokens confirmation_tokens(link_ring);
  privacy::ConfirmationMailer confirmation_mailer(confirmation_tokens, config.core.public_base_url);
  privacy_intake.SetConfirmationMailer(&confirmation_mailer);
  privacy::RequestConfirmation request_confirmation(
      pool, clock, confirmation_tokens, privacy_operations,
      std::chrono::hours(24) * config.privacy.confirmation_link_days);
  request_confirmation.SetRegistry(&registry);
  // Consent capture: a form's pending request, its one confirmation, the consents it records.
  privacy::ConfirmationTokens capture_tokens(link_ring, privacy::TokenPurpose::kConsentCapture);
  capture::CaptureService capture_service(pool, clock, config.capture, topics, gate, registry,
                                          capture_tokens, config.core.public_base_url);
  if (!config.capture.require_confirmation.empty()) {
    registry.HoldConsentsFrom(
        config.capture.require_confirmation,
        [&capture_service](const Caller& caller, const v1::RecordConsentRequest& r) {
          return capture_service.Hold(caller, r);
        });
  }
  dispatch::ProviderRegistry providers(config.core.providers, config.core.home_jurisdictions,
                                       clock);
  // Provider limits and campaign pacing hold for every process of this database together. Two
  // connections of their own: senders waiting for tokens never hold up claims, completions or
  // API calls.
  db::Pool limits_pool(config.core.database_url, 2, std::chrono::seconds(2));
  dispatch::SharedRate shared_rate(limits_pool, metrics.registry());
  providers.ShareLimits(shared_rate);
  // Outbox, campaign, provider and gate figures for /metrics; observes `providers` and
  // `gate` from here on, before any send or decision.
  dispatch::DispatchMetrics dispatch_metrics(metrics.registry(), pool, clock, providers, gate);
  metrics.OnCollect([&dispatch_metrics] { dispatch_metrics.Refresh(); });
  dispatch::Outbox outbox(
      pool, clock, gate, topics,
      [&providers](Channel ch, bool foreign_ok) { return providers.Pick(ch, foreign_ok); },
      dispatch::RetryPolicy{
          config.dispatch.max_attempts, std::chrono::seconds(config.dispatch.retry_base_s),
          std::chrono::seconds(3600), std::chrono::seconds(config.dispatch.max_age_s)});
  outbox.PreferReplyProviders(
      [&providers](const std::string& name, Channel ch) { return providers.PickNamed(name, ch); });

  // The Creatio connector: the write-back of the cards' flags (worker role) and CrmService
  // (api role). Without crm.enabled the outbox still fills, so nothing is lost when it is
  // switched on later, and CrmService reports the queue.
  crm::CardDeriver card_deriver(gate, topics, config.crm.topic_types);
  std::unique_ptr<crm::CreatioClient> creatio;
  if (config.crm.enabled) creatio = std::make_unique<crm::CreatioClient>(config.crm);
  crm::CrmConnector crm_connector(pool, clock, registry, card_deriver, creatio.get(),
                                  config.crm.enabled);
  std::unique_ptr<crm::ContactImport> crm_import;
  if (creatio) {
    crm_import = std::make_unique<crm::ContactImport>(pool, *creatio, registry, config.crm, clock);
  }
  crm::CrmGrpcService crm_service(crm_connector, crm_import.get(), runner);
  // The write-back worker (worker role, crm.enabled); started with the other workers.
  std::unique_ptr<crm::WriteBackWorker> crm_worker;
  if (config.core.roles.count("worker") && creatio) {
    crm_worker = std::make_unique<crm::WriteBackWorker>(pool, *creatio, card_deriver, clock,
                                                        metrics.registry());
    metrics.OnCollect([&crm_worker] { crm_worker->RefreshGauges(); });
  }

  inbound::InboundMailService inbound_mail(pool, clock, registry, hasher, report_tags);
  inbound_mail.SetTrustedAuthservIds(config.inbound_mail.trusted_authserv_ids);
  inbound_mail.SetMetrics(metrics.registry());
  inbound::ComplaintMetrics complaint_metrics(metrics, pool, clock);
  metrics.OnCollect([&complaint_metrics] { complaint_metrics.Refresh(); });

  std::unique_ptr<ReflectionService> reflection_service;  // outlives grpc_server
  std::unique_ptr<grpc::Server> grpc_server;
  int grpc_port = 0;
  if (config.core.roles.count("api")) {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort(
        config.core.grpc_listen,
        tls::GrpcServerCredentials(config.tls,
                                   std::chrono::seconds(config.core.files_reload_interval_s)),
        &grpc_port);
    const int max_threads = std::max(16, config.core.database_pool_size * 4);
    grpc::ResourceQuota quota("heraldd");
    quota.SetMaxThreads(max_threads);
    builder.SetResourceQuota(quota);
    // A thread that finished a call stays to poll for the next one. With gRPC's default of
    // at most two idle pollers, every call beyond two in flight started a thread and ended
    // one: under load the server spent its time creating threads.
    builder.SetSyncServerOption(grpc::ServerBuilder::MAX_POLLERS, max_threads);
    builder.RegisterService(&subscription_service);
    builder.RegisterService(&dispatch_service);
    builder.RegisterService(&privacy_service);
    builder.RegisterService(&crm_service);
    // Reflection behind the key check (any valid key), or not at all.
    std::vector<std::string> served = {
        v1::SubscriptionService::service_full_name(), v1::DispatchService::service_full_name(),
        v1::PrivacyService::service_full_name(), v1::CrmService::service_full_name(),
        "grpc.health.v1.Health"};
    if (config.core.grpc_reflection) {
      served.push_back(grpc::reflection::v1alpha::ServerReflection::service_full_name());
      reflection_service = std::make_unique<ReflectionService>(runner, served);
      builder.RegisterService(reflection_service.get());
    }
    // Requests the library cannot parse answer INVALID_ARGUMENT and are logged and counted.
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> edge;
    edge.push_back(std::make_unique<EdgeInterceptorFactory>(runner));
    builder.experimental().SetInterceptorCreators(std::move(edge));
    grpc_server = builder.BuildAndStart();
    if (!grpc_server || grpc_port == 0) {
      log::Error("cannot listen for gRPC", {{"listen", config.core.grpc_listen}});
      return 1;
    }
    grpc_server->GetHealthCheckService()->SetServingStatus(false);
  }
  // The JSON API (api role): every RPC as POST /v1/{Service}/{Method}, called on the gRPC
  // server in process so it passes the same edge; a listener of its own on the private
  // network, never the public one.
  std::unique_ptr<web::JsonApi> json_api;
  std::unique_ptr<web::HttpServer> json_http;
  if (grpc_server) {
    json_api = std::make_unique<web::JsonApi>(
        grpc_server->InProcessChannel(grpc::ChannelArguments()),
        std::vector<std::string>{
            v1::SubscriptionService::service_full_name(), v1::DispatchService::service_full_name(),
            v1::PrivacyService::service_full_name(), v1::CrmService::service_full_name()},
        runner, auth, config.json_api);
    web::HttpServerOptions json_opts =
        ListenerOptions(config.http, config.json_api.listen, clock, listener_tls.For("json_api"));
    json_api->Configure(json_opts);
    json_http = std::make_unique<web::HttpServer>(json_opts);
    json_api->AddRoutes(*json_http);
    json_http->Start();
  }

  Readiness readiness(DatabaseProbe(config.core.database_url), [&](bool ready) {
    if (grpc_server) grpc_server->GetHealthCheckService()->SetServingStatus(ready);
  });
  readiness.Start();

  // The ops listener, started by every role (a worker-only replica is probed and scraped
  // too): liveness, readiness and metrics, never on the public listener.
  web::HttpServerOptions ops_opts =
      ListenerOptions(config.http, config.core.ops_listen, clock, listener_tls.For("ops"));
  ops_opts.threads = 4;
  ops_opts.max_body_bytes = 1024;
  ops_opts.limited_prefixes.clear();
  auto ops = std::make_unique<web::HttpServer>(ops_opts);
  const auto metrics_max_age = std::chrono::milliseconds(config.core.ops_metrics_cache_ms);
  web::AddOpsRoutes(
      *ops, {[&readiness](std::string* why) { return readiness.Ready(why); },
             [&metrics, metrics_max_age] { return metrics.SerializeCached(metrics_max_age); },
             config.core.ops_metrics_token});
  ops->Start();

  std::unique_ptr<inbound::sms::InboundSmsService> inbound_sms;
  std::unique_ptr<web::SmsHooks> sms_hooks;
  web::CsrfGuard link_csrf(link_ring);
  std::unique_ptr<subscriptions::RecipientLinks> recipient_links;
  std::unique_ptr<web::RecipientPages> recipient_pages;
  std::unique_ptr<web::PrivacyConfirmationPage> confirmation_page;
  std::unique_ptr<web::CapturePage> capture_page;
  std::unique_ptr<web::HttpServer> http;
  std::unique_ptr<web::HttpServer> mail_http;
  if (config.core.roles.count("web")) {
    // The public listener: recipients' pages and the providers' signed SMS hooks.
    web::HttpServerOptions opts =
        ListenerOptions(config.http, config.http.listen, clock, listener_tls.For("http"));
    opts.threads = config.http.threads;
    // The providers' signed SMS hooks get a bucket of their own: a burst of receipts must not
    // use up the recipients' one, nor be deferred at the pages' rate.
    opts.routes.push_back({"/hooks/sms/", static_cast<size_t>(config.http.max_body_bytes),
                           config.http.hooks_rate_limit_per_minute / 60.0,
                           static_cast<double>(config.http.hooks_rate_limit_burst)});
    opts.rate_per_second = config.http.rate_limit_per_minute / 60.0;
    opts.rate_burst = config.http.rate_limit_burst;
    opts.trusted_proxies = config.http.trusted_proxies;
    opts.limited_prefixes.push_back("/c/");     // privacy-request confirmation links
    opts.limited_prefixes.push_back("/fc/");    // consent-capture confirmation links
    opts.limited_prefixes.push_back("/fcode");  // consent-capture SMS codes
    // Consent forms get a bucket of their own, at the capture section's rate: a submission
    // sends a message, so it is held to fewer per client than a page view.
    opts.routes.push_back({"/f/", static_cast<size_t>(config.http.max_body_bytes),
                           config.capture.per_ip_per_minute / 60.0,
                           std::max(1.0, config.capture.per_ip_per_minute / 2.0)});
    http = std::make_unique<web::HttpServer>(opts);
    // SMS keyword replies and delivery receipts: /hooks/sms/{provider}/inbound|status.
    inbound_sms = std::make_unique<inbound::sms::InboundSmsService>(
        pool, clock, hasher, gate, topics, registry, inbound::sms::KeywordsFromConfig(config.sms),
        inbound::sms::InboundOptionsFromConfig(config.sms, config.core.default_phone_region));
    sms_hooks = std::make_unique<web::SmsHooks>(SmsHookProviders(config.core.providers),
                                                config.core.public_base_url, *inbound_sms,
                                                &metrics.registry());
    web::AddSmsHooks(*http, *sms_hooks);
    recipient_links = std::make_unique<subscriptions::RecipientLinks>(
        links, registry, topics, clock, std::chrono::hours(24) * config.http.links_lifetime_days);
    web::RecipientPagesOptions page_opts;
    page_opts.policy_url = config.http.links_policy_url;
    page_opts.public_base_url = config.core.public_base_url;
    recipient_pages = std::make_unique<web::RecipientPages>(*recipient_links, link_csrf, topics,
                                                            clock, page_opts);
    recipient_pages->AddRoutes(*http);
    confirmation_page = std::make_unique<web::PrivacyConfirmationPage>(
        request_confirmation, link_csrf, config.core.public_base_url);
    confirmation_page->AddRoutes(*http);
    capture_page = std::make_unique<web::CapturePage>(capture_service, link_csrf, clock,
                                                      config.core.public_base_url);
    capture_page->AddRoutes(*http);
    if (!config.inbound_mail.secret.empty()) {
      // The local MTA's listener: its own body limit (whole messages), and no per-client
      // limit, since every request carries the secret and a bounce storm must not be deferred.
      web::HttpServerOptions mail_opts =
          ListenerOptions(config.http, config.inbound_mail.listen, clock, listener_tls.For("mail"));
      mail_opts.threads = 8;
      mail_opts.max_body_bytes = static_cast<size_t>(config.inbound_mail.max_bytes);
      mail_opts.limited_prefixes = {"/hooks/email/"};
      mail_opts.rate_per_second = config.http.hooks_rate_limit_per_minute / 60.0;
      mail_opts.rate_burst = config.http.hooks_rate_limit_burst;
      mail_http = std::make_unique<web::HttpServer>(mail_opts);
      web::AddMailHook(
          *mail_http,
          {config.inbound_mail.secret, static_cast<size_t>(config.inbound_mail.max_bytes)},
          [&inbound_mail, &privacy_intake](std::string_view raw) {
            auto outcome = inbound_mail.Process(raw).outcome;
            // A marker's request event is committed: open its privacy
            // request now (a rectification blocks at once), not at the
            // job's next tick. The job still picks up whatever this misses.
            try {
              privacy_intake.RunOnce();
            } catch (const std::exception&) {
              log::Warn("privacy intake after inbound mail failed; the job retries");
            }
            return std::string(inbound::OutcomeName(outcome));
          });
      mail_http->Start();
    }
    http->Start();
  }
  // Received recipient uploads are resolved by every process that takes them (api) or sends
  // them (worker), so one left by a process that stopped is never stranded.
  std::unique_ptr<dispatch::UploadResolver> upload_resolver;
  if (config.core.roles.count("api") || config.core.roles.count("worker")) {
    upload_resolver = std::make_unique<dispatch::UploadResolver>(campaigns);
    campaigns.OnUploadReceived([r = upload_resolver.get()] { r->Wake(); });
    upload_resolver->Start();
  }
  std::unique_ptr<dispatch::DispatchWorker> worker;
  if (config.core.roles.count("worker")) {
    if (providers.empty()) log::Warn("worker role: no providers configured; messages wait");
    dispatch::WorkerOptions opts;
    opts.threads = config.dispatch.workers;
    opts.batch_size = config.dispatch.batch_size;
    opts.send_concurrency = config.dispatch.send_concurrency;
    opts.lease = std::chrono::seconds(config.dispatch.lease_s);
    opts.reclaim_grace = std::chrono::seconds(config.dispatch.reclaim_grace_s);
    opts.from_address = config.dispatch.email_from_address;
    opts.from_name = config.dispatch.email_from_name;
    char host[256] = "heraldd";
    gethostname(host, sizeof host - 1);
    opts.name = std::string(host) + "-" + std::to_string(getpid());
    opts.public_base_url = config.core.public_base_url;
    opts.unsubscribe_mailto = config.dispatch.unsubscribe_mailto;
    opts.sms_footers = config.dispatch.sms_footers;
    opts.links = &links;
    opts.hasher = &hasher;
    opts.link_suppression_key_ids = config.dispatch.link_suppression_key_ids;
    opts.report_tags = &report_tags;
    opts.shared_rate = &shared_rate;
    if (config.core.public_base_url.rfind("https://", 0) != 0) {
      log::Warn(
          "public_base_url is not https: marketing mail goes out without "
          "List-Unsubscribe (RFC 8058 needs an HTTPS URI)");
    }
    worker = std::make_unique<dispatch::DispatchWorker>(outbox, providers, campaigns, registry,
                                                        clock, opts);
    worker->Start();
  }

  // The privacy job (worker role): intake of inbound-mail requests, overdue report, due
  // destructions. Without a SubjectDestroyer, due destructions wait and show as overdue.
  privacy::SubjectDestroyer* privacy_destroyer = &privacy.destroyer();
  std::unique_ptr<privacy::PrivacyJob> privacy_job;
  if (config.core.roles.count("worker")) {
    privacy_job = std::make_unique<privacy::PrivacyJob>(
        pool, clock, privacy_intake, privacy_destroyer, metrics.registry(),
        std::chrono::seconds(config.privacy.job_interval_s));
    privacy_job->SetRetentionSweep(&retention_sweep, std::chrono::hours(1));
    privacy_job->Start();
  }
  std::unique_ptr<capture::CaptureJob> capture_job;
  if (config.core.roles.count("worker")) {
    capture_job = std::make_unique<capture::CaptureJob>(
        capture_service, std::chrono::seconds(config.capture.job_interval_s));
    capture_job->Start();
  }
  std::unique_ptr<crm::ImportRunner> crm_import_runner;
  if (crm_worker) {
    crm_worker->Start(config.crm.workers);
    crm_import_runner = std::make_unique<crm::ImportRunner>(*crm_import, clock);
    crm_import_runner->Start();
  }
  auto bound = [](const std::string& listen, int port) {
    return listen.substr(0, listen.rfind(':') + 1) + std::to_string(port);
  };
  std::string grpc_addr = grpc_server ? bound(config.core.grpc_listen, grpc_port) : "";
  std::string http_addr = http ? bound(config.http.listen, http->port()) : "";
  std::string mail_addr = mail_http ? bound(config.inbound_mail.listen, mail_http->port()) : "";
  std::string json_addr = json_http ? bound(config.json_api.listen, json_http->port()) : "";
  std::string ops_addr = bound(config.core.ops_listen, ops->port());
  std::string tls_listeners;
  for (auto name : tls::kListenerNames) {
    if (config.tls.Enabled(name)) {
      tls_listeners += (tls_listeners.empty() ? "" : ",") + std::string(name);
    }
  }
  files.Start();
  log::Info("heraldd started", {{"grpc", grpc_addr},
                                {"tls", tls_listeners.empty() ? "none" : tls_listeners},
                                {"json", json_addr},
                                {"http", http_addr},
                                {"mail", mail_addr},
                                {"ops", ops_addr}});

  int sig = 0;
  sigwait(&signals, &sig);
  log::Info("shutting down", {{"signal", sig}});
  // Unready for good before anything drains: a probe finishing now must not report the
  // database fine and turn health back to SERVING while calls drain.
  readiness.Drain();
  // The outbox workers end their waits and hand back what they have not sent while the calls
  // drain, not after: the two together stay within the drain period.
  if (worker) worker->RequestStop();
  // JSON callers first: their calls end through the gRPC server, which drains next.
  if (json_http) json_http->Stop();
  if (grpc_server) {
    grpc_server->GetHealthCheckService()->SetServingStatus(false);
    // Stops accepting; in-flight calls get up to 10 s to finish.
    grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(10));
  }
  if (worker) worker->Stop();
  if (upload_resolver) upload_resolver->Stop();
  if (privacy_job) privacy_job->Stop();
  if (capture_job) capture_job->Stop();
  if (crm_import_runner) crm_import_runner->Stop();
  if (crm_worker) crm_worker->Stop();
  if (http) http->Stop();
  if (mail_http) mail_http->Stop();
  // Last: probes keep answering (unready) while the rest drains.
  ops->Stop();
  readiness.Stop();
  files.Stop();
  log::Info("stopped");
  return 0;
}

}  // namespace
}  // namespace herald

int main(int argc, char** argv) {
  using namespace herald;
  Args args = ParseArgs(argc, argv);
  HeraldConfig config;
  try {
    config = LoadHeraldConfig(args.config_path, ProcessEnvironment());
    crypto::KeyRing::Parse(config.core.suppression_keys);
    crypto::LinkSigner check_links(crypto::KeyRing::Parse(config.core.link_keys));
    TopicCatalog check(config.core.topics);
    web::TrustedProxies::Parse(config.http.trusted_proxies);
    SystemClock probe_clock;
    dispatch::ProviderRegistry probe(config.core.providers, config.core.home_jurisdictions,
                                     probe_clock);
    inbound::sms::KeywordsFromConfig(config.sms);
    if (!config.tls.cert_file.empty()) {
      tls::ServerContext check_tls(
          {config.tls.cert_file, config.tls.key_file, config.tls.client_ca_file});
    }
  } catch (const std::exception& e) {
    std::cerr << "heraldd: configuration error: " << e.what() << "\n";
    return 2;
  }
  log::Init(config.core.log_level);
  try {
    Migrate(config, args.wait_for_db_s);
    if (args.command == "migrate") return 0;
    return Serve(config);
  } catch (const std::exception& e) {
    log::Error("fatal", {{"error", e.what()}});
    return 1;
  }
}
