// ImmutabilityService: the rules that protect tags, and the checks BuildService and DeleteTag
// make with them.

#include <fmt/format.h>

#include <cctype>
#include <regex>
#include <vector>

#include "anchored_regex.hpp"
#include "glob.hpp"
#include "market/immutability.hpp"

namespace market {

namespace {

constexpr std::size_t kMaxRepositoryGlob = 255;
constexpr std::size_t kMaxDescription = 1024;

nlohmann::json AuditJson(const ImmutabilityRule& rule) {
  return {{"id", rule.id},
          {"repository", rule.repository},
          {"tagPattern", rule.tag_pattern},
          {"enabled", rule.enabled},
          {"description", rule.description}};
}

Result<std::string> ValidateRepositoryGlob(std::string_view glob) {
  if (glob.empty()) return Fail(Errc::kInvalid, "repository is required");
  if (glob.size() > kMaxRepositoryGlob) {
    return Fail(Errc::kInvalid,
                fmt::format("repository is longer than {} characters", kMaxRepositoryGlob));
  }
  for (char c : glob) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                    c == '-' || c == '/' || c == '*';
    if (!ok) {
      return Fail(Errc::kInvalid,
                  fmt::format("repository contains special char: {} (a repository name is "
                              "lower-case letters, digits, '.', '_', '-' and '/'; '*' and '**' "
                              "are wildcards)",
                              std::isprint(static_cast<unsigned char>(c)) != 0
                                  ? std::string(1, c)
                                  : fmt::format("\\x{:02x}", static_cast<unsigned char>(c))));
    }
  }
  if (glob.find("***") != std::string_view::npos) {
    return Fail(Errc::kInvalid, "repository has '***': the wildcards are '*' and '**'");
  }
  return std::string(glob);
}

Result<void> ValidateTagPattern(const std::string& pattern) {
  if (pattern.empty()) return Fail(Errc::kInvalid, "tagPattern is required (\".*\": every tag)");
  MARKET_RETURN_IF_ERROR(CompileAnchoredRegex("tagPattern", pattern));
  return {};
}

Result<void> Apply(const ImmutabilityRequest& request, ImmutabilityRule& rule) {
  if (request.repository) {
    MARKET_ASSIGN_OR_RETURN(rule.repository, ValidateRepositoryGlob(*request.repository));
  }
  if (request.tag_pattern) {
    MARKET_RETURN_IF_ERROR(ValidateTagPattern(*request.tag_pattern));
    rule.tag_pattern = *request.tag_pattern;
  }
  if (request.enabled) rule.enabled = *request.enabled;
  if (request.description) {
    if (request.description->size() > kMaxDescription) {
      return Fail(Errc::kInvalid,
                  fmt::format("description is longer than {} characters", kMaxDescription));
    }
    rule.description = *request.description;
  }
  return {};
}

}  // namespace

// A rule and its pattern compiled; a pattern that no longer compiles protects (nullopt).
struct ProtectionSnapshot::Compiled {
  ImmutabilityRule rule;
  std::optional<std::regex> tag_pattern;
};

ProtectionSnapshot::ProtectionSnapshot(std::vector<ImmutabilityRule> rules) {
  for (ImmutabilityRule& rule : rules) {
    if (!rule.enabled) continue;
    auto compiled = CompileAnchoredRegex("tagPattern", rule.tag_pattern);
    std::optional<std::regex> pattern;
    if (compiled) pattern = std::move(*compiled);
    rules_.push_back(Compiled{std::move(rule), std::move(pattern)});
  }
}

ProtectionSnapshot::ProtectionSnapshot(ProtectionSnapshot&&) noexcept = default;
ProtectionSnapshot& ProtectionSnapshot::operator=(ProtectionSnapshot&&) noexcept = default;
ProtectionSnapshot::~ProtectionSnapshot() = default;

const ImmutabilityRule* ProtectionSnapshot::Protecting(std::string_view repository,
                                                       std::string_view tag) const {
  for (const Compiled& compiled : rules_) {
    if (!GlobMatches(compiled.rule.repository, repository)) continue;
    // A pattern that no longer compiles, or that the matcher gives up on, protects.
    if (!compiled.tag_pattern) return &compiled.rule;
    try {
      if (std::regex_match(tag.begin(), tag.end(), *compiled.tag_pattern)) return &compiled.rule;
    } catch (const std::regex_error&) {
      return &compiled.rule;
    }
  }
  return nullptr;
}

