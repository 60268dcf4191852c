-- wrk script: POST a small, non-streaming chat completion (the body the whole bench uses).
-- The path is the URL's; BENCH_BODY replaces the body (e.g. a Messages or Responses API body).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local extra = os.getenv("BENCH_HEADERS")
if extra and extra ~= "" then
  -- BENCH_HEADERS: "Name: value" lines sent instead of the bearer token (e.g. x-api-key for /v1/messages).
  for name, value in extra:gmatch("([^:\n]+):%s*([^\n]*)") do
    wrk.headers[name] = value
  end
else
  -- BENCH_KEY: the API key sent as a bearer token (bench/load.py sets it per run; default sk-bench).
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "sk-bench")
end
wrk.body = os.getenv("BENCH_BODY") or
  '{"model":"bench-model","messages":[{"role":"user","content":"Hello, how are you?"}],"max_tokens":16}'
