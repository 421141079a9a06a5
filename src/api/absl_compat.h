// Debian 12's abseil is built with ABSL_OPTION_USE_STD_STRING_VIEW 0, so
// absl::string_view is its own type. outboxd's interfaces use
// std::string_view; these convert (no copy) where absl string utilities and
// absl::Status messages meet them.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace outboxd {

inline absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view ToStd(absl::string_view s) { return {s.data(), s.size()}; }

}  // namespace outboxd
