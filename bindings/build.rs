//! Link flags for the shipped shared library (sizes in docs/PERFORMANCE.md, decision 0005).

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    // Identical code folding: generic code instantiated for different types often compiles
    // to the same bytes (-51 KB). Rust gives no guarantee that distinct functions have
    // distinct addresses, so folding them all is sound. Only where the linker is lld: rustc's
    // own rust-lld is the default for x86_64 Linux, and the NDK links Android with lld;
    // GNU ld does not know the option.
    if target == "x86_64-unknown-linux-gnu" || target.contains("android") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,--icf=all");
    }
    // Packed relative relocations (DT_RELR): the library's vtables and string tables are
    // ~18 k pointers, each a 24-byte RELA entry without it (-311 KB). glibc >= 2.36 loads
    // them. Android reads RELR from API 30 on, so the Android build adds it with minSdk 30.
    if target.contains("linux-gnu") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
    }
}
