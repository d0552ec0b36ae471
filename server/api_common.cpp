// Helpers every handler file uses: parameters, the operator, content negotiation.

#include <cctype>

#include "api.hpp"
#include "market/validation.hpp"

namespace market::server {

Result<RequestParams> DecodeParams(const RequestContext& context) {
  auto content_type = context.message.find(http::field::content_type);
  std::string_view type =
      content_type == context.message.end() ? std::string_view{}
                                             : std::string_view(content_type->value());
  return RequestParams::Decode(context.query, type, context.message.body());
}

Result<std::string> OperatorOf(const RequestContext& context, const RequestParams& params) {
  if (context.user) return *context.user;  // authentication on: the identity, not a claim
  MARKET_ASSIGN_OR_RETURN(std::string given, params.Text("operator"));
  if (!given.empty()) return ValidateOperator("operator", given);
  auto header = context.message.find(http::field::authorization);
  if (header != context.message.end()) {
    std::string_view value = header->value();
    // The original's client sends the bare user name; "Basic ..." and "Bearer ..." are not names.
    if (!value.empty() && value.find(' ') == std::string_view::npos) {
      return ValidateOperator("Authorization", value);
    }
  }
  return Fail(Errc::kInvalid, "operator is required");
}

bool Accepts(const RequestContext& context, std::string_view type) {
  auto accept = context.message.find(http::field::accept);
  if (accept == context.message.end()) return false;
  std::string value(accept->value());
  for (char& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return value.find(type) != std::string::npos;
}

}  // namespace market::server
