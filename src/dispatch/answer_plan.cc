#include "dispatch/answer_plan.h"

#include "absl/strings/str_cat.h"

namespace outboxd {

std::string DescribeAnswer(int status, const Answer& answer) {
  std::string out = status == 0 ? std::string("no answer") : absl::StrCat(status);
  if (!answer.error_code.empty()) absl::StrAppend(&out, " ", answer.error_code);
  if (!answer.message.empty()) absl::StrAppend(&out, ": ", answer.message);
  return out;
}

AnswerPlan PlanAnswer(const std::vector<Delivery>& deliveries, const Answer& answer,
                      TimeMs now, const RetryPolicy& policy) {
  AnswerPlan plan;
  plan.failure = answer.verdict != Verdict::kDelivered && answer.counts_as_failure;
  switch (answer.verdict) {
    case Verdict::kDelivered:
      plan.kind = AnswerPlan::Kind::kDelivered;
      return plan;
    case Verdict::kRejectRecords:
    case Verdict::kSplit:
      // A batch of several records is split so the good ones still go; a
      // record the destination rejects on its own can never succeed.
      plan.kind = deliveries.size() > 1 ? AnswerPlan::Kind::kBisect : AnswerPlan::Kind::kDead;
      return plan;
    case Verdict::kRetry:
      break;
  }
  plan.kind = AnswerPlan::Kind::kRetry;
  plan.retries.reserve(deliveries.size());
  for (size_t i = 0; i < deliveries.size(); ++i) {
    const Delivery& d = deliveries[i];
    uint32_t attempts = d.attempts + 1;
    RetryDecision decision =
        NextAttempt(policy, now, d.first_enqueued_ms, attempts, answer.retry_after_ms);
    plan.retries.push_back({i, decision.dead, decision.due_ms, attempts});
  }
  return plan;
}

}  // namespace outboxd
