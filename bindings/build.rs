//! Link flags for the shipped shared library (sizes in docs/PERFORMANCE.md).

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "android" {
        // Identical code folding: generic code instantiated for different types often compiles
        // to the same bytes (-51 KB). Rust gives no guarantee that distinct functions have
        // distinct addresses, so folding them all is sound. Both rust-lld (the default linker
        // for x86_64 Linux) and the NDK's lld support it.
        println!("cargo:rustc-cdylib-link-arg=-Wl,--icf=all");
    }
    if os == "linux" && target.ends_with("-gnu") {
        // Packed relative relocations (DT_RELR): the library's vtables and string tables are
        // ~18 k pointers, each a 24-byte RELA entry without it (-311 KB). glibc >= 2.36 loads
        // them. Android reads RELR from API 30 on, so the Android build adds it with minSdk 30.
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
    }
}
