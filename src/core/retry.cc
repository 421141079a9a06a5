#include "outboxd/retry.h"

#include <algorithm>
#include <array>
#include <limits>

#include "absl/status/statusor.h"
#include "outboxd/signer.h"

namespace outboxd {
namespace {

// DESIGN.md "Delivery rules": the delay after the n-th failed request is
// kSchedule[n - 1]; past the table it stays at kSteadyDelayMs.
constexpr std::array<TimeMs, 16> kSchedule = {
    // cycle 1
    1 * kSecondMs, 3 * kSecondMs, 5 * kSecondMs, 10 * kSecondMs, 10 * kSecondMs,
    // cycle 2
    0, 1 * kSecondMs, 3 * kSecondMs, 5 * kSecondMs, 30 * kSecondMs,
    // cycle 3
    1 * kMinuteMs, 1 * kMinuteMs, 3 * kMinuteMs, 5 * kMinuteMs, 10 * kMinuteMs,
    30 * kMinuteMs};
constexpr TimeMs kSteadyDelayMs = 30 * kMinuteMs;

// A Retry-After longer than this is taken as this: a misbehaving server must
// not park a delivery for weeks (max age still buries it in the end), and
// keeping the value small rules out overflow in due-time arithmetic.
constexpr TimeMs kMaxRetryAfterMs = 24 * kHourMs;

TimeMs SaturatingAdd(TimeMs a, TimeMs b) {
  if (b > 0 && a > std::numeric_limits<TimeMs>::max() - b) {
    return std::numeric_limits<TimeMs>::max();
  }
  return a + b;
}

// delta-seconds = 1*DIGIT; clamps instead of overflowing on long inputs.
std::optional<TimeMs> ParseDeltaSeconds(std::string_view text) {
  constexpr TimeMs kMaxSeconds = kMaxRetryAfterMs / kSecondMs;
  TimeMs seconds = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    seconds = std::min(kMaxSeconds, seconds * 10 + (c - '0'));
  }
  return seconds * kSecondMs;
}

}  // namespace

TimeMs RetryDelayMs(uint32_t failures) {
  const uint32_t n = std::max<uint32_t>(failures, 1);
  return n <= kSchedule.size() ? kSchedule[n - 1] : kSteadyDelayMs;
}

std::optional<TimeMs> ParseRetryAfter(std::string_view value, TimeMs now) {
  // OWS around the field value is not part of it (RFC 7230 3.2).
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
    value.remove_prefix(1);
  }
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
    value.remove_suffix(1);
  }
  if (value.empty()) return std::nullopt;
  if (value.front() >= '0' && value.front() <= '9') return ParseDeltaSeconds(value);
  absl::StatusOr<TimeMs> date = ParseRfc1123Date(value);
  if (!date.ok()) return std::nullopt;
  if (*date <= now) return 0;
  // Both are real timestamps (|t| < 2^47), so the difference cannot overflow.
  return std::min(*date - now, kMaxRetryAfterMs);
}

RetryDecision NextAttempt(const RetryPolicy& policy, TimeMs now, TimeMs first_enqueued_ms,
                          uint32_t failures, std::optional<TimeMs> retry_after_ms) {
  if (now - first_enqueued_ms > policy.max_age_ms) return {.dead = true, .due_ms = 0};
  // Clamped like a parsed header: a due time far in the future would hide the
  // delivery from the max-age rule, which is only applied on a failure.
  const TimeMs retry_after = std::min(retry_after_ms.value_or(0), kMaxRetryAfterMs);
  const TimeMs delay = std::max(RetryDelayMs(failures), retry_after);
  return {.dead = false, .due_ms = SaturatingAdd(now, delay)};
}

}  // namespace outboxd
