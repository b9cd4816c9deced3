#!/usr/bin/env bash
# Proxy overhead benchmark: non-streaming POST /v1/chat/completions (~2 KB reply),
# measured three ways at concurrency 1 and 64 with wrk (req/s counts the successful answers
# only; any others are printed as warnings):
#   direct   the mock upstream itself
#   nginx    nginx as a plain keep-alive reverse proxy (swapping the Authorization header)
#   gateway  vigil-gateway in front of the same mock (a connection without authentication)
#   gw-token   the same gateway, a connection behind authentication, with an OIDC JWT
#   gw-apikey  the same, with a Vigil API key
#   gw-policy  a second gateway, like "gateway" but with the 200-rule policy of
#              vigil-policy-bench (bench/policy_bench.cpp) deciding every request
#   gw-strict  a third gateway, like "gateway" but recording with strict durability (each
#              response waits for its events to be fsynced); the others record relaxed.
#              Its figure is compared with this machine's fsync latency, measured in the
#              same run on the same filesystem (vigil-recorder-bench --fsync-only)
#   gw-strict0 the same as gw-strict with "commit_spin_us": 0 (threads sleep around each
#              commit instead of staying awake): what the commit spin is worth, in the same run
# Environment:
#   BENCH_DURATION=5s        measured wrk run per (target, concurrency, round)
#   BENCH_ROUNDS=3           interleaved rounds; each figure is the median over them
#   BENCH_WARMUP=2s          discarded wrk run before each measurement
#   BENCH_PROXY_THREADS=1    nginx worker_processes and gateway "threads"
#   VIGIL_BUILD_DIR=<repo>/build   where the binaries are
#   BENCH_MOCK_PORT, BENCH_NGINX_PORT, BENCH_GATEWAY_PORT   fixed ports (default: free ones)
# Exits 0 whatever the PASS/FAIL verdicts; 1 if a tool is missing or something fails to start.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/.." && pwd)"
build_dir="${VIGIL_BUILD_DIR:-$repo_root/build}"
gateway_bin="$build_dir/gateway/vigil-gateway"
mock_bin="$build_dir/tools/mock_upstream/vigil-mock-upstream"
policy_bench_bin="$build_dir/bench/vigil-policy-bench"
recorder_bench_bin="$build_dir/bench/vigil-recorder-bench"
duration="${BENCH_DURATION:-5s}"
rounds="${BENCH_ROUNDS:-3}"
warmup="${BENCH_WARMUP:-2s}"
proxy_threads="${BENCH_PROXY_THREADS:-1}"
lua_script="$script_dir/post_chat.lua"
upstream_key="bench-upstream-key"
client_key="client-key"

die() { echo "proxy_bench: $*" >&2; exit 1; }

# --- prerequisites -------------------------------------------------------------------
for tool in wrk nginx curl node; do
  if ! command -v "$tool" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$tool" ]; then
    die "'$tool' not found. Install the benchmark dependencies with:
    $repo_root/installers/install-deps.sh --bench"
  fi
done
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
[ -x "$gateway_bin" ] || die "no gateway binary at $gateway_bin (build first, or set VIGIL_BUILD_DIR)"
[ -x "$policy_bench_bin" ] || die "no policy benchmark binary at $policy_bench_bin (build first)"
[ -x "$recorder_bench_bin" ] || die "no recorder benchmark binary at $recorder_bench_bin (build first)"
[ -x "$mock_bin" ] || die "no mock upstream binary at $mock_bin (build first, or set VIGIL_BUILD_DIR)"

