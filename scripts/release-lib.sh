#!/usr/bin/env bash
# Builds the release library the apps ship, the way they ship it: generate the bindings from
# the unstripped library (UniFFI's metadata lives in its symbol table), then strip it and keep
# the symbols in a separate file for crash symbolication. Prints the sizes for
# docs/PERFORMANCE.md. Output: target/dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
# The store's SQLite without what billtap never uses (FTS3, R-tree, DBSTAT, STAT4, column
# metadata, extensions, shared cache, deprecated APIs): ~280 KB less (bindings-toolchain.md).
# FTS5 and JSON too: receipt search runs on its own payee table. Issue 12: APIs billtap never
# calls (sqlite3_complete, get_table, TCL variables, tracing, the authorizer, column decltype,
# UTF-16 text, introspection pragmas, incremental blob I/O, auto-vacuum; a call would fail the
# link, not the phone) and no expression-depth bookkeeping. Only this build sees the flags;
# scripts/phone-sqlite-check.sh runs the store's tests on an SQLite built with them.
export LIBSQLITE3_FLAGS="-USQLITE_ENABLE_FTS3 -USQLITE_ENABLE_FTS3_PARENTHESIS -USQLITE_ENABLE_FTS5 -USQLITE_ENABLE_JSON1 -DSQLITE_OMIT_JSON -USQLITE_ENABLE_RTREE -USQLITE_ENABLE_DBSTAT_VTAB -USQLITE_ENABLE_STAT4 -USQLITE_ENABLE_COLUMN_METADATA -USQLITE_ENABLE_LOAD_EXTENSION -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_OMIT_DEPRECATED -DSQLITE_OMIT_SHARED_CACHE -DSQLITE_DEFAULT_MEMSTATUS=0 -DSQLITE_OMIT_PROGRESS_CALLBACK -DSQLITE_OMIT_COMPLETE -DSQLITE_OMIT_GET_TABLE -DSQLITE_OMIT_TCL_VARIABLE -DSQLITE_OMIT_TRACE -DSQLITE_OMIT_AUTHORIZATION -DSQLITE_MAX_EXPR_DEPTH=0 -DSQLITE_OMIT_DECLTYPE -DSQLITE_OMIT_UTF16 -DSQLITE_OMIT_INTROSPECTION_PRAGMAS -DSQLITE_OMIT_INCRBLOB -DSQLITE_OMIT_AUTOVACUUM"
# The phone build: no reqwest/hyper/rustls/webpki-roots (the app hands in its HTTP stack), no
# simulated cards; file-based meter cards in (issue 12).
cargo build -q --release -p billtap-ffi --no-default-features --features meter-cards ${BILLTAP_RELEASE_CONFIG:+--config "$BILLTAP_RELEASE_CONFIG"}
cargo build -q -p uniffi-bindgen
dist=target/dist
rm -rf "$dist" && mkdir -p "$dist"
lib=target/release/libbilltap_ffi.so
for lang in kotlin swift python; do
  target/debug/uniffi-bindgen generate "$lib" --no-format -l "$lang" -o "$dist/bindings/$lang" >/dev/null
done
objcopy --only-keep-debug "$lib" "$dist/libbilltap_ffi.so.debug"
objcopy --strip-all --add-gnu-debuglink="$dist/libbilltap_ffi.so.debug" "$lib" "$dist/libbilltap_ffi.so"
cp target/release/libbilltap_ffi.a "$dist/" 2>/dev/null || true
size() { stat -c %s "$1"; }
echo "unstripped $(size "$lib") bytes"
echo "stripped   $(size "$dist/libbilltap_ffi.so") bytes ($(awk "BEGIN {printf \"%.2f\", $(size "$dist/libbilltap_ffi.so") / 1048576}") MiB; budget 4 MiB)"
echo "symbols    $(size "$dist/libbilltap_ffi.so.debug") bytes"
# The flags above are not exercised by the test suite's SQLite: check the store on them.
[ "${BILLTAP_SKIP_SQLITE_CHECK:-}" = 1 ] || scripts/phone-sqlite-check.sh
