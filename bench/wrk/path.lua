-- GET the fixed path in BENCH_PATH (healthz, list pages).
local path = os.getenv("BENCH_PATH")
request = function() return wrk.format("GET", path) end
dofile(os.getenv("BENCH_DIR") .. "/wrk/report.lua")