# --- processes and cleanup -------------------------------------------------------------
tmp_dir="$(mktemp -d /tmp/vigil-bench.XXXXXX)"
chmod 755 "$tmp_dir"   # nginx workers may run as another user when started as root
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port FALLBACK: a port the kernel says is free, or FALLBACK without python3.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' \
    2>/dev/null || echo "$1"
}
mock_port="${BENCH_MOCK_PORT:-$(free_port 18181)}"
nginx_port="${BENCH_NGINX_PORT:-$(free_port 18182)}"
gateway_port="${BENCH_GATEWAY_PORT:-$(free_port 18183)}"
policy_port="${BENCH_POLICY_GATEWAY_PORT:-$(free_port 18185)}"
strict_port="${BENCH_STRICT_GATEWAY_PORT:-$(free_port 18186)}"
strict0_port="${BENCH_STRICT0_GATEWAY_PORT:-$(free_port 18187)}"
# A port already in use would make the readiness checks talk to someone else's server.
for port in "$mock_port" "$nginx_port" "$gateway_port" "$policy_port" "$strict_port" "$strict0_port"; do
  rc=0; curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/" || rc=$?
  [ "$rc" = 7 ] || die "port $port is already in use (set BENCH_*_PORT to other ports)"
done

# wait_ok NAME PID LOG URL [curl args...]: poll URL until it answers 200 (10 s limit).
wait_ok() {
  local name="$1" pid="$2" log="$3" url="$4"; shift 4
  local i code
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "$name exited during startup"; }
    code="$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url" || true)"
    [ "$code" = 200 ] && return 0
    sleep 0.1
  done
  cat "$log" >&2
  die "$name not ready at $url after 10 s (last status $code)"
}

# check_chat NAME URL KEY: one real request must return 200 with a completion.
check_chat() {
  local body
  body="$(curl -s -f -X POST "$2${4:-/v1/chat/completions}" -H "Authorization: Bearer $3" \
    -H 'Content-Type: application/json' \
    -d '{"model":"mock-gpt","messages":[{"role":"user","content":"hello"}]}')" \
    || die "$1: test request to $2 failed"
  grep -q '"choices"' <<<"$body" || die "$1: unexpected reply: ${body:0:200}"
  echo "  $1 ok: reply of ${#body} bytes"
}

echo "proxy_bench: $rounds rounds of $duration (warm-up $warmup each), proxy threads $proxy_threads"
echo "  mock :$mock_port  nginx :$nginx_port  gateway :$gateway_port  (temp dir $tmp_dir)"

# (a) mock upstream
"$mock_bin" --listen "127.0.0.1:$mock_port" --api-key "$upstream_key" \
  --reply-bytes 2048 --threads 1 >"$tmp_dir/mock.log" 2>&1 &
pids+=($!)
declare -A proc
proc[direct]=$!
wait_ok mock "$!" "$tmp_dir/mock.log" "http://127.0.0.1:$mock_port/v1/models" \
  -H "Authorization: Bearer $upstream_key"

# (b) nginx
mkdir -p "$tmp_dir/nginx"
cat >"$tmp_dir/nginx.conf" <<EOF
worker_processes $proxy_threads;
pid $tmp_dir/nginx/nginx.pid;
error_log $tmp_dir/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $tmp_dir/nginx/body;
  proxy_temp_path $tmp_dir/nginx/proxy;
  fastcgi_temp_path $tmp_dir/nginx/fastcgi;
  uwsgi_temp_path $tmp_dir/nginx/uwsgi;
  scgi_temp_path $tmp_dir/nginx/scgi;
  upstream mock { server 127.0.0.1:$mock_port; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer $upstream_key";
    }
  }
}
EOF
"$nginx_bin" -c "$tmp_dir/nginx.conf" -p "$tmp_dir/nginx" -e "$tmp_dir/nginx/error.log" \
  -g 'daemon off;' >"$tmp_dir/nginx.out" 2>&1 &
pids+=($!)
proc[nginx]=$!
wait_ok nginx "$!" "$tmp_dir/nginx/error.log" "http://127.0.0.1:$nginx_port/v1/models" \
  -H "Authorization: Bearer $client_key"

