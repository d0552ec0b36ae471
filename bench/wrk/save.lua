-- POST /api/project/save (update) of random existing projects with a four-plugin pipeline.
local count = tonumber(os.getenv("BENCH_PROJECTS") or "1000")
-- Each wrk thread has its own Lua state: seed each differently, or all ask the same names.
-- thread_id is a global: wrk's thread:set() writes the thread's globals.
local next_thread_id = 0
setup = function(thread)
  thread:set("thread_id", next_thread_id)
  next_thread_id = next_thread_id + 1
end
init = function() math.randomseed(os.time() + 7 + 1000 * thread_id) end
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
