// The bodies of the fuzz targets, shared by the libFuzzer entry points
// (ingest_fuzzer.cc, integration_fuzzer.cc) and the regression test that
// replays every saved input (regression_test.cc) through the same code.
//
// Each runs a parser on the input in every mode it has and checks the
// parser's contract beyond "does not crash" (an accepted event re-parses to
// itself; an accepted integration survives its own API rendering; an error
// names a line or field). Returns a description of the first broken
// contract, or nullopt.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace outboxd::fuzz {

// src/api/ingest_parser.h ParseEvents, NDJSON and JSON array, default and
// tight limits.
std::optional<std::string> CheckIngestInput(std::string_view data);

// src/api/integration_json.h ParseIntegration, as a create body (with and
// without --allow-endpoint-override) and as a PATCH of stored configs.
std::optional<std::string> CheckIntegrationInput(std::string_view data);

}  // namespace outboxd::fuzz
