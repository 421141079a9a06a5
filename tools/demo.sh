#!/usr/bin/env bash
# The demo: sets up and builds outboxd, starts tools/fake_sentinel (a Data
# Collector API look-alike that verifies signatures) and outboxd with its
# embedded defaults on a fresh data directory, creates an integration, tests
# it, sends sample events of every type, prints what arrived per log type,
# and stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target outboxd fake_sentinel outboxctl

work=$(mktemp -d /tmp/outboxd-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  echo "demo: logs and data kept in $work"
}
trap cleanup EXIT

workspace=0f8fad5b-d9cb-469f-a165-70867728950e
key=$(printf 'demo-primary-key-of-the-workspace-0123456789' | base64 -w0)

build/tools/fake_sentinel/fake_sentinel --listen 127.0.0.1:0 --port-file "$work/sentinel.port" \
  --workspace "$workspace=$key" --out "$work/received.ndjson" >"$work/sentinel.log" 2>&1 &
pids+=($!)
build/src/daemon/outboxd --data-dir "$work/data" --listen 127.0.0.1:0 --allow-endpoint-override \
  >"$work/outboxd.out" 2>"$work/outboxd.log" &
pids+=($!)

for _ in $(seq 100); do
  [[ -s "$work/sentinel.port" ]] && grep -q '^listening on' "$work/outboxd.out" && break
  sleep 0.1
done
sentinel_port=$(cat "$work/sentinel.port")
api=http://$(sed -n 's/^listening on //p' "$work/outboxd.out")
export OUTBOXD_URL=$api
export OUTBOXD_ADMIN_TOKEN=$(sed -n 's/^admin_token=//p' "$work/data/tokens")
export OUTBOXD_INGEST_TOKEN=$(sed -n 's/^ingest_token=//p' "$work/data/tokens")
echo "demo: outboxd at $api, fake Sentinel at 127.0.0.1:$sentinel_port"

ctl=build/tools/outboxctl/outboxctl
integration=$(cat <<JSON
{"company_id": 1, "name": "Sentinel (demo)", "kind": "sentinel",
 "workspace_id": "$workspace", "primary_key": "$key",
 "endpoint": "http://127.0.0.1:$sentinel_port",
 "events": {"hits": true, "system": true, "vulnerabilities": ["high", "medium", "low"],
            "rules_and_triggers": true, "scope": true, "triggered": true,
            "hourly_report": true}}
JSON
)
echo "demo: testing the integration before saving it"
$ctl integrations test --json "$integration"
$ctl integrations add --json "$integration"
echo "demo: sending tools/demo/events.ndjson (25 events: every type; one experimental and one unsampled hit are never forwarded)"
$ctl send tools/demo/events.ndjson

expected=23
for _ in $(seq 200); do
  got=$( (grep -c '"log_type"' "$work/received.ndjson" 2>/dev/null || true) | tail -1)
  [[ "${got:-0}" -ge $expected ]] && break
  sleep 0.1
done
$ctl status
echo
echo "demo: records that reached the fake Sentinel, per log type (Azure adds _CL):"
python3 - "$work/received.ndjson" <<'PY'
import collections, json, sys
counts = collections.Counter(json.loads(l)["log_type"] for l in open(sys.argv[1]) if l.strip())
for t, n in sorted(counts.items()):
    print(f"  {t + '_CL':28} {n}")
print(f"  {'total':28} {sum(counts.values())}")
PY
