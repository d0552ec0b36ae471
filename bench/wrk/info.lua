-- GET /api/project/info for random existing projects (names bench-000000 .. bench-N-1).
local count = tonumber(os.getenv("BENCH_PROJECTS") or "1000")
math.randomseed(os.time())
request = function()
  local name = string.format("bench-%07d", math.random(0, count - 1))
  return wrk.format("GET", "/api/project/info?projectName=" .. name)
end
dofile(os.getenv("BENCH_DIR") .. "/wrk/report.lua")
