#pragma once
// The base images of a Dockerfile and the image references they name.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace market {

// An image reference split into its parts: "host:5000/team/app:1.0@sha256:..." ->
// {registry "host:5000", repository "team/app", tag "1.0", digest "sha256:..."}. A reference
// without a registry host is Docker Hub's ("docker.io", "library/" for a single component).
struct ImageReference {
  std::string registry;
  std::string repository;
  std::string tag;     // empty when only a digest pins it; "latest" when neither is given
  std::string digest;  // "sha256:..." when pinned

  // "registry/repository:tag" (or "@digest" when pinned without a tag): two references to the
  // same tag compare equal whatever their spelling ("alpine" and
  // "docker.io/library/alpine:latest").
  std::string Canonical() const;
};

// None when `text` is not an image reference (empty, spaces, a variable such as "${BASE}").
std::optional<ImageReference> ParseImageReference(std::string_view text);

// The images the Dockerfile's FROM instructions name, in order: `scratch`, references to an
// earlier stage by its name (case-insensitive) and repeats are left out. Flags (--platform) and
// "AS name" are not part of the reference; continuation lines and comments are understood.
std::vector<std::string> BaseImageReferences(std::string_view dockerfile);

}  // namespace market
