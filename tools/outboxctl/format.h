// Text output helpers for outboxctl: aligned tables and short durations.
#pragma once

#include <string>
#include <vector>

#include "outboxd/clock.h"

namespace outboxd::ctl {

// A plain-text table: a header row, then rows, columns padded with two
// spaces between them; widths count UTF-8 characters, not bytes.
//
// Example:
//   Table t({"ID", "NAME"});
//   t.AddRow({"1", "Sentinel"});
//   fputs(t.Render().c_str(), stdout);
class Table {
 public:
  explicit Table(std::vector<std::string> header);
  // Missing cells render empty; extra ones are dropped.
  void AddRow(std::vector<std::string> row);
  size_t rows() const { return rows_.size(); }
  std::string Render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// "0s", "45s", "3m12s", "2h05m", "3d04h": a duration at a glance (negative
// values are shown as their magnitude).
std::string FormatDuration(TimeMs ms);

// When `at` is relative to `now`: "12s ago", "in 3m05s", or "now".
std::string FormatAge(TimeMs at, TimeMs now);

// "12.5" for 12.5%: a ratio in [0, 1] as a percentage with one decimal.
std::string FormatPercent(double ratio);

}  // namespace outboxd::ctl
