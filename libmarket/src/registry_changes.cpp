#include "market/registry_changes.hpp"

#include "publish_event.hpp"

namespace market {

Result<void> DeleteTag(Registry& registry, const AuditTrail& audit, const TagDeleteRequest& request,
                       const ChangeOrigin& origin, EventSink* events) {
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
