#include "crash/power_loss_fs.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"

namespace outboxd {
namespace {

using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

IOStatus NoPower() { return IOStatus::IOError("power lost (PowerLossFs)"); }

}  // namespace

// A writable file whose writes and syncs go through PowerLossFs's power
// switch and whose syncs record the durable size.
class PowerLossFs::TrackedFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  TrackedFile(PowerLossFs* fs, std::string path, std::unique_ptr<rocksdb::FSWritableFile> file)
      : FSWritableFileOwnerWrapper(std::move(file)), fs_(fs), path_(std::move(path)) {}

  IOStatus Append(const Slice& data, const IOOptions& options, IODebugContext* dbg) override {
    return fs_->Mutate([&] { return target()->Append(data, options, dbg); });
  }
  IOStatus Append(const Slice& data, const IOOptions& options,
                  const rocksdb::DataVerificationInfo& info, IODebugContext* dbg) override {
    return fs_->Mutate([&] { return target()->Append(data, options, info, dbg); });
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& options,
                            IODebugContext* dbg) override {
    return fs_->Mutate([&] { return target()->PositionedAppend(data, offset, options, dbg); });
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& options,
                            const rocksdb::DataVerificationInfo& info,
                            IODebugContext* dbg) override {
    return fs_->Mutate(
        [&] { return target()->PositionedAppend(data, offset, options, info, dbg); });
  }
  IOStatus Truncate(uint64_t size, const IOOptions& options, IODebugContext* dbg) override {
    return fs_->Mutate([&] { return target()->Truncate(size, options, dbg); },
                       [&](FileState& s) { s.synced = std::min(s.synced, size); }, path_);
  }
  IOStatus Sync(const IOOptions& options, IODebugContext* dbg) override {
    return SyncWith([&] { return target()->Sync(options, dbg); }, options, dbg);
  }
  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    return SyncWith([&] { return target()->Fsync(options, dbg); }, options, dbg);
  }
  IOStatus RangeSync(uint64_t offset, uint64_t nbytes, const IOOptions& options,
                     IODebugContext* dbg) override {
    // sync_file_range writes data back but promises no durability: allowed,
    // and it makes nothing durable here.
    return fs_->Mutate([&] { return target()->RangeSync(offset, nbytes, options, dbg); });
  }
  IOStatus Allocate(uint64_t offset, uint64_t len, const IOOptions& options,
                    IODebugContext* dbg) override {
    return fs_->Mutate([&] { return target()->Allocate(offset, len, options, dbg); });
  }
  // Close writes no data: the file descriptor is released even without power.

 private:
  IOStatus SyncWith(const std::function<IOStatus()>& sync, const IOOptions& options,
                    IODebugContext* dbg) {
    return fs_->Mutate(sync,
                       [&](FileState& s) {
                         s.synced = std::max(s.synced, target()->GetFileSize(options, dbg));
                       },
                       path_);
  }

  PowerLossFs* const fs_;
  const std::string path_;
};

PowerLossFs::PowerLossFs(std::shared_ptr<rocksdb::FileSystem> base)
    : FileSystemWrapper(std::move(base)) {}

void PowerLossFs::CutPower(Deletions deletions) {
  MutexLock lock(&mu_);
  powered_ = false;
  deletions_ = deletions;
}

bool PowerLossFs::powered() const {
  MutexLock lock(&mu_);
  return powered_;
}

uint64_t PowerLossFs::bytes_dropped() const {
  MutexLock lock(&mu_);
  return bytes_dropped_;
}

uint64_t PowerLossFs::untracked_writes() const {
  MutexLock lock(&mu_);
  return untracked_writes_;
}

IOStatus PowerLossFs::Mutate(const std::function<IOStatus()>& op,
                             const std::function<void(FileState&)>& after,
                             const std::string& path) {
  // The lock spans the operation: a sync either completes before the power
  // is cut or does not happen at all.
  MutexLock lock(&mu_);
  if (!powered_) return NoPower();
  IOStatus s = op();
  if (s.ok() && after) after(files_[path]);
  return s;
}

absl::Status PowerLossFs::RestorePower(std::mt19937_64* torn) {
  MutexLock lock(&mu_);
  bytes_dropped_ = 0;
  for (auto& [path, state] : files_) {
    uint64_t size = 0;
    IOStatus s = target()->GetFileSize(path, IOOptions(), &size, nullptr);
    if (s.IsNotFound() || s.IsPathNotFound()) continue;
    if (!s.ok()) return absl::InternalError(absl::StrCat(path, ": ", s.ToString()));
    if (size <= state.synced) continue;
    uint64_t keep = state.synced;
    if (torn != nullptr) {
      keep += std::uniform_int_distribution<uint64_t>(0, size - state.synced)(*torn);
    }
    // The default file system does not implement Truncate(path).
    if (::truncate(path.c_str(), static_cast<off_t>(keep)) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("truncate ", path));
    }
    bytes_dropped_ += size - keep;
    state.synced = keep;
  }
  powered_ = true;
  return absl::OkStatus();
}

