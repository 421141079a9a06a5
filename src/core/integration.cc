#include "outboxd/integration.h"

#include <array>
#include <cstddef>

namespace outboxd {
namespace {

// Indexed by the enums; these strings are part of the API contract.
constexpr std::array<std::string_view, 2> kKindNames = {"sentinel", "sentinel_dcr"};
constexpr std::array<std::string_view, 4> kStateNames = {"enabled", "disabled", "broken",
                                                         "deleting"};

template <size_t N>
std::string_view Lookup(const std::array<std::string_view, N>& names, size_t i) {
  return i < N ? names[i] : std::string_view();
}

}  // namespace

bool IsGuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (dash ? c != '-' : !hex) return false;
  }
  return true;
}

std::string_view KindName(IntegrationKind kind) {
  return Lookup(kKindNames, static_cast<size_t>(kind));
}

std::string_view StateName(IntegrationState state) {
  return Lookup(kStateNames, static_cast<size_t>(state));
}

}  // namespace outboxd
