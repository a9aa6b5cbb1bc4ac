#!/usr/bin/env bash
# Runs every billtap test suite — Rust, Python, Kotlin/JVM, Swift — and ends with one line:
# "N passed, M failed". On a fresh machine of this kind it first installs what the suites need
# (apt packages: .ci/run; Python, Kotlin and Swift toolchains: below, cached outside git).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export CARGO_TERM_COLOR=never
# A clean CI clone gains nothing from incremental caches (they were a third of target/).
[ "${CI:-}" = true ] && export CARGO_INCREMENTAL=0
TOOLS=$ROOT/.tools                                       # in .gitignore
SWIFT_ROOT=${BILLTAP_SWIFT_CHROOT:-/var/tmp/billtap-swift-chroot}

passed=0
failed=0
log=$(mktemp -d)
SANDBOX_PID=
trap '[ -n "$SANDBOX_PID" ] && kill "$SANDBOX_PID" 2>/dev/null; rm -rf "$log"' EXIT

add() { passed=$((passed + $1)); failed=$((failed + $2)); echo "   $1 passed, $2 failed"; }

# A suite that is one check: counts as one test.
check() {
  local name=$1; shift
  echo "== $name: $*"
  if "$@" >"$log/$name.out" 2>&1; then add 1 0; else add 0 1; tail -n 40 "$log/$name.out"; fi
}

# A set-up step: not a test, but its failure is one.
step() {
  local name=$1; shift
  echo "== $name: $*"
  if "$@" >"$log/$name.out" 2>&1; then echo "   done"; else add 0 1; tail -n 40 "$log/$name.out"; fi
}

# Runs a suite, then counts its tests with a parser; a suite that fails without reporting
# failures (build error) counts as one failure.
suite() {
  local name=$1 parser=$2; shift 2
  echo "== $name: $* (at ${SECONDS}s)"
  "$@" >"$log/$name.out" 2>&1
  local rc=$? p f
  read -r p f < <($parser "$log/$name.out")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  add "$p" "$f"
  if [ "$rc" -ne 0 ]; then tail -n 60 "$log/$name.out"; fi
}

count_cargo() {
  awk '/^test result:/ {p += $4; f += $6} END {print p+0, f+0}' "$1"
}
count_pytest() {
  local line; line=$(grep -E '^(=+ )?[0-9]+ (passed|failed)' "$1" | tail -1)
  echo "$(grep -Eo '[0-9]+ passed' <<<"$line" | grep -Eo '[0-9]+' || echo 0) $(grep -Eo '[0-9]+ failed' <<<"$line" | grep -Eo '[0-9]+' || echo 0)"
}
count_kotlin() {
  awk '/^kotlin: / {print $2, $4; found=1} END {if (!found) print 0, 0}' "$1"
}
count_xctest() {
  # "Executed 7 tests, with 0 failures" (last summary line is the total)
  grep -Eo 'Executed [0-9]+ tests?, with [0-9]+ failures?' "$1" | tail -1 | awk '{print $2 - $5, $5} END {if (NR == 0) print 0, 0}'
}

# --- set-up (idempotent) ---------------------------------------------------------------
setup_kotlin() {
  [ -x "$TOOLS/node_modules/kotlin-compiler/bin/kotlinc" ] ||
    npm install --prefix "$TOOLS" --no-audit --no-fund --silent kotlin-compiler@2.4.20
}
# (swift itself needs /proc mounted; testing the file inside the chroot does not.)
swift_ready() { [ -f "$SWIFT_ROOT/etc/debian_version" ] && chroot "$SWIFT_ROOT" test -x /usr/bin/swift; }
setup_swift() {
  swift_ready && return 0
  # A chroot left half-made by an interrupted run is finished if it can be, else rebuilt.
  if [ -f "$SWIFT_ROOT/etc/debian_version" ] && chroot "$SWIFT_ROOT" apt-get install -y --no-install-recommends swiftlang libc6-dev; then
    swift_ready && return 0
  fi
  umount "$SWIFT_ROOT/proc" 2>/dev/null
  rm -rf --one-file-system "$SWIFT_ROOT"
  local mirror
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
  debootstrap --variant=minbase trixie "$SWIFT_ROOT" "${mirror:-http://deb.debian.org/debian}" &&
    chroot "$SWIFT_ROOT" apt-get install -y --no-install-recommends swiftlang libc6-dev && swift_ready
}

