// Log-only deliveries (internal): deliveries written only as WAL records,
// and the set that tracks them until they are removed or rewritten as Puts.
// docs/storage.md, "Log-only deliveries", has the design and its proof.
#pragma once

#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "outboxd/mutex.h"
#include "outboxd/store.h"

namespace outboxd::store_internal {

// First byte of a log-only delivery's WAL-only record, followed by the
// 24-byte outbox key and the delivery value (values.h). SyncDeferred's
// marker record starts with a letter.
inline constexpr char kLogOnlyFormat = '\x01';

// The log-only deliveries that are written and neither removed nor
// rewritten as Puts yet, with the bytes to rewrite them.
//
// Every Apply that writes log-only records, removes outbox keys or purges
// an integration runs inside a window (BeginApply .. EndApply); a
// checkpoint waits for the windows that opened before it listed the WAL
// archive, so every log-only record in a listed file is in the set by then.
// Removals mark their entries *removing* before their write; a checkpoint
// marks what it rewrites *rewriting*, and a removal of such an entry waits
// until the rewrite is written, so a tombstone never precedes the Put it
// must delete.
class LogOnlySet {
 public:
  // Opens an Apply's window; the ticket goes to the calls below.
  uint64_t BeginApply();
  void EndApply(uint64_t ticket);

  // After a successful write, before EndApply. `seq_before`: RocksDB's last
  // sequence number read before the write (the batch's number is higher).
  void Add(std::vector<Delivery> written, uint64_t seq_before);

  // What an Apply removes: runs of keys (integration, due, first.seq ..
  // last) and whole integrations.
  struct Removal {
    std::vector<std::pair<DeliveryKey, uint64_t>> runs;
    std::vector<uint64_t> purged;
    std::vector<std::tuple<uint64_t, TimeMs, uint64_t>> marked;  // set by Begin
  };
  // Before the write: marks the entries it covers *removing*, after waiting
  // while a checkpoint rewrites (or is about to rewrite) any of them.
  void BeginRemoval(uint64_t ticket, Removal* removal);
  // After the write: the marked entries go (written) or are back (failed).
  void EndRemoval(const Removal& removal, bool written);

  // A checkpoint's rewrite: waits for the windows opened before this call
  // and for removals in progress, then returns the entries that may lie in
  // a WAL file whose records are all below sequence number `live_from`
  // (the first of the live files: so the archived ones), marked
  // *rewriting*; UINT64_MAX takes all. EndRewrite(true) erases them (their
  // Puts are written), EndRewrite(false) puts them back.
  std::vector<Delivery> BeginRewrite(uint64_t live_from);
  void EndRewrite(bool written);

  // A checkpoint is wanted (a list was dropped, a written delivery was not
  // listed); cleared by TakeCheckpointRequest.
  void RequestCheckpoint();
  bool TakeCheckpointRequest();
  bool checkpoint_requested() const;
  // The earliest due time among the integration's entries, or kNoDue:
  // they are in no column family, so a seek does not find them.
  TimeMs OldestDue(uint64_t integration_id) const;
  bool Holds(uint64_t integration_id) const;
  size_t size() const;

 private:
  using Key = std::tuple<uint64_t, TimeMs, uint64_t>;
  enum class State : uint8_t { kWritten, kRemoving, kRewriting };
  struct Entry {
    Delivery delivery;
    uint64_t seq_before = 0;
    State state = State::kWritten;
  };
  // Calls fn(entry) for each entry `removal` covers.
  template <typename Fn>
  void ForEachCovered(const Removal& removal, Fn fn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool MustWait(uint64_t ticket, const Removal& removal)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  absl::btree_map<Key, Entry> entries_ ABSL_GUARDED_BY(mu_);
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, int> open_windows_
      ABSL_GUARDED_BY(mu_);  // epoch -> count
  size_t removing_ ABSL_GUARDED_BY(mu_) = 0;
  // A rewrite waits for the windows up to pending_epoch_; removals from
  // later windows wait for it instead of marking what it will take.
  bool pending_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t pending_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  bool rewriting_ ABSL_GUARDED_BY(mu_) = false;
  bool requested_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace outboxd::store_internal
