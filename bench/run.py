#!/usr/bin/env python3
"""Decode benchmark: billtap vs zxing-cpp on the same camera-like frames, in the same run.

Usage: bench/run.py [--per N] [--profile release|bench-fast] [--phone] [--out bench/out]

--phone builds the CLI without the `rqrr` feature: the decoder the phone library ships.

Generates the deterministic image set (bench/src/gen_frames.rs), decodes every image with
`billtap scan --json` (decode time measured inside billtap, excluding file decompression) and
with zxing-cpp from PyPI on the already-loaded pixels, then prints per-category decode rate
and median / p95 milliseconds. An image counts as decoded only if the exact payload is found.
Needs: pip install zxing-cpp numpy pillow.
"""
import argparse
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import zxingcpp
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pct(values, q):
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))
    return s[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--per", type=int, default=40)
    ap.add_argument("--profile", default="release")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out"))
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument("--phone", action="store_true", help="decode as the phone library does (no rqrr)")
    args = ap.parse_args()

    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    subprocess.run(["cargo", "build", "-q", "--profile", args.profile, "-p", "billtap-bench"], cwd=ROOT, check=True)
    # Built alone so `--no-default-features` applies to the CLI only.
    subprocess.run(["cargo", "build", "-q", "--profile", args.profile, "-p", "billtap-cli"]
                   + (["--no-default-features"] if args.phone else []), cwd=ROOT, check=True)
    bindir = os.path.join(target, "debug" if args.profile == "dev" else args.profile)
    frames = os.path.join(args.out, "frames")
    subprocess.run([os.path.join(bindir, "gen-frames"), frames, str(args.per)], check=True)
    manifest = json.load(open(os.path.join(frames, "manifest.json"), encoding="utf-8"))

    # billtap, through its CLI: one JSON line per image.
    paths = [os.path.join(frames, m["file"]) for m in manifest]
    billtap = {}
    for i in range(0, len(paths), 100):
        proc = subprocess.run([os.path.join(bindir, "billtap"), "scan", "--json", *paths[i:i + 100]],
                              capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            rec = json.loads(line)
            billtap[os.path.basename(rec["path"])] = rec

    rows = {}
    passes = {}
    for m in manifest:
        cat = rows.setdefault(m["category"], {"n": 0, "b_ok": 0, "z_ok": 0, "b_ms": [], "z_ms": []})
        cat["n"] += 1
        rec = billtap.get(m["file"], {"codes": [], "decode_ms": float("nan")})
        hit = next((c for c in rec["codes"] if c["text"] == m["payload"]), None)
        if hit:
            cat["b_ok"] += 1
            passes[hit["pass"]] = passes.get(hit["pass"], 0) + 1
        cat["b_ms"].append(rec["decode_ms"])

        arr = np.asarray(Image.open(os.path.join(frames, m["file"])).convert("L"))
        t0 = time.perf_counter()
        found = zxingcpp.read_barcodes(arr, formats=zxingcpp.BarcodeFormat.QRCode)
        cat["z_ms"].append((time.perf_counter() - t0) * 1000.0)
        # Compare bytes too: zxing-cpp guesses a non-UTF-8 charset for some UTF-8 codes without
        # an ECI; the symbol was still found and decoded, which is what this benchmark measures.
        if any(r.text == m["payload"] or r.bytes == m["payload"].encode("utf-8") for r in found):
            cat["z_ok"] += 1

    lines = ["| category | n | billtap decoded | zxing-cpp decoded | billtap median ms | zxing-cpp median ms | billtap p95 ms | zxing-cpp p95 ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    tot = {"n": 0, "b_ok": 0, "z_ok": 0, "b_ms": [], "z_ms": []}
    for name, c in rows.items():
        for k in ("n", "b_ok", "z_ok"):
            tot[k] += c[k]
        tot["b_ms"] += c["b_ms"]
        tot["z_ms"] += c["z_ms"]
    for name, c in list(rows.items()) + [("**overall**", tot)]:
        lines.append(f"| {name} | {c['n']} | {100 * c['b_ok'] / c['n']:.1f} % | {100 * c['z_ok'] / c['n']:.1f} % | "
                     f"{statistics.median(c['b_ms']):.2f} | {statistics.median(c['z_ms']):.2f} | "
                     f"{pct(c['b_ms'], 0.95):.2f} | {pct(c['z_ms'], 0.95):.2f} |")
    rate_ratio = tot["b_ok"] / max(1, tot["z_ok"])
    time_ratio = statistics.median(tot["b_ms"]) / statistics.median(tot["z_ms"])
    lines.append("")
    lines.append(f"billtap / zxing-cpp: decode rate {rate_ratio:.3f}×, median time {time_ratio:.2f}× "
                 f"(zxing-cpp {importlib.metadata.version('zxing-cpp')}, profile {args.profile}, "
                 f"{'phone decoder (no rqrr)' if args.phone else 'CLI decoder (with rqrr)'}, {len(manifest)} images)")
    lines.append("billtap decodes by ladder pass: " + ", ".join(f"{k} {v}" for k, v in sorted(passes.items(), key=lambda kv: -kv[1])))
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(table + "\n")
    with open(os.path.join(args.out, "results.json"), "w", encoding="utf-8") as f:
        json.dump({"rows": {k: {kk: vv for kk, vv in v.items() if not kk.endswith("_ms")} for k, v in rows.items()},
                   "rate_ratio": rate_ratio, "time_ratio": time_ratio}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