# --- the suites ---------------------------------------------------------------------------
# The workspace as CI checks it: with the CLI's libnfc desktop reader (`--reader nfc`), which
# links the system's libnfc (Debian libnfc-dev; bindgen needs libclang-dev: see .ci/run).
WS_FEATURES=(--features billtap-cli/nfc)
libnfc_present() {
  pkg-config --exists libnfc ||
    { echo "libnfc is missing: run .ci/run, or apt-get install libnfc-dev libclang-dev pkg-config"; return 1; }
}

rust_suite() { cargo test --workspace "${WS_FEATURES[@]}" --no-fail-fast; }

# The `billtap` and `uniffi-bindgen` binaries as the Rust suite's `cargo test --workspace`
# built them (integration tests make it build both): a no-op when that run compiled, and
# ~6 minutes of cold builds saved against `cargo build -p` of each, whose feature sets differ.
# Never after build_ffi: the test run relinks target/debug/libbilltap_ffi.so with its features.
test_bins() { cargo test -q --workspace "${WS_FEATURES[@]}" --no-run; }

api_conformance() { test_bins && BILLTAP_BIN=target/debug/billtap scripts/api-conformance.sh; }

build_ffi() {
  # The library on its own (`-p`), last: the phone's feature set (no rqrr, no bindgen code),
  # which the Kotlin and Swift suites load from target/debug.
  test_bins && cargo build -p billtap-ffi || return 1
  rm -rf target/bindings
  for lang in python kotlin swift; do
    target/debug/uniffi-bindgen generate target/debug/libbilltap_ffi.so --no-format -l "$lang" -o "target/bindings/$lang" || return 1
  done
}

# The platform sandbox the binding tests talk to over loopback (`billtap sandbox`).
start_sandbox() {
  # target/debug/billtap is fresh: build_ffi ran test_bins just before.
  [ -x target/debug/billtap ] || return 1
  target/debug/billtap sandbox --port 0 >"$log/sandbox.log" 2>&1 &
  SANDBOX_PID=$!
  for _ in $(seq 100); do grep -q '^admin token:' "$log/sandbox.log" && break; sleep 0.2; done
  BILLTAP_SANDBOX_URL=$(awk '/listening on/ {print $NF}' "$log/sandbox.log")
  BILLTAP_SANDBOX_KEY=$(awk '/^pinned key:/ {print $3}' "$log/sandbox.log")
  BILLTAP_SANDBOX_ADMIN_TOKEN=$(awk '/^admin token:/ {print $3}' "$log/sandbox.log")
  export BILLTAP_SANDBOX_URL BILLTAP_SANDBOX_KEY BILLTAP_SANDBOX_ADMIN_TOKEN
  echo "sandbox at $BILLTAP_SANDBOX_URL"
  [ -n "$BILLTAP_SANDBOX_URL" ] && [ -n "$BILLTAP_SANDBOX_KEY" ]
}

python_suite() {
  # The Python package as users get it: `pip install ./bindings` (maturin, UniFFI mode). Built
  # with the dev profile the other suites already compiled (seconds instead of a ~6-minute
  # optimised build); users' installs keep pyproject's `python` profile.
  [ -x "$TOOLS/pkg-venv/bin/python" ] || python3 -m venv "$TOOLS/pkg-venv"
  "$TOOLS/pkg-venv/bin/pip" install -q pytest pillow cryptography &&
    MATURIN_PEP517_ARGS="--profile dev" CARGO_TARGET_DIR=$ROOT/target \
      "$TOOLS/pkg-venv/bin/pip" install -q --force-reinstall ./bindings &&
    (cd /tmp && "$TOOLS/pkg-venv/bin/python" -m pytest -q "$ROOT/bindings/tests/python")
}

