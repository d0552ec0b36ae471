-- POST /api/project/save (update) of random existing projects with a four-plugin pipeline.
local count = tonumber(os.getenv("BENCH_PROJECTS") or "1000")
math.randomseed(os.time() + 7)
local pipeline = '[{"$$plugin":"base_image_choose_from_harbor","handleInput":"127.0.0.1:5000/base/busybox:latest"},' ..
  '{"$$plugin":"run","value":["echo one","echo two"]},' ..
  '{"$$plugin":"env_set","key":["A","B"],"value":["1","2"]},' ..
  '{"$$plugin":"expose","port":["8080"]}]'
request = function()
  local name = string.format("bench-%07d", math.random(0, count - 1))
  return wrk.format("POST", "/api/project/save", {["Content-Type"] = "application/json"},
    '{"project":"' .. name .. '","Cluster":"default_cluster","DefineDockerFileType":"tool",' ..
    '"addOrUpdate":"update","operator":"bench","$$plugin":' .. pipeline .. '}')
end
dofile(os.getenv("BENCH_DIR") .. "/wrk/report.lua")
