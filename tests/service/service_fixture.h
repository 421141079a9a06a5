// Pieces the service tests share: a SecretBox with a fixed key, the record
// codec the daemon uses, and a store in a test directory.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "api/integration_record.h"
#include "api/secret_box.h"
#include "service/registry.h"

namespace outboxd::testing {

inline std::unique_ptr<SecretBox> TestSecretBox() {
  return std::make_unique<SecretBox>(*SecretBox::FromKey(std::string(32, 'k')));
}

// Seals and opens integration records with `box` (which must outlive it).
inline RecordCodec TestRecordCodec(const SecretBox* box) {
  return RecordCodec{
      [box](const IntegrationConfig& c) { return EncodeIntegrationRecord(c, *box); },
      [box](std::string_view r) { return DecodeIntegrationRecord(r, *box); }};
}

// `sync` off where a test has no crash to survive (fsyncs only slow it).
inline absl::StatusOr<std::unique_ptr<OutboxStore>> OpenTestStore(const std::string& path,
                                                                  bool sync = true) {
  StoreOptions o;
  o.path = path;
  o.sync = sync;
  return OutboxStore::Open(o);
}

// Opens the store at `path` and a Registry over it with `box`'s codec, and
// loads the registry.
inline absl::Status OpenStoreAndRegistry(const std::string& path, Clock* clock,
                                         const SecretBox* box, bool sync,
                                         std::unique_ptr<OutboxStore>* store,
                                         std::unique_ptr<Registry>* registry) {
  auto opened = OpenTestStore(path, sync);
  if (!opened.ok()) return opened.status();
  *store = std::move(*opened);
  *registry = std::make_unique<Registry>(store->get(), clock, TestRecordCodec(box));
  return (*registry)->Load();
}

}  // namespace outboxd::testing
