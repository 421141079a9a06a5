// What an answer means for the deliveries a request carried: pure decisions,
// no I/O. The dispatcher turns an AnswerPlan into one store batch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "outboxd/destination.h"
#include "outboxd/retry.h"
#include "outboxd/store.h"

namespace outboxd {

struct RetryStep {
  size_t index = 0;        // into the request's deliveries
  bool dead = false;       // past max age
  TimeMs due_ms = 0;       // next due time when !dead
  uint32_t attempts = 0;   // failed requests so far, this one included
};

struct AnswerPlan {
  enum class Kind : uint8_t {
    kDelivered,  // remove every delivery
    kRetry,      // reschedule (or, past max age, bury) every delivery
    kBisect,     // resend the two halves now; nothing changes in the store
    kDead,       // the single delivery goes to `dead` with `reason`
  };
  Kind kind = Kind::kRetry;
  std::vector<RetryStep> retries;  // kRetry: one per delivery, in order
  std::string reason;              // kDead, and the cause of kRetry
  bool failure = false;            // counts as a failed request (health)
};

// Decides what to do with `deliveries` after `answer`, at `now`.
AnswerPlan PlanAnswer(const std::vector<Delivery>& deliveries, const Answer& answer,
                      TimeMs now, const RetryPolicy& policy);

// "503 ServiceUnavailable: message" / "timeout" — for logs and dead letters.
std::string DescribeAnswer(int status, const Answer& answer);

}  // namespace outboxd
