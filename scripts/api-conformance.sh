#!/usr/bin/env bash
# Schemathesis (PyPI) against docs/api/openapi.yaml and a fresh sandbox over loopback: every
# operation, every check, a fixed seed so CI runs are reproducible. Exits non-zero on any
# failure. Pass another seed as $1 to explore further.
set -euo pipefail
cd "$(dirname "$0")/.."
seed=${1:-20261127}
venv=.tools/st-venv
[ -x "$venv/bin/schemathesis" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q "schemathesis==4.32.5"; }
# scripts/test.sh passes the binary its Rust suite just built (BILLTAP_BIN); alone, build it.
bin=${BILLTAP_BIN:-}
if [ -z "$bin" ]; then cargo build -q -p billtap-cli; bin=target/debug/billtap; fi
log=$(mktemp)
"$bin" sandbox --port 0 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q '^pinned key:' "$log" && break; sleep 0.2; done
url=$(awk '/listening on/ {print $NF}' "$log")
[ -n "$url" ] || { cat "$log"; exit 1; }
"$venv/bin/schemathesis" --config-file docs/api/schemathesis.toml run docs/api/openapi.yaml \
  --url "$url" --checks all --seed "$seed" --no-color
