#include "outboxd/open_files.h"

#include <sys/resource.h>

#include <algorithm>
#include <fstream>

namespace outboxd {
namespace {

// Enough for the largest configurations we test (5,000 integrations with a
// connection each, plus the store's files).
constexpr rlim_t kWanted = 1 << 16;

// Linux caps RLIMIT_NOFILE at fs.nr_open even when the hard limit is
// "unlimited".
rlim_t KernelCap() {
  uint64_t nr_open = 1 << 20;
  std::ifstream("/proc/sys/fs/nr_open") >> nr_open;
  return static_cast<rlim_t>(nr_open);
}

}  // namespace

uint64_t RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  const rlim_t cap = KernelCap();
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < kWanted) {
    // A low hard limit can be raised by a privileged process (root in a
    // container, CAP_SYS_RESOURCE); everyone else keeps theirs.
    rlimit raised{std::min(kWanted, cap), std::min(kWanted, cap)};
    if (raised.rlim_max > limit.rlim_max && setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      return static_cast<uint64_t>(raised.rlim_cur);
    }
  }
  const rlim_t target = limit.rlim_max == RLIM_INFINITY ? cap : limit.rlim_max;
  if (limit.rlim_cur < target) {
    rlimit raised = limit;
    raised.rlim_cur = target;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit.rlim_cur = target;
  }
  return static_cast<uint64_t>(limit.rlim_cur);
}

}  // namespace outboxd
