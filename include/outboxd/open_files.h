#pragma once

#include <cstdint>

namespace outboxd {

// Raises the soft RLIMIT_NOFILE to the hard limit (thousands of connections
// need thousands of descriptors) and returns the soft limit now in force, so
// the caller can log it when it is still too low. Every process that holds
// thousands of sockets calls it first: outboxd, tools/fake_sentinel and the
// tests that drive them (children inherit the raised limit).
uint64_t RaiseOpenFileLimit();

}  // namespace outboxd
