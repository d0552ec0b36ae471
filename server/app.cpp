#include "app.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api.hpp"
#include "auth.hpp"
#include "http_server.hpp"
#include "metrics_service.hpp"
#include "market/async_project_reads.hpp"
#include "market/build_service.hpp"
#include "market/buildah_builder.hpp"
#include "market/command_source_checkout.hpp"
#include "market/network_rules.hpp"
#include "market/plugin_registry.hpp"
#include "market/project_service.hpp"
#include "market/store.hpp"
#include "market/store_monitor.hpp"
#include "market/time.hpp"
#include "market/base_rebuild_service.hpp"
#include "market/retention_service.hpp"
#include "market/trigger_service.hpp"
#include "market/immutability.hpp"
#include "market/webhook_service.hpp"
#include "router.hpp"
#include "routes.hpp"
#include "webhook_transport.hpp"
#include "worker_pool.hpp"

#include "market/harbor_client/registry_factory.hpp"

namespace market::server {

// Declared in the order they are built; destroyed in reverse, so nothing outlives what it uses.
struct ServerApp::Parts {
  ServerConfig config;
  SystemClock clock;
  Stores stores;
  std::unique_ptr<ServiceMetrics> metrics;        // before what it instruments
  std::unique_ptr<BuildStore> instrumented_builds;  // stores.builds, counted
  std::unique_ptr<PluginRegistry> plugins;
  RegistryPtr registry;
  ImageBuilderPtr builder;
  SourceCheckoutPtr checkout;
  std::unique_ptr<WebhookTransport> webhook_transport;
  std::unique_ptr<WebhookService> webhooks;  // hears the services below: outlives them
  std::unique_ptr<ImmutabilityService> immutability;  // consulted by builds and tag deletes
  std::unique_ptr<TriggerService> triggers;  // hears build ends: outlives the build service
  EventFanOut build_events;                  // the builds' events: webhooks, then triggers
  std::unique_ptr<ProjectService> projects;
  std::unique_ptr<BuildService> builds;
  // Hears build ends through build_events and queues builds: goes before the build service,
  // whose workers are stopped (Run) before this is.
  std::unique_ptr<BaseRebuildService> base_rebuilds;
  std::unique_ptr<RetentionService> retention;  // deletes from the registry, reads builds
  std::unique_ptr<Authenticator> auth;
  std::unique_ptr<Auditor> signin_auditor;  // failed sign-ins, recorded by the HTTP core
  std::unique_ptr<WorkerPool> blocking;
  std::unique_ptr<Api> api;
  std::unique_ptr<Router> router;
  std::unique_ptr<HttpServer> http;
  std::unique_ptr<BlockingExecutor> blocking_reads;  // `blocking`, for the project reads
  AsyncProjectReadsPtr project_reads;  // on http's I/O threads: goes before them
};

namespace {

// Builds are claimed under this name. It is stable across restarts when it can be (the
// configured id, or host and fixed listen address), so that a restarted instance fails the
// builds its previous life left running at once; else host:pid, and leases recover them.
std::string WorkerPrefix(const ServerConfig& config) {
  if (!config.worker_id.empty()) return config.worker_id;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  const std::string_view name = host[0] != '\0' ? host : "market";
  if (config.listen_port != 0) {
    return fmt::format("{}/{}:{}", name, config.listen_host, config.listen_port);
  }
  return fmt::format("{}:{}", name, getpid());
}

// The blocking pool as libmarket's project reads post to it.
// Runs each job at once on the calling thread: for reads whose route already runs on the pool.
class InlineExecutor final : public BlockingExecutor {
 public:
  void Post(std::move_only_function<void()> job) override { job(); }
};

class PoolExecutor final : public BlockingExecutor {
 public:
  explicit PoolExecutor(WorkerPool& pool) : pool_(pool) {}
  void Post(std::move_only_function<void()> job) override { pool_.Post(std::move(job)); }

