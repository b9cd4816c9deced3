#!/usr/bin/env bash
# Installs what Vigil needs, builds it, and runs the gateway on its embedded defaults:
# resources/demo/gateway.json, in front of the demo upstream (vigil-mock-upstream), on
# 127.0.0.1. Opens the console too when a display is available. Ctrl-C stops everything.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${VIGIL_BUILD_DIR:-$root/build}
"$root/installers/install-deps.sh"
"$root/scripts/build.sh"

# The demo upstream's key: made up here, handed to the mock and to the gateway (which
# injects it), never to the caller.
export VIGIL_DEMO_UPSTREAM_KEY="sk-demo-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
logs=$(mktemp -d /tmp/vigil-demo.XXXXXX)
export VIGIL_DEMO_STATE="$build/demo"
mkdir -p "$VIGIL_DEMO_STATE"
# A Vigil API key for the demo caller (role requester); the store keeps only its hash.
stamp=$(date +%Y%m%d-%H%M%S)
demo_key=$("$build/gateway/vigil-gateway" keys create --config "$root/resources/demo/gateway.json" \
  --name "demo-$stamp" --roles requester 2>/dev/null)
# And one for an auditor, who reads the recording (and may not call models).
auditor_key=$("$build/gateway/vigil-gateway" keys create --config "$root/resources/demo/gateway.json" \
  --name "auditor-$stamp" --roles auditor 2>/dev/null)
# And one for an approver, who decides the reviews the policy asks for (docs/reviews.md).
approver_key=$("$build/gateway/vigil-gateway" keys create --config "$root/resources/demo/gateway.json" \
  --name "approver-$stamp" --roles approver 2>/dev/null)
# The console signs in as a team lead who approves and audits (never as the demo caller:
# nobody decides their own request).
lead_key=$("$build/gateway/vigil-gateway" keys create --config "$root/resources/demo/gateway.json" \
  --name "lead-$stamp" --roles approver,auditor 2>/dev/null)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

wait_for() {  # url
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "run.sh: $1 did not come up; logs in $logs" >&2
  exit 1
}

"$build/tools/mock_upstream/vigil-mock-upstream" --listen 127.0.0.1:8081 \
  --api-key "$VIGIL_DEMO_UPSTREAM_KEY" --token-delay-ms 40 \
  --reply "Hello! I am the Vigil demo upstream. Your request reached me through the gateway." \
  >"$logs/mock-upstream.log" 2>&1 &
pids+=($!)
wait_for http://127.0.0.1:8081/healthz

"$build/gateway/vigil-gateway" --config "$root/resources/demo/gateway.json" \
  > >(tee "$logs/gateway.log") 2>&1 &
pids+=($!)
wait_for http://127.0.0.1:8080/readyz

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  # The key goes through the environment, not the command line (ps shows arguments).
  VIGIL_CONSOLE_CREDENTIAL="$lead_key" "$build/console/vigil-console" --gateway http://127.0.0.1:8080 \
    >"$logs/console.log" 2>&1 &
  pids+=($!)
fi

cat <<MSG

Vigil gateway: http://127.0.0.1:8080   (logs: $logs)
Your demo API key (role requester): $demo_key
Try it (the gateway checks the key and swaps in the upstream's own credential):

  curl -sS http://127.0.0.1:8080/v1/chat/completions -H 'Authorization: Bearer $demo_key' -H 'Content-Type: application/json' -d '{"model":"mock-gpt","messages":[{"role":"user","content":"Hello"}]}'

More keys: $build/gateway/vigil-gateway keys create --config resources/demo/gateway.json --name NAME --roles requester
(VIGIL_DEMO_STATE=$VIGIL_DEMO_STATE for the config's store path)
Streaming: add "stream": true to the body (and -N to curl). Metrics: http://127.0.0.1:8080/metrics
The demo policy (resources/demo/policy.json; edit it and the gateway reloads it) refuses prompts
with credentials, for example:

  curl -sS http://127.0.0.1:8080/v1/chat/completions -H 'Authorization: Bearer $demo_key' -H 'Content-Type: application/json' -d '{"model":"mock-gpt","messages":[{"role":"user","content":"deploy with key AKIAABCDEFGHIJKLMNOP"}]}'

Replies are masked (docs/masking.md); the demo upstream echoes the prompt with X-Mock-Echo:

  curl -sS http://127.0.0.1:8080/v1/chat/completions -H 'Authorization: Bearer $demo_key' -H 'X-Mock-Echo: 1' -H 'Content-Type: application/json' -d '{"model":"mock-gpt","messages":[{"role":"user","content":"Card 4111 1111 1111 1111, mail jane@example.com, SSN 123-45-6789"}]}'

Prompts that name Project Falcon wait for an approver (docs/reviews.md). This one waits:

  curl -sS http://127.0.0.1:8080/v1/chat/completions -H 'Authorization: Bearer $demo_key' -H 'Content-Type: application/json' -d '{"model":"mock-gpt","messages":[{"role":"user","content":"Status of Project Falcon?"}]}'

while, in another shell, the approver (key $approver_key) sees it and approves it:

  curl -sS 'http://127.0.0.1:8080/api/reviews?state=pending' -H 'Authorization: Bearer $approver_key'
  curl -sS -X POST http://127.0.0.1:8080/api/reviews/REVIEW_ID/approve -H 'Authorization: Bearer $approver_key' -d '{"reason":"fine"}'

Every request is recorded (docs/recording.md). Read the recording as an auditor:

  curl -sS 'http://127.0.0.1:8080/api/sessions?limit=5' -H 'Authorization: Bearer $auditor_key'
  curl -sS http://127.0.0.1:8080/api/chain/status -H 'Authorization: Bearer $auditor_key'

and verify it offline with the gateway's public key (--live: this gateway is running, and its
newest events are signed within 5 seconds; without it, unsigned events are "NOT PROVEN"):

  VIGIL_DEMO_STATE=$VIGIL_DEMO_STATE $build/gateway/vigil-gateway recording public-key --config $root/resources/demo/gateway.json --out /tmp/vigil-public.pem
  $build/tools/verify/vigil verify --db $VIGIL_DEMO_STATE/vigil.db --pubkey /tmp/vigil-public.pem --live

Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}"
