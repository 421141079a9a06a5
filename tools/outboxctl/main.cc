// outboxctl: the command line for outboxd's API, and offline inspection of
// a stopped daemon's data directory. `outboxctl --help` lists the commands.

#include <curl/curl.h>

#include <string>
#include <vector>

#include "commands.h"

int main(int argc, char** argv) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    std::fputs("outboxctl: cannot initialise libcurl\n", stderr);
    return outboxd::ctl::kExitFailed;
  }
  outboxd::ctl::Context ctx;
  ctx.clock = outboxd::RealClock();
  const int code =
      outboxd::ctl::RunCli(ctx, std::vector<std::string>(argv + 1, argv + argc));
  std::fflush(stdout);
  curl_global_cleanup();
  return code;
}
