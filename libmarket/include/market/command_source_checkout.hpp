#pragma once
// The default SourceCheckout: the git and svn commands, credentials through their environment.

#include <string>

#include "market/source_checkout.hpp"

namespace market {

struct CommandCheckoutOptions {
  std::string git_path = "git";
  std::string svn_path = "svn";
};

SourceCheckoutPtr MakeCommandSourceCheckout(CommandCheckoutOptions options = {});

}  // namespace market
