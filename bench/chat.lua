-- wrk script: POST a small, non-streaming chat completion (the body the whole bench uses).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
wrk.body = os.getenv("BENCH_BODY") or
  '{"model":"bench-model","messages":[{"role":"user","content":"Hello, how are you?"}],"max_tokens":16}'
