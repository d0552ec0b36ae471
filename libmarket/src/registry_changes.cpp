#include "market/registry_changes.hpp"

#include "market/immutability.hpp"
#include "publish_event.hpp"

namespace market {

namespace {

// Nothing, or the refusal of deleting `request`'s tag because a rule protects it or, for a
// forced delete, another tag of the same image.
Result<void> CheckDeletable(Registry& registry, TagProtection& protection,
                            const TagDeleteRequest& request) {
  MARKET_ASSIGN_OR_RETURN(std::optional<ImmutabilityRule> rule,
                          protection.Protecting(request.repository, request.tag));
  if (rule) {
    return std::unexpected(ProtectedTagError(*rule, request.repository, request.tag,
                                             "it cannot be deleted"));
  }
  if (!request.force) return {};  // the registry refuses to remove a shared image unforced
  Result<RegistryManifest> target = registry.GetManifest(request.repository, request.tag);
  if (!target) {
    if (target.error().code == Errc::kNotFound) return {};  // the delete answers it
    return std::unexpected(target.error());
  }
  constexpr int kPageSize = 100;
  for (int page = 1;; ++page) {
    MARKET_ASSIGN_OR_RETURN(Paged<RegistryTag> tags,
                            registry.ListTags(request.repository, {page, kPageSize}));
    for (const RegistryTag& other : tags.items) {
      if (other.name == request.tag || other.digest != target->digest) continue;
      MARKET_ASSIGN_OR_RETURN(rule, protection.Protecting(request.repository, other.name));
      if (rule) {
        return std::unexpected(ProtectedTagError(
            *rule, request.repository, other.name,
            "deleting " + request.tag + " with force would remove its image, which it shares"));
      }
    }
    if (tags.items.size() < static_cast<std::size_t>(kPageSize) ||
        static_cast<std::int64_t>(page) * kPageSize >= tags.total_count) {
      return {};
    }
  }
}

}  // namespace

Result<void> DeleteTag(Registry& registry, const AuditTrail& audit, const TagDeleteRequest& request,
                       const ChangeOrigin& origin, EventSink* events, TagProtection* protection) {
  if (protection != nullptr) MARKET_RETURN_IF_ERROR(CheckDeletable(registry, *protection, request));
  MARKET_RETURN_IF_ERROR(registry.DeleteTag(request.repository, request.tag, request.force));
  audit.Record(request.operator_name, origin, "registry.tag.delete",
               "registry:" + request.repository + ":" + request.tag,
               {{"repository", request.repository}, {"tag", request.tag}, {"force", request.force}},
               nullptr);
  PublishEvent(events, [&] {
    return Event::ForTag(EventType::kTagDeleted, request.repository, request.tag, "",
                         request.operator_name, audit.Now());
  });
  return {};
}

}  // namespace market
