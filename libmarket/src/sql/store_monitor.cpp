// market::MakeStoreMonitor over the SQL stores' shared session pool.

#include "market/store_monitor.hpp"

#include "sql/sql_stores.hpp"

namespace market {

namespace {

class SqlStoreMonitor final : public StoreMonitor {
 public:
  explicit SqlStoreMonitor(sql::SharedPool pool) : pool_(std::move(pool)) {}

  PoolUsage Pool() const override {
    sql::SessionPool::Usage usage = pool_->CurrentUsage();
    return PoolUsage{usage.size, usage.in_use, usage.waiting};
  }

  Result<ActiveBuilds> CountActiveBuilds() override {
    return pool_->Run("active build count", [](soci::session& sql) -> Result<ActiveBuilds> {
      ActiveBuilds counts;
      std::string state;
      long long n = 0;
      soci::statement statement =
          (sql.prepare << "SELECT state, COUNT(*) FROM builds WHERE state IN ('queued', "
                          "'running') GROUP BY state",
           soci::into(state), soci::into(n));
      statement.execute();
      while (statement.fetch()) {
        if (state == "queued") counts.queued = n;
        if (state == "running") counts.running = n;
      }
      return counts;
    });
  }

 private:
  sql::SharedPool pool_;
};

}  // namespace

std::unique_ptr<StoreMonitor> MakeStoreMonitor(const Stores& stores) {
  auto* builds = dynamic_cast<sql::SqlBuildStore*>(stores.builds.get());
  if (builds == nullptr) return nullptr;
  return std::make_unique<SqlStoreMonitor>(builds->pool());
}

}  // namespace market
