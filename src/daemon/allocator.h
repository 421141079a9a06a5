// glibc malloc settings for the daemon's allocation pattern.
//
// outboxd allocates big, short-lived blocks at a steady rate: RocksDB's
// memtable arena (1 MiB blocks, a new 64 MiB memtable every few hundred
// thousand events), request bodies of up to several MiB, scan buffers.
// glibc's defaults hand such blocks back to the kernel as soon as they are
// freed (mmap for blocks over the dynamic mmap threshold, heap trimming
// above the trim threshold), so the next one is faulted in and zeroed page
// by page again. Keeping them in the heap for reuse costs the peak RSS a
// few tens of MiB and saves ~0.3 us of kernel time per event
// (docs/performance.md, "Allocator"). A 16 MiB top pad lets
// glibc.malloc.hugetlb=1 back the start of each per-thread heap with
// transparent huge pages (docs/performance.md, "Huge pages for the
// per-thread heaps").
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace outboxd {

struct AllocatorSetting {
  std::string tunable;  // glibc tunable name, e.g. "glibc.malloc.trim_threshold"
  int param = 0;        // the matching mallopt parameter (M_TRIM_THRESHOLD)
  size_t value = 0;
};

// The settings outboxd applies: each of its defaults unless the operator's
// GLIBC_TUNABLES (`glibc_tunables`, may be null) sets that tunable itself.
std::vector<AllocatorSetting> AllocatorSettings(const char* glibc_tunables);

// Applies AllocatorSettings(getenv("GLIBC_TUNABLES")) with mallopt. Returns
// a description for the startup log, e.g. "mmap_threshold=33554432
// trim_threshold=134217728 top_pad=16777216", or "" when nothing was
// applied.
std::string TuneAllocator();

// Faults in `bytes` of the calling thread's malloc heap and hands them back
// to it: allocated in blocks under the mmap threshold, one byte written per
// page, then freed. With TuneAllocator's trim threshold the heap keeps the
// pages, so the thread's next allocations up to that size (RocksDB's
// memtable blocks, request bodies) find memory the kernel has already
// zeroed. On a VM the first touch of a page costs far more than zeroing it:
// without this, outboxd's first second under load went mostly to page
// faults (docs/performance.md, "Prefaulted heaps"). Returns the bytes
// touched: fewer when malloc fails.
size_t PrefaultHeap(size_t bytes);

}  // namespace outboxd
