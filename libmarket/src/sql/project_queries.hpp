#pragma once
// The project store's read statements, written out once per dialect (pg_project_queries.cpp,
// sqlite_project_queries.cpp): one literal per query shape, as the database receives it. Both
// the SOCI store and the PostgreSQL pipeline run these texts. Parameters are named (:name,
// :lim...): SOCI binds them by name; the pipeline numbers them (NumberedParameters).

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "market/error.hpp"
#include "market/project_store.hpp"
#include "sql/project_row.hpp"

namespace market::sql {

// Both indexes of pieces hold every piece of this many characters of a name's runs of ASCII
// letters and digits (PostgreSQL: project_name_grams, migration 7; SQLite: project_name_pieces,
// migration 8). Those migrations are frozen text: a new length needs a new migration.
inline constexpr std::size_t kPieceLength = 5;

// How a listing finds the names that hold its filter (a literal substring, checked exactly by
// strpos() or instr() in every shape).
enum class NameFilter : std::size_t {
  kNone,     // no filter
  kPieces,   // the filter has a run of kPieceLength letters or digits: the index of pieces (:grm)
  kTrigram,  // a trigram index: PostgreSQL's pg_trgm through LIKE (:pat), SQLite's FTS5 (:fts)
  kScan,     // SQLite, a filter with no trigram to ask for: instr() over the table
};
inline constexpr std::size_t kNameFilters = 4;

// Where a page starts.
enum class PageStart : std::size_t {
  kFirst,  // the first names
  kAfter,  // names after a keyset cursor (:after)
  kAt,     // skips :off names in the name index alone, then reads only the page's rows
};
inline constexpr std::size_t kPageStarts = 3;

// One dialect's statements. Every page is `SELECT MARKET_PROJECT_COLUMNS` in name order,
// :lim rows. A shape a dialect does not have is empty.
struct ProjectQueries {
  std::string_view by_name;  // :name
  // The total of a listing: unfiltered, the counter migration 3's triggers keep.
  std::array<std::string_view, kNameFilters> count;
  std::array<std::array<std::string_view, kPageStarts>, kNameFilters> page;
  // A filtered page and its total from one pass over at most :cap matches (see
  // SqlProjectStore::List): the total, then the page's columns.
  std::array<std::array<std::string_view, kPageStarts>, kNameFilters> filtered_page;

  std::string_view Count(NameFilter filter) const {
    return count[static_cast<std::size_t>(filter)];
  }
  std::string_view Page(NameFilter filter, PageStart start) const {
    return page[static_cast<std::size_t>(filter)][static_cast<std::size_t>(start)];
  }
  std::string_view FilteredPage(NameFilter filter, PageStart start) const {
    return filtered_page[static_cast<std::size_t>(filter)][static_cast<std::size_t>(start)];
  }
};

// The values a listing binds, under the names its statements give them (the offset page's
// inner query binds the filter's once more, with the suffix 2).
struct ListArguments {
  std::string literal;  // :lit, the filter itself
  std::string pattern;  // :pat, PostgreSQL's LIKE pattern for the trigram index
  std::string grams;    // :grm, the filter's pieces: a text[] literal or an FTS5 query
  std::string fts;      // :fts, SQLite's FTS5 trigram query: one quoted string
  std::string after;    // :after
  long long offset = 0;  // :off
  long long limit = 0;   // :lim
};

// A listing's shape and values.
struct ListPlan {
  NameFilter filter = NameFilter::kNone;
  PageStart start = PageStart::kFirst;
  ListArguments arguments;
};

// kInvalid for a page or page size below 1. With a keyset cursor the page number is not used:
// the cursor already says where the page starts, and its cost does not grow with the depth.
Result<ListPlan> PlanList(const ProjectListQuery& query, bool postgres);

const ProjectQueries& PostgresQueries();
const ProjectQueries& SqliteQueries();

// `text` with its named parameters numbered in libpq's form ($1, $2...) in order of first
// appearance; `names` gets each number's name. A `::` cast is not a parameter.
std::string NumberedParameters(std::string_view text, std::vector<std::string>& names);

}  // namespace market::sql
