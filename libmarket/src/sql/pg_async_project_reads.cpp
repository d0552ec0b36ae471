#include "sql/pg_async_project_reads.hpp"

#include <atomic>
#include <charconv>
#include <string>
#include <type_traits>
#include <vector>

#include "sql/pg_read_channel.hpp"
#include "sql/project_row.hpp"
#include "store_project_reads.hpp"

namespace market::sql {

namespace {

// The statements the pipeline runs, in PostgresQueries()' text with numbered parameters.
enum Statement : std::size_t { kProjectByName, kProjectCount, kFirstPage, kPageAfter, kPageAt };

struct PipelineStatements {
  std::vector<PgStatement> prepared;
  // Each statement's parameter names, by number.
  std::vector<std::vector<std::string>> names;
};

PipelineStatements MakeStatements() {
  const ProjectQueries& queries = PostgresQueries();
  const std::pair<const char*, std::string_view> named[] = {
      {"project by name", queries.by_name},
      {"project count", queries.Count(NameFilter::kNone)},
      {"project first page", queries.Page(NameFilter::kNone, PageStart::kFirst)},
      {"project page after", queries.Page(NameFilter::kNone, PageStart::kAfter)},
      {"project page at", queries.Page(NameFilter::kNone, PageStart::kAt)},
  };
  PipelineStatements statements;
  for (const auto& [name, text] : named) {
    std::vector<std::string> names;
    std::string numbered = NumberedParameters(text, names);
    statements.prepared.push_back({name, std::move(numbered), static_cast<int>(names.size())});
    statements.names.push_back(std::move(names));
  }
  return statements;
}

const PipelineStatements& Statements() {
  static const PipelineStatements statements = MakeStatements();
  return statements;
}

// The values of `statement`'s parameters, in their numbers' order: a listing's arguments, and
// `project` for :name.
std::vector<std::string> Parameters(Statement statement, const ListArguments& arguments,
                                    std::string_view project = {}) {
  std::vector<std::string> values;
  for (const std::string& name : Statements().names[statement]) {
    if (name == "name") {
      values.emplace_back(project);
    } else if (name == "after") {
      values.push_back(arguments.after);
    } else if (name == "off") {
      values.push_back(std::to_string(arguments.offset));
    } else if (name == "lim") {
      values.push_back(std::to_string(arguments.limit));
    } else {
      // The unfiltered statements have no other parameter.
      values.emplace_back();
    }
  }
  return values;
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

// Row `row` of a `SELECT MARKET_PROJECT_COLUMNS` result.
Result<Project> DecodeProject(const PGresult* result, int row, bool with_pipeline) {
  if (PQnfields(result) != kProjectColumnCount) {
    return Fail(Errc::kInternal, "database returned an unexpected project row");
  }
  ProjectRow fields;
  int column = 0;
  Result<void> decoded;
  ForEachColumn(fields, [&](auto& field) {
    if constexpr (std::is_same_v<std::decay_t<decltype(field)>, std::string>) {
      field = Text(result, row, column);
    } else {
      Result<long long> number = Integer(result, row, column);
      if (number) {
        field = *number;
      } else if (decoded) {
        decoded = std::unexpected(number.error());
      }
    }
    ++column;
  });
  if (!decoded) return std::unexpected(decoded.error());
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
                      int connections, ProjectStore& store, BlockingExecutor& blocking)
      : costly_(store, blocking) {
    for (int i = 0; i < connections; ++i) {
      channels_.push_back(PgReadChannel::Make(executor, config, Statements().prepared));
    }
  }

  // AsyncProjectReads
  void Get(std::string name, GetCallback done) override {
    std::vector<std::string> parameters = Parameters(kProjectByName, {}, name);
    // PgReadChannel's callback is copyable and `done` is not: it is shared. The callback keeps
    // nothing of this object: a late answer may come after it is gone.
    auto answer_to = std::make_shared<GetCallback>(std::move(done));
    NextChannel().Submit(
        kProjectByName, std::move(parameters),
        [name = std::move(name), answer_to](Result<PgResultPtr> answer) {
          GetCallback& answer_done = *answer_to;
          if (!answer) return answer_done(std::unexpected(answer.error()));
          if (PQntuples(answer->get()) == 0) {
            return answer_done(std::unexpected(ProjectNotFound(name)));
          }
          answer_done(DecodeProject(answer->get(), 0, true));
        });
  }

  void List(ProjectListQuery query, ListCallback done) override {
    Result<ListPlan> plan = PlanList(query, /*postgres=*/true);
    if (!plan) return done(std::unexpected(plan.error()));
    if (!PipelineTakes(*plan)) return costly_.List(std::move(query), std::move(done));
    Statement statement = plan->start == PageStart::kAfter ? kPageAfter
                          : plan->start == PageStart::kAt  ? kPageAt
                                                           : kFirstPage;
    auto pending = std::make_shared<PendingList>();
    pending->with_pipeline = query.with_pipeline;
    PgReadChannel& channel = NextChannel();
    channel.Submit(kProjectCount, {}, [pending](Result<PgResultPtr> answer) {
      if (!answer) {
        pending->total = std::unexpected(answer.error());
      } else if (PQntuples(answer->get()) != 1) {
        pending->total = Fail(Errc::kInternal, "database returned no project count");
      } else {
        pending->total = Integer(answer->get(), 0, 0);
      }
    });
    auto answer_to = std::make_shared<ListCallback>(std::move(done));
    channel.Submit(statement, Parameters(statement, plan->arguments),
                   [pending, answer_to](Result<PgResultPtr> answer) {
                     if (!answer) return (*answer_to)(std::unexpected(answer.error()));
                     (*answer_to)(DecodePage(answer->get(), *pending));
                   });
  }

 private:
  PgReadChannel& NextChannel() {
    return *channels_[next_.fetch_add(1, std::memory_order_relaxed) % channels_.size()];
  }

  StoreProjectReads costly_;  // the listings the pipeline does not take
  std::vector<std::shared_ptr<PgReadChannel>> channels_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace

bool PipelineTakes(const ListPlan& plan) {
  if (plan.filter != NameFilter::kNone) return false;
  return plan.start != PageStart::kAt || plan.arguments.offset <= kPipelineMaxOffset;
}

AsyncProjectReadsPtr MakePgAsyncProjectReads(const ConnectionConfig& config,
                                             boost::asio::any_io_executor executor,
                                             int connections, ProjectStore& store,
                                             BlockingExecutor& blocking) {
  return std::make_unique<PgAsyncProjectReads>(config, std::move(executor), connections, store,
                                               blocking);
}

}  // namespace market::sql
