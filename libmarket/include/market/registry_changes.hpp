#pragma once
// The registry changes Image Market makes for people (deleting a tag), audited by the same
// policy as the services' changes: an embedder deleting through here gets the server's entries.

#include <string>

#include "market/audit_trail.hpp"
#include "market/error.hpp"
#include "market/events.hpp"
#include "market/registry.hpp"

namespace market {

struct TagDeleteRequest {
  std::string repository;     // "<project>/<repository>"
  std::string tag;
  bool force = false;         // see Registry::DeleteTag: also when other tags share the image
  std::string operator_name;  // who the change is recorded for
};

class TagProtection;  // market/immutability.hpp

// Deletes the tag, then records `registry.tag.delete` on `registry:REPOSITORY:TAG` and
// publishes tag.deleted to `events` (when set, on the calling thread). Nothing is recorded or
// published when the registry refuses. With `protection`, a tag an immutability rule protects
// is refused (kAlreadyExists naming the rule) and nothing is deleted; with `force`, so is a tag
// whose image another, protected, tag of the repository shares (deleting the image would remove
// that tag too).
Result<void> DeleteTag(Registry& registry, const AuditTrail& audit, const TagDeleteRequest& request,
                       const ChangeOrigin& origin = {}, EventSink* events = nullptr,
                       TagProtection* protection = nullptr);

}  // namespace market
