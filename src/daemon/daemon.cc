#include "daemon/daemon.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api/handler.h"
#include "api/http_server.h"
#include "api/integration_record.h"
#include "api/secret_box.h"
#include "api/worker_pool.h"
#include "daemon/allocator.h"
#include "destinations/factory.h"
#include "destinations/sentinel_dcr.h"
#include "destinations/token_provider.h"
#include "dispatch/committer.h"
#include "dispatch/dispatcher.h"
#include "dispatch/driver.h"
#include "outboxd/log.h"
#include "outboxd/mutex.h"
#include "outboxd/open_files.h"
#include "outboxd/store.h"
#include "outboxd/thread_name.h"
#include "service/hourly_report.h"
#include "service/registry.h"
#include "service/service_impl.h"
#include "transport/curl_transport.h"

namespace outboxd {
namespace {

std::string RandomToken() {
  unsigned char bytes[24];
  RAND_bytes(bytes, sizeof bytes);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(bytes), sizeof bytes));
}

// Reads DIR/tokens, or writes it (mode 0600) with fresh random tokens, for
// whichever token was not given. The tokens are never logged.
absl::Status ResolveTokens(DaemonOptions& o) {
  if (!o.admin_token.empty() && !o.ingest_token.empty()) return absl::OkStatus();
  std::string path = o.data_dir + "/tokens";
  std::string admin, ingest;
  if (std::ifstream in(path); in) {
    std::string line;
    while (std::getline(in, line)) {
      std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
      if (kv.first == "admin_token") admin = kv.second;
      if (kv.first == "ingest_token") ingest = kv.second;
    }
  }
  if (admin.empty() || ingest.empty()) {
    admin = admin.empty() ? RandomToken() : admin;
    ingest = ingest.empty() ? RandomToken() : ingest;
    std::string text = absl::StrCat("admin_token=", admin, "\ningest_token=", ingest, "\n");
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
        fsync(fd) != 0) {
      if (fd >= 0) close(fd);
      return absl::InternalError(absl::StrCat("cannot write ", path));
    }
    close(fd);
    Log(LogLevel::kInfo, "generated API tokens", {{"file", path}});
  }
  if (o.admin_token.empty()) o.admin_token = admin;
  if (o.ingest_token.empty()) o.ingest_token = ingest;
  return absl::OkStatus();
}

absl::StatusOr<std::pair<std::string, uint16_t>> SplitHostPort(const std::string& listen) {
  size_t colon = listen.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port > 65535)
    return absl::InvalidArgumentError(absl::StrCat("--listen '", listen, "' is not HOST:PORT"));
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return std::make_pair(host, static_cast<uint16_t>(port));
}

// Runs `fn` on the loop thread and waits for it.
void RunOnLoop(boost::asio::io_context& loop, const std::function<void()>& fn) {
  std::promise<void> done;
  boost::asio::post(loop, [&] {
    fn();
    done.set_value();
  });
  done.get_future().wait();
}

