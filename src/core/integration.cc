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

std::string_view KindName(IntegrationKind kind) {
  return Lookup(kKindNames, static_cast<size_t>(kind));
}

std::string_view StateName(IntegrationState state) {
  return Lookup(kStateNames, static_cast<size_t>(state));
}

}  // namespace outboxd
