#!/usr/bin/env bash
# The demo: sets up and builds outboxd, starts tools/fake_sentinel (a Data
# Collector API look-alike that verifies signatures) and outboxd with its
# embedded defaults on a fresh data directory, creates an integration, tests
# it, sends sample events of every type, prints what arrived per log type,
# and stops everything it started.
#
#   tools/demo.sh          the Data Collector API destination (kind sentinel)
#   tools/demo.sh --dcr    the Logs Ingestion API destination (sentinel_dcr):
#                          the fake also issues the Entra ID tokens
set -euo pipefail
cd "$(dirname "$0")/.."
kind=sentinel
case "${1:-}" in
  --dcr) kind=sentinel_dcr ;;
  "") ;;
  *) echo "usage: tools/demo.sh [--dcr]" >&2; exit 2 ;;
esac
tools/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target outboxd fake_sentinel

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
client_id=5e0c2f8a-6b1d-4c3e-9f70-1a2b3c4d5e6f
client_secret=demo-client-secret

build/tools/fake_sentinel/fake_sentinel --listen 127.0.0.1:0 --port-file "$work/sentinel.port" \
  --workspace "$workspace=$key" --dcr-client "$client_id=$client_secret" --out "$work/received.ndjson" >"$work/sentinel.log" 2>&1 &
pids+=($!)
# The README's recommended environment (transparent huge pages for glibc's mappings).
GLIBC_TUNABLES=glibc.malloc.hugetlb=1 \
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

api_call() {  # METHOD PATH TOKEN [BODY-FILE]: prints the answer, fails on 4xx/5xx
  python3 - "$@" <<'PY'
import json, os, sys, urllib.request, urllib.error
method, path, token = sys.argv[1:4]
body = open(sys.argv[4], "rb").read() if len(sys.argv) > 4 else None
req = urllib.request.Request(os.environ["OUTBOXD_URL"] + path, data=body, method=method,
                             headers={"Authorization": "Bearer " + token,
                                      "Content-Type": "application/x-ndjson" if path == "/v1/events"
                                      else "application/json"})
try:
    with urllib.request.urlopen(req, timeout=30) as r:
        print(f"  {method} {path} -> {r.status} {r.read().decode()}")
except urllib.error.HTTPError as e:
    print(f"  {method} {path} -> {e.code} {e.read().decode()}")
    sys.exit(1)
PY
}
fake=http://127.0.0.1:$sentinel_port
if [[ $kind == sentinel ]]; then
  destination="\"kind\": \"sentinel\", \"workspace_id\": \"$workspace\", \"primary_key\": \"$key\",
 \"endpoint\": \"$fake\""
else
  destination="\"kind\": \"sentinel_dcr\", \"tenant_id\": \"demo.onmicrosoft.com\",
 \"client_id\": \"$client_id\", \"client_secret\": \"$client_secret\",
 \"authority\": \"$fake\", \"dce_endpoint\": \"$fake\",
 \"dcr_immutable_id\": \"dcr-00112233445566778899aabbccddeeff\", \"stream\": \"Custom-Outboxd_CL\""
fi
cat >"$work/integration.json" <<JSON
{"company_id": 1, "name": "Sentinel (demo)", $destination,
 "events": {"hits": true, "system": true, "vulnerabilities": ["high", "medium", "low"],
            "rules_and_triggers": true, "scope": true, "triggered": true,
            "hourly_report": true}}
JSON
echo "demo: testing the integration before saving it (one create_user record, sent now)"
api_call POST /v1/integrations/test "$OUTBOXD_ADMIN_TOKEN" "$work/integration.json"
echo "demo: creating it (the primary key comes back masked)"
api_call POST /v1/integrations "$OUTBOXD_ADMIN_TOKEN" "$work/integration.json"
echo "demo: sending tools/demo/events.ndjson (25 events of every type; one experimental and one unsampled hit are never forwarded)"
api_call POST /v1/events "$OUTBOXD_INGEST_TOKEN" tools/demo/events.ndjson

expected=24  # 23 events + the test record (the hourly report may add one)
for _ in $(seq 200); do
  got=$( (grep -c '"log_type"' "$work/received.ndjson" 2>/dev/null || true) | tail -1)
  [[ "${got:-0}" -ge $expected ]] && break
  sleep 0.1
done
echo "demo: the integration's queue and health window:"
api_call GET /v1/integrations/1/stats "$OUTBOXD_ADMIN_TOKEN"
echo
if [[ $kind == sentinel ]]; then
  echo "demo: records that reached the fake Sentinel, per log type (Azure adds _CL):"
else
  echo "demo: records that reached the fake Logs Ingestion API, per stream and event type:"
fi
python3 - "$work/received.ndjson" "$kind" <<'PY'
import collections, json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
if sys.argv[2] == "sentinel":
    counts = collections.Counter(l["log_type"] + "_CL" for l in lines)
else:  # one stream; its records name their type
    counts = collections.Counter(
        l["log_type"] + " / " + str(l["record"].get("event_type") or l["record"].get("type"))
        for l in lines)
for t, n in sorted(counts.items()):
    print(f"  {t:44} {n}")
print(f"  {'total':44} {sum(counts.values())}")
PY
