// libFuzzer entry point: the ingest parser (see fuzz_targets.h).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto bad = outboxd::fuzz::CheckIngestInput(input)) {
    std::fprintf(stderr, "ingest parser contract broken: %s\n", bad->c_str());
    std::abort();
  }
  return 0;
}
