// RocksDB's info log, sent to outboxd's log instead of a LOG file.
//
// RocksDB writes its info log into the data directory by default. On a full
// disk that write fails, and Debian's RocksDB (built with assertions) aborts
// the process on it, while the write we care about would have failed
// cleanly and been answered with 503. Routing the lines to outboxd's own log
// keeps the data disk for data, and puts RocksDB's warnings (stalls, write
// errors, corruption) next to outboxd's lines where an operator looks.
#pragma once

#include <memory>

#include "rocksdb/env.h"

namespace outboxd::store_internal {

// Lines below `level` are dropped by RocksDB before they are formatted.
// Debug builds of outboxd's log level map to INFO, otherwise WARN: RocksDB's
// INFO lines (every flush and compaction, option dumps) are too many for an
// operator's log.
std::shared_ptr<rocksdb::Logger> NewForwardingLogger();

}  // namespace outboxd::store_internal
