-- GET /api/project/info for random existing projects (names bench-0000000 .. bench-(N-1)).
local count = tonumber(os.getenv("BENCH_PROJECTS") or "1000")
-- Each wrk thread has its own Lua state: seed each differently, or all ask the same names.
-- thread_id is a global: wrk's thread:set() writes the thread's globals.
local next_thread_id = 0
setup = function(thread)
  thread:set("thread_id", next_thread_id)
  next_thread_id = next_thread_id + 1
end
init = function() math.randomseed(os.time() + 1000 * thread_id) end
request = function()
  local name = string.format("bench-%07d", math.random(0, count - 1))
  return wrk.format("GET", "/api/project/info?projectName=" .. name)
end
dofile(os.getenv("BENCH_DIR") .. "/wrk/report.lua")
