// Fault injection for fake_sentinel: what to do to the next request. The
// config comes from flags and can be changed at runtime with POST /control.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "outboxd/mutex.h"
#include "outboxd/clock.h"

namespace outboxd::fake_sentinel {

struct FaultConfig {
  double fail_rate = 0;  // answer fail_status instead of checking
  int fail_status = 500;
  int retry_after_s = -1;  // Retry-After on failures; < 0 = none
  // Every request in [start, end) ms after the server started fails.
  TimeMs fail_window_start_ms = -1;
  TimeMs fail_window_end_ms = -1;
  TimeMs latency_ms = 0;    // added before every /api/logs answer
  double timeout_rate = 0;  // never answer; close after timeout_close_ms
  TimeMs timeout_close_ms = 2 * kMinuteMs;
  double reset_rate = 0;            // close the connection abruptly, no answer
  double store_then_fail_rate = 0;  // record the data, then answer 500
  // Hold /api/logs requests until this many are waiting, then release them
  // all (then count again). 0 = off. Makes concurrency tests deterministic.
  size_t gate = 0;
};

enum class FaultKind { kNone, kFail, kTimeout, kReset, kStoreThenFail };

// Decides one request's fate. `draw` returns uniform numbers in [0, 1); it
// is called once per configured rate, in the order reset, timeout, fail,
// store-then-fail.
FaultKind DecideFault(const FaultConfig& config, TimeMs since_start_ms,
                      const std::function<double()>& draw);

// "START_MS:END_MS" with 0 <= START <= END.
absl::Status ParseFailWindow(std::string_view text, FaultConfig* config);

// Applies a /control body: a JSON object with any of the FaultConfig fields
// (fail_rate, fail_status, retry_after, fail_window "S:E" or null, latency_ms,
// timeout_rate, timeout_close_ms, reset_rate, store_then_fail_rate, gate) and
// "clear": true to start from the defaults. All or nothing: on error
// (InvalidArgument) `config` is unchanged.
absl::Status ApplyControl(std::string_view json, FaultConfig* config);
std::string FaultConfigJson(const FaultConfig& config);

// Thread-safe holder of the current config and the random source.
class Faults {
 public:
  explicit Faults(FaultConfig config, uint64_t seed = std::random_device{}())
      : config_(config), random_(seed) {}

  FaultConfig config() const;
  absl::Status Control(std::string_view json);
  FaultKind Decide(TimeMs since_start_ms);

 private:
  mutable Mutex mu_;
  FaultConfig config_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 random_ ABSL_GUARDED_BY(mu_);
};

// Holds callbacks until `threshold` of them wait, then runs them all (on the
// thread that completed the group, outside the lock). Thread-safe.
class Gate {
 public:
  // Runs `go` now when the gate is off, else when the group is complete.
  void Enter(std::function<void()> go);
  // Changes the threshold; releases the waiters if it is now met (or 0).
  void SetThreshold(size_t threshold);

 private:
  std::vector<std::function<void()>> TakeIfOpen() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Mutex mu_;
  size_t threshold_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::function<void()>> waiting_ ABSL_GUARDED_BY(mu_);
};

}  // namespace outboxd::fake_sentinel
