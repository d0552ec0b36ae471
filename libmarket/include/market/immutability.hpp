#pragma once
// Immutable tags: rules under which a registry tag that exists cannot be pushed over or deleted.
// BuildService consults them before it queues a build and again before it pushes; DeleteTag
// before it deletes; log and image retention can ask `Protecting` which tags to keep.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "market/audit_trail.hpp"
#include "market/error.hpp"
#include "market/registry.hpp"
#include "market/time.hpp"

namespace market {

struct ImmutabilityRule {
  std::int64_t id = 0;
  // A glob on the full repository name "<registry project>/<repository>": `*` matches any run
  // of characters but `/`, `**` any run including `/` ("myweb/*", "*/*", "**").
  std::string repository;
  // An anchored regular expression (ECMAScript) the whole tag must match ("v[0-9]+(\.[0-9]+)*",
  // ".*" for every tag).
  std::string tag_pattern;
  bool enabled = true;
  std::string description;
  std::string creator;
  TimePoint created_at{};
  TimePoint updated_at{};

  bool operator==(const ImmutabilityRule&) const = default;
};

class ImmutabilityStore {
 public:
  virtual ~ImmutabilityStore() = default;

  // Fills id and the times.
  virtual Result<ImmutabilityRule> Create(const ImmutabilityRule& rule) = 0;
  // Replaces repository, tag pattern, enabled and description; sets updated_at. kNotFound.
  virtual Result<ImmutabilityRule> Update(const ImmutabilityRule& rule) = 0;
  virtual Result<void> Delete(std::int64_t id) = 0;           // kNotFound
  virtual Result<ImmutabilityRule> Get(std::int64_t id) = 0;  // kNotFound
  // Every rule, oldest (smallest id) first: the order `Protecting` tries them in.
  virtual Result<std::vector<ImmutabilityRule>> List() = 0;
};

using ImmutabilityStorePtr = std::unique_ptr<ImmutabilityStore>;

// The enabled rules read once and compiled, for callers that ask about many tags (a retention
// run asks about every tag of every repository it reads).
class ProtectionSnapshot {
 public:
  explicit ProtectionSnapshot(std::vector<ImmutabilityRule> rules);
  ProtectionSnapshot(ProtectionSnapshot&&) noexcept;
  ProtectionSnapshot& operator=(ProtectionSnapshot&&) noexcept;
  ~ProtectionSnapshot();

  // As TagProtection::Protecting, on the rules as they were read; null when none protects.
  const ImmutabilityRule* Protecting(std::string_view repository, std::string_view tag) const;

 private:
  struct Compiled;
  std::vector<Compiled> rules_;  // the enabled ones, oldest first
};

// What is consulted before a tag is pushed over or deleted.
class TagProtection {
 public:
  virtual ~TagProtection() = default;

  // The first enabled rule (smallest id) whose repository glob matches `repository`
  // ("<registry project>/<repository>") and whose tag pattern matches the whole `tag`; nullopt
  // when none does. Whether the tag exists is not asked: the caller knows. A pattern the matcher
  // gives up on (too complex for the input) counts as matching: protection errs towards keeping.
  // Fails only when the rules cannot be read (kUnavailable).
  virtual Result<std::optional<ImmutabilityRule>> Protecting(std::string_view repository,
                                                             std::string_view tag) = 0;
  // The rules as they are now; fails only when they cannot be read (kUnavailable).
  virtual Result<ProtectionSnapshot> Snapshot() = 0;
};

// A rule as a request gives it. On update, a missing field keeps the stored value.
struct ImmutabilityRequest {
  std::optional<std::string> repository;   // required on create
  std::optional<std::string> tag_pattern;  // required on create
  std::optional<bool> enabled;
  std::optional<std::string> description;
};

class ImmutabilityService final : public TagProtection {
 public:
  // `store` and `clock` must outlive this; `audit` may be null (nothing recorded). Changes are
  // audited as immutability.create, .update and .delete on "immutability:<id>".
  ImmutabilityService(ImmutabilityStore& store, const Clock& clock, AuditLog* audit = nullptr);

  // kInvalid naming the field: repository (empty, over 255 characters, a character a
  // repository name cannot hold besides `*`), tagPattern (empty, over 256 characters, not a
  // regular expression), description (over 1024 characters).
  Result<ImmutabilityRule> Create(const ImmutabilityRequest& request,
                                  std::string_view operator_name, const ChangeOrigin& origin = {});
  Result<ImmutabilityRule> Update(std::int64_t id, const ImmutabilityRequest& request,
                                  std::string_view operator_name, const ChangeOrigin& origin = {});
  Result<void> Delete(std::int64_t id, std::string_view operator_name,
                      const ChangeOrigin& origin = {});
  Result<ImmutabilityRule> Get(std::int64_t id);
  Result<std::vector<ImmutabilityRule>> List();

  // TagProtection
  Result<std::optional<ImmutabilityRule>> Protecting(std::string_view repository,
                                                     std::string_view tag) override;
  Result<ProtectionSnapshot> Snapshot() override;

 private:
  ImmutabilityStore& store_;
  AuditTrail audit_;
};

// The refusal of a change to `repository:tag`, which `rule` protects: kAlreadyExists (409),
// naming the rule's id and patterns and the tag. `what` says what was refused ("a build would
// push over it").
Error ProtectedTagError(const ImmutabilityRule& rule, std::string_view repository,
                        std::string_view tag, std::string_view what);

// Nothing when no rule protects `repository:tag` or the tag does not exist in `registry` yet
// (a first push is allowed); else ProtectedTagError. What the registry answers besides "no such
// tag" (unreachable, refused) fails the check with its error: a protected tag is not pushed
// over on a guess.
Result<void> CheckTagOverwrite(TagProtection& protection, Registry& registry,
                               std::string_view repository, std::string_view tag);

}  // namespace market
