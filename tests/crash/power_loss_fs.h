// A RocksDB FileSystem that simulates a power loss: it remembers, for every
// file written through it, how many bytes a Sync/Fsync made durable, and on
// RestorePower() cuts each file back to that size — what a disk keeps when
// the power goes.
//
//   auto fs = std::make_shared<PowerLossFs>(rocksdb::FileSystem::Default());
//   std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
//   ... open a DB with env, write ...
//   fs->CutPower();        // every later write, sync, create, rename fails
//   ... close the DB (its last writes fail and are dropped) ...
//   fs->RestorePower(...); // unsynced bytes are gone; reopen and check
//
// The model: a file's bytes up to its last Sync/Fsync survive; bytes after
// it are lost, or, for a torn write, a random prefix of them survives. File
// creation, renames and deletions done while the power was on are taken as
// durable (RocksDB syncs the directory after them where it matters). RangeSync
// and Flush make nothing durable.
//
// Thread-safe: RocksDB writes from its write and background threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "outboxd/mutex.h"
#include "rocksdb/file_system.h"

namespace outboxd {

class PowerLossFs : public rocksdb::FileSystemWrapper {
 public:
  explicit PowerLossFs(std::shared_ptr<rocksdb::FileSystem> base);

  static const char* kClassName() { return "PowerLossFs"; }
  const char* Name() const override { return kClassName(); }

  // From now on every mutation (write, sync, truncate, create, rename,
  // link, delete) fails with an IOError and changes nothing; reads work.
  // With kStillWork, deletions still succeed, as on a full disk (which
  // frees space by deleting, and syncs nothing new): a test can then see
  // whether a file was deleted before the writes that had to come first.
  enum class Deletions { kFail, kStillWork };
  void CutPower(Deletions deletions = Deletions::kFail);
  // Cuts every tracked file back to its synced size, keeping a random prefix
  // of the unsynced bytes when `torn` is set, and turns the power back on.
  // Uses truncate(2): the base file system must be the local one.
  absl::Status RestorePower(std::mt19937_64* torn);

  bool powered() const;
  // Unsynced bytes dropped by the last RestorePower, over all files.
  uint64_t bytes_dropped() const;
  // Writes through paths this model does not track (random-access writable
  // files); a test should expect none.
  uint64_t untracked_writes() const;

  rocksdb::IOStatus NewWritableFile(const std::string& path,
                                    const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& path,
                                       const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& path, const std::string& old_path,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewRandomRWFile(const std::string& path,
                                    const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& path, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& from, const std::string& to,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus LinkFile(const std::string& from, const std::string& to,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus Truncate(const std::string& path, size_t size,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDir(const std::string& path, const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDirIfMissing(const std::string& path,
                                       const rocksdb::IOOptions& options,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteDir(const std::string& path, const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override;

 private:
  struct FileState {
    uint64_t synced = 0;  // bytes made durable by a Sync/Fsync
  };

  class TrackedFile;

  // Runs `op` if the power is on (else fails without running it), then,
  // when it succeeded, `after` on the state of `path`; all under mu_.
  rocksdb::IOStatus Mutate(const std::function<rocksdb::IOStatus()>& op,
                           const std::function<void(FileState&)>& after = nullptr,
                           const std::string& path = std::string());
  rocksdb::IOStatus Track(const std::string& path, uint64_t existing_size,
                          std::unique_ptr<rocksdb::FSWritableFile>* result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  bool powered_ ABSL_GUARDED_BY(mu_) = true;
  Deletions deletions_ ABSL_GUARDED_BY(mu_) = Deletions::kFail;
  absl::flat_hash_map<std::string, FileState> files_ ABSL_GUARDED_BY(mu_);
  uint64_t bytes_dropped_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t untracked_writes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace outboxd
