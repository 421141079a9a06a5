#include "service/registry.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "api/json_writer.h"
#include "outboxd/rfc3339.h"
#include "outboxd/log.h"
#include "outboxd/strings.h"

namespace outboxd {
namespace {

constexpr std::string_view kNextIdMeta = "next_integration_id";

}  // namespace

std::string SystemEventJson(EventType type, const IntegrationConfig& subject,
                            std::string_view reason, TimeMs now) {
  JsonWriter w;
  w.BeginObject()
      .Key("id")
      .String(absl::StrCat(Sv(EventTypeName(type)), "-", subject.id, "-", now))
      .Key("company_id")
      .Uint(subject.company_id)
      .Key("event_type")
      .String(EventTypeName(type))
      .Key("occurred_at")
      .String(FormatRfc3339(now))
      .Key("integration_id")
      .Uint(subject.id)
      .Key("integration_name")
      .String(subject.name)
      .Key("integration_kind")
      .String(KindName(subject.kind))
      .Key("reason")
      .String(reason)
      .EndObject();
  return std::move(w).Take();
}

Registry::Registry(OutboxStore* store, Clock* clock, RecordCodec codec)
    : store_(store), clock_(clock), codec_(std::move(codec)) {}

absl::Status Registry::Load() {
  WriterMutexLock lock(&mu_);
  absl::Status decode_error;
  absl::Status status = store_->ForEachIntegration([&](uint64_t id, std::string_view record) {
    if (!decode_error.ok()) return;
    auto config = codec_.decode(record);
    if (!config.ok()) {
      decode_error = absl::DataLossError(
          absl::StrCat("integration ", id, ": ", config.status().message()));
      return;
    }
    config->id = id;
    StoreLocked(*config);
  });
  if (!status.ok()) return status;
  if (!decode_error.ok()) return decode_error;
  auto next = store_->GetMeta(kNextIdMeta);
  if (!next.ok()) return next.status();
  uint64_t stored_next = 1;
  if (next->has_value() && !absl::SimpleAtoi(**next, &stored_next))
    return absl::DataLossError("meta next_integration_id is not a number");
  next_id_ = std::max<uint64_t>(stored_next,
                                integrations_.empty() ? 1 : integrations_.rbegin()->first + 1);
  return absl::OkStatus();
}

void Registry::SetListener(Listener listener) {
  WriterMutexLock lock(&mu_);
  listener_ = std::move(listener);
}

void Registry::StoreLocked(const IntegrationConfig& config) {
  auto [it, inserted] = integrations_.insert_or_assign(config.id, config);
  if (inserted) by_company_[config.company_id].push_back(config.id);
}

void Registry::EraseLocked(uint64_t id) {
  auto it = integrations_.find(id);
  if (it == integrations_.end()) return;
  auto& ids = by_company_[it->second.company_id];
  ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
  if (ids.empty()) by_company_.erase(it->second.company_id);
  integrations_.erase(it);
}

uint64_t Registry::RouteLocked(const Event& event, TimeMs now, Changes& changes) const {
  auto company = by_company_.find(event.company_id);
  if (company == by_company_.end()) return 0;
  uint64_t n = 0;
  for (uint64_t id : company->second) {
    const IntegrationConfig& c = integrations_.at(id);
    if (!c.AcceptsNewEvents() || !Selects(c.events, event.facts)) continue;
    changes.Enqueue(id, RouteLogType(event.facts, c.table), event.raw, now, now);
    ++n;
  }
  return n;
}

uint64_t Registry::RouteInto(const Event& event, TimeMs now, Changes& changes) const {
  ReaderMutexLock lock(&mu_);
  return RouteLocked(event, now, changes);
}

absl::StatusOr<uint64_t> Registry::IngestDurably(const std::vector<Event>& events,
                                                  TimeMs now) {
  // Room for each event once, as one integration would get it: key, value
  // header and WriteBatch framing fit in kDeliveryOverhead bytes.
  constexpr size_t kDeliveryOverhead = 64;
  size_t reserve = 0;
  for (const Event& e : events) reserve += e.raw.size() + kDeliveryOverhead;
  ReaderMutexLock lock(&mu_);
  Changes changes = store_->NewChanges(reserve);
  uint64_t n = 0;
  for (const Event& e : events) n += RouteLocked(e, now, changes);
  if (n == 0) return 0;
  absl::Status status = store_->Apply(std::move(changes));
  if (!status.ok()) return status;
  return n;
}

void Registry::QueueNoticeLocked(EventType type, const IntegrationConfig& subject,
                                 std::string_view reason, TimeMs now,
                                 Changes& changes) const {
  EventFacts facts;
  facts.type = type;
  std::string json = SystemEventJson(type, subject, reason, now);
  auto company = by_company_.find(subject.company_id);
  if (company != by_company_.end()) {
    for (uint64_t id : company->second) {
      if (id == subject.id) continue;
      const IntegrationConfig& c = integrations_.at(id);
      if (!c.AcceptsNewEvents() || !Selects(c.events, facts)) continue;
      changes.Enqueue(id, RouteLogType(facts, c.table), json, now, now);
    }
  }
  if (Selects(subject.events, facts)) {
    changes.Enqueue(NoticeLaneOf(subject.id), RouteLogType(facts, subject.table), json, now,
                    now);
  }
}

absl::Status Registry::PutRecordLocked(const IntegrationConfig& config,
                                       Changes& changes) const {
  auto record = codec_.encode(config);
  if (!record.ok()) return record.status();
  changes.PutIntegration(config.id, *record);
  return absl::OkStatus();
}

absl::StatusOr<IntegrationConfig*> Registry::FindLiveLocked(uint64_t id) {
  auto it = integrations_.find(id);
  if (it == integrations_.end() || it->second.state == IntegrationState::kDeleting)
    return absl::NotFoundError(absl::StrCat("integration ", id, " not found"));
  return &it->second;
}

absl::StatusOr<IntegrationConfig> Registry::Create(IntegrationConfig config) {
  WriterMutexLock lock(&mu_);
  TimeMs now = clock_->NowMs();
  config.id = next_id_;
  config.state = IntegrationState::kEnabled;
  config.created_ms = config.updated_ms = now;
  config.version = 1;
  Changes changes = store_->NewChanges();
  if (absl::Status s = PutRecordLocked(config, changes); !s.ok()) return s;
  changes.PutMeta(kNextIdMeta, absl::StrCat(config.id + 1));
  if (absl::Status s = store_->Apply(std::move(changes)); !s.ok()) return s;
  ++next_id_;
  StoreLocked(config);
  Log(LogLevel::kInfo, "integration created",
      {{"integration", config.id}, {"company", config.company_id}, {"kind", KindName(config.kind)}});
  if (listener_.changed) listener_.changed(config);
  return config;
}

absl::StatusOr<IntegrationConfig> Registry::Update(uint64_t id, IntegrationConfig updated) {
  WriterMutexLock lock(&mu_);
  auto current = FindLiveLocked(id);
  if (!current.ok()) return current.status();
  if (updated.version != (*current)->version)
    return absl::FailedPreconditionError("integration changed meanwhile; read it again");
  updated.id = id;
  updated.company_id = (*current)->company_id;
  updated.state = (*current)->state;
  updated.created_ms = (*current)->created_ms;
  updated.updated_ms = clock_->NowMs();
  updated.version = (*current)->version + 1;
  Changes changes = store_->NewChanges();
  if (absl::Status s = PutRecordLocked(updated, changes); !s.ok()) return s;
  if (absl::Status s = store_->Apply(std::move(changes)); !s.ok()) return s;
  StoreLocked(updated);
  Log(LogLevel::kInfo, "integration updated", {{"integration", id}, {"version", updated.version}});
  if (listener_.changed) listener_.changed(updated);
  return updated;
}

absl::StatusOr<IntegrationConfig> Registry::SetEnabled(uint64_t id, bool enabled) {
  WriterMutexLock lock(&mu_);
  auto current = FindLiveLocked(id);
  if (!current.ok()) return current.status();
  IntegrationConfig next = **current;
  IntegrationState target = enabled ? IntegrationState::kEnabled : IntegrationState::kDisabled;
  if (next.state == target) return next;
  TimeMs now = clock_->NowMs();
  next.state = target;
  next.updated_ms = now;
  ++next.version;
  Changes changes = store_->NewChanges();
  if (absl::Status s = PutRecordLocked(next, changes); !s.ok()) return s;
  if (enabled) {
    changes.ClearStats(id);  // a re-enabled integration starts a fresh window
  } else {
    QueueNoticeLocked(EventType::kIntegrationDisabled, next, "disabled by a user", now, changes);
  }
  if (absl::Status s = store_->Apply(std::move(changes)); !s.ok()) return s;
  StoreLocked(next);
  Log(LogLevel::kInfo, enabled ? "integration enabled" : "integration disabled",
      {{"integration", id}});
  if (listener_.changed) listener_.changed(next);
  return next;
}

absl::Status Registry::Delete(uint64_t id) {
  WriterMutexLock lock(&mu_);
  auto current = FindLiveLocked(id);
  if (!current.ok()) return current.status();
  IntegrationConfig next = **current;
  TimeMs now = clock_->NowMs();
  next.state = IntegrationState::kDeleting;
  next.updated_ms = now;
  ++next.version;
  // One batch: the queue is purged, the record says deleting, the notices
  // are queued (its own last one in its notice lane).
  Changes changes = store_->NewChanges();
  changes.PurgeDeliveries(id);
  if (absl::Status s = PutRecordLocked(next, changes); !s.ok()) return s;
  QueueNoticeLocked(EventType::kIntegrationDeleted, next, "deleted by a user", now, changes);
  if (absl::Status s = store_->Apply(std::move(changes)); !s.ok()) return s;
  StoreLocked(next);
  Log(LogLevel::kInfo, "integration deleting", {{"integration", id}});
  if (listener_.changed) listener_.changed(next);  // the dispatcher reports it drained
  return absl::OkStatus();
}

std::vector<IntegrationConfig> Registry::List() const {
  ReaderMutexLock lock(&mu_);
  std::vector<IntegrationConfig> out;
  for (const auto& [id, c] : integrations_)
    if (c.state != IntegrationState::kDeleting) out.push_back(c);
  return out;
}

std::vector<IntegrationConfig> Registry::All() const {
  ReaderMutexLock lock(&mu_);
  std::vector<IntegrationConfig> out;
  for (const auto& [id, c] : integrations_) out.push_back(c);
  return out;
}

absl::StatusOr<IntegrationConfig> Registry::Get(uint64_t id) const {
  ReaderMutexLock lock(&mu_);
  auto it = integrations_.find(id);
  if (it == integrations_.end() || it->second.state == IntegrationState::kDeleting)
    return absl::NotFoundError(absl::StrCat("integration ", id, " not found"));
  return it->second;
}

std::vector<uint64_t> Registry::CompaniesWithHourlyReport() const {
  ReaderMutexLock lock(&mu_);
  std::vector<uint64_t> out;
  for (const auto& [company, ids] : by_company_) {
    for (uint64_t id : ids) {
      const IntegrationConfig& c = integrations_.at(id);
      if (c.AcceptsNewEvents() && c.events.hourly_report) {
        out.push_back(company);
        break;
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

void Registry::OnBroken(const IntegrationConfig& integration, TimeMs now, Changes& changes) {
  WriterMutexLock lock(&mu_);
  auto it = integrations_.find(integration.id);
  if (it == integrations_.end() || it->second.state != IntegrationState::kEnabled) return;
  IntegrationConfig next = it->second;
  next.state = IntegrationState::kBroken;
  next.updated_ms = now;
  ++next.version;
  if (absl::Status s = PutRecordLocked(next, changes); !s.ok()) {
    Log(LogLevel::kError, "cannot record broken state",
        {{"integration", next.id}, {"error", s.ToString()}});
    return;
  }
  QueueNoticeLocked(EventType::kIntegrationBroken, next,
                    "disabled automatically: too many failed requests", now, changes);
  // The dispatcher already parks it; the listener is not called back into
  // the dispatcher here (it is the caller).
  it->second = next;
}

void Registry::OnDrained(uint64_t integration_id) {
  WriterMutexLock lock(&mu_);
  auto it = integrations_.find(integration_id);
  if (it == integrations_.end() || it->second.state != IntegrationState::kDeleting) return;
  Changes changes = store_->NewChanges();
  changes.PurgeDeliveries(integration_id);
  changes.PurgeDeliveries(NoticeLaneOf(integration_id));
  changes.DeleteIntegration(integration_id);
  if (absl::Status s = store_->Apply(std::move(changes)); !s.ok()) {
    Log(LogLevel::kError, "cannot purge deleted integration",
        {{"integration", integration_id}, {"error", s.ToString()}});
    return;
  }
  EraseLocked(integration_id);
  Log(LogLevel::kInfo, "integration deleted", {{"integration", integration_id}});
  if (listener_.removed) listener_.removed(integration_id);
}

}  // namespace outboxd
