-- POST /api/project/new then /api/project/delete of the same fresh name, alternating.
local counter = 0
local thread_id = 0
setup = function(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
end
request = function()
  local name = string.format("cycle-%d-%d", thread_id, math.floor(counter / 2))
  local path = (counter % 2 == 0) and "/api/project/new" or "/api/project/delete"
  counter = counter + 1
  return wrk.format("POST", path, {["Content-Type"] = "application/json"},
    '{"projectName":"' .. name .. '","operator":"bench"}')
end
dofile(os.getenv("BENCH_DIR") .. "/wrk/report.lua")