Error ProtectedTagError(const ImmutabilityRule& rule, std::string_view repository,
                        std::string_view tag, std::string_view what) {
  return Error{Errc::kAlreadyExists,
               fmt::format("tag {}:{} is immutable ({}): immutability rule {} (repository {}, "
                           "tagPattern {}) protects it",
                           repository, tag, what, rule.id, rule.repository, rule.tag_pattern)};
}

Result<void> CheckTagOverwrite(TagProtection& protection, Registry& registry,
                               std::string_view repository, std::string_view tag) {
  MARKET_ASSIGN_OR_RETURN(std::optional<ImmutabilityRule> rule,
                          protection.Protecting(repository, tag));
  if (!rule) return {};
  Result<RegistryManifest> existing = registry.GetManifest(repository, tag);
  if (!existing) {
    if (existing.error().code == Errc::kNotFound) return {};  // the first push
    return Fail(existing.error().code,
                fmt::format("tag {}:{} is protected by immutability rule {} and whether it exists "
                            "cannot be told: {}",
                            repository, tag, rule->id, existing.error().message));
  }
  return std::unexpected(
      ProtectedTagError(*rule, repository, tag, "it exists and a build would push over it"));
}

ImmutabilityService::ImmutabilityService(ImmutabilityStore& store, const Clock& clock,
                                         AuditLog* audit)
    : store_(store), audit_(audit, clock) {}

Result<ImmutabilityRule> ImmutabilityService::Create(const ImmutabilityRequest& request,
                                                     std::string_view operator_name,
                                                     const ChangeOrigin& origin) {
  if (!request.repository) return Fail(Errc::kInvalid, "repository is required");
  if (!request.tag_pattern)
    return Fail(Errc::kInvalid, "tagPattern is required (\".*\": every tag)");
  ImmutabilityRule rule;
  MARKET_RETURN_IF_ERROR(Apply(request, rule));
  rule.creator = std::string(operator_name);
  MARKET_ASSIGN_OR_RETURN(ImmutabilityRule created, store_.Create(rule));
  audit_.Record(operator_name, origin, "immutability.create",
                fmt::format("immutability:{}", created.id), nullptr, AuditJson(created));
  return created;
}

Result<ImmutabilityRule> ImmutabilityService::Update(std::int64_t id,
                                                     const ImmutabilityRequest& request,
                                                     std::string_view operator_name,
                                                     const ChangeOrigin& origin) {
  MARKET_ASSIGN_OR_RETURN(ImmutabilityRule before, store_.Get(id));
  ImmutabilityRule rule = before;
  MARKET_RETURN_IF_ERROR(Apply(request, rule));
  MARKET_ASSIGN_OR_RETURN(ImmutabilityRule updated, store_.Update(rule));
  audit_.Record(operator_name, origin, "immutability.update", fmt::format("immutability:{}", id),
                AuditJson(before), AuditJson(updated));
  return updated;
}

Result<void> ImmutabilityService::Delete(std::int64_t id, std::string_view operator_name,
                                         const ChangeOrigin& origin) {
  MARKET_ASSIGN_OR_RETURN(ImmutabilityRule before, store_.Get(id));
  MARKET_RETURN_IF_ERROR(store_.Delete(id));
  audit_.Record(operator_name, origin, "immutability.delete", fmt::format("immutability:{}", id),
                AuditJson(before), nullptr);
  return {};
}

Result<ImmutabilityRule> ImmutabilityService::Get(std::int64_t id) { return store_.Get(id); }

Result<std::vector<ImmutabilityRule>> ImmutabilityService::List() { return store_.List(); }

Result<std::optional<ImmutabilityRule>> ImmutabilityService::Protecting(std::string_view repository,
                                                                        std::string_view tag) {
  MARKET_ASSIGN_OR_RETURN(ProtectionSnapshot rules, Snapshot());
  const ImmutabilityRule* rule = rules.Protecting(repository, tag);
  return rule != nullptr ? std::optional<ImmutabilityRule>(*rule) : std::nullopt;
}

Result<ProtectionSnapshot> ImmutabilityService::Snapshot() {
  MARKET_ASSIGN_OR_RETURN(std::vector<ImmutabilityRule> rules, store_.List());
  return ProtectionSnapshot(std::move(rules));
}

}  // namespace market