IOStatus PowerLossFs::Track(const std::string& path, uint64_t existing_size,
                            std::unique_ptr<rocksdb::FSWritableFile>* result) {
  files_[path].synced = existing_size;
  *result = std::make_unique<TrackedFile>(this, path, std::move(*result));
  return IOStatus::OK();
}

IOStatus PowerLossFs::NewWritableFile(const std::string& path,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      IODebugContext* dbg) {
  MutexLock lock(&mu_);
  if (!powered_) return NoPower();
  IOStatus s = target()->NewWritableFile(path, options, result, dbg);
  return s.ok() ? Track(path, 0, result) : s;
}

IOStatus PowerLossFs::ReopenWritableFile(const std::string& path,
                                         const rocksdb::FileOptions& options,
                                         std::unique_ptr<rocksdb::FSWritableFile>* result,
                                         IODebugContext* dbg) {
  MutexLock lock(&mu_);
  if (!powered_) return NoPower();
  // What is there already survived an earlier power loss or was synced.
  uint64_t size = 0;
  if (!target()->GetFileSize(path, IOOptions(), &size, dbg).ok()) size = 0;
  IOStatus s = target()->ReopenWritableFile(path, options, result, dbg);
  return s.ok() ? Track(path, size, result) : s;
}

IOStatus PowerLossFs::ReuseWritableFile(const std::string&, const std::string&,
                                        const rocksdb::FileOptions&,
                                        std::unique_ptr<rocksdb::FSWritableFile>*,
                                        IODebugContext*) {
  // Recycled WAL files overwrite old bytes in place, which this model does
  // not track; outboxd leaves recycle_log_file_num at 0.
  return IOStatus::NotSupported("PowerLossFs: ReuseWritableFile");
}

IOStatus PowerLossFs::NewRandomRWFile(const std::string& path,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSRandomRWFile>* result,
                                      IODebugContext* dbg) {
  MutexLock lock(&mu_);
  if (!powered_) return NoPower();
  ++untracked_writes_;
  return target()->NewRandomRWFile(path, options, result, dbg);
}

IOStatus PowerLossFs::DeleteFile(const std::string& path, const IOOptions& options,
                                 IODebugContext* dbg) {
  MutexLock lock(&mu_);
  if (!powered_ && deletions_ == Deletions::kFail) return NoPower();
  IOStatus s = target()->DeleteFile(path, options, dbg);
  if (s.ok()) files_.erase(path);
  return s;
}

IOStatus PowerLossFs::RenameFile(const std::string& from, const std::string& to,
                                 const IOOptions& options, IODebugContext* dbg) {
  MutexLock lock(&mu_);
  if (!powered_) return NoPower();
  IOStatus s = target()->RenameFile(from, to, options, dbg);
  if (!s.ok()) return s;
  auto it = files_.find(from);
  if (it == files_.end()) {
    files_.erase(to);
  } else {
    FileState state = it->second;
    files_.erase(it);
    files_[to] = state;
  }
  return s;
}

IOStatus PowerLossFs::LinkFile(const std::string& from, const std::string& to,
                               const IOOptions& options, IODebugContext* dbg) {
  MutexLock lock(&mu_);
  if (!powered_) return NoPower();
  IOStatus s = target()->LinkFile(from, to, options, dbg);
  if (s.ok()) {
    auto it = files_.find(from);
    if (it != files_.end()) files_[to] = it->second;
  }
  return s;
}

IOStatus PowerLossFs::Truncate(const std::string& path, size_t size, const IOOptions& options,
                               IODebugContext* dbg) {
  MutexLock lock(&mu_);
  if (!powered_) return NoPower();
  IOStatus s = target()->Truncate(path, size, options, dbg);
  auto it = files_.find(path);
  if (s.ok() && it != files_.end()) it->second.synced = std::min<uint64_t>(it->second.synced, size);
  return s;
}

IOStatus PowerLossFs::CreateDir(const std::string& path, const IOOptions& options,
                                IODebugContext* dbg) {
  MutexLock lock(&mu_);
  if (!powered_) return NoPower();
  return target()->CreateDir(path, options, dbg);
}

IOStatus PowerLossFs::CreateDirIfMissing(const std::string& path, const IOOptions& options,
                                         IODebugContext* dbg) {
  MutexLock lock(&mu_);
  if (!powered_) return NoPower();
  return target()->CreateDirIfMissing(path, options, dbg);
}

IOStatus PowerLossFs::DeleteDir(const std::string& path, const IOOptions& options,
                                IODebugContext* dbg) {
  MutexLock lock(&mu_);
  if (!powered_) return NoPower();
  return target()->DeleteDir(path, options, dbg);
}

}  // namespace outboxd
