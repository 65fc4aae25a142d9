-- Conditional GET answered 304: learns the ETag from the first response of
-- each thread, then revalidates with If-None-Match.
-- Usage: wrk -s bench/wrk/conditional_get.lua http://HOST:PORT/PATH
local etag = nil

request = function()
  if etag then
    return wrk.format("GET", nil, { ["If-None-Match"] = etag })
  end
  return wrk.format("GET")
end

response = function(status, headers, body)
  if not etag then
    etag = headers["ETag"] or headers["etag"]
  end
end

done = function(summary, latency, requests)
  io.write(string.format("non-2xx/3xx responses: %d\n", summary.errors.status))
end