# (c) gateway. Connection "bench" takes callers without credentials (the baseline, the
# same work as nginx's); "auth" is the same upstream behind authentication, called with an
# OpenID Connect token (issuer: tests/integration/idp/static_issuer.mjs with a key that
# bench/make_token.mjs made) and with a Vigil API key.
issuer_port="$(free_port 18184)"
token="$(node "$script_dir/make_token.mjs" --issuer "http://127.0.0.1:$issuer_port" \
  --audience vigil-bench --jwks "$tmp_dir/jwks.json")" || die "make_token.mjs failed"
node "$repo_root/tests/integration/idp/static_issuer.mjs" --port "$issuer_port" \
  --jwks "$tmp_dir/jwks.json" >"$tmp_dir/issuer.log" 2>&1 &
pids+=($!)
wait_ok issuer "$!" "$tmp_dir/issuer.log" "http://127.0.0.1:$issuer_port/jwks"
cat >"$tmp_dir/gateway.json" <<EOF
{"listeners":[{"address":"127.0.0.1","port":$gateway_port}],
 "default_connection":"bench",
 "connections":{
   "bench":{"kind":"openai","base_url":"http://127.0.0.1:$mock_port",
            "credential":{"env":"VIGIL_BENCH_UPSTREAM_KEY"},"authentication":"none"},
   "auth":{"kind":"openai","base_url":"http://127.0.0.1:$mock_port",
           "credential":{"env":"VIGIL_BENCH_UPSTREAM_KEY"},"allowed_roles":["requester"]}},
 "identity":{"issuers":[{"issuer":"http://127.0.0.1:$issuer_port","audiences":["vigil-bench"]}],
             "roles":{"requester":{"groups":["engineering"]}}},
 "store":{"sqlite_path":"$tmp_dir/vigil.db"},
 "recording":{"durability":"relaxed"},
 "threads":$proxy_threads,
 "log":{"level":"warn"}}
EOF
api_key="$("$gateway_bin" keys create --db "$tmp_dir/vigil.db" --name bench --roles requester 2>/dev/null)" \
  || die "keys create failed"
VIGIL_BENCH_UPSTREAM_KEY="$upstream_key" "$gateway_bin" --config "$tmp_dir/gateway.json" \
  >"$tmp_dir/gateway.log" 2>&1 &
pids+=($!)
proc[gateway]=$!; proc[gw-token]=$!; proc[gw-apikey]=$!
wait_ok gateway "$!" "$tmp_dir/gateway.log" "http://127.0.0.1:$gateway_port/readyz"

# (d) the same gateway with the 200-rule policy (its rule "bench-connection" allows the
# bench connection; the other 199 are evaluated and do not match).
"$policy_bench_bin" --write-policy "$tmp_dir/policy.json" || die "vigil-policy-bench --write-policy failed"
mkdir -p "$tmp_dir/policy-gateway"
sed -e "s/\"port\":$gateway_port/\"port\":$policy_port/" \
    -e "s|\"sqlite_path\":\"$tmp_dir/vigil.db\"|\"sqlite_path\":\"$tmp_dir/policy-gateway/vigil.db\"|" \
    -e "s|^ \"threads\":| \"policy\":{\"file\":\"$tmp_dir/policy.json\"},\n \"threads\":|" \
    "$tmp_dir/gateway.json" >"$tmp_dir/policy-gateway/gateway.json"
grep -q '"policy"' "$tmp_dir/policy-gateway/gateway.json" || die "could not add the policy to the gateway config"
VIGIL_BENCH_UPSTREAM_KEY="$upstream_key" "$gateway_bin" --config "$tmp_dir/policy-gateway/gateway.json" \
  >"$tmp_dir/policy-gateway.log" 2>&1 &
pids+=($!)
proc[gw-policy]=$!
wait_ok gw-policy "$!" "$tmp_dir/policy-gateway.log" "http://127.0.0.1:$policy_port/readyz"

