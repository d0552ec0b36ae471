#pragma once
// The project list's response body written straight from the listing: the bytes of OkList over
// ProjectToJson(project, nullptr) for each project, without building the JSON values (ten
// objects of seven keys each were most of a list request's own work).

#include <string>

#include "market/project_service.hpp"

namespace market::server {

std::string ProjectListText(const ProjectListing& listing);

}  // namespace market::server