// Periodic work off the hot paths: disk usage for the quota, the hourly
// report, trimming old health statistics.
class Housekeeping {
 public:
  Housekeeping(ServiceImpl* service, HourlyReporter* hourly, OutboxStore* store, Clock* clock,
               TimeMs health_window_ms)
      : thread_([=, this] {
          NameThisThread("housekeeping");
          Run(service, hourly, store, clock, health_window_ms);
        }) {}
  ~Housekeeping() {
    {
      MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }

 private:
  // Warns about a step that keeps failing: at its first failure, then once
  // a minute while it lasts; a success resets the count.
  static void WarnWhileFailing(const absl::Status& s, uint64_t* failures,
                               std::string_view message) {
    if (s.ok()) {
      *failures = 0;
    } else if ((*failures)++ % 60 == 0) {
      Log(LogLevel::kWarn, message, {{"error", s.ToString()}, {"attempts", *failures}});
    }
  }

  // Writes fail while the disk is full; once space is back, the store must
  // be told to resume (ingest answers 503 until then).
  void Recover(OutboxStore* store) {
    absl::StatusOr<bool> resumed = store->Recover();
    if (resumed.ok()) {
      if (*resumed) {
        Log(LogLevel::kInfo, "store resumed writing after a write error",
            {{"failed_attempts", recover_failures_}});
      }
      recover_failures_ = 0;
      return;
    }
    WarnWhileFailing(resumed.status(), &recover_failures_,
                     "store still cannot write; ingest answers 503");
  }

  // The dispatcher's outcomes are written without an fsync of their own
  // (OutboxStore::Sync::kDeferred); this bounds what a power loss can undo
  // to about the last second of them.
  void SyncDeferred(OutboxStore* store) {
    WarnWhileFailing(store->SyncDeferred(), &sync_failures_,
                     "syncing the dispatcher's writes failed");
  }

  // Rewrites the log-only deliveries still queued as Puts and frees the WAL
  // archive, once enough was written (or a list was dropped).
  void Checkpoint(OutboxStore* store) {
    WarnWhileFailing(store->MaybeCheckpoint(), &checkpoint_failures_,
                     "log-only checkpoint failed; the WAL archive is kept");
  }

  void Run(ServiceImpl* service, HourlyReporter* hourly, OutboxStore* store, Clock* clock,
           TimeMs window_ms) {
    int tick = 0;
    for (;;) {
      {
        MutexLock lock(&mu_);
        auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
        if (mu_.AwaitWithTimeout(stopping, std::chrono::seconds(1))) return;
      }
      Recover(store);
      SyncDeferred(store);
      Checkpoint(store);
      service->RefreshDiskUsage();
      if (tick % 30 == 0) {
        if (auto n = hourly->Tick(); !n.ok())
          Log(LogLevel::kError, "hourly report failed", {{"error", n.status().ToString()}});
      }
      if (tick % 3600 == 0) {
        if (auto s = store->TrimStats(MinuteOf(clock->NowMs() - window_ms) - 1); !s.ok())
          Log(LogLevel::kWarn, "trimming stats failed", {{"error", s.ToString()}});
      }
      ++tick;
    }
  }

  Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t recover_failures_ = 0;  // the housekeeping thread only
  uint64_t sync_failures_ = 0;     // the housekeeping thread only
  uint64_t checkpoint_failures_ = 0;  // the housekeeping thread only
  std::thread thread_;
};

}  // namespace

