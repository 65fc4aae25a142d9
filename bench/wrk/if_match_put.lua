-- Compare-and-set over HTTP: PUT with If-Match carrying the ETag this
-- thread last saw for the key, over `keys` keys per thread so that requests
-- in flight rarely share one. A 412 (someone else's write in between) is
-- counted and reported, not retried.
-- Usage: wrk -s bench/wrk/if_match_put.lua http://HOST:PORT/v1/resources/bench/http/
local keys = 64
local counter = 0
local etags = {}
local pending = {}
local failed = 0
local body = string.rep("v", 1024)

setup = function(thread)
  thread:set("id", tostring(math.random(1, 1e9)))
end

request = function()
  counter = counter + 1
  local key = counter % keys
  local path = wrk.path .. id .. "-" .. key
  pending[#pending + 1] = key
  local headers = { ["Content-Type"] = "application/octet-stream" }
  if etags[key] then
    headers["If-Match"] = etags[key]
  end
  return wrk.format("PUT", path, headers, body)
end

response = function(status, headers, body)
  local key = table.remove(pending, 1)
  if status == 412 then
    failed = failed + 1
  end
  local etag = headers["ETag"] or headers["etag"]
  if key and etag then
    etags[key] = etag
  end
end

done = function(summary, latency, requests)
  io.write(string.format("non-2xx/3xx responses: %d\n", summary.errors.status))
end
