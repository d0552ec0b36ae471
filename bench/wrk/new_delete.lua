-- POST /api/project/new of a fresh name, then /api/project/delete of the name created `lag`
-- requests earlier, alternating. wrk spreads consecutive requests over its connections, so
-- a delete right after its new could overtake it; the lag makes sure the project exists.
-- Names carry the start time and the thread, so rounds and threads never collide.
local lag = 256
local counter = 0
local run = os.time()
-- thread_id is a global: wrk's thread:set() writes the thread's globals.
local next_thread_id = 0
setup = function(thread)
  thread:set("thread_id", next_thread_id)
  next_thread_id = next_thread_id + 1
end
local function name(i) return string.format("cycle-%d-%d-%d", run, thread_id, i) end
request = function()
  local i = math.floor(counter / 2)
  local path, target = "/api/project/new", name(i)
  if counter % 2 == 1 and i > lag then  -- name(0) may be wrk's unsent priming request
    path, target = "/api/project/delete", name(i - lag)
  elseif counter % 2 == 1 then
    target = name(i) .. "-x"  -- nothing to delete yet: another new
  end
  counter = counter + 1
  return wrk.format("POST", path, {["Content-Type"] = "application/json"},
    '{"projectName":"' .. target .. '","operator":"bench"}')
end
dofile(os.getenv("BENCH_DIR") .. "/wrk/report.lua")
