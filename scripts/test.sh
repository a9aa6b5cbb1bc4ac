#!/usr/bin/env bash
# Runs every billtap test suite and ends with one line: "N passed, M failed".
# On a fresh machine of this kind it first installs what the suites need (see .ci/run for the
# system packages), so this one command is all a contributor or CI runs.
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

passed=0
failed=0
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

# A suite that is one check: counts as one test.
check() {
  local name=$1; shift
  echo "== $name: $*"
  if "$@" >"$log/$name.out" 2>&1; then
    passed=$((passed + 1)); echo "   ok"
  else
    failed=$((failed + 1)); echo "   FAILED"; tail -n 40 "$log/$name.out"
  fi
}

# cargo test: counts every test from the "test result:" lines; a build failure counts as one.
cargo_tests() {
  echo "== rust: cargo test --workspace"
  cargo test --workspace --no-fail-fast >"$log/rust.out" 2>&1
  local rc=$?
  local p f
  p=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed' "$log/rust.out" | awk '{s+=$4} END {print s+0}')
  f=$(grep -Eo '[0-9]+ failed;' "$log/rust.out" | awk '{s+=$1} END {print s+0}')
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  echo "   $p passed, $f failed"
  if [ "$rc" -ne 0 ]; then grep -E '^(test .* FAILED|error|thread .* panicked|failures:)' -A3 "$log/rust.out" | head -80; fi
}

check fmt cargo fmt --all -- --check
check clippy cargo clippy --workspace --all-targets -- -D warnings
cargo_tests

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