# (e) the same gateway recording with strict durability.
mkdir -p "$tmp_dir/strict-gateway"
sed -e "s/\"port\":$gateway_port/\"port\":$strict_port/" \
    -e "s|\"sqlite_path\":\"$tmp_dir/vigil.db\"|\"sqlite_path\":\"$tmp_dir/strict-gateway/vigil.db\"|" \
    -e 's|"durability":"relaxed"|"durability":"strict"|' \
    "$tmp_dir/gateway.json" >"$tmp_dir/strict-gateway/gateway.json"
grep -q '"durability":"strict"' "$tmp_dir/strict-gateway/gateway.json" || die "could not make the strict gateway config"
VIGIL_BENCH_UPSTREAM_KEY="$upstream_key" "$gateway_bin" --config "$tmp_dir/strict-gateway/gateway.json" \
  >"$tmp_dir/strict-gateway.log" 2>&1 &
pids+=($!)
proc[gw-strict]=$!
wait_ok gw-strict "$!" "$tmp_dir/strict-gateway.log" "http://127.0.0.1:$strict_port/readyz"

# (f) the same strict gateway with the commit spin off.
mkdir -p "$tmp_dir/strict0-gateway"
sed -e "s/\"port\":$gateway_port/\"port\":$strict0_port/" \
    -e "s|\"sqlite_path\":\"$tmp_dir/vigil.db\"|\"sqlite_path\":\"$tmp_dir/strict0-gateway/vigil.db\"|" \
    -e 's|"durability":"relaxed"|"durability":"strict","commit_spin_us":0|' \
    "$tmp_dir/gateway.json" >"$tmp_dir/strict0-gateway/gateway.json"
grep -q '"commit_spin_us":0' "$tmp_dir/strict0-gateway/gateway.json" || die "could not make the gw-strict0 config"
VIGIL_BENCH_UPSTREAM_KEY="$upstream_key" "$gateway_bin" --config "$tmp_dir/strict0-gateway/gateway.json" \
  >"$tmp_dir/strict0-gateway.log" 2>&1 &
pids+=($!)
proc[gw-strict0]=$!
wait_ok gw-strict0 "$!" "$tmp_dir/strict0-gateway.log" "http://127.0.0.1:$strict0_port/readyz"

declare -A url key path
url[direct]="http://127.0.0.1:$mock_port";     key[direct]="$upstream_key"
url[nginx]="http://127.0.0.1:$nginx_port";     key[nginx]="$client_key"
url[gateway]="http://127.0.0.1:$gateway_port"; key[gateway]="$client_key"
url[gw-token]="http://127.0.0.1:$gateway_port"; key[gw-token]="$token"; path[gw-token]="/auth/v1/chat/completions"
url[gw-apikey]="http://127.0.0.1:$gateway_port"; key[gw-apikey]="$api_key"; path[gw-apikey]="/auth/v1/chat/completions"
url[gw-policy]="http://127.0.0.1:$policy_port"; key[gw-policy]="$client_key"
url[gw-strict]="http://127.0.0.1:$strict_port"; key[gw-strict]="$client_key"
url[gw-strict0]="http://127.0.0.1:$strict0_port"; key[gw-strict0]="$client_key"
targets=(direct nginx gateway gw-token gw-apikey gw-policy gw-strict gw-strict0)
for t in "${targets[@]}"; do check_chat "$t" "${url[$t]}" "${key[$t]}" "${path[$t]:-/v1/chat/completions}"; done

# --- measurements -------------------------------------------------------------------
# to_ms VALUE: wrk latency ("412.00us", "1.23ms", "2.00s", "1.00m") in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
    if (f < 0) { print "NaN"; exit 1 }
    printf "%.3f", n * f }'
}

