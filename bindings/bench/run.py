#!/usr/bin/env python3
"""FFI overhead benchmark: the same calls from Rust, Python and Kotlin/JVM, in one run.

Usage: bindings/bench/run.py [--iterations N] [--per N]
Measures (1) a small sync call, `parse_payload` of the PIX example (µs per call), and
(2) `scan_frame` on the same frames (bench/ frames of the clean and clutter_720p categories,
converted once to raw luma), against the release library. Prints ratios to Rust.
Needs the tools scripts/test.sh installs (.tools/venv with pillow, kotlinc, JNA).
"""
import argparse
import json
import os
import statistics
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.path.join(ROOT, ".tools")


def sh(*cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, check=True, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=20000)
    ap.add_argument("--per", type=int, default=40)
    args = ap.parse_args()
    out = os.path.join(ROOT, "bench", "out")
    frames = os.path.join(out, "frames")
    raw = os.path.join(out, "ffi-frames")
    sh("cargo", "build", "-q", "--release", "-p", "billtap-ffi", "-p", "billtap-bench")
    sh("cargo", "build", "-q", "-p", "uniffi-bindgen")
    gen = os.path.join(out, "ffi-bindings")
    # Python: the two modules (billtap_core, billtap_ffi) as the package maturin builds.
    for lang, dest in (("python", os.path.join(gen, "billtap")), ("kotlin", gen)):
        sh("target/debug/uniffi-bindgen", "generate", "target/release/libbilltap_ffi.so", "--no-format", "-l", lang, "-o", dest,
           stdout=subprocess.DEVNULL)
    with open(os.path.join(gen, "billtap", "__init__.py"), "w") as f:
        f.write("from .billtap_core import *  # NOQA\nfrom .billtap_ffi import *  # NOQA\n")
    sh("target/release/gen-frames", frames, str(args.per), stderr=subprocess.DEVNULL)
    from PIL import Image
    os.makedirs(raw, exist_ok=True)
    for m in json.load(open(os.path.join(frames, "manifest.json"))):
        if m["category"] in ("clean", "clutter_720p"):
            im = Image.open(os.path.join(frames, m["file"])).convert("L")
            w, h = im.size
            open(os.path.join(raw, f"{m['file'].rsplit('.', 1)[0]}-{w}x{h}.gray"), "wb").write(im.tobytes())

    results = {}
    results["rust"] = json.loads(sh("target/release/ffi-baseline", raw, str(args.iterations), capture_output=True, text=True).stdout)
    env = dict(os.environ, PYTHONPATH=gen)
    import shutil
    shutil.copy(os.path.join(ROOT, "target/release/libbilltap_ffi.so"), os.path.join(gen, "billtap"))
    results["python"] = json.loads(subprocess.run([os.path.join(TOOLS, "venv/bin/python"), "bindings/bench/bench.py", raw, str(args.iterations)],
                                                  cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout)
    K = os.path.join(TOOLS, "node_modules/kotlin-compiler")
    cp = f"/usr/share/java/jna.jar:{K}/lib/kotlinx-coroutines-core-jvm.jar"
    jar = os.path.join(out, "ffi-bench.jar")
    sh(f"{K}/bin/kotlinc", "-nowarn", "-cp", cp, os.path.join(gen, "uniffi/billtap_core/billtap_core.kt"),
       os.path.join(gen, "uniffi/billtap_ffi/billtap_ffi.kt"), "bindings/bench/Bench.kt", "-d", jar,
       stderr=subprocess.DEVNULL)
    results["kotlin"] = json.loads(sh("java", f"-Djna.library.path={os.path.join(ROOT, 'target/release')}", "-cp",
                                      f"{jar}:{cp}:{K}/lib/kotlin-stdlib.jar", "BenchKt", raw, str(args.iterations),
                                      capture_output=True, text=True).stdout)
    base = results["rust"]
    print("| caller | parse_payload µs/call | ratio | scan_frame median ms | ratio | codes found |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in ("rust", "python", "kotlin"):
        r = results[name]
        med = statistics.median(r["scan_ms"])
        print(f"| {name} | {r['parse_us']:.2f} | {r['parse_us'] / base['parse_us']:.2f}× | {med:.2f} | "
              f"{med / statistics.median(base['scan_ms']):.2f}× | {r['found']}/{len(r['scan_ms'])} |")


if __name__ == "__main__":
    main()
