#include "daemon/allocator.h"

#include <malloc.h>

#include <algorithm>
#include <cstdlib>

namespace outboxd {
namespace {

// Blocks up to 32 MiB (glibc's largest mmap threshold on 64-bit) come from
// the heap and go back to it when freed.
constexpr size_t kMmapThreshold = size_t{32} << 20;
// Free memory at the top of a heap is returned to the kernel only past
// 128 MiB. Per-thread heaps are at most 64 MiB, so their memory stays
// mapped for reuse; the main heap returns what exceeds 128 MiB.
constexpr size_t kTrimThreshold = size_t{128} << 20;
// A new per-thread heap is made usable up to its first request plus the
// top pad, and glibc.malloc.hugetlb=1 advises only that part for
// transparent huge pages: growing the heap later advises nothing. With the
// default 128 KiB pad nearly all of every heap was faulted in 4 KiB pages.
// A 16 MiB pad lets each heap start with sixteen memtable arena blocks' worth
// of huge pages. Address space only: a page is resident once touched. A
// whole heap (64 MiB) saved a little more at startup but cost 5,000
// in-flight requests 300 MiB of RSS (docs/performance.md, "Huge pages for
// the per-thread heaps").
constexpr size_t kTopPad = size_t{16} << 20;
// PrefaultHeap's allocation unit: far under the mmap threshold (a block
// above it would be mapped and unmapped on its own, not kept by the heap),
// and RocksDB's memtable arena block size.
constexpr size_t kPrefaultBlock = size_t{1} << 20;
constexpr size_t kPage = 4096;

bool TunableSet(const char* glibc_tunables, std::string_view name) {
  if (glibc_tunables == nullptr) return false;
  // GLIBC_TUNABLES is name=value pairs separated by colons.
  std::string_view rest = glibc_tunables;
  while (!rest.empty()) {
    std::string_view pair = rest.substr(0, rest.find(':'));
    rest.remove_prefix(std::min(rest.size(), pair.size() + 1));
    if (pair.substr(0, pair.find('=')) == name) return true;
  }
  return false;
}

}  // namespace

std::vector<AllocatorSetting> AllocatorSettings(const char* glibc_tunables) {
  std::vector<AllocatorSetting> out;
  const AllocatorSetting defaults[] = {
      {"glibc.malloc.mmap_threshold", M_MMAP_THRESHOLD, kMmapThreshold},
      {"glibc.malloc.trim_threshold", M_TRIM_THRESHOLD, kTrimThreshold},
      {"glibc.malloc.top_pad", M_TOP_PAD, kTopPad},
  };
  for (const AllocatorSetting& s : defaults) {
    if (!TunableSet(glibc_tunables, s.tunable)) out.push_back(s);
  }
  return out;
}

std::string TuneAllocator() {
  std::string applied;
  for (const AllocatorSetting& s : AllocatorSettings(std::getenv("GLIBC_TUNABLES"))) {
    // mallopt returns 0 when the value is refused (or under a sanitizer's
    // allocator, which ignores it); then nothing is reported.
    if (mallopt(s.param, static_cast<int>(s.value)) == 0) continue;
    if (!applied.empty()) applied += ' ';
    applied += s.tunable.substr(s.tunable.rfind('.') + 1) + "=" + std::to_string(s.value);
  }
  return applied;
}

size_t PrefaultHeap(size_t bytes) {
  std::vector<void*> blocks;
  blocks.reserve(bytes / kPrefaultBlock + 1);
  size_t touched = 0;
  while (touched < bytes) {
    const size_t size = std::min(kPrefaultBlock, bytes - touched);
    void* block = std::malloc(size);
    if (block == nullptr) break;
    blocks.push_back(block);
    // volatile: stores to memory that is freed unread may be dropped.
    auto* p = static_cast<volatile unsigned char*>(block);
    for (size_t off = 0; off < size; off += kPage) p[off] = 0;
    p[size - 1] = 0;
    touched += size;
  }
  for (void* block : blocks) std::free(block);
  return touched;
}

}  // namespace outboxd
