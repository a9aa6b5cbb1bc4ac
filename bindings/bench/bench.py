"""Python side of the FFI overhead benchmark (see bindings/bench/run.py)."""
import json
import os
import sys
import time

import billtap as bt

PIX = ("00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de "
       "Tal6008BRASILIA62070503***63041D3D").encode()


def main(frames_dir, iterations):
    names = sorted(n for n in os.listdir(frames_dir) if n.endswith(".gray"))
    frames = []
    for n in names:
        w, h = map(int, n[:-5].rsplit("-", 1)[1].split("x"))
        frames.append(bt.Frame(data=open(os.path.join(frames_dir, n), "rb").read(), width=w, height=h, stride=w))
    for _ in range(iterations // 10):
        bt.parse_payload(PIX)
    t = time.perf_counter()
    for _ in range(iterations):
        bt.parse_payload(PIX)
    parse_us = (time.perf_counter() - t) * 1e6 / iterations
    scan_ms, found = [], 0
    still = bt.ScanOptions(region=None, try_harder=True)
    for f in frames:
        t = time.perf_counter()
        found += len(bt.scan_frame(f, still))
        scan_ms.append((time.perf_counter() - t) * 1000)
    print(json.dumps({"parse_us": parse_us, "scan_ms": scan_ms, "found": found}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
