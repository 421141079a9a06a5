// Thread names: outboxd's threads show as ingest-0, http-1, dispatch,
// commit-2 ... in `top -H`, `ps -L`, perf and gdb instead of all as
// "outboxd" (RocksDB names its own: rocksdb:high, rocksdb:low).
#pragma once

#include <pthread.h>

#include <string>
#include <string_view>

namespace outboxd {

// Names the calling thread; Linux keeps the first 15 bytes.
inline void NameThisThread(std::string_view name) {
  const std::string n(name.substr(0, 15));
  pthread_setname_np(pthread_self(), n.c_str());
}

// "<prefix>-<index>", for the threads of a pool.
inline void NameThisThread(std::string_view prefix, int index) {
  NameThisThread(std::string(prefix) + "-" + std::to_string(index));
}

// The calling thread's name ("" if it cannot be read).
inline std::string ThisThreadName() {
  char buf[16] = {};
  if (pthread_getname_np(pthread_self(), buf, sizeof(buf)) != 0) return "";
  return buf;
}

}  // namespace outboxd
