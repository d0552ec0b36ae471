// The base images of a Dockerfile and the parts of an image reference.

#include "market/base_images.hpp"

#include <catch2/catch.hpp>

namespace market {
namespace {

using Refs = std::vector<std::string>;

TEST_CASE("FROM references in order, without scratch, stages or repeats", "[base-images]") {
  const std::string dockerfile =
      "# syntax=docker/dockerfile:1\n"
      "FROM --platform=linux/amd64 golang:1.22 AS build\n"
      "RUN go build\n"
      "from build as test\n"
      "FROM scratch\n"
      "FROM registry.test:5000/base/runtime:2 \\\n"
      "  AS final\n"
      "COPY --from=build /app /app\n"
      "FROM golang:1.22\n"
      "FROM Build\n";
  CHECK(BaseImageReferences(dockerfile) ==
        Refs{"golang:1.22", "registry.test:5000/base/runtime:2"});
}

TEST_CASE("a stage named like a later image is only a stage after it is defined", "[base-images]") {
  CHECK(BaseImageReferences("FROM app\nFROM alpine AS app\nFROM app\n") == Refs{"app", "alpine"});
  CHECK(BaseImageReferences("").empty());
  CHECK(BaseImageReferences("RUN echo FROM x\n# FROM y\n").empty());
}

TEST_CASE("image references are split and spelled canonically", "[base-images]") {
  auto hub = ParseImageReference("alpine");
  REQUIRE(hub);
  CHECK(hub->Canonical() == "docker.io/library/alpine:latest");
  CHECK(ParseImageReference("docker.io/library/alpine:latest")->Canonical() == hub->Canonical());

  auto local = ParseImageReference("127.0.0.1:5000/team/app:v1");
  REQUIRE(local);
  CHECK(local->registry == "127.0.0.1:5000");
  CHECK(local->repository == "team/app");
  CHECK(local->tag == "v1");
  CHECK(local->digest.empty());

  const std::string digest = "sha256:" + std::string(64, 'a');
  auto pinned = ParseImageReference("registry.test:5000/team/app@" + digest);
  REQUIRE(pinned);
  CHECK(pinned->tag.empty());
  CHECK(pinned->digest == digest);
  CHECK(pinned->Canonical() == "registry.test:5000/team/app@" + digest);

  auto port_no_tag = ParseImageReference("localhost:5000/app");
  REQUIRE(port_no_tag);
  CHECK(port_no_tag->registry == "localhost:5000");
  CHECK(port_no_tag->tag == "latest");

  CHECK_FALSE(ParseImageReference(""));
  CHECK_FALSE(ParseImageReference("${BASE}"));
  CHECK_FALSE(ParseImageReference("app@sha256:short"));
  CHECK_FALSE(ParseImageReference("host:5000/app:"));
}

}  // namespace
}  // namespace market
