#pragma once
// Loopback ports for services a test starts.

namespace market::testing {

// A free TCP port on 127.0.0.1 (bound and released; good enough for a test). Throws
// std::runtime_error when none can be had.
int FreeLoopbackPort();

// Whether something accepts TCP connections on 127.0.0.1:`port` now.
bool LoopbackPortListening(int port);

}  // namespace market::testing
