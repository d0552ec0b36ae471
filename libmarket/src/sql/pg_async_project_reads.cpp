#include "sql/pg_async_project_reads.hpp"

#include <atomic>
#include <charconv>
#include <vector>

#include "sql/pg_read_channel.hpp"
#include "sql/project_row.hpp"

namespace market::sql {

namespace {

// The statements of SqlProjectStore's unfiltered reads, in libpq's $n form.
enum Statement : std::size_t { kProjectByName, kProjectCount, kFirstPage, kPageAfter, kPageAt };

std::vector<PgStatement> Statements() {
  const std::string select = std::string("SELECT ") + kProjectColumns + " FROM projects";
  return {
      {"project by name", select + " WHERE name = $1", 1},
      // The counter migration 3's triggers keep, not a scan of the table.
      {"project count", "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM project_count", 0},
      {"project first page", select + " ORDER BY name LIMIT $1", 1},
      {"project page after", select + " WHERE name > $1 ORDER BY name LIMIT $2", 2},
      // Skips in the name index alone, then reads only the page's rows.
      {"project page at",
       select + " WHERE name >= (SELECT name FROM projects ORDER BY name LIMIT 1 OFFSET $1)" +
           " ORDER BY name LIMIT $2",
       2},
  };
}

std::string Text(const PGresult* result, int row, int column) {
  return std::string(PQgetvalue(result, row, column),
                     static_cast<std::size_t>(PQgetlength(result, row, column)));
}

Result<long long> Integer(const PGresult* result, int row, int column) {
  const char* text = PQgetvalue(result, row, column);
  const char* end = text + PQgetlength(result, row, column);
  long long value = 0;
  auto [stop, ec] = std::from_chars(text, end, value);
  if (ec != std::errc() || stop != end) {
    return Fail(Errc::kInternal, "database returned a non-integer where a number belongs");
  }
  return value;
}

// Row `row` of a `SELECT kProjectColumns` result.
Result<Project> DecodeProject(const PGresult* result, int row, bool with_pipeline) {
  if (PQnfields(result) != 8) {
    return Fail(Errc::kInternal, "database returned an unexpected project row");
  }
  ProjectRow fields;
  fields.name = Text(result, row, 0);
  fields.creator = Text(result, row, 1);
  Result<long long> created = Integer(result, row, 2);
  Result<long long> modified = Integer(result, row, 3);
  if (!created || !modified) return std::unexpected(created ? modified.error() : created.error());
  fields.create_time = *created;
  fields.last_modify_time = *modified;
  fields.last_modify_operator = Text(result, row, 4);
  fields.cluster = Text(result, row, 5);
  fields.define_type = Text(result, row, 6);
  fields.pipeline = Text(result, row, 7);
  return ToProject(fields, with_pipeline);
}

// A listing's two answers: the count comes first (same channel, same batch), then the page.
struct PendingList {
  Result<long long> total = 0;
  bool with_pipeline = true;
};

Result<ProjectPage> DecodePage(const PGresult* result, const PendingList& pending) {
  if (!pending.total) return std::unexpected(pending.total.error());
  ProjectPage page;
  page.total_count = *pending.total;
  const int rows = PQntuples(result);
  page.projects.reserve(static_cast<std::size_t>(rows));
  for (int row = 0; row < rows; ++row) {
    Result<Project> project = DecodeProject(result, row, pending.with_pipeline);
    if (!project) return std::unexpected(project.error());
    page.projects.push_back(std::move(*project));
  }
  return page;
}

class PgAsyncProjectReads final : public AsyncProjectReads {
 public:
  PgAsyncProjectReads(const ConnectionConfig& config, boost::asio::any_io_executor executor,
                      int connections) {
    for (int i = 0; i < connections; ++i) {
      channels_.push_back(PgReadChannel::Make(executor, config, Statements()));
    }
  }

  void Get(std::string name, GetCallback done) override {
    std::size_t index = next_.fetch_add(1, std::memory_order_relaxed) % channels_.size();
    std::vector<std::string> parameters{name};
    // The callback keeps nothing of this object: a late answer may come after it is gone.
    channels_[index]->Submit(
        kProjectByName, std::move(parameters),
        [name = std::move(name), done = std::move(done)](Result<PgResultPtr> answer) {
          if (!answer) return done(std::unexpected(answer.error()));
          if (PQntuples(answer->get()) == 0) {
            return done(Fail(Errc::kNotFound, "project not found: " + name));
          }
          done(DecodeProject(answer->get(), 0, true));
        });
  }

  void List(ProjectListQuery query, ListCallback done) override {
    if (query.page < 1 || query.page_size < 1) {
      return done(Fail(Errc::kInvalid, "page and page_size must be positive"));
    }
    if (!Takes(query)) {
      return done(Fail(Errc::kInvalid,
                       "asynchronous listing takes no name filter and no deep page"));
    }
    // As SqlProjectStore::List: with a cursor the page number is not used.
    const long long offset =
        query.after ? 0 : static_cast<long long>(query.page - 1) * query.page_size;
    const std::string limit = std::to_string(query.page_size);
    Statement statement = kFirstPage;
    std::vector<std::string> parameters;
    if (query.after) {
      statement = kPageAfter;
      parameters = {*query.after, limit};
    } else if (offset > 0) {
      statement = kPageAt;
      parameters = {std::to_string(offset), limit};
    } else {
      parameters = {limit};
    }
    auto pending = std::make_shared<PendingList>();
    pending->with_pipeline = query.with_pipeline;
    PgReadChannel& channel = *channels_[next_.fetch_add(1, std::memory_order_relaxed) %
                                        channels_.size()];
    channel.Submit(kProjectCount, {}, [pending](Result<PgResultPtr> answer) {
      if (!answer) {
        pending->total = std::unexpected(answer.error());
      } else if (PQntuples(answer->get()) != 1) {
        pending->total = Fail(Errc::kInternal, "database returned no project count");
      } else {
        pending->total = Integer(answer->get(), 0, 0);
      }
    });
    channel.Submit(statement, std::move(parameters),
                   [pending, done = std::move(done)](Result<PgResultPtr> answer) {
                     if (!answer) return done(std::unexpected(answer.error()));
                     done(DecodePage(answer->get(), *pending));
                   });
  }

 private:
  std::vector<std::shared_ptr<PgReadChannel>> channels_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace

AsyncProjectReadsPtr MakePgAsyncProjectReads(const ConnectionConfig& config,
                                             boost::asio::any_io_executor executor,
                                             int connections) {
  return std::make_unique<PgAsyncProjectReads>(config, std::move(executor), connections);
}

}  // namespace market::sql
