#!/usr/bin/env bash
# Runs billtap-core's store, receipt and top-up tests on an SQLite compiled with the phone
# library's flags (scripts/release-lib.sh): an option that compiles but misbehaves would
# otherwise only show on a phone. Own target dir, so the main build's SQLite stays as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(grep '^export LIBSQLITE3_FLAGS=' scripts/release-lib.sh)"
CARGO_TARGET_DIR=${BILLTAP_PHONE_SQLITE_TARGET:-target/phone-sqlite} \
  cargo test -q -p billtap-core --lib -- store receipts pay topup