# Targets are measured in interleaved rounds (direct, nginx, gateway, direct, ...) and
# each figure is the median over the rounds, so drift of the machine during the run
# (other load, CPU frequency) falls on all three alike instead of on whichever ran last.
# cpu_ticks PID: user+system clock ticks of a process and its children still running (nginx's
# workers), all threads.
cpu_ticks() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
clk_tck="$(getconf CLK_TCK)"
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
declare -A rps p50 p99 all_rps all_p50 all_p99 cpu all_cpu mock_cpu all_mock_cpu
for round in $(seq "$rounds"); do
  for c in 1 64; do
    for t in "${targets[@]}"; do
      threads=$([ "$c" = 1 ] && echo 1 || echo 2)
      wrk_args=(-t "$threads" -c "$c" -s "$lua_script" -H "Authorization: Bearer ${key[$t]}" --latency)
      echo "  round $round/$rounds: $t c=$c ..."
      export BENCH_PATH="${path[$t]:-/v1/chat/completions}"
      wrk "${wrk_args[@]}" -d "$warmup" "${url[$t]}" >/dev/null
      proxy_before="$(cpu_ticks "${proc[$t]}")"; mock_before="$(cpu_ticks "${proc[direct]}")"
      out="$(wrk "${wrk_args[@]}" -d "$duration" "${url[$t]}")"
      proxy_after="$(cpu_ticks "${proc[$t]}")"; mock_after="$(cpu_ticks "${proc[direct]}")"
      # CPU time per request (us) of the process serving the target, and of the mock behind it.
      n="$(awk '/ requests in / {print $1}' <<<"$out")"
      all_cpu[$t,$c]+=" $(calc "($proxy_after - $proxy_before) * 1000000 / $clk_tck / ($n + 0.000001)")"
      all_mock_cpu[$t,$c]+=" $(calc "($mock_after - $mock_before) * 1000000 / $clk_tck / ($n + 0.000001)")"
      echo "$out" >"$tmp_dir/wrk-$t-$c-$round.txt"
      # Only successful answers count: a gateway that answers 503 quickly is not fast.
      all_rps[$t,$c]+=" $(awk '/^Requests\/sec:/ {rps = $2} / requests in / {n = $1} /Non-2xx or 3xx responses:/ {bad = $NF}
                              END {printf "%.2f", (n > 0) ? rps * (n - bad) / n : rps}' <<<"$out")"
      all_p50[$t,$c]+=" $(to_ms "$(awk '/Latency Distribution/ {d=1} d && $1 == "50%" {print $2; exit}' <<<"$out")")"
      all_p99[$t,$c]+=" $(to_ms "$(awk '/Latency Distribution/ {d=1} d && $1 == "99%" {print $2; exit}' <<<"$out")")"
      errors="$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)"
      [ -z "$errors" ] || echo "  WARNING $t c=$c: $(tr -s ' \n' ' ' <<<"$errors")"
    done
  done
done
for t in "${targets[@]}"; do
  for c in 1 64; do
    rps[$t,$c]="$(median <<<"${all_rps[$t,$c]}")"
    p50[$t,$c]="$(median <<<"${all_p50[$t,$c]}")"
    p99[$t,$c]="$(median <<<"${all_p99[$t,$c]}")"
    cpu[$t,$c]="$(median <<<"${all_cpu[$t,$c]}")"
    mock_cpu[$t,$c]="$(median <<<"${all_mock_cpu[$t,$c]}")"
  done
done

# --- report -------------------------------------------------------------------------
echo
echo "medians over $rounds rounds:"
printf '%-10s %-5s %-10s %-8s %-8s %-8s\n' target conc req/s p50_ms p99_ms cpu_us
for t in "${targets[@]}"; do
  for c in 1 64; do
    printf '%-10s %-5s %-10s %-8s %-8s %-8.1f\n' "$t" "$c" "${rps[$t,$c]}" "${p50[$t,$c]}" "${p99[$t,$c]}" "${cpu[$t,$c]}"
  done
done
echo "(cpu_us: CPU time per request of the process serving the target, all its threads and workers)"
echo

