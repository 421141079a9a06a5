// The in-memory due index: which integrations have deliveries to scan, and
// where each scan resumes. O(number of integrations) memory and work, never
// O(backlog). docs/storage.md explains the rules; in short, per integration:
//
//   cursor    lower bound of the next scan (after what was handed out)
//   rewind    smallest position written since the last scan began (+inf if
//             none): a write below the cursor makes the next scan start there
//   next_due  lower bound of the earliest due time not handed out yet
//
// Fresh deliveries (docs/storage.md, "Fresh deliveries from memory"): when
// EnableFresh gave it a memory cap, the index also keeps a copy of what was
// written, per integration, and serves it without reading RocksDB. An
// integration is then "armed" at a sequence number S: a key with seq in
// [S, T) is in the fresh list (or its writer has not reported it yet) and
// never handed out by a RocksDB scan; any other key is found by RocksDB
// scans, with the cursor and rewind above. T is +inf until the list passes
// half the cap: then the list is "capped" at T (it lists no later seq, and
// is taken from before the RocksDB part), and once it is empty the
// integration is armed again at a new S. Disarming (the whole cap, reset, a
// failed write) hands every listed key back to the RocksDB scans by
// rewinding to it.
//
// Thread-safe. BeginScan/EndScan of one integration must not overlap with
// another scan of it (the dispatcher owns scans); ResetCursor and writes may
// run at any time.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "outboxd/mutex.h"
#include "outboxd/store.h"
#include "store/fresh_list.h"
#include "store/keys.h"

namespace outboxd::store_internal {

class DueIndex {
 public:
  static constexpr uint64_t kNotArmed = UINT64_MAX;
  // The seqs an integration's fresh list takes, [S, T): from is kNotArmed
  // when it is not armed, to kNotArmed (+inf) unless the list is capped.
  struct FreshRange {
    uint64_t from = kNotArmed;
    uint64_t to = kNotArmed;
    bool Contains(uint64_t seq) const { return seq >= from && seq < to; }
    bool armed() const { return from != kNotArmed; }
    bool capped() const { return to != kNotArmed; }
  };
  // What a scan needs from BeginScan and gives back to EndScan/AbortScan.
  struct ScanTicket {
    OutboxPos start;
    uint64_t epoch = 0;  // changes when the cursor is reset or the entry dropped
    // Keys with a seq in it belong to the fresh list: the RocksDB scan
    // steps over them.
    FreshRange fresh;
    // False when the RocksDB part has nothing due (only BeginScan(id, now)
    // of an armed integration says so); the scan is then skipped.
    bool scan_rocks = true;
  };
  // How often lists were capped (and later armed again) and dropped with
  // deliveries in them (metrics).
  struct FreshCounts {
    uint64_t capped = 0;
    uint64_t dropped = 0;
  };

  // Keeps fresh deliveries in memory, up to `cap_bytes` over all
  // integrations, a list capped once it holds half of that; `next_seq`
  // returns a number at or below every sequence number not handed out yet
  // by the store's allocator. Call before use.
  void EnableFresh(size_t cap_bytes, std::function<uint64_t()> next_seq);

  // At open: the integration's first (smallest) queued due time.
  void Seed(uint64_t integration_id, TimeMs first_due_ms);
  // After a durable write of outbox keys for the integration, `pos` the
  // smallest. With fresh deliveries enabled, `written` holds a copy of
  // every delivery written (all of them: an armed integration never finds
  // the others); the listed ones are moved out, and what is left in it
  // is for the RocksDB scan to find.
  void OnWritten(uint64_t integration_id, OutboxPos pos,
                 std::vector<Delivery>* written = nullptr);
  // A write for the integration failed: it may still have become visible.
  // Rewinds to `pos` and disarms.
  void OnWriteFailed(uint64_t integration_id, OutboxPos pos);

