#!/usr/bin/env python3
"""Writes seed corpora for the fuzz targets from tests/fixtures/payloads.json (prefix stripped
for the per-format targets), small rendered QR frames for the frame target, and real sandbox
responses for the platform_response target."""
import json, os, subprocess, sys, time, urllib.request

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
prefixes = {"emv": "000201", "swiss": "SPC\n0200\n1\n", "epc": "BCD\n002\n1\nSCT\n", "upi": "upi://pay?",
            "gost": "ST0001", "spayd": "SPD*1.0*", "einvoice": "01,32,,"}
fixtures = json.load(open(os.path.join(root, "tests/fixtures/payloads.json"), encoding="utf-8"))
for target in list(prefixes) + ["payload", "frame"]:
    os.makedirs(os.path.join(root, "fuzz/corpus", target), exist_ok=True)
for i, f in enumerate(fixtures):
    data = f["payload"].encode(f.get("encoding", "utf-8"))
    open(os.path.join(root, f"fuzz/corpus/payload/fixture-{i:03}"), "wb").write(data)
    for target, prefix in prefixes.items():
        p = prefix.encode()
        if data.startswith(p):
            open(os.path.join(root, f"fuzz/corpus/{target}/fixture-{i:03}"), "wb").write(data[len(p):])
# Frames: width/height/stride header then luma, from `billtap qr` renderings at 1 px/module.
billtap = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "target/debug/billtap")
from PIL import Image  # noqa: E402  (only the frame seeds need Pillow)
for i, text in enumerate(["hello", "upi://pay?pa=a@b&am=1", "00020101021153031565802CN6304"]):
    out = f"/tmp/billtap-seed-{i}.png"
    subprocess.run([billtap, "qr", text, "--out", out, "--scale", "2"], check=True, capture_output=True)
    im = Image.open(out).convert("L")
    w, h = im.size
    if w <= 96 and h <= 96:
        open(os.path.join(root, f"fuzz/corpus/frame/qr-{i}"), "wb").write(bytes([w - 1, h - 1, 0]) + im.tobytes())
# Platform responses: flags (1 = sign the body), status (2 bytes), headers, NUL, body.
os.makedirs(os.path.join(root, "fuzz/corpus/platform_response"), exist_ok=True)
sandbox = subprocess.Popen([billtap, "sandbox", "--port", "0"], stdout=subprocess.PIPE, text=True)
try:
    url = next(line.split()[-1] for line in sandbox.stdout if "listening on" in line)
    requests = [("GET", "/v1/catalog", None), ("GET", "/v1/billers?q=water&page_size=2", None),
                ("GET", "/v1/billers/BJ-WATER-001", None), ("GET", "/v1/bills/W202610-0088123", None),
                ("POST", "/v1/bills/lookup", {"biller_id": "BJ-WATER-001", "fields": {"account": "110105-3345-0871"}}),
                ("POST", "/v1/bills/lookup", {"biller_id": "BJ-WATER-001", "fields": {"account": "1"}}),
                ("POST", "/v1/payees/resolve", {"scheme": "emv_mpm", "guid": "COM.BILLTAP.BILL", "account": "BJ-WATER-001"}),
                ("GET", "/v1/bills/NO-SUCH", None)]
    for i, (method, path, body) in enumerate(requests):
        req = urllib.request.Request(url + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json"})
        try:
            resp = urllib.request.urlopen(req)
        except urllib.error.HTTPError as e:
            resp = e
        status, data = resp.status, resp.read()
        open(os.path.join(root, f"fuzz/corpus/platform_response/sandbox-{i}"), "wb").write(
            bytes([1]) + status.to_bytes(2, "big") + b"\0" + data)
finally:
    sandbox.terminate()
print("seeded", sum(len(os.listdir(os.path.join(root, "fuzz/corpus", t))) for t in os.listdir(os.path.join(root, "fuzz/corpus"))), "files")
