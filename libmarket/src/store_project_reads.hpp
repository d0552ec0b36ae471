#pragma once
// AsyncProjectReads over a blocking ProjectStore: each read runs on a BlockingExecutor's thread
// and answers from there. SQLite's reads, and PostgreSQL's costly listings.

#include "market/async_project_reads.hpp"

namespace market {

class StoreProjectReads final : public AsyncProjectReads {
 public:
  StoreProjectReads(ProjectStore& store, BlockingExecutor& blocking)
      : store_(store), blocking_(blocking) {}

  // AsyncProjectReads
  void Get(std::string name, GetCallback done) override;
  void List(ProjectListQuery query, ListCallback done) override;

 private:
  ProjectStore& store_;
  BlockingExecutor& blocking_;
};

}  // namespace market