  // start = min(cursor, rewind); rewind := +inf (writes from now on are
  // caught by the next scan).
  ScanTicket BeginScan(uint64_t integration_id);
  // The same, except that an armed integration whose RocksDB part has
  // nothing due at `now` gets scan_rocks = false and is left untouched.
  ScanTicket BeginScan(uint64_t integration_id, TimeMs now);
  // The same for a scan of at most `max_items`, except that a capped list
  // goes first: its deliveries due at `now` move to *capped_out (up to
  // `max_items`), and an emptied list is armed again at a new S before the
  // ticket is made. When that filled `max_items`, scan_rocks = false and
  // the RocksDB part is left untouched.
  ScanTicket BeginScan(uint64_t integration_id, TimeMs now, size_t max_items,
                       std::vector<Delivery>* capped_out);
  // Moves up to `max_items` listed deliveries due at `now` into *out, in key
  // order. Returns how many.
  size_t TakeFresh(uint64_t integration_id, TimeMs now, size_t max_items,
                   std::vector<Delivery>* out);
  // Bytes of the listed deliveries (the cap also counts the spare slots
  // that the lists keep), and whether the integration is armed (tests,
  // metrics).
  size_t fresh_bytes() const;
  bool armed(uint64_t integration_id) const;
  bool capped(uint64_t integration_id) const;
  FreshCounts fresh_counts() const;
  // The seqs the integration's list takes (from = kNotArmed when it is not
  // armed). A delivery written with a seq in it is listed by OnWritten
  // unless the list is dropped, or emptied and armed again, in between
  // (see TakeDropped and the store's check after OnWritten).
  FreshRange Fresh(uint64_t integration_id) const;
  // Whether a list with deliveries in it was dropped (over the cap, a
  // failed write, a reset, a purge) since the last call. The store's
  // log-only deliveries in it are invisible to the RocksDB scan until they
  // are rewritten as Puts (docs/storage.md, "Log-only deliveries").
  bool TakeDropped() { return dropped_.exchange(false, std::memory_order_acq_rel); }
  // `resume`: where the next scan continues (the first position not handed
  // out); `first_unscanned_due`: due time at `resume`, or kNoDue when the
  // integration's range was exhausted. `drained`: the scan stopped at a key
  // not due yet, not at its item limit. A scan that exhausted the range or
  // drained everything due arms an integration that is not armed (fresh
  // deliveries enabled).
  void EndScan(uint64_t integration_id, const ScanTicket& ticket, OutboxPos resume,
               TimeMs first_unscanned_due, bool drained = false);
  // The scan failed: the next one starts at this one's start again.
  void AbortScan(uint64_t integration_id, const ScanTicket& ticket);

  // Cursor back to the beginning and next_due to 0 (due now). The caller
  // then looks up the first queued due time and passes it to EndReset with
  // the returned token (kNoDue if none); EndReset applies it only if no
  // write or scan touched the integration in between (else 0 stays, or the
  // scan's exact answer does).
  uint64_t BeginReset(uint64_t integration_id);
  void EndReset(uint64_t integration_id, uint64_t token, TimeMs first_due_ms);

  // Forgets the integration, its fresh list too.
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

  // Lower bound over the RocksDB part and the fresh list.
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
    uint64_t epoch = 0;            // changes on reset: scans that began before are stale
    uint64_t version = 0;          // changes on every write, scan and reset
    OutboxPos oldest = kBeginPos;  // see GetOldestHint
    uint64_t last_write = 0;       // next_write_ at its last write (0: none)
    // Fresh deliveries (see the top): the list and its [S, T).
    FreshRange range;
    FreshList fresh;
    // next_due above covers the RocksDB part only; this is both.
    TimeMs Due() const {
      return fresh.empty() ? next_due : std::min(next_due, fresh.front().key.due_ms);
    }
  };
  Entry& FindOrAdd(uint64_t integration_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Arm(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A capped list that is empty: armed again at a new S, T = +inf.
  void Rearm(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The ticket of a scan that begins now (BeginScan).
  ScanTicket MakeTicket(Entry& e, TimeMs now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Hands the listed keys back to the RocksDB scans (rewind to the first).
  void Disarm(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropFresh(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After a change of e's list that began with these byte counts.
  void Recount(const Entry& e, size_t listed_before, size_t held_before)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Over the cap: disarms the integrations with the largest lists until
  // the total fits.
  void ShedFresh() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  std::atomic<bool> dropped_{false};
  absl::flat_hash_map<uint64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<uint64_t> changed_ ABSL_GUARDED_BY(mu_);
  uint64_t next_epoch_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_version_ ABSL_GUARDED_BY(mu_) = 1;
  // Store-wide, so that a token never matches a later incarnation of an
  // erased entry.
  uint64_t next_write_ ABSL_GUARDED_BY(mu_) = 1;
  size_t fresh_cap_ ABSL_GUARDED_BY(mu_) = 0;  // 0: fresh deliveries disabled
  // Sums of the lists' listed_bytes() and held_bytes(); the cap applies to
  // the memory held.
  size_t fresh_listed_ ABSL_GUARDED_BY(mu_) = 0;
  size_t fresh_held_ ABSL_GUARDED_BY(mu_) = 0;
  FreshCounts counts_ ABSL_GUARDED_BY(mu_);
  std::function<uint64_t()> next_seq_ ABSL_GUARDED_BY(mu_);
};

}  // namespace outboxd::store_internal
