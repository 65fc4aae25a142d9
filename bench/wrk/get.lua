-- GET of one resource: answered 200 with its content.
-- Usage: wrk -s bench/wrk/get.lua http://HOST:PORT/v1/resources/NAME
wrk.method = "GET"

done = function(summary, latency, requests)
  io.write(string.format("non-2xx/3xx responses: %d\n", summary.errors.status))
end
