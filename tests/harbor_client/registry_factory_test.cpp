#include "market/harbor_client/registry_factory.hpp"

#include <catch2/catch.hpp>

namespace market::harbor {
namespace {

RegistryConfig Config(std::string url, bool insecure = false) {
  RegistryConfig c;
  c.url = std::move(url);
  c.insecure = insecure;
  return c;
}

std::string ErrorOf(const RegistryConfig& config) {
  auto registry = MakeRegistry(config);
  REQUIRE_FALSE(registry);
  CHECK(registry.error().code == Errc::kInvalid);
  CHECK(registry.error().message.starts_with("registry"));
  return registry.error().message;
}

TEST_CASE("MakeRegistry rejects bad configuration naming the registry setting", "[factory]") {
  CHECK(ErrorOf(Config("ftp://h")) == "registry url: scheme must be http or https");
  CHECK(ErrorOf(Config("127.0.0.1:5000")).find("scheme://host") != std::string::npos);
  CHECK(ErrorOf(Config("https://")) == "registry url: host is missing");
  CHECK(ErrorOf(Config("https://h:70000")).find("port") != std::string::npos);
  CHECK(ErrorOf(Config("https://h/v2")).find("without a path") != std::string::npos);
  CHECK(ErrorOf(Config("http://127.0.0.1:5000")).find("insecure") != std::string::npos);
  CHECK(ErrorOf(Config("https://admin:pw@h")).find("user info") != std::string::npos);

  auto no_user = Config("https://h");
  no_user.credentials.password = "s3cret-pw";
  CHECK(ErrorOf(no_user).find("s3cret-pw") == std::string::npos);

  auto bad_ca = Config("https://h");
  bad_ca.ca_file = "/nonexistent/ca.pem";
  CHECK(ErrorOf(bad_ca).starts_with("registry ca_file:"));

  auto zero = Config("https://h");
  zero.request_timeout = std::chrono::milliseconds(0);
  CHECK(ErrorOf(zero).starts_with("registry request_timeout"));
}

TEST_CASE("MakeRegistry builds both kinds with the push host", "[factory]") {
  auto distribution = MakeRegistry(Config("http://127.0.0.1:5000", true));
  REQUIRE(distribution);
  CHECK((*distribution)->PushHost() == "127.0.0.1:5000");
  CHECK_FALSE((*distribution)->TlsVerify());

  auto harbor_config = Config("https://Harbor.Example.com/");
  harbor_config.kind = RegistryKind::kHarbor;
  harbor_config.credentials = {"robot", "token-value"};
  auto harbor = MakeRegistry(harbor_config);
  REQUIRE(harbor);
  CHECK((*harbor)->PushHost() == "harbor.example.com");
  CHECK((*harbor)->TlsVerify());
  CHECK((*harbor)->Credentials().username == "robot");
}

}  // namespace
}  // namespace market::harbor
