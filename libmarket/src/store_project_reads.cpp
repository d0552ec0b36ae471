#include "store_project_reads.hpp"

#include <exception>
#include <string>

namespace market {

namespace {

// `read`'s answer; an exception escaping it answers kInternal, so that `done` is always called.
template <class Read>
auto Answer(Read&& read) -> decltype(read()) {
  try {
    return read();
  } catch (const std::exception& e) {
    return Fail(Errc::kInternal, std::string("project read failed: ") + e.what());
  }
}

}  // namespace

void StoreProjectReads::Get(std::string name, GetCallback done) {
  blocking_.Post([&store = store_, name = std::move(name), done = std::move(done)]() mutable {
    done(Answer([&] { return store.Get(name); }));
  });
}

void StoreProjectReads::List(ProjectListQuery query, ListCallback done) {
  blocking_.Post([&store = store_, query = std::move(query), done = std::move(done)]() mutable {
    done(Answer([&] { return store.List(query); }));
  });
}

}  // namespace market
