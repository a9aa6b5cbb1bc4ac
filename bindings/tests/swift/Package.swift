// swift-tools-version:6.0
// billtap's Swift binding tests. scripts/test.sh copies this package to
// target/swift-pkg, adds the generated Swift, headers and modulemaps of both UniFFI components
// (billtap_core: core's types and host ports; billtap_ffi: the entry object), and runs
// `swift test` against the host-built libbilltap_ffi.so (BILLTAP_LIB_DIR).
import PackageDescription
import Foundation

let libDir = ProcessInfo.processInfo.environment["BILLTAP_LIB_DIR"] ?? "../../debug"

let package = Package(
    name: "BilltapSwiftTests",
    targets: [
        .systemLibrary(name: "billtap_coreFFI", path: "Sources/billtap_coreFFI"),
        .systemLibrary(name: "billtap_ffiFFI", path: "Sources/billtap_ffiFFI"),
        .target(
            name: "BilltapFFI",
            dependencies: ["billtap_coreFFI", "billtap_ffiFFI"],
            path: "Sources/BilltapFFI",
            // Swift 6.0.3's region-isolation pass (TransferNonSendable) crashes the compiler on
            // UniFFI's generated foreign-async-trait glue; Swift 5 mode skips that pass.
            swiftSettings: [.swiftLanguageMode(.v5)],
            linkerSettings: [.unsafeFlags(["-L", libDir, "-lbilltap_ffi"])]
        ),
        .testTarget(name: "BilltapTests", dependencies: ["BilltapFFI"], path: "Tests/BilltapTests"),
    ]
)
