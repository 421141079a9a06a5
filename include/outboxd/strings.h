// Debian 12's abseil is built with its own absl::string_view (not an alias
// of std::string_view), so absl::StrCat and friends do not take a
// std::string_view. Sv() bridges the two without a copy.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace outboxd {

inline absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace outboxd
