// PlanList: which of a dialect's statements a listing runs, and the values it binds.

#include "sql/project_queries.hpp"

namespace market::sql {

namespace {

// `text` as a LIKE pattern that matches exactly itself (the escape character is `\`).
std::string EscapeLike(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 4);
  for (char c : text) {
    if (c == '\\' || c == '%' || c == '_') out += '\\';
    out += c;
  }
  return out;
}

// Calls `on_run` with each maximal run of ASCII letters and digits in `text`, in order.
template <class OnRun>
void ForEachWordRun(std::string_view text, OnRun&& on_run) {
  auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  for (std::size_t i = 0; i < text.size();) {
    if (!word(text[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && word(text[j])) ++j;
    on_run(text.substr(i, j - i));
    i = j;
  }
}

// The longest run of ASCII letters and digits in a filter (empty when it has none).
std::string_view LongestWordRun(std::string_view filter) {
  std::string_view best;
  ForEachWordRun(filter, [&best](std::string_view run) {
    if (run.size() > best.size()) best = run;
  });
  return best;
}

// The piece of a literal substring filter a trigram index is asked for: the longest run of
// ASCII letters and digits in it, when it has at least 3 (one trigram), else the filter.
// pg_trgm cuts a pattern into words at every other character, and a word's edges become
// trigrams of their own ("  0", "ch "); with FTS5 the separators' trigrams ("ch-", "-00")
// are what every name like `team-service-0042` has. Either way the index would read posting
// lists as long as the table. The run is a substring of the filter, so matching it is a
// necessary condition; strpos()/instr() then check the filter exactly.
std::string_view IndexedPiece(std::string_view filter) {
  std::string_view run = LongestWordRun(filter);
  return run.size() >= 3 ? run : filter;
}

// The filter's pieces, in order (a repeated one is harmless to both indexes' queries): a name
// holding the filter holds each of its runs' pieces, and they are far rarer than trigrams.
std::vector<std::string_view> FilterPieces(std::string_view filter) {
  std::vector<std::string_view> pieces;
  ForEachWordRun(filter, [&pieces](std::string_view run) {
    for (std::size_t i = 0; i + kPieceLength <= run.size(); ++i) {
      pieces.push_back(run.substr(i, kPieceLength));
    }
  });
  return pieces;
}

// PostgreSQL: the pieces as a text[] literal, "{bench,00042}": what project_name_grams(filter)
// gives, cut here so that PostgreSQL does not plan and run that SQL function on every list
// (that halved the statement's throughput). Letters and digits need no quoting.
std::string PgTextArray(const std::vector<std::string_view>& pieces) {
  std::string literal = "{";
  for (std::string_view piece : pieces) {
    if (literal.size() > 1) literal += ',';
    literal += piece;
  }
  return literal + '}';
}

// SQLite: an FTS5 query for rows holding every piece: "bench" "00042".
std::string FtsAllOf(const std::vector<std::string_view>& pieces) {
  std::string query;
  for (std::string_view piece : pieces) {
    if (!query.empty()) query += ' ';
    query += '"';
    query += piece;
    query += '"';
  }
  return query;
}

// Characters, not bytes: the trigram tokenizer works on Unicode characters.
std::size_t Utf8Length(std::string_view text) {
  std::size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

// The filter as an FTS5 string literal: within double quotes every character is literal, and
// a double quote is written twice.
std::string FtsPhrase(std::string_view filter) {
  std::string out = "\"";
  for (char c : filter) {
    out += c;
    if (c == '"') out += '"';
  }
  out += '"';
  return out;
}

bool ParameterChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

}  // namespace

Result<ListPlan> PlanList(const ProjectListQuery& query, bool postgres) {
  if (query.page < 1 || query.page_size < 1) {
    return Fail(Errc::kInvalid, "page and page_size must be positive");
  }
  const std::string& filter = query.name_filter;
  ListPlan plan;
  ListArguments& arguments = plan.arguments;
  // A filter with a run of kPieceLength letters or digits asks the index of pieces for
  // candidates. Else, on PostgreSQL a LIKE on a piece of it asks the trigram index, and on
  // SQLite a filter of three characters or more asks the FTS5 trigram index; a shorter one
  // scans.
  if (filter.empty()) {
    plan.filter = NameFilter::kNone;
  } else if (LongestWordRun(filter).size() >= kPieceLength) {
    plan.filter = NameFilter::kPieces;
    const auto pieces = FilterPieces(filter);
    arguments.grams = postgres ? PgTextArray(pieces) : FtsAllOf(pieces);
  } else if (postgres) {
    plan.filter = NameFilter::kTrigram;
    arguments.pattern = "%" + EscapeLike(IndexedPiece(filter)) + "%";
  } else if (Utf8Length(IndexedPiece(filter)) >= 3) {
    plan.filter = NameFilter::kTrigram;
    arguments.fts = FtsPhrase(IndexedPiece(filter));
  } else {
    plan.filter = NameFilter::kScan;
  }
  arguments.literal = filter;
  const long long offset =
      query.after ? 0 : static_cast<long long>(query.page - 1) * query.page_size;
  plan.start = query.after ? PageStart::kAfter : offset > 0 ? PageStart::kAt : PageStart::kFirst;
  arguments.after = query.after.value_or("");
  arguments.offset = offset;
  arguments.limit = query.page_size;
  return plan;
}

std::string NumberedParameters(std::string_view text, std::vector<std::string>& names) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const bool parameter = text[i] == ':' && i + 1 < text.size() && ParameterChar(text[i + 1]) &&
                           (i == 0 || text[i - 1] != ':');
    if (!parameter) {
      out += text[i++];
      continue;
    }
    std::size_t end = i + 1;
    while (end < text.size() && ParameterChar(text[end])) ++end;
    std::string name(text.substr(i + 1, end - i - 1));
    std::size_t number = 0;
    while (number < names.size() && names[number] != name) ++number;
    if (number == names.size()) names.push_back(name);
    out += '$';
    out += std::to_string(number + 1);
    i = end;
  }
  return out;
}

}  // namespace market::sql
