// How outboxctl shows the API's integration JSON to a person. Pure
// functions of the parsed answers, so they are tested without a server.
#pragma once

#include <string>

#include "simdjson.h"

namespace outboxd::ctl {

// The "events" selection object in short: "hits,system,vuln:high+low,
// rules_and_triggers,scope,triggered,hourly_report", or "none".
std::string SelectionSummary(simdjson::dom::element events);
// SelectionSummary of an integration object's "events".
std::string IntegrationSelection(simdjson::dom::element integration);

// One "key: value" line per field of an integration object, keys aligned;
// "events" in short (SelectionSummary). Secrets arrive masked from the API
// and are shown as they came.
std::string DescribeIntegration(simdjson::dom::element integration);

// A test answer {"ok", "status", "error_code", "message", "latency_ms"} as
// one line: "test ok: HTTP 200 in 12 ms",
// "test failed in 3 ms: HTTP 403 InvalidAuthorization: <message>" or
// "test failed in 5000 ms: no answer (timeout)".
std::string DescribeTestResult(simdjson::dom::element result);

}  // namespace outboxd::ctl