verdict() { awk "BEGIN { exit !($1) }" && echo PASS || echo FAIL; }
ratio="$(calc "${rps[gateway,64]} / ${rps[nginx,64]}")"
nginx_added="$(calc "${p50[nginx,1]} - ${p50[direct,1]}")"
gateway_added="$(calc "${p50[gateway,1]} - ${p50[direct,1]}")"
echo "throughput c=64: gateway/nginx req/s = $ratio  (target >= 0.8)  $(verdict "$ratio >= 0.8")"
echo "added p50 c=1: nginx $nginx_added ms, gateway $gateway_added ms"
echo "  gateway added <= 0.15 ms:          $(verdict "$gateway_added <= 0.15")"
echo "  gateway added <= nginx added:      $(verdict "$gateway_added <= $nginx_added")"
token_added="$(calc "${p50[gw-token,1]} - ${p50[gateway,1]}")"
apikey_added="$(calc "${p50[gw-apikey,1]} - ${p50[gateway,1]}")"
echo "authentication added p50 c=1 over the unauthenticated gateway run: token $token_added ms, API key $apikey_added ms"
echo "  token (verified-token cache warm) <= 0.020 ms: $(verdict "$token_added <= 0.020")"
policy_ratio="$(calc "${rps[gw-policy,64]} / ${rps[nginx,64]}")"
policy_gateway_added="$(calc "${p50[gw-policy,1]} - ${p50[direct,1]}")"
policy_added="$(calc "${p50[gw-policy,1]} - ${p50[gateway,1]}")"
echo "with the 200-rule policy (gw-policy):"
echo "  throughput c=64: gw-policy/nginx req/s = $policy_ratio  (target >= 0.8)  $(verdict "$policy_ratio >= 0.8")"
echo "  added p50 c=1: gw-policy $policy_gateway_added ms (nginx $nginx_added ms): gateway added <= 0.15 ms $(verdict "$policy_gateway_added <= 0.15"), <= nginx added $(verdict "$policy_gateway_added <= $nginx_added")"
echo "  the policy's own share (gw-policy - gateway) p50 c=1: $policy_added ms"
fsync_ms="$("$recorder_bench_bin" --fsync-only "$tmp_dir/strict-gateway")" || die "fsync measurement failed"
strict_added="$(calc "${p50[gw-strict,1]} - ${p50[direct,1]}")"
strict_ratio="$(calc "${rps[gw-strict,64]} / ${rps[nginx,64]}")"
echo "recording: every gateway above records each request; gw-strict with strict durability:"
echo "  fsync p50 on this filesystem (measured now): $fsync_ms ms"
echo "  added p50 c=1: gw-strict $strict_added ms <= fsync + 0.15 ms ($(calc "$fsync_ms + 0.15") ms): $(verdict "$strict_added <= $fsync_ms + 0.15")"
echo "  throughput c=64: gw-strict/nginx req/s = $strict_ratio (group commit: one fsync for many requests)"
strict0_added="$(calc "${p50[gw-strict0,1]} - ${p50[direct,1]}")"
echo "  with the commit spin off (gw-strict0): added p50 c=1 $strict0_added ms, c=64 $(calc "${rps[gw-strict0,64]} / ${rps[nginx,64]}")x nginx"
# Where the throughput goes: wrk, the mock and the proxy share the machine's cores, so the
# proxy's CPU time per request decides its c=64 throughput against nginx's.
echo "CPU time per request at c=64, us (the proxy's process; the mock's behind it):"
for t in nginx gateway gw-policy gw-strict; do
  printf '  %-10s %7.1f   (mock %5.1f)\n' "$t" "${cpu[$t,64]}" "${mock_cpu[$t,64]}"
done
echo "  gateway/nginx CPU per request: $(calc "${cpu[gateway,64]} / (${cpu[nginx,64]} + 0.000001)")x"
