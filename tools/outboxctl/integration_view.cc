#include "integration_view.h"

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "commands.h"

namespace outboxd::ctl {
namespace {

namespace dom = simdjson::dom;

constexpr std::string_view kFlagGroups[] = {"hits", "system"};
constexpr std::string_view kLaterFlagGroups[] = {"rules_and_triggers", "scope",
                                                 "triggered", "hourly_report"};

}  // namespace

std::string SelectionSummary(dom::element events) {
  if (!events.is_object()) return "none";
  std::vector<std::string> parts;
  for (std::string_view g : kFlagGroups) {
    if (JsonBool(events, g)) parts.emplace_back(g);
  }
  dom::array risks;
  if (events["vulnerabilities"].get_array().get(risks) == simdjson::SUCCESS &&
      risks.size() > 0) {
    std::vector<std::string> levels;
    for (dom::element r : risks) levels.push_back(JsonText(r));
    parts.push_back(absl::StrCat("vuln:", absl::StrJoin(levels, "+")));
  }
  for (std::string_view g : kLaterFlagGroups) {
    if (JsonBool(events, g)) parts.emplace_back(g);
  }
  return parts.empty() ? "none" : absl::StrJoin(parts, ",");
}

std::string IntegrationSelection(dom::element integration) {
  dom::element events;
  if (integration["events"].get(events) != simdjson::SUCCESS) return "none";
  return SelectionSummary(events);
}

std::string DescribeIntegration(dom::element integration) {
  std::vector<std::pair<std::string, std::string>> lines;
  size_t width = 0;
  dom::object object;
  if (integration.get_object().get(object) != simdjson::SUCCESS)
    return JsonText(integration);
  for (dom::key_value_pair field : object) {
    std::string value =
        field.key == "events" ? SelectionSummary(field.value) : JsonText(field.value);
    lines.emplace_back(std::string(field.key),
                       value.empty() ? std::string(1, '-') : value);
    width = std::max(width, field.key.size());
  }
  std::string out;
  for (const auto& [key, value] : lines) {
    absl::StrAppend(&out, key, ":", std::string(width - key.size() + 1, ' '), value,
                    "\n");
  }
  return out;
}

std::string DescribeTestResult(dom::element result) {
  const bool ok = JsonBool(result, "ok");
  const int64_t status = JsonInt(result, "status");
  const int64_t latency = JsonInt(result, "latency_ms");
  const std::string code = JsonString(result, "error_code");
  const std::string message = JsonString(result, "message");
  if (ok) return absl::StrCat("test ok: HTTP ", status, " in ", latency, " ms\n");
  std::string out = absl::StrCat("test failed in ", latency, " ms: ");
  if (status > 0) {
    absl::StrAppend(&out, "HTTP ", status, code.empty() ? "" : " ", code);
  } else {
    absl::StrAppend(&out, "no answer", code.empty() ? "" : absl::StrCat(" (", code, ")"));
  }
  if (!message.empty()) absl::StrAppend(&out, ": ", message);
  return out + "\n";
}

}  // namespace outboxd::ctl
