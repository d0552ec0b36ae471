#pragma once
// The market-server binary as a child process whose stderr the test reads (process tests).

#include <sys/types.h>

#include <string>
#include <vector>

namespace market::server::testing {

struct Child {
  pid_t pid = -1;
  int stderr_fd = -1;  // the read end of the child's stderr
};

// Starts MARKET_SERVER_BINARY with `args`.
Child Spawn(const std::vector<std::string>& args);

// Reads the child's log into `log` until the "listening on 127.0.0.1:PORT" line; returns the
// port, or -1 when the log ends first.
int WaitForPort(int fd, std::string& log);

}  // namespace market::server::testing
