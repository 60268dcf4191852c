-- wrk script for the tail scenario: POSTs a chat body whose content carries a counter, so every
-- request is distinct (a response-cache miss), and prints the latency percentiles wrk recorded for
-- every request (its histogram has microsecond resolution) as one line the bench parses.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "sk-bench")
local counter = 0
local prefix = os.getenv("BENCH_TAG") or "t"

request = function()
  counter = counter + 1
  local body = '{"model":"bench-model","messages":[{"role":"user","content":"Hello ' .. prefix .. counter ..
    '"}],"max_tokens":16}'
  return wrk.format(nil, nil, nil, body)
end

done = function(summary, latency, requests)
  local p = {}
  for _, q in ipairs({50, 90, 99, 99.9, 99.99}) do
    p[#p + 1] = string.format("%g=%d", q, latency:percentile(q))
  end
  io.write(string.format("TAIL requests=%d max=%d %s\n", summary.requests, latency.max, table.concat(p, " ")))
end