kotlin_suite() {
  local K=$TOOLS/node_modules/kotlin-compiler
  local CP=/usr/share/java/jna.jar:$K/lib/kotlinx-coroutines-core-jvm.jar
  "$K/bin/kotlinc" -nowarn -cp "$CP" target/bindings/kotlin/uniffi/billtap_core/billtap_core.kt target/bindings/kotlin/uniffi/billtap_ffi/billtap_ffi.kt bindings/tests/kotlin/*.kt -d target/kotlin-tests.jar &&
    java -Djna.library.path="$ROOT/target/debug" -Dbilltap.root="$ROOT" -cp "target/kotlin-tests.jar:$CP:$K/lib/kotlin-stdlib.jar" MainKt
}

swift_suite() {
  local pkg=$ROOT/target/swift-pkg
  # The build cache records the mount path, which differs per run.
  rm -rf "$pkg/Sources" "$pkg/Tests" "$pkg/.build" && mkdir -p "$pkg"
  cp -r bindings/tests/swift/Package.swift bindings/tests/swift/Sources bindings/tests/swift/Tests "$pkg/"
  # Two UniFFI components in one Swift module: core's types and ports, the FFI's entry object.
  local c
  for c in billtap_core billtap_ffi; do
    cp "target/bindings/swift/$c.swift" "$pkg/Sources/BilltapFFI/"
    cp "target/bindings/swift/${c}FFI.h" "$pkg/Sources/${c}FFI/"
    cp "target/bindings/swift/${c}FFI.modulemap" "$pkg/Sources/${c}FFI/module.modulemap"
  done
  # A mount point of this run's own, so two checkouts testing at once do not see each other.
  local mnt=/billtap-$$
  mkdir -p "$SWIFT_ROOT/proc" "$SWIFT_ROOT$mnt"
  mountpoint -q "$SWIFT_ROOT/proc" || mount -t proc proc "$SWIFT_ROOT/proc"
  mount --bind "$ROOT" "$SWIFT_ROOT$mnt"
  chroot "$SWIFT_ROOT" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root \
    BILLTAP_LIB_DIR=$mnt/target/debug LD_LIBRARY_PATH=$mnt/target/debug BILLTAP_ROOT=$mnt \
    BILLTAP_SANDBOX_URL="${BILLTAP_SANDBOX_URL:-}" BILLTAP_SANDBOX_KEY="${BILLTAP_SANDBOX_KEY:-}" \
    BILLTAP_SANDBOX_ADMIN_TOKEN="${BILLTAP_SANDBOX_ADMIN_TOKEN:-}" \
    sh -c "cd $mnt/target/swift-pkg && swift test --disable-swift-testing"
  local rc=$?
  umount "$SWIFT_ROOT$mnt" && rmdir "$SWIFT_ROOT$mnt"
  umount "$SWIFT_ROOT/proc" 2>/dev/null  # busy while another run tests: then it stays
  return $rc
}

echo "disk at start: $(df -h . | awk 'NR == 2 {print $4}') free"
check fmt cargo fmt --all -- --check
step libnfc libnfc_present
check clippy cargo clippy --workspace --all-targets "${WS_FEATURES[@]}" -- -D warnings
suite rust count_cargo rust_suite
check api-conformance api_conformance
step bindings-generate build_ffi
step sandbox start_sandbox
suite python count_pytest python_suite
step kotlin-setup setup_kotlin
suite kotlin count_kotlin kotlin_suite
step swift-setup setup_swift
suite swift count_xctest swift_suite

# A cold run once ran the disk out while linking: say how much it took.
echo "disk: $(du -sh target 2>/dev/null | cut -f1) in target/, $(df -h . | awk 'NR == 2 {print $4}') free"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
