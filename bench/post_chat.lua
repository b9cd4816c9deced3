-- wrk script for bench/proxy_bench.sh: a non-streaming chat completion request.
-- The Authorization header is passed on the wrk command line (-H), since it differs
-- per target (the upstream key for the direct run, a client key through a proxy).
wrk.method = "POST"
-- BENCH_PATH picks the connection (/v1/... is the default one).
wrk.path = os.getenv("BENCH_PATH") or "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"mock-gpt","messages":[{"role":"user","content":"hello"}]}'
