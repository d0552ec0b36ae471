#pragma once
// market-server assembled: stores, plugins, registry, builder, services, routes and the HTTP
// server, from a ServerConfig. main() and the tests both start the server through this.

#include <cstdint>
#include <memory>

#include <boost/asio/io_context.hpp>

#include "config.hpp"
#include "market/buildah_builder.hpp"
#include "market/error.hpp"

namespace market::server {

// The builder's settings from the server's: storage in the workspace, the sandbox and limits.
BuildahOptions BuildahOptionsOf(const ServerConfig& config);
// Probes build-storage-driver and sets `buildah`'s driver, its options and a storage folder of
// that driver's own (containers/storage refuses to open a root another driver made). The error
// says why a driver asked for by name cannot work here.
Result<StorageDriverChoice> ChooseBuilderStorage(const ServerConfig& config,
                                                 BuildahOptions& buildah);

class ServerApp {
 public:
  // Opens the database (running migrations), connects the registry, binds the listener.
  // kInvalid / kUnavailable with a message for the operator.
  static Result<std::unique_ptr<ServerApp>> Create(const ServerConfig& config);
  ~ServerApp();
  ServerApp(const ServerApp&) = delete;
  ServerApp& operator=(const ServerApp&) = delete;

  std::uint16_t Port() const;
  // Starts the build workers and serves until Shutdown(); then stops the build workers.
  void Run();
  // Thread-safe: stop accepting, finish requests in flight, then Run() returns.
  void Shutdown();
  boost::asio::io_context& Context();

 private:
  struct Parts;
  explicit ServerApp(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace market::server
