// The integrations of every company: their configuration and state, kept in
// memory and in the store's `integrations` column family, and the routing
// of events to them. Every state change that must be atomic (the record,
// the system notices it causes, a purge) is one store batch.
//
// Thread safety: all methods are thread-safe. Ingest holds a reader lock
// across routing and its durable write, so a management change is ordered
// entirely before or after each ingest request.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "dispatch/dispatcher.h"
#include "outboxd/clock.h"
#include "outboxd/event.h"
#include "outboxd/integration.h"
#include "outboxd/mutex.h"
#include "outboxd/store.h"

namespace outboxd {

// How integration records are stored (secrets sealed): injected so the
// registry does not know the encryption.
struct RecordCodec {
  std::function<absl::StatusOr<std::string>(const IntegrationConfig&)> encode;
  std::function<absl::StatusOr<IntegrationConfig>(std::string_view)> decode;
};

class Registry final : public DispatcherHooks {
 public:
  // Called after a change is durable, under the registry's lock (so calls
  // arrive in order): must not block and must not call back into the
  // registry. The daemon posts them to the dispatcher's loop.
  struct Listener {
    std::function<void(const IntegrationConfig&)> changed;
    std::function<void(uint64_t id)> removed;
  };

  Registry(OutboxStore* store, Clock* clock, RecordCodec codec);

  // Reads every record. Fails on a record that cannot be decoded (a wrong
  // master key must not look like an empty configuration).
  absl::Status Load();
  void SetListener(Listener listener);

  // Ingest: routes `events` (raw JSON + facts per company) into `changes`
  // and applies them durably, under the reader lock. Returns the number of
  // deliveries written.
  struct Event {
    uint64_t company_id;
    EventFacts facts;
    std::string_view raw;
  };
  absl::StatusOr<uint64_t> IngestDurably(const std::vector<Event>& events, TimeMs now);

  // Routes one event into `changes`; caller holds no registry lock (used
  // for events the service makes itself, under its own ordering).
  uint64_t RouteInto(const Event& event, TimeMs now, Changes& changes) const;

  absl::StatusOr<IntegrationConfig> Create(IntegrationConfig config);
  absl::StatusOr<IntegrationConfig> Update(uint64_t id, IntegrationConfig updated);
  absl::StatusOr<IntegrationConfig> SetEnabled(uint64_t id, bool enabled);
  absl::Status Delete(uint64_t id);

  // Not deleting, by id.
  std::vector<IntegrationConfig> List() const;
  // Every integration the dispatcher must know, deleting ones included.
  std::vector<IntegrationConfig> All() const;
  absl::StatusOr<IntegrationConfig> Get(uint64_t id) const;
  // Companies with at least one integration selecting the hourly report.
  std::vector<uint64_t> CompaniesWithHourlyReport() const;

  // DispatcherHooks (dispatcher loop thread).
  void OnBroken(const IntegrationConfig& integration, TimeMs now, Changes& changes) override;
  void OnDrained(uint64_t integration_id) override;

 private:
  uint64_t RouteLocked(const Event& event, TimeMs now, Changes& changes) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The notice about `subject` for its company: to every other integration
  // that selects system events, and to `subject`'s own notice lane when it
  // selects them itself.
  void QueueNoticeLocked(EventType type, const IntegrationConfig& subject,
                         std::string_view reason, TimeMs now, Changes& changes) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::Status PutRecordLocked(const IntegrationConfig& config, Changes& changes) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void StoreLocked(const IntegrationConfig& config) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseLocked(uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<IntegrationConfig*> FindLiveLocked(uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  OutboxStore* store_;
  Clock* clock_;
  RecordCodec codec_;
  mutable SharedMutex mu_;
  std::map<uint64_t, IntegrationConfig> integrations_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::vector<uint64_t>> by_company_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  Listener listener_ ABSL_GUARDED_BY(mu_);
};

// The JSON record of a system event about an integration (what lands in
// the SIEM): id, company_id, event_type, occurred_at, integration_id,
// integration_name, integration_kind, reason.
std::string SystemEventJson(EventType type, const IntegrationConfig& subject,
                            std::string_view reason, TimeMs now);

}  // namespace outboxd