int RunDaemon(const DaemonOptions& given) {
  DaemonOptions o = given;
  Clock* clock = RealClock();
  std::error_code ec;
  std::filesystem::create_directories(o.data_dir, ec);
  if (ec) {
    Log(LogLevel::kError, "cannot create the data directory",
        {{"dir", o.data_dir}, {"error", ec.message()}});
    return 1;
  }
  auto fail = [](std::string_view what, const absl::Status& s) {
    Log(LogLevel::kError, what, {{"error", s.ToString()}});
    return 1;
  };
  if (auto s = ResolveTokens(o); !s.ok()) return fail("cannot set up tokens", s);
  auto listen = SplitHostPort(o.listen);
  if (!listen.ok()) return fail("bad --listen", listen.status());
  // Faulting in more than half the machine's memory before serving would
  // only invite the OOM killer: refuse it before anything is opened.
  // (sysconf fails with -1; the check is then skipped, not run on garbage.)
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  const uint64_t memory =
      pages > 0 && page_size > 0
          ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size)
          : 0;
  if (memory > 0 && o.prefault_bytes > memory / 2) {
    return fail(
        "bad --prefault-memory",
        absl::InvalidArgumentError(absl::StrCat(
            o.prefault_bytes, " bytes is more than half of this machine's memory (",
            memory, " bytes)")));
  }
  auto box = SecretBox::LoadOrCreate(o.master_key_file.empty() ? o.data_dir + "/master.key"
                                                               : o.master_key_file);
  if (!box.ok()) return fail("cannot load the master key", box.status());

  // Signals are taken by sigwait below; every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  StoreOptions store_options;
  store_options.path = o.data_dir + "/outbox";
  store_options.write_buffer_bytes = o.store_write_buffer_bytes;
  store_options.block_cache_bytes = o.store_block_cache_bytes;
  store_options.fresh_cache_bytes = o.store_fresh_cache_bytes;
  store_options.log_only_deliveries = o.store_log_only;
  auto store_or = OutboxStore::Open(store_options);
  if (!store_or.ok()) return fail("cannot open the outbox", store_or.status());
  std::unique_ptr<OutboxStore> store = std::move(*store_or);

  RecordCodec codec{
      [&](const IntegrationConfig& c) { return EncodeIntegrationRecord(c, *box); },
      [&](std::string_view r) { return DecodeIntegrationRecord(r, *box); }};
  Registry registry(store.get(), clock, codec);
  if (auto s = registry.Load(); !s.ok()) return fail("cannot load integrations", s);

  uint64_t fd_limit = RaiseOpenFileLimit();
  if (fd_limit < 2ull * o.max_in_flight + 1024) {
    Log(LogLevel::kWarn, "open file limit is low for the configured requests in flight",
        {{"limit", fd_limit}, {"max_in_flight", o.max_in_flight}});
  }

  boost::asio::io_context loop;
  auto work = boost::asio::make_work_guard(loop);
  TransportOptions transport_options;
  transport_options.ca_file = o.ca_file;
  transport_options.verify_tls = !o.insecure_skip_tls_verify;
  transport_options.http2 = o.http2;
  transport_options.max_host_connections = o.max_host_connections;
  transport_options.resolve = o.resolve;
  transport_options.connect_to = o.connect_to;
  auto transport_or = CurlTransport::Create(loop, clock, transport_options);
  if (!transport_or.ok()) return fail("cannot start the transport", transport_or.status());
  std::unique_ptr<CurlTransport> transport = std::move(*transport_or);

  DestinationOptions destination_options;
  destination_options.max_body_bytes = o.batch_max_bytes;
  destination_options.request_timeout_ms = o.request_timeout_ms;
  // sentinel_dcr fetches Entra ID tokens through the loop's transport.
  destination_options.transport = transport.get();
  destination_options.clock = clock;
  destination_options.tokens = std::make_shared<TokenProviders>(transport.get(), clock);
  destination_options.pacers = std::make_shared<RatePacers>();
  DestinationFactory destinations = [destination_options](const IntegrationConfig& c) {
    return MakeDestination(c, destination_options);
  };
  DispatcherOptions dispatch_options;
  dispatch_options.retry.max_age_ms = o.max_age_ms;
  dispatch_options.health = {o.health_window_ms, o.health_threshold, o.health_min_requests};
  dispatch_options.max_in_flight = o.max_in_flight;
  dispatch_options.max_in_flight_per_integration = o.max_in_flight_per_integration;
  dispatch_options.max_held_bytes = o.max_held_bytes;
  dispatch_options.batch.max_body_bytes = o.batch_max_bytes;
  dispatch_options.batch.max_records = o.batch_max_records;
  dispatch_options.batch.linger_ms = o.linger_ms;

  auto post = [&loop](std::function<void()> fn) { boost::asio::post(loop, std::move(fn)); };
  // One thread per outcome write the dispatcher keeps under way.
  auto committer = std::make_unique<ThreadCommitter>(
      store.get(), post, static_cast<int>(dispatch_options.max_commits_running));
  auto dispatcher = std::make_unique<Dispatcher>(store.get(), transport.get(), clock,
                                                 destinations, &registry, committer.get(),
                                                 dispatch_options);
  if (auto s = dispatcher->Start(); !s.ok()) return fail("cannot rebuild health windows", s);
  for (const IntegrationConfig& c : registry.All()) dispatcher->SetIntegration(c);
  auto driver = std::make_unique<DispatcherDriver>(loop, dispatcher.get(), clock);
  Dispatcher* d = dispatcher.get();
  DispatcherDriver* drv = driver.get();
  // A change can make a lane deliver again (enabling resets its cursor) while
  // the driver's timer was armed without it: pump right after applying it.
  registry.SetListener({[post, d, drv](const IntegrationConfig& c) {
                          post([d, drv, c] {
                            d->SetIntegration(c);
                            drv->Wake();
                          });
                        },
                        [post, d](uint64_t id) { post([d, id] { d->RemoveIntegration(id); }); }});
  store->SetDueListener([drv](uint64_t, TimeMs due) { drv->WakeForDue(due); });
  // --prefault-memory: a fifth for the dispatcher's heap (request bodies),
  // the rest shared by the ingest workers' heaps, where RocksDB allocates
  // the memtable blocks (the leader of a write group inserts them all).
  // Done before the API listens: on a VM the first touch of a page costs
  // far more than its zeroing, and the first second under load went mostly
  // to page faults (docs/performance.md, "Prefaulted heaps").
  const auto prefault_began = std::chrono::steady_clock::now();
  const size_t dispatch_prefault = o.prefault_bytes / 5;
  const size_t worker_prefault = (o.prefault_bytes - dispatch_prefault) /
                                 static_cast<size_t>(std::max(1, o.ingest_workers));
  std::promise<void> dispatch_prefaulted;
  std::thread loop_thread([&loop, &dispatch_prefaulted, dispatch_prefault] {
    NameThisThread("dispatch");
    PrefaultHeap(dispatch_prefault);
    dispatch_prefaulted.set_value();
    loop.run();
  });
  driver->Wake();

  HourlyReporter hourly(store.get(), &registry, clock);
  ServiceOptions service_options;
  service_options.disk_quota_bytes = o.disk_quota_bytes;
  ServiceImpl service(store.get(), &registry, &hourly, clock,
                      {post, d, transport.get(), destinations}, service_options);
  WorkerPool workers(o.ingest_workers, 4096, "ingest",
                     [worker_prefault] { PrefaultHeap(worker_prefault); });
  dispatch_prefaulted.get_future().wait();
  if (o.prefault_bytes > 0) {
    Log(LogLevel::kInfo, "heaps prefaulted",
        {{"bytes", o.prefault_bytes},
         {"per_ingest_worker", worker_prefault},
         {"dispatcher", dispatch_prefault},
         {"ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - prefault_began)
                    .count()}});
  }
  HandlerOptions handler_options;
  handler_options.ingest_token = o.ingest_token;
  handler_options.admin_token = o.admin_token;
  handler_options.allow_endpoint_override = o.allow_endpoint_override;
  handler_options.max_concurrent_parses =
      o.ingest_parse_concurrency > 0
          ? o.ingest_parse_concurrency
          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  Handler handler(&service, &workers, clock, handler_options);
  HttpServerOptions server_options;
  server_options.host = listen->first;
  server_options.port = listen->second;
  server_options.io_threads = o.http_threads;
  server_options.max_body_bytes = o.max_body_bytes;
  auto server = HttpServer::Start(server_options, &handler);
  int code = 0;
  if (!server.ok()) {
    fail("cannot listen", server.status());
    code = 1;
  } else {
    printf("listening on %s:%u\n", listen->first.c_str(), (*server)->port());
    fflush(stdout);
    Log(LogLevel::kInfo, "outboxd started",
        {{"listen", absl::StrCat(listen->first, ":", (*server)->port())},
         {"data_dir", o.data_dir}, {"integrations", registry.All().size()},
         {"crc32c", OutboxStore::ChecksumImplementation()}});
    Housekeeping housekeeping(&service, &hourly, store.get(), clock, o.health_window_ms);
    int sig = 0;
    sigwait(&signals, &sig);
    Log(LogLevel::kInfo, "shutting down", {{"signal", sig}});
    service.SetClosing();
    (*server)->Stop(std::chrono::milliseconds(o.shutdown_grace_ms));
  }
  workers.Stop();
  // Nothing new goes out; requests in flight get the grace period, and what
  // they carried stays queued if they do not finish.
  RunOnLoop(loop, [&] {
    driver->Stop();
    dispatcher->Stop();
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.shutdown_grace_ms);
  while (transport->InFlight() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // shutdown only
  // The transport goes first, on the loop: what is still in flight is
  // cancelled (the dispatcher commits nothing for it; it stays queued), and
  // no answer can reach the dispatcher, hence the committer, afterwards.
  RunOnLoop(loop, [&] { transport.reset(); });
  committer.reset();  // applies what is queued; completions run on the loop
  store->SetDueListener(nullptr);
  RunOnLoop(loop, [&] {
    driver.reset();
    dispatcher.reset();
  });
  work.reset();
  loop.stop();
  loop_thread.join();
  if (auto s = store->Flush(); !s.ok()) fail("flush at shutdown failed", s);
  store.reset();
  Log(LogLevel::kInfo, "outboxd stopped", {});
  return code;
}

}  // namespace outboxd
