#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) each, one after another, and logs to
# fuzz/out/. Needs the nightly toolchain (`cargo +nightly fuzz`); not part of CI.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-600}
mkdir -p out
for t in $(cargo +nightly fuzz list); do
  mkdir -p corpus/$t
  echo "== $t $(date -u +%FT%TZ)" | tee -a out/summary.log
  if cargo +nightly fuzz run -O "$t" corpus/$t -- -max_total_time="$secs" -rss_limit_mb=2048 >"out/$t.log" 2>&1; then
    echo "$t: ok: $(grep -E '^Done|#[0-9]+.*DONE' "out/$t.log" | tail -1)" | tee -a out/summary.log
  else
    echo "$t: FAILED (see fuzz/out/$t.log and fuzz/artifacts/$t)" | tee -a out/summary.log
  fi
done
