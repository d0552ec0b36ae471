// ProjectListText writes the bytes the generic path writes for the same listing (OkList over
// ProjectToJson, then JsonText): checked on an empty page, a plain one, and random projects
// whose text fields hold quotes, control characters, non-ASCII and invalid UTF-8.

#include "project_list_text.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <random>
#include <string>

#include "json_codec.hpp"
#include "json_text.hpp"
#include "responses.hpp"

using market::Project;
using market::ProjectListing;

namespace {

// What the list answered before it had a writer of its own.
std::string Generic(const ProjectListing& listing) {
  nlohmann::json content = nlohmann::json::array();
  for (const Project& project : listing.page.projects) {
    content.push_back(market::server::ProjectToJson(project, nullptr));
  }
  return market::server::OkList(std::move(content), listing.page_number, listing.page_size,
                                listing.page.total_count)
      .response.body();
}

std::string RandomText(std::mt19937& random) {
  std::string out;
  const int length = static_cast<int>(random() % 24);
  for (int i = 0; i < length; ++i) {
    out += random() % 6 == 0 ? static_cast<char>(random() % 256)
                             : static_cast<char>('a' + random() % 26);
  }
  return out;
}

Project Plain(const std::string& name) {
  Project project;
  project.name = name;
  project.creator = "alice";
  project.last_modify_operator = "bob";
  project.cluster = "default_cluster";
  project.create_time = market::TimePoint{std::chrono::milliseconds{1'790'000'000'123}};
  project.last_modify_time = project.create_time + std::chrono::hours(30);
  return project;
}

}  // namespace

TEST_CASE("the list body is the generic writer's, byte for byte", "[json]") {
  ProjectListing listing;
  listing.page_number = 4;
  listing.page_size = 10;
  listing.page.total_count = 31;
  CHECK(market::server::ProjectListText(listing) == Generic(listing));  // past the end

  listing.page.projects = {Plain("web"), Plain("api")};
  listing.page.projects[1].define_type = market::DockerfileType::kDownload;
  const std::string text = market::server::ProjectListText(listing);
  CHECK(text == Generic(listing));
  CHECK(text.starts_with(R"({"code":10000,"content":[{"Cluster":"default_cluster",)"));
  CHECK(text.ends_with(R"("errMsg":"ok","page":4,"page_size":10,"total_count":31})"));

  std::mt19937 random(20261129);
  for (int round = 0; round < 500; ++round) {
    ProjectListing page;
    page.page_number = static_cast<int>(random() % 1000) + 1;
    page.page_size = static_cast<int>(random() % 100) + 1;
    page.page.total_count = static_cast<std::int64_t>(random()) * 1000;
    const int count = static_cast<int>(random() % 12);
    for (int i = 0; i < count; ++i) {
      Project project = Plain(RandomText(random));
      project.creator = RandomText(random);
      project.last_modify_operator = RandomText(random);
      project.cluster = RandomText(random);
      project.define_type = static_cast<market::DockerfileType>(random() % 3);
      project.create_time = market::TimePoint{std::chrono::milliseconds{
          static_cast<std::int64_t>(random()) * 1000 + static_cast<std::int64_t>(random() % 1000)}};
      page.page.projects.push_back(project);
    }
    INFO("round " << round);
    REQUIRE(market::server::ProjectListText(page) == Generic(page));
  }
}
