// The one place that knows every part: opens the store, loads the
// integrations, starts the dispatcher's loop, the HTTP API and housekeeping,
// and shuts all of it down in order on SIGTERM.
#pragma once

#include <memory>

#include "daemon/options.h"

namespace outboxd {

// Runs until SIGTERM or SIGINT; returns the process exit code.
int RunDaemon(const DaemonOptions& options);

}  // namespace outboxd
