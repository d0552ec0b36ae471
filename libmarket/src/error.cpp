#include "market/error.hpp"

namespace market {

const char* DefaultMessage(Errc code) {
  switch (code) {
    case Errc::kOk: return "ok";
    case Errc::kAlreadyExists: return "project already exist";
    case Errc::kCloneSourceMissing: return "src project not exist";
    case Errc::kDeleteTargetMissing: return "project to delete not exist";
    case Errc::kExtensionBadParams: return "param error";
    case Errc::kExtensionCallFailed: return "call error";
    case Errc::kInvalid: return "parameter invalid";
    case Errc::kBuildProjectMissing: return "project to build not exist";
    case Errc::kNotFound: return "project not exist";
    case Errc::kUnknownPlugin: return "plugin not exist";
    case Errc::kBuildActive: return "project has an active build";
    case Errc::kBuildNotFound: return "build not exist";
    case Errc::kBuildFinished: return "build already finished";
    case Errc::kRegistryNotConfigured: return "no registry configured";
    case Errc::kUpstreamFailed: return "registry call failed";
    case Errc::kUpstreamTimeout: return "registry timed out";
    case Errc::kTagShared: return "tag shares its digest with other tags";
    case Errc::kUnavailable: return "database unavailable";
    case Errc::kUnauthorized: return "authentication required";
    case Errc::kForbidden: return "forbidden";
    case Errc::kTooManyRequests: return "too many requests";
    case Errc::kRegistryUnsupported: return "registry does not support this operation";
    case Errc::kInternal: return "server internal error";
  }
  return "server internal error";
}

}  // namespace market
