// The default of Plugin's optional part: plugins without extension methods.
#include "market/plugin.hpp"

namespace market {

Result<nlohmann::json> Plugin::CallExtension(std::string_view method,
                                             const std::map<std::string, std::string>& /*params*/,
                                             const ExtensionContext& /*context*/) const {
  return Fail(Errc::kExtensionBadParams, "unknown method: " + std::string(method));
}

}  // namespace market
