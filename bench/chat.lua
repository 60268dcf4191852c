-- wrk script: POST a small, non-streaming chat completion (the body the whole bench uses).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
-- BENCH_KEY: the API key sent as a bearer token (bench/load.py sets it per run; default sk-bench).
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "sk-bench")
wrk.body = os.getenv("BENCH_BODY") or
  '{"model":"bench-model","messages":[{"role":"user","content":"Hello, how are you?"}],"max_tokens":16}'
