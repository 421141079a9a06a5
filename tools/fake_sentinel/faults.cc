#include "faults.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "checks.h"
#include "simdjson.h"

namespace outboxd::fake_sentinel {
namespace {

absl::Status Invalid(std::string_view key, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("control field '", ToAbsl(key), "': ", ToAbsl(why)));
}

absl::Status ReadRate(simdjson::dom::element value, std::string_view key, double* out) {
  double rate = 0;
  if (value.get(rate) != simdjson::SUCCESS) {
    int64_t whole = 0;
    if (value.get(whole) != simdjson::SUCCESS) return Invalid(key, "expected a number");
    rate = static_cast<double>(whole);
  }
  if (rate < 0 || rate > 1) return Invalid(key, "expected a rate in [0, 1]");
  *out = rate;
  return absl::OkStatus();
}

absl::Status ReadInt(simdjson::dom::element value, std::string_view key, int64_t min,
                     int64_t* out) {
  int64_t number = 0;
  if (value.get(number) != simdjson::SUCCESS) return Invalid(key, "expected an integer");
  if (number < min) return Invalid(key, absl::StrCat("must be at least ", min));
  *out = number;
  return absl::OkStatus();
}

// One "key": value of a /control body.
absl::Status ApplyField(std::string_view key, simdjson::dom::element value,
                        FaultConfig* c) {
  int64_t number = 0;
  absl::Status s;
  if (key == "fail_rate") return ReadRate(value, key, &c->fail_rate);
  if (key == "timeout_rate") return ReadRate(value, key, &c->timeout_rate);
  if (key == "reset_rate") return ReadRate(value, key, &c->reset_rate);
  if (key == "store_then_fail_rate")
    return ReadRate(value, key, &c->store_then_fail_rate);
  if (key == "retry_after") {
    if (value.is_null()) {
      c->retry_after_s = -1;
      return absl::OkStatus();
    }
    s = ReadInt(value, key, -1, &number);
    c->retry_after_s = static_cast<int>(number);
  } else if (key == "fail_status") {
    s = ReadInt(value, key, 100, &number);
    if (s.ok() && number > 599) s = Invalid(key, "not an HTTP status");
    c->fail_status = static_cast<int>(number);
  } else if (key == "latency_ms") {
    s = ReadInt(value, key, 0, &number);
    c->latency_ms = number;
  } else if (key == "timeout_close_ms") {
    s = ReadInt(value, key, 0, &number);
    c->timeout_close_ms = number;
  } else if (key == "gate") {
    s = ReadInt(value, key, 0, &number);
    c->gate = static_cast<size_t>(number);
  } else if (key == "fail_window") {
    if (value.is_null()) {
      c->fail_window_start_ms = c->fail_window_end_ms = -1;
      return absl::OkStatus();
    }
    std::string_view text;
    if (value.get(text) != simdjson::SUCCESS) return Invalid(key, "expected \"S:E\"");
    return ParseFailWindow(text, c);
  } else if (key != "clear") {
    return Invalid(key, "unknown");
  }
  return s;
}

}  // namespace

FaultKind DecideFault(const FaultConfig& config, TimeMs since_start_ms,
                      const std::function<double()>& draw) {
  auto hit = [&](double rate) { return rate > 0 && draw() < rate; };
  if (hit(config.reset_rate)) return FaultKind::kReset;
  if (hit(config.timeout_rate)) return FaultKind::kTimeout;
  if (config.fail_window_start_ms >= 0 && since_start_ms >= config.fail_window_start_ms &&
      since_start_ms < config.fail_window_end_ms) {
    return FaultKind::kFail;
  }
  if (hit(config.fail_rate)) return FaultKind::kFail;
  if (hit(config.store_then_fail_rate)) return FaultKind::kStoreThenFail;
  return FaultKind::kNone;
}

absl::Status ParseFailWindow(std::string_view text, FaultConfig* config) {
  const size_t colon = text.find(':');
  int64_t start = 0, end = 0;
  if (colon == std::string_view::npos ||
      !absl::SimpleAtoi(ToAbsl(text.substr(0, colon)), &start) ||
      !absl::SimpleAtoi(ToAbsl(text.substr(colon + 1)), &end) || start < 0 ||
      end < start) {
    return absl::InvalidArgumentError(
        absl::StrCat("fail window must be START_MS:END_MS, got '", ToAbsl(text), "'"));
  }
  config->fail_window_start_ms = start;
  config->fail_window_end_ms = end;
  return absl::OkStatus();
}

absl::Status ApplyControl(std::string_view json, FaultConfig* config) {
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (parser.parse(json.data(), json.size(), true).get(object) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("control body must be a JSON object");
  }
  FaultConfig next = *config;
  bool clear = false;
  if (object["clear"].get(clear) == simdjson::SUCCESS && clear) next = FaultConfig{};
  for (auto [key, value] : object) {
    if (absl::Status s = ApplyField(key, value, &next); !s.ok()) return s;
  }
  *config = next;
  return absl::OkStatus();
}

std::string FaultConfigJson(const FaultConfig& c) {
  std::string window = "null";
  if (c.fail_window_start_ms >= 0) {
    window = absl::StrCat("\"", c.fail_window_start_ms, ":", c.fail_window_end_ms, "\"");
  }
  return absl::StrCat(
      "{\"fail_rate\":", c.fail_rate, ",\"fail_status\":", c.fail_status,
      ",\"retry_after\":", c.retry_after_s, ",\"fail_window\":", window,
      ",\"latency_ms\":", c.latency_ms, ",\"timeout_rate\":", c.timeout_rate,
      ",\"timeout_close_ms\":", c.timeout_close_ms, ",\"reset_rate\":", c.reset_rate,
      ",\"store_then_fail_rate\":", c.store_then_fail_rate, ",\"gate\":", c.gate, "}");
}

FaultConfig Faults::config() const {
  MutexLock lock(&mu_);
  return config_;
}

absl::Status Faults::Control(std::string_view json) {
  MutexLock lock(&mu_);
  return ApplyControl(json, &config_);
}

FaultKind Faults::Decide(TimeMs since_start_ms) {
  MutexLock lock(&mu_);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  return DecideFault(config_, since_start_ms, [&] { return uniform(random_); });
}

void Gate::Enter(std::function<void()> go) {
  std::vector<std::function<void()>> ready;
  {
    MutexLock lock(&mu_);
    waiting_.push_back(std::move(go));
    ready = TakeIfOpen();
  }
  for (auto& run : ready) run();
}

void Gate::SetThreshold(size_t threshold) {
  std::vector<std::function<void()>> ready;
  {
    MutexLock lock(&mu_);
    threshold_ = threshold;
    ready = TakeIfOpen();
  }
  for (auto& run : ready) run();
}

std::vector<std::function<void()>> Gate::TakeIfOpen() {
  if (waiting_.size() < threshold_) return {};
  return std::exchange(waiting_, {});
}

}  // namespace outboxd::fake_sentinel
