//! The binding generator the test script and `scripts/release-lib.sh` run: it starts and
//! offers `generate`. Being an integration test also makes `cargo test --workspace` build the
//! binary with the test run's features, so `scripts/test.sh` reuses it instead of a separate
//! ~4-minute cold build of its own dependency graph.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn the_generator_starts_and_offers_generate() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_uniffi-bindgen"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("generate"), "{help}");
}
