#include "store/status.h"

#include <string>

namespace outboxd::store_internal {
namespace {

absl::StatusCode CodeOf(const rocksdb::Status& s) {
  using C = absl::StatusCode;
  if (s.IsNotFound()) return C::kNotFound;
  if (s.IsCorruption()) return C::kDataLoss;
  if (s.IsNotSupported()) return C::kUnimplemented;
  if (s.IsInvalidArgument()) return C::kInvalidArgument;
  if (s.IsNoSpace() || s.IsMemoryLimit()) return C::kResourceExhausted;
  if (s.IsIOError() || s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()) {
    return C::kUnavailable;
  }
  if (s.IsShutdownInProgress() || s.IsColumnFamilyDropped()) return C::kCancelled;
  if (s.IsAborted()) return C::kAborted;
  return C::kInternal;
}

}  // namespace

absl::Status ToStatus(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(CodeOf(s), std::string(context) + ": " + s.ToString());
}

absl::Status CorruptionError(std::string_view context, std::string_view what) {
  return absl::DataLossError(std::string(context) + ": corrupt " + std::string(what));
}

}  // namespace outboxd::store_internal
