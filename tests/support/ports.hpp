#pragma once
// Loopback ports for services a test starts, and waiting for them.

#include <chrono>
#include <functional>
#include <string>

namespace market::testing {

// A free TCP port on 127.0.0.1 (bound and released; good enough for a test). Throws
// std::runtime_error when none can be had.
int FreeLoopbackPort();

// A socket listening on 127.0.0.1 at a port the kernel picked (no race with other processes as
// with FreeLoopbackPort); sets `port`. Throws std::runtime_error when that fails.
int ListenLoopback(int& port, int backlog = 64);

// Whether something accepts TCP connections on `address`:`port` (127.0.0.1 by default) now.
bool Listening(const std::string& address, int port);
bool LoopbackPortListening(int port);

// Polls `ready` every `step` until it holds (true) or `timeout` passes (false).
bool WaitFor(const std::function<bool()>& ready, std::chrono::milliseconds timeout,
             std::chrono::milliseconds step = std::chrono::milliseconds(100));

// Waits until 127.0.0.1:`port` accepts connections.
bool WaitListening(int port, std::chrono::milliseconds timeout);

}  // namespace market::testing
