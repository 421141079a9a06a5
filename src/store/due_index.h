// The in-memory due index: which integrations have deliveries to scan, and
// where each scan resumes. O(number of integrations) memory and work, never
// O(backlog). docs/storage.md explains the rules; in short, per integration:
//
//   cursor    lower bound of the next scan (after what was handed out)
//   rewind    smallest position written since the last scan began (+inf if
//             none): a write below the cursor makes the next scan start there
//   next_due  lower bound of the earliest due time not handed out yet
//
// Thread-safe. BeginScan/EndScan of one integration must not overlap with
// another scan of it (the dispatcher owns scans); ResetCursor and writes may
// run at any time.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "outboxd/store.h"
#include "store/keys.h"
#include "outboxd/mutex.h"

namespace outboxd::store_internal {

class DueIndex {
 public:
  // What a scan needs from BeginScan and gives back to EndScan/AbortScan.
  struct ScanTicket {
    OutboxPos start;
    uint64_t epoch = 0;  // changes when the cursor is reset or the entry dropped
  };

  // At open: the integration's first (smallest) queued due time.
  void Seed(uint64_t integration_id, TimeMs first_due_ms);
  // After a durable write of an outbox key at `pos` (the smallest one written
  // for this integration in the batch).
  void OnWritten(uint64_t integration_id, OutboxPos pos);

  // start = min(cursor, rewind); rewind := +inf (writes from now on are
  // caught by the next scan).
  ScanTicket BeginScan(uint64_t integration_id);
  // `resume`: where the next scan continues (the first position not handed
  // out); `first_unscanned_due`: due time at `resume`, or kNoDue when the
  // integration's range was exhausted.
  void EndScan(uint64_t integration_id, const ScanTicket& ticket, OutboxPos resume,
               TimeMs first_unscanned_due);
  // The scan failed: the next one starts at this one's start again.
  void AbortScan(uint64_t integration_id, const ScanTicket& ticket);

  // Cursor back to the beginning and next_due to 0 (due now). The caller
  // then looks up the first queued due time and passes it to EndReset with
  // the returned token (kNoDue if none); EndReset applies it only if no
  // write or scan touched the integration in between (else 0 stays, or the
  // scan's exact answer does).
  uint64_t BeginReset(uint64_t integration_id);
  void EndReset(uint64_t integration_id, uint64_t token, TimeMs first_due_ms);

  void Erase(uint64_t integration_id);

  // A position at or below the integration's smallest queued key, so that
  // OldestDue seeks past the tombstones of what was delivered instead of
  // stepping over all of them from the range's start. Writes lower it
  // (OnWritten); OldestDue raises it to the key it found with
  // RaiseOldestHint, passing the token OldestHint returned, which is
  // refused when a write came in between. Unknown integrations: kBeginPos.
  struct OldestHint {
    OutboxPos pos = kBeginPos;
    uint64_t token = 0;
  };
  OldestHint GetOldestHint(uint64_t integration_id) const;
  void RaiseOldestHint(uint64_t integration_id, uint64_t token, OutboxPos found);

  TimeMs NextDue(uint64_t integration_id) const;
  std::vector<uint64_t> DueIntegrations(TimeMs now) const;
  // Integrations touched by any of the calls above that change an entry
  // (next_due may differ) since the previous TakeChanged, each once.
  std::vector<uint64_t> TakeChanged();
  size_t size() const;

 private:
  struct Entry {
    OutboxPos cursor = kBeginPos;
    OutboxPos rewind = kInfinitePos;
    TimeMs next_due = kNoDue;
    uint64_t epoch = 0;    // changes on reset: scans that began before are stale
    uint64_t version = 0;  // changes on every write, scan and reset
    OutboxPos oldest = kBeginPos;  // see GetOldestHint
    uint64_t last_write = 0;       // next_write_ at its last write (0: none)
  };
  Entry& FindOrAdd(uint64_t integration_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  absl::flat_hash_map<uint64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<uint64_t> changed_ ABSL_GUARDED_BY(mu_);
  uint64_t next_epoch_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_version_ ABSL_GUARDED_BY(mu_) = 1;
  // Store-wide, so that a token never matches a later incarnation of an
  // erased entry.
  uint64_t next_write_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace outboxd::store_internal