 private:
  WorkerPool& pool_;
};

Result<RegistryPtr> OpenRegistry(const ServerConfig& config) {
  if (config.registry_url.empty()) return RegistryPtr{};
  harbor::RegistryConfig registry;
  registry.url = config.registry_url;
  registry.kind = config.registry_kind == "harbor" ? harbor::RegistryKind::kHarbor
                                                   : harbor::RegistryKind::kDistribution;
  registry.credentials = RegistryCredentials{config.registry_user, config.registry_password};
  registry.insecure = config.registry_insecure;
  registry.request_timeout = config.registry_timeout;
  registry.connect_timeout = std::min<std::chrono::milliseconds>(registry.connect_timeout,
                                                                config.registry_timeout);
  return harbor::MakeRegistry(registry);
}

}  // namespace

BuildahOptions BuildahOptionsOf(const ServerConfig& config) {
  BuildahOptions buildah;
  buildah.root = config.workspace / "storage" / "root";
  buildah.runroot = config.workspace / "storage" / "run";
  buildah.isolation = config.build_isolation;
  // Validated by LoadConfig: the parse cannot fail here.
  buildah.deny_networks =
      ParseIpRanges("build-deny-networks", config.build_deny_networks).value_or(std::vector<IpRange>{});
  buildah.memory_bytes = config.build_memory_bytes;
  buildah.pids = config.build_pids;
  buildah.cpus = config.build_cpus;
  buildah.insecure_registries = config.insecure_registries;
  buildah.cache_max_bytes = config.build_cache_bytes;
  buildah.cache_ttl = std::chrono::hours(24LL * config.build_cache_ttl_days);
  return buildah;
}

Result<StorageDriverChoice> ChooseBuilderStorage(const ServerConfig& config,
                                                 BuildahOptions& buildah) {
  const auto storage = config.workspace / "storage";
  MARKET_ASSIGN_OR_RETURN(auto choice, ChooseStorageDriver(config.build_storage_driver,
                                                           storage / "driver-probe"));
  buildah.storage_driver = choice.driver;
  buildah.storage_options = choice.storage_options;
  // vfs keeps the folders of earlier versions, which only had vfs.
  if (choice.name != "vfs") {
    buildah.root = storage / choice.name / "root";
    buildah.runroot = storage / choice.name / "run";
  }
  return choice;
}

Result<std::unique_ptr<ServerApp>> ServerApp::Create(const ServerConfig& config) {
  auto parts = std::make_unique<Parts>();
  parts->config = config;

  std::error_code ec;
  std::filesystem::create_directories(config.workspace, ec);
  if (ec) {
    return Fail(Errc::kInvalid, fmt::format("workspace {} cannot be created: {}",
                                            config.workspace.string(), ec.message()));
  }

  // The registry's settings are checked before the database is opened, as LoadConfig does:
  // a refused setting costs no connection.
  Result<RegistryPtr> registry = OpenRegistry(config);
  if (!registry) return std::unexpected(registry.error());

  StoreOptions store_options;
  store_options.url = config.database;
  store_options.pool_size = std::max(4, config.blocking_threads + config.build_workers);
  store_options.call_timeout_ms = static_cast<int>(config.database_timeout.count() * 1000);
  Result<Stores> stores = OpenStores(store_options);
  if (!stores) {
    return Fail(stores.error().code, fmt::format("database: {}", stores.error().message));
  }
  parts->stores = std::move(*stores);
  parts->metrics =
      std::make_unique<ServiceMetrics>(MakeStoreMonitor(parts->stores), config.build_workers);
  parts->instrumented_builds = parts->metrics->Instrument(*parts->stores.builds);
  parts->plugins = MakeBuiltinPluginRegistry({.allow_ssh = config.ssh_sources});

  parts->registry = parts->metrics->Instrument(std::move(*registry));

  BuildahOptions buildah = BuildahOptionsOf(config);
  // The sandbox is checked once at start: builds that could not be isolated are refused with
  // the reason, not run without it.
  std::string builds_disabled;
  auto storage = ChooseBuilderStorage(config, buildah);
  if (!storage) {
    builds_disabled = fmt::format("the builder's storage cannot work on this host: {} "
                                  "(build-storage-driver auto picks one that does)",
                                  storage.error().message);
    spdlog::error("{}", builds_disabled);
  } else if (storage->reason.empty()) {
    spdlog::info("builder storage: {} in {}", storage->name, buildah.root.string());
  } else {
    spdlog::warn("builder storage: {} in {}, because {}", storage->name, buildah.root.string(),
                 storage->reason);
  }
  if (builds_disabled.empty()) {
    if (auto sandbox = CheckBuildahSandbox(buildah); !sandbox) {
      builds_disabled = fmt::format("the build sandbox cannot work on this host: {} (see "
                                    "`market-server doctor`; build-isolation chroot opts out)",
                                    sandbox.error().message);
      spdlog::error("{}", builds_disabled);
    } else if (buildah.isolation == "chroot") {
      spdlog::warn("build-isolation is chroot: RUN steps share this host's network and can "
                   "reach its loopback services (this server, the database, the registry)");
    }
  }
  parts->builder = MakeBuildahBuilder(buildah);
  try {
    CommandCheckoutOptions checkout;
    checkout.allow_ssh = config.ssh_sources;
    checkout.ssh_known_hosts_file = config.ssh_known_hosts_file;
    checkout.ssh_identity_file = config.ssh_identity_file;
    checkout.deny_networks = {config.build_deny_networks};
    checkout.allow_networks = {config.source_allow_networks};
    // The oci sandbox's network also holds the checkouts whose tools cannot be pinned to the
    // checked addresses (git://, ssh, svn).
    checkout.network_sandbox = buildah.isolation == "oci";
    if (config.source_mirror_size > 0) {
      // The service's own folder: builds' contexts are under builds/, out of a mirror's way.
      checkout.mirror_dir = config.workspace / "git-mirrors";
      checkout.mirror_max_bytes = config.source_mirror_size;
    }
    parts->checkout = MakeCommandSourceCheckout(std::move(checkout));
  } catch (const std::invalid_argument& e) {
    return Fail(Errc::kInvalid, fmt::format("source checkouts: {}", e.what()));
  }

  // Webhook targets obey the build sandbox's address rules, unless an operator allows them.
  WebhookTransportOptions transport_options;
  transport_options.rules.deny = buildah.deny_networks;
  // Validated by LoadConfig: the parse cannot fail here.
  transport_options.rules.allow =
      ParseIpRanges("webhook-allow-networks", config.webhook_allow_networks)
          .value_or(std::vector<IpRange>{});
  Result<std::unique_ptr<HttpWebhookTransport>> transport =
      HttpWebhookTransport::Create(std::move(transport_options));
  if (!transport) return std::unexpected(transport.error());
  parts->webhook_transport = std::move(*transport);
  WebhookOptions webhook_options;
  webhook_options.timeout = config.webhook_timeout;
  webhook_options.first_retry = config.webhook_retry_first;
  webhook_options.retry_for = config.webhook_retry_for;
  webhook_options.disable_after = config.webhook_disable_after;
  webhook_options.senders = config.webhook_senders;
  webhook_options.keep_deliveries = std::chrono::duration_cast<std::chrono::hours>(
      config.webhook_keep);
  webhook_options.worker_prefix = WorkerPrefix(config) + "/webhooks";
  parts->webhooks = std::make_unique<WebhookService>(
      WebhookDependencies{.store = parts->stores.webhooks.get(),
                          .transport = parts->webhook_transport.get(),
                          .clock = &parts->clock,
                          .audit = parts->stores.audit.get()},
      webhook_options);

  ProjectServiceOptions project_options;
  project_options.default_cluster = config.default_cluster;
  project_options.audit_log = parts->stores.audit.get();
  project_options.events = parts->webhooks.get();
  parts->projects = std::make_unique<ProjectService>(*parts->stores.projects, parts->clock,
                                                     parts->plugins.get(), project_options);

  parts->immutability = std::make_unique<ImmutabilityService>(
      *parts->stores.immutability, parts->clock, parts->stores.audit.get());

  BuildDependencies deps;
  deps.projects = parts->stores.projects.get();
  deps.builds = parts->instrumented_builds.get();
  deps.plugins = parts->plugins.get();
  deps.builder = parts->builder.get();
  deps.checkout = parts->checkout.get();
  deps.registry = parts->registry.get();
  deps.clock = &parts->clock;
  deps.audit = parts->stores.audit.get();
  parts->build_events.Add(parts->webhooks.get());
  deps.events = &parts->build_events;
  deps.tag_protection = parts->immutability.get();
  BuildServiceOptions build_options;
  build_options.workers = config.build_workers;
  build_options.workspace = config.workspace / "builds";
  build_options.worker_prefix = WorkerPrefix(config);
  build_options.timeout = config.build_timeout;
  build_options.max_log_bytes = config.build_log_bytes;
  build_options.checkout_limits.max_bytes = config.build_context_bytes;
  build_options.reserved_clusters = config.reserved_clusters;
  build_options.allowed_clusters = config.allowed_clusters;
  build_options.disabled_reason = builds_disabled;
  build_options.max_queued_per_project = config.max_queued_builds_per_project;
  build_options.max_queued_per_operator = config.max_queued_builds_per_user;
  build_options.log_retention.keep_builds = config.build_log_keep;
  build_options.log_retention.keep_for = std::chrono::days(config.build_log_keep_days);
  build_options.layer_cache = config.build_cache;
  build_options.cache_project = config.build_cache_project;
  parts->builds = std::make_unique<BuildService>(deps, build_options);
  parts->triggers = std::make_unique<TriggerService>(
      TriggerDependencies{.store = parts->stores.triggers.get(),
                          .builds = parts->builds.get(),
                          .build_store = parts->instrumented_builds.get(),
                          .projects = parts->stores.projects.get(),
                          .plugins = parts->plugins.get(),
                          .clock = &parts->clock,
                          .audit = parts->stores.audit.get()},
      TriggerOptions{.disable_after = config.trigger_disable_after});
  parts->build_events.Add(parts->triggers.get());
  parts->base_rebuilds = std::make_unique<BaseRebuildService>(
      BaseRebuildDependencies{.store = parts->stores.base_rebuilds.get(),
                              .builds = parts->builds.get(),
                              .build_store = parts->instrumented_builds.get(),
                              .registry = parts->registry.get(),
                              .clock = &parts->clock,
                              .audit = parts->stores.audit.get()},
      BaseRebuildOptions{.poll_interval = config.base_image_poll,
                         .per_hour = config.base_image_rebuilds_per_hour});
  parts->build_events.Add(parts->base_rebuilds.get());
  parts->metrics->BindBaseRebuilds(parts->base_rebuilds.get());
  parts->retention = std::make_unique<RetentionService>(
      RetentionDependencies{.store = parts->stores.retention.get(),
                            .registry = parts->registry.get(),
                            .builds = parts->instrumented_builds.get(),
                            .clock = &parts->clock,
                            .audit = parts->stores.audit.get(),
                            .events = parts->webhooks.get(),
                            .protection = parts->immutability.get()},
      RetentionOptions{.max_deletes_per_minute = config.retention_max_deletes_per_minute,
                       .poll_interval = config.retention_poll,
                       .worker_prefix = WorkerPrefix(config)});

  if (config.auth) {
    Result<std::unique_ptr<Authenticator>> auth = Authenticator::Create(
        parts->stores.identity.get(), config.auth_users_file, config.auth_cache_ttl,
        config.signin_max_concurrent);
    if (!auth) return std::unexpected(auth.error());
    parts->auth = std::move(*auth);
    parts->metrics->BindAuthenticator(parts->auth.get());
    Result<std::int64_t> users = parts->stores.identity->CountUsers();
    if (users && *users == 0 && config.auth_users_file.empty()) {
      spdlog::warn("authentication is on but there are no users: every request will be refused; "
                   "create the first admin with `market-server user add NAME --role admin`");
    }
  }

  // A sleeping thread is woken at once for as many jobs as there are cores (twice that on
  // PostgreSQL, whose calls mostly wait on the network); see WorkerPool.
  WorkerPool::Options pool_options;
  pool_options.threads = config.blocking_threads;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const bool sqlite = config.database.starts_with("sqlite:");
  pool_options.eager = std::min(config.blocking_threads, sqlite ? cores : 2 * cores);
  parts->blocking = std::make_unique<WorkerPool>(pool_options);
  ApiDependencies api_deps;
  api_deps.projects = parts->projects.get();
  api_deps.project_store = parts->stores.projects.get();
  api_deps.builds = parts->builds.get();
  api_deps.plugins = parts->plugins.get();
  api_deps.registry = parts->registry.get();
  api_deps.metrics = parts->metrics.get();
  api_deps.audit = parts->stores.audit.get();
  api_deps.identity = parts->stores.identity.get();
  api_deps.auth = parts->auth.get();
  api_deps.webhooks = parts->webhooks.get();
  api_deps.triggers = parts->triggers.get();
  api_deps.immutability = parts->immutability.get();
  api_deps.retention = parts->retention.get();
  api_deps.base_rebuilds = parts->base_rebuilds.get();
  api_deps.clock = &parts->clock;
  api_deps.auth_enabled = config.auth;
  parts->api = std::make_unique<Api>(api_deps);
  parts->router = std::make_unique<Router>(
      MakeRoutes(*parts->api, sqlite ? RunOn::kBlockingPool : RunOn::kIoThread));
  parts->metrics->BindRoutes(parts->router->Routes());

  HttpServerOptions http_options;
  http_options.host = config.listen_host;
  http_options.port = config.listen_port;
  http_options.io_threads = config.io_threads;
  http_options.max_body_bytes = config.max_body_bytes;
  http_options.max_connections = config.max_connections;
  http_options.header_timeout = config.header_timeout;
  http_options.idle_timeout = config.idle_timeout;
  http_options.shutdown_grace = config.shutdown_grace;
  http_options.observer = parts->metrics.get();
  http_options.rate_limit_per_second = config.rate_limit;
  http_options.rate_limit_burst =
      config.rate_limit_burst > 0
          ? config.rate_limit_burst
          : std::max(1, static_cast<int>(std::ceil(config.rate_limit * 2)));
  http_options.allowed_origins = config.allowed_origins;
  http_options.allowed_hosts = config.allowed_hosts;
  http_options.signin_max_failures = config.signin_max_failures;
  http_options.signin_window = config.signin_window;
  http_options.max_connections_per_address = config.max_connections_per_address;
  http_options.max_streams_per_caller = config.max_log_follows;  // the only streams: log follows
  parts->signin_auditor = std::make_unique<Auditor>(parts->stores.audit.get(), parts->clock);
  http_options.auditor = parts->signin_auditor.get();
  parts->http = std::make_unique<HttpServer>(http_options, *parts->router, *parts->blocking,
                                             parts->auth.get());
  MARKET_RETURN_IF_ERROR(parts->http->Listen());
  // Info and list never block the I/O threads: SQLite's run on the pool; PostgreSQL's go down a
  // pipeline connection per I/O thread.
  if (sqlite) {
    parts->blocking_reads = std::make_unique<InlineExecutor>();
  } else {
    parts->blocking_reads = std::make_unique<PoolExecutor>(*parts->blocking);
  }
  Result<AsyncProjectReadsPtr> reads =
      OpenAsyncProjectReads(store_options, *parts->stores.projects, *parts->blocking_reads,
                            parts->http->Context(), std::max(1, config.io_threads));
  if (!reads) return std::unexpected(reads.error());
  parts->project_reads = std::move(*reads);
  parts->projects->UseReads(*parts->project_reads);
  return std::unique_ptr<ServerApp>(new ServerApp(std::move(parts)));
}

ServerApp::ServerApp(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

ServerApp::~ServerApp() {
  // Requests still queued on the pool use the services: let them finish first.
  if (parts_ && parts_->blocking) parts_->blocking->Join();
}

std::uint16_t ServerApp::Port() const { return parts_->http->Port(); }

void ServerApp::Run() {
  const ServerConfig& config = parts_->config;
  parts_->builds->Start();
  parts_->webhooks->Start();
  parts_->retention->Start();
  parts_->base_rebuilds->Start();
  spdlog::info("market-server listening on {}:{} (database {}, registry {}, {} build workers)",
               config.listen_host, Port(),
               config.database.starts_with("sqlite:") ? config.database : "postgresql",
               config.registry_url.empty() ? "none" : config.registry_url, config.build_workers);
  parts_->http->Run();
  spdlog::info("HTTP server stopped; waiting for blocking work and stopping builds");
  parts_->blocking->Join();
  parts_->retention->Stop();
  parts_->base_rebuilds->Stop();  // it queues builds
  parts_->builds->Stop();
  parts_->webhooks->Stop();  // after the builds, whose ends it may still have to send
  spdlog::info("market-server stopped");
}

void ServerApp::Shutdown() { parts_->http->Shutdown(); }

boost::asio::io_context& ServerApp::Context() { return parts_->http->Context(); }

}  // namespace market::server
