"""billtap through its Python bindings: every exported item, against real files.

Runs against the `billtap` package (maturin, `pip install ./bindings`).
"""
import asyncio
import io
import json
import os
import threading

import pytest
from PIL import Image

# One package, two modules: `billtap_core` (core's own records, enums and host ports) and
# `billtap_ffi` (the entry object, errors, free functions); the package re-exports both.
import billtap as bt

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
FRAMES = os.path.join(ROOT, "tests", "fixtures", "frames")
EMVCO = ("00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST "
         "TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME"
         "91320016A0112233449988770708123456786304A13A")
PIX = ("00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de "
       "Tal6008BRASILIA62070503***63041D3D")


def config(**kw):
    base = dict(platform_url="https://platform.example.cn", pinned_platform_keys=["k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="],
                database_path="/tmp/billtap-test.sqlite", locale="zh-CN")
    base.update(kw)
    return bt.BilltapConfig(**base)


def read(name):
    with open(os.path.join(FRAMES, name), "rb") as f:
        return f.read()


def test_parse_payload_gives_the_common_view_and_every_detail():
    p = bt.parse_payload(EMVCO.encode())
    assert p.format == bt.Format.EMV_MPM
    assert p.payable and p.initiation == bt.Initiation.DYNAMIC
    assert p.payee_name == "BEST TRANSPORT" and p.payee_name_local == "最佳运输"
    assert (p.amount, p.currency) == ("23.72 CNY", "CNY")  # money as its exact string
    assert bt.BillReference(kind=bt.RefKind.STORE, value="1234") in p.references
    assert any(w.code == bt.WarningCode.PAYER_INPUT for w in p.warnings)
    # Nothing lost at the boundary: the format's own fields arrive typed.
    assert p.detail.is_EMV_MPM()
    emv_detail = p.detail[0]
    assert [a.tag for a in emv_detail.merchant_accounts] == ["29", "31"]
    assert emv_detail.mcc == "4111" and emv_detail.additional.store_label == "1234"
    swiss = bt.parse_payload(fixture_payload("swiss-sample2-qrr-swico").encode())
    assert swiss.detail.is_SWISS_QR_BILL() and swiss.detail[0].creditor.country == "CH"


def test_parse_errors_are_typed_exceptions():
    with pytest.raises(bt.ScanError.Damaged) as e:
        bt.parse_payload(PIX.replace("Fulano", "Fulana").encode())
    assert e.value.code == "checksum" and e.value.format == bt.Format.EMV_MPM
    assert "do not pay" in e.value.reason
    with pytest.raises(bt.ScanError.CustomerCode):
        bt.parse_payload(b"hQVDUFYwMWEaTwegAAAAVVVVVw8SNFZ4kBI0WNGRIgESNF8=")
    with pytest.raises(bt.ScanError.NotAPayment) as e:
        bt.parse_payload(b"https://example.com/private/4111111111111111")
    assert "4111" not in e.value.reason  # content is scrubbed at the boundary


def test_scan_frame_with_stride_and_region():
    data = read("pix-200x160-stride216.gray")
    still = bt.ScanOptions(region=None, try_harder=True)
    codes = bt.scan_frame(bt.Frame(data=data, width=200, height=160, stride=216), still)
    assert [c.text for c in codes] == [PIX]
    assert codes[0].payload.currency == "BRL" and codes[0].problem is None
    assert len(codes[0].corners) == 4 and all(30 <= c.x <= 160 for c in codes[0].corners)
    empty = bt.scan_frame(bt.Frame(data=data, width=200, height=160, stride=216),
                          bt.ScanOptions(region=bt.Region(x=150, y=0, width=50, height=160), try_harder=False))
    assert empty == []
    with pytest.raises(bt.ScanError.BadImage):
        bt.scan_frame(bt.Frame(data=data[:1000], width=200, height=160, stride=216), still)


def test_async_scans_of_a_png_file_and_of_a_photo_the_host_decoded():
    app = bt.Billtap(config())
    assert app.config().locale == "zh-CN"
    # A photo is decoded by the host (Pillow here; BitmapFactory / CGImageSource on phones) and
    # handed over as luma: the library reads PNG only.
    photo = Image.open(io.BytesIO(read("water-bill-crop.jpg"))).convert("L")

    async def run():
        png, jpg = await asyncio.gather(
            app.scan_image(read("water-bill-crop.png")),
            app.scan_frame_async(bt.Frame(data=photo.tobytes(), width=photo.width, height=photo.height,
                                          stride=photo.width), bt.ScanOptions(region=None, try_harder=True)))
        frame = await app.scan_frame_async(bt.Frame(data=read("pix-200x160-stride216.gray"), width=200, height=160,
                                                    stride=216), bt.ScanOptions(region=None, try_harder=True))
        return png, jpg, frame

    png, jpg, frame = asyncio.run(run())
    for codes in (png, jpg):
        assert codes[0].payload.amount == "268.40 CNY"
        assert codes[0].payload.payee_name_local == "北京市自来水集团"
        assert bt.BillReference(kind=bt.RefKind.BILLER_ID, value="BJ-WATER-001") in codes[0].payload.references
    assert frame[0].text == PIX
    with pytest.raises(bt.ScanError.BadImage) as jpeg_refused:
        asyncio.run(app.scan_image(read("water-bill-crop.jpg")))
    assert "JPEG" in jpeg_refused.value.reason and "scan_frame" in jpeg_refused.value.reason
    with pytest.raises(bt.ScanError.BadImage):
        asyncio.run(app.scan_image(b"not an image"))
    with pytest.raises(bt.ScanError.BadImage):
        asyncio.run(app.scan_image(read("water-bill-crop.png")[:200]))


def test_config_is_checked():
    with pytest.raises(bt.ConfigError.Invalid):
        bt.Billtap(config(platform_url="http://platform.example.cn"))
    with pytest.raises(bt.ConfigError.Invalid):
        bt.Billtap(config(pinned_platform_keys=[]))
    bt.Billtap(config(platform_url="http://127.0.0.1:8080"))


def test_render_qr_round_trips():
    png = bt.render_qr(PIX, bt.QrFormat.PNG(module_px=4))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    codes = asyncio.run(bt.Billtap(config()).scan_image(png))
    assert codes[0].text == PIX
    assert b"<svg" in bt.render_qr(PIX, bt.QrFormat.SVG())
    assert "█" in bt.render_qr("hi", bt.QrFormat.TERMINAL()).decode()
    with pytest.raises(bt.ScanError.Render):
        bt.render_qr("9" * 8000, bt.QrFormat.PNG(module_px=1))


class Recorder(bt.Logger):
    def __init__(self):
        self.lines = []
        self.threads = set()

    def log(self, level, target, message):
        self.lines.append((level, target, message))
        self.threads.add(threading.get_ident())


class Exploding(bt.Logger):
    def log(self, level, target, message):
        raise RuntimeError("host logger is broken")


def test_foreign_logger_receives_lines_and_a_throwing_one_is_harmless():
    rec = Recorder()
    bt.set_logger(rec, bt.LogLevel.DEBUG)
    bt.parse_payload(PIX.encode())
    with pytest.raises(bt.ScanError.NotAPayment):
        bt.parse_payload(b"hello")
    asyncio.run(bt.Billtap(config()).scan_image(read("water-bill-crop.png")))  # logs from a worker thread
    messages = [m for _, _, m in rec.lines]
    assert any("payload parsed" in m and "format=emv_mpm" in m for m in messages), messages
    assert any(lvl == bt.LogLevel.INFO and "error=not_payment" in m for lvl, _, m in rec.lines)
    assert any("codes found" in m for m in messages)
    assert all("Fulano" not in m for m in messages)
    assert len(rec.threads) >= 2

    bt.set_logger(Exploding(), bt.LogLevel.TRACE)
    assert bt.parse_payload(PIX.encode()).currency == "BRL"
    bt.set_logger(None, bt.LogLevel.INFO)


SANDBOX_URL = os.environ.get("BILLTAP_SANDBOX_URL")
SANDBOX_KEY = os.environ.get("BILLTAP_SANDBOX_KEY")
needs_sandbox = pytest.mark.skipif(not SANDBOX_URL, reason="scripts/test.sh starts `billtap sandbox` and sets BILLTAP_SANDBOX_URL")


@needs_sandbox
def test_platform_catalog_search_lookup_and_resolve_against_the_sandbox(tmp_path):
    app = bt.Billtap(config(platform_url=SANDBOX_URL, pinned_platform_keys=[SANDBOX_KEY], database_path=str(tmp_path / "b.sqlite")))

    async def run():
        catalog = await app.catalog()
        page = await app.search_billers(bt.BillerQuery(text="自来水", category=None, region="11", page_size=None, page_token=None))
        view = await app.lookup_bills("BJ-WATER-001", {"account": "110105-3345-0871"})
        with pytest.raises(bt.PlatformError.Refused) as refused:
            await app.lookup_bills("BJ-WATER-001", {"account": "12"})
        codes = await app.scan_image(read("water-bill-crop.png"))
        resolved = await app.resolve(codes[0].payload)
        unknown = await app.resolve(bt.parse_payload(PIX.encode()))
        return catalog, page, view, refused.value, resolved, unknown

    catalog, page, view, refused, resolved, unknown = asyncio.run(run())
    assert len(catalog.categories) == 9 and catalog.categories[0].name == "生活缴费"
    assert catalog.categories[0].names.en and not catalog.from_cache
    assert [b.id for b in page.items] == ["BJ-WATER-001"]
    assert view.payee.name == "北京市自来水集团" and view.bills[0].amount_due == "268.40 CNY"
    assert view.payee.lookup_fields[0].label.zh and view.payee.amount_rule.kind
    assert refused.kind == "validation" and "account" in refused.fields
    assert resolved.payee.id == "BJ-WATER-001" and resolved.bills[0].id == "W202610-0088123"
    assert resolved.amount_in_code == "268.40 CNY"
    assert resolved.bills[0].account_masked.endswith("0871") and "110105" not in resolved.bills[0].account_masked
    assert unknown.payee is None and [w.code for w in unknown.warnings] == [bt.PayeeWarningCode.UNREGISTERED]
    assert "未在缴费平台登记" in unknown.warnings[0].message
    forged = bt.Billtap(config(platform_url=SANDBOX_URL, pinned_platform_keys=["sandbox-1:" + "A" * 43 + "="],
                                database_path=str(tmp_path / "c.sqlite")))
    with pytest.raises(bt.PlatformError.Untrusted):
        asyncio.run(forged.catalog())


def emv(fields):
    """An EMV merchant-presented code with its CRC-16/CCITT-FALSE, from (tag, value) pairs."""
    body = "".join(f"{tag}{len(value):02d}{value}" for tag, value in fields) + "6304"
    crc = 0xFFFF
    for byte in body.encode():
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return body + f"{crc:04X}"


def static_pix(amount):
    return emv([("00", "01"), ("01", "11"), ("26", "0014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"),
                ("52", "0000"), ("53", "986"), ("54", amount), ("58", "BR"), ("59", "Fulano de Tal"),
                ("60", "BRASILIA"), ("62", "0503***")])


def test_static_code_limit_is_checked_at_configuration():
    bt.Billtap(config(static_code_limit="2000.00 CNY"))
    for bad in ["2000", "2000 XXX", "-1 CNY"]:
        with pytest.raises(bt.ConfigError.Invalid):
            bt.Billtap(config(static_code_limit=bad))
    assert bt.parse_payload(static_pix("999.00").encode()).amount == "999.00 BRL"


@needs_sandbox
def test_static_code_above_the_limit_is_flagged_on_resolve(tmp_path):
    def app(limit):
        return bt.Billtap(config(platform_url=SANDBOX_URL, pinned_platform_keys=[SANDBOX_KEY],
                                 database_path=str(tmp_path / "b.sqlite"), static_code_limit=limit))

    def code(amount):
        return bt.parse_payload(static_pix(amount).encode())

    above = asyncio.run(app("500.00 BRL").resolve(code("999.00")))
    below = asyncio.run(app("500.00 BRL").resolve(code("80.00")))
    other_currency = asyncio.run(app("500.00 CNY").resolve(code("999.00")))
    flagged = [w for w in above.warnings if w.code == bt.PayeeWarningCode.STATIC_AMOUNT_ABOVE_LIMIT]
    assert len(flagged) == 1 and "要求支付 999.00 BRL，超过 500.00 BRL" in flagged[0].message, above.warnings
    assert not any(w.code == bt.PayeeWarningCode.STATIC_AMOUNT_ABOVE_LIMIT for w in below.warnings + other_currency.warnings)


def fixture_payload(name):
    with open(os.path.join(ROOT, "tests", "fixtures", "payloads.json"), encoding="utf-8") as f:
        return next(p["payload"] for p in json.load(f) if p["name"] == name)


@needs_sandbox
def test_a_swapped_sticker_shows_the_registered_payee_and_a_warning(tmp_path):
    sticker = bt.parse_payload(fixture_payload("billtap-swapped-sticker").encode())

    def resolve(locale):
        app = bt.Billtap(config(platform_url=SANDBOX_URL, pinned_platform_keys=[SANDBOX_KEY],
                                database_path=str(tmp_path / "s.sqlite"), locale=locale))
        return asyncio.run(app.resolve(sticker))

    zh, en = resolve("zh-CN"), resolve("en-GB,en;q=0.9")
    # The payee shown is the platform's record for the biller id, never the sticker's name.
    assert zh.payee.id == en.payee.id == "BJ-WATER-001"
    assert zh.payee.name == "北京市自来水集团" and en.payee.name == "Beijing Waterworks"
    assert [w.code for w in zh.warnings] == [w.code for w in en.warnings] == [bt.PayeeWarningCode.NAME_MISMATCH]
    assert "（快捷代缴服务中心）与平台登记的收款方（北京市自来水集团）不一致" in zh.warnings[0].message
    assert "(快捷代缴服务中心) is not the registered payee (Beijing Waterworks)" in en.warnings[0].message


@needs_sandbox
def test_a_registered_merchant_code_resolves_to_its_biller(tmp_path):
    app = bt.Billtap(config(platform_url=SANDBOX_URL, pinned_platform_keys=[SANDBOX_KEY],
                            database_path=str(tmp_path / "h.sqlite"), static_code_limit="2000.00 CNY"))
    view = asyncio.run(app.resolve(bt.parse_payload(fixture_payload("billtap-sandbox-unionpay-hospital").encode())))
    assert view.payee.id == "BJ-OUTPATIENT-001" and view.payee.name == "北京市人民医院"
    assert view.warnings == [] and view.bills == []


ADMIN_TOKEN = os.environ.get("BILLTAP_SANDBOX_ADMIN_TOKEN")


def admin_fault(path_prefix, fault, count=1):
    import urllib.request
    body = json.dumps({"path_prefix": path_prefix, "fault": fault, "count": count}).encode()
    req = urllib.request.Request(SANDBOX_URL + "/admin/faults", data=body, method="POST",
                                 headers={"Authorization": "Bearer " + ADMIN_TOKEN, "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 204


class UrllibTransport(bt.HttpTransport):
    """The app's own HTTP stack, as a Python host would bring it: the standard library, no
    redirects followed, the body read in chunks and refused past the limit."""

    def __init__(self):
        import urllib.request

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        self.opener = urllib.request.build_opener(NoRedirect)
        self.calls = 0

    def _send(self, request):
        import socket
        import urllib.error
        import urllib.request
        self.calls += 1
        req = urllib.request.Request(request.url, data=bytes(request.body) if request.body else None,
                                     method=request.method, headers={h.name: h.value for h in request.headers})
        try:
            resp = self.opener.open(req, timeout=request.timeout_ms / 1000)
        except urllib.error.HTTPError as e:  # 3xx/4xx/5xx: an answer, returned as it came
            resp = e
        except (socket.timeout, TimeoutError):
            raise bt.TransportError.Timeout()
        except (urllib.error.URLError, OSError) as e:
            raise bt.TransportError.Network(reason=str(e))
        with resp:
            body = bytearray()
            while chunk := resp.read(65536):
                if len(body) + len(chunk) > request.max_response_bytes:
                    raise bt.TransportError.TooLarge(limit=request.max_response_bytes)
                body += chunk
            headers = [bt.HttpHeader(name=k, value=v) for k, v in resp.headers.items()]
            return bt.HttpResponse(status=resp.status, headers=headers, body=bytes(body))

    async def send(self, request):
        return await asyncio.to_thread(self._send, request)


def serve_raw(handler_body):
    """A loopback HTTP server in a thread; returns (url, hit counter)."""
    import http.server
    hits = []

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            hits.append(self.path)
            handler_body(self)

        do_POST = do_GET

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", hits


@needs_sandbox
def test_the_apps_own_http_stack_carries_lookups_and_hostile_answers_are_refused(tmp_path):
    transport = UrllibTransport()

    def app(url=SANDBOX_URL, db="t.sqlite"):
        return bt.BilltapBuilder(config(platform_url=url, pinned_platform_keys=[SANDBOX_KEY],
                                        database_path=str(tmp_path / db))).http_transport(transport).build()

    target_url, target_hits = serve_raw(lambda h: (h.send_response(200), h.end_headers(), h.wfile.write(b"stolen")))

    def redirect(h):
        h.send_response(307)
        h.send_header("Location", target_url + h.path)
        h.end_headers()

    def huge(h):
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.end_headers()
        chunk = b" " * 65536
        try:
            for _ in range(4800):  # 300 MB, never held anywhere
                h.wfile.write(chunk)
        except OSError:
            pass

    redirect_url, _ = serve_raw(redirect)
    huge_url, _ = serve_raw(huge)

    async def run():
        # The async host port (HttpTransport) is core's: its module runs the host's coroutines.
        bt.billtap_core.uniffi_set_event_loop(asyncio.get_running_loop())
        a = app()
        out = {"catalog": await a.catalog(),
               "view": await a.lookup_bills("BJ-WATER-001", {"account": "110105-3345-0871"})}
        # Refusals are not retried (one fault each); the 503 outlasts the client's three attempts.
        for name, path, fault, count, call in [
            ("replay", "/v1/billers", "replay", 1, lambda: a.search_billers(bt.BillerQuery(text="水", category=None, region=None, page_size=None, page_token=None))),
            ("forged", "/v1/bills/lookup", "bad_signature", 1, lambda: a.lookup_bills("BJ-WATER-001", {"account": "110105-3345-0871"})),
            ("lb503", "/v1/catalog", "unsigned_503", 3, lambda: a.catalog()),
        ]:
            admin_fault(path, fault, count)
            try:
                out[name] = await call()
            except bt.PlatformError as e:
                out[name] = e
        for name, url in [("redirect", redirect_url), ("huge", huge_url)]:
            try:
                out[name] = await app(url, name + ".sqlite").lookup_bills("BJ-WATER-001", {"account": "110105-3345-0871"})
            except bt.PlatformError as e:
                out[name] = e
        return out

    out = asyncio.run(run())
    assert transport.calls >= 5
    assert len(out["catalog"].categories) == 9
    bill = out["view"].bills[0]
    assert bill.holder_name_masked == "张*明" and bill.service_address.startswith("北京市")
    assert [l.amount for l in bill.line_items] == ["268.40 CNY"] and bill.penalties == []
    assert isinstance(out["replay"], bt.PlatformError.Untrusted) and out["replay"].code == bt.UntrustedReason.NOT_FOR_THIS_REQUEST
    assert isinstance(out["forged"], bt.PlatformError.Untrusted) and out["forged"].code == bt.UntrustedReason.BAD_SIGNATURE
    # A load balancer's 503: unreachable, and the offline catalog (verified again) is served.
    assert len(out["lb503"].categories) == 9 and out["lb503"].from_cache, out["lb503"]
    assert isinstance(out["redirect"], bt.PlatformError.Unreachable) and target_hits == []
    assert isinstance(out["huge"], bt.PlatformError.Untrusted) and out["huge"].code == bt.UntrustedReason.TOO_LARGE


def test_transport_rules_hold_for_every_transport(tmp_path):
    for bad in ["http://pay.example.cn", "http://localhost.evil.cn", "https://pay.example.cn/?x=1"]:
        with pytest.raises(bt.ConfigError.Invalid):
            bt.BilltapBuilder(config(platform_url=bad)).http_transport(UrllibTransport()).build()
    with pytest.raises(bt.ConfigError.Invalid):
        bt.Billtap(config(pinned_platform_keys=["k:" + "A" * 43 + "=", "k:" + "A" * 43 + "="]))


FUNDING = "6217000010000000001"


class CryptographySigner(bt.Signer):
    """The device key as a Python host holds it: EC P-256 from the `cryptography` package
    (a phone's would live in Android Keystore or the Secure Enclave). `cancel_next` plays a
    dismissed biometric prompt."""

    def __init__(self):
        from cryptography.hazmat.primitives.asymmetric import ec
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cancel_next = False
        self.signed = 0

    def public_key(self):
        from cryptography.hazmat.primitives import serialization
        return self.key.public_key().public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint)

    async def sign(self, message):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        if self.cancel_next:
            self.cancel_next = False
            raise bt.SignerError.Cancelled()
        self.signed += 1
        return self.key.sign(bytes(message), ec.ECDSA(hashes.SHA256()))


def admin_post(path, body):
    import urllib.request
    req = urllib.request.Request(SANDBOX_URL + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": "Bearer " + ADMIN_TOKEN, "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


def ledger():
    import urllib.request
    req = urllib.request.Request(SANDBOX_URL + "/admin/ledger", headers={"Authorization": "Bearer " + ADMIN_TOKEN})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


@needs_sandbox
def test_a_bill_is_paid_once_with_the_apps_own_signer_and_a_cancelled_prompt_sends_nothing(tmp_path):
    bill = admin_post("/admin/bills", {"biller_id": "BJ-WATER-001", "account": "110105-4242-0001", "amount_fen": 4250})["id"]
    signer = CryptographySigner()
    app = bt.BilltapBuilder(config(platform_url=SANDBOX_URL, pinned_platform_keys=[SANDBOX_KEY],
                                   database_path=str(tmp_path / "pay.sqlite"), funding_account=FUNDING,
                                   device_platform="python")).signer(signer).build()

    async def run():
        bt.billtap_core.uniffi_set_event_loop(asyncio.get_running_loop())
        device = await app.register_device()
        quote = await app.prepare_payment(bt.PaymentTarget.BILL(bill_id=bill), None)
        signer.cancel_next = True
        with pytest.raises(bt.PaymentError.Cancelled):
            await app.confirm_payment(quote)
        assert app.payments_list(False) == []  # nothing stored, nothing sent
        paid = await app.confirm_payment(quote)
        with pytest.raises(bt.PaymentError.Refused) as again:
            await app.prepare_payment(bt.PaymentTarget.BILL(bill_id=bill), None)
        return device, quote, paid, again.value

    device, quote, paid, again = asyncio.run(run())
    assert not device.software_key and device.registered_at
    assert quote.amount == "42.50 CNY" and quote.payee_name == "北京市自来水集团"
    assert paid.state == bt.PaymentState.SUCCEEDED and paid.amount == "42.50 CNY"
    assert paid.platform_payment_id and "0000000" not in paid.payee_account_masked
    assert again.kind == "bill-paid"
    assert [e["bill_id"] for e in ledger()].count(bill) == 1
    assert app.payments_list(True) == [] and len(app.payments_list(False)) == 1
    assert signer.signed >= 2  # registration and the payment, each signed by the host's key

    # The signed receipt: kept, listed, verified offline, shown as a QR code a counter verifies.
    receipts = app.receipts(bt.ReceiptFilter(search="自来水"))
    assert [(r.payment_id, r.amount) for r in receipts] == [(paid.platform_payment_id, "42.50 CNY")]
    report = app.verify_history()
    assert report.problem is None and report.verified == report.entries >= 1
    png = bt.render_qr(app.receipt_qr_text(paid.platform_payment_id), bt.QrFormat.PNG(module_px=4))
    code = asyncio.run(app.scan_image(png))[0].payload
    assert code.format == bt.Format.RECEIPT and code.detail.is_RECEIPT()
    body = app.verify_receipt_code(code.detail[0])
    assert (body.payment_id, body.amount, body.payee_name) == (paid.platform_payment_id, "42.50", "北京市自来水集团")


def receipt_filter(**kw):
    return bt.ReceiptFilter(**kw)  # every field defaults to None


@needs_sandbox
def test_keep_invoices_saved_accounts_reminders_totals_and_imports(tmp_path):
    import datetime
    due = (datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8))).date()
           + datetime.timedelta(days=2)).isoformat()
    account = "110105-4343-%04d" % (os.getpid() % 10000)
    bill = admin_post("/admin/bills", {"biller_id": "BJ-WATER-001", "account": account,
                                       "amount_fen": 7700, "due_date": due})["id"]

    def phone(name):
        return bt.Billtap(config(platform_url=SANDBOX_URL, pinned_platform_keys=[SANDBOX_KEY],
                                 database_path=str(tmp_path / name), funding_account=FUNDING,
                                 device_platform="python"))

    app = phone("a.sqlite")

    async def run():
        bt.billtap_core.uniffi_set_event_loop(asyncio.get_running_loop())
        saved = await app.save_account("BJ-WATER-001", account, "家里的水费")
        assert saved.synced and saved.account.nickname == "家里的水费"
        # The customer's list is shared by every phone (and test) of this funding account.
        assert await app.refresh_bills() >= 1
        reminders = [r for r in app.reminders(7) if r.account_id == saved.account.account_id]
        assert [(r.bill_id, r.status, r.days_left, r.amount) for r in reminders] == [
            (bill, bt.ReminderStatus.DUE_SOON, 2, "77.00 CNY")]
        # A new phone of the same customer gets the account back.
        other = phone("b.sqlite")
        synced = await other.sync_accounts()
        assert account in [m.account.account for m in synced]
        with pytest.raises(bt.PaymentError.Refused):
            await app.save_account("NO-SUCH-BILLER", "123", "x")
        with pytest.raises(bt.PaymentError.Invalid):
            await app.save_account("BJ-WATER-001", account, "")

        quote = await app.prepare_payment(bt.PaymentTarget.BILL(bill_id=bill), None)
        paid = await app.confirm_payment(quote)
        assert bill not in [r.bill_id for r in app.reminders(7)]  # paid: no reminder
        inv = await app.request_invoice(paid.payment_id, "张三", None,
                                        bt.InvoiceDelivery.OUTLET(outlet_id=None))
        assert inv.state == bt.InvoiceState.REQUESTED and len(inv.pickup_code) == 8
        qr = bt.pickup_qr_text(inv)
        assert qr == "BTP1:%s:%s" % (inv.invoice_id, inv.pickup_code)
        admin_post("/admin/invoices/%s/advance" % inv.invoice_id, {})
        assert (await app.invoice_status(inv.invoice_id)).state == bt.InvoiceState.ISSUED
        with pytest.raises(bt.PaymentError.Refused) as second:
            await app.request_invoice(paid.payment_id, "张三", None,
                                      bt.InvoiceDelivery.EMAIL(address="z@example.com"))
        assert second.value.status == 409  # one invoice per payment
        with pytest.raises(bt.PaymentError.Invalid):
            await app.request_invoice(paid.payment_id, "张三", None,
                                      bt.InvoiceDelivery.EMAIL(address="not an address"))
        return paid

    paid = asyncio.run(run())

    # Offline: the receipt shows the invoice state; search in English; totals per category.
    found = app.receipts(receipt_filter(search="beijing WATER", category="utilities"))
    assert [r.payment_id for r in found] == [paid.platform_payment_id]
    assert found[0].invoice_state == bt.InvoiceState.ISSUED
    assert found[0].category == "utilities.water" and found[0].payee_name_en
    assert app.receipts(receipt_filter(min_amount="77.01")) == []
    assert len(app.receipts(receipt_filter(min_amount="77", max_amount="77.00"))) == 1
    assert app.receipts(receipt_filter(category="education")) == []
    totals = app.receipt_totals(receipt_filter())
    assert any(t.key == "utilities" and t.amount == "77.00 CNY" for t in totals.by_category)
    assert len(app.invoices(None)) == 1

    # Import into a third store: the genuine receipt is kept, a forged one refused.
    qr_text = app.receipt_qr_text(found[0].payment_id)
    genuine = bt.parse_payload(qr_text.encode()).detail[0].cose
    forged = bytearray(genuine)
    forged[-1] ^= 1
    third = phone("c.sqlite")
    report = third.import_receipts([bytes(genuine), bytes(forged), b"not cbor"])
    assert report.added == 1 and report.already_kept == 0
    assert [r.index for r in report.refused] == [1, 2]
    assert third.verify_history().problem is None


class HostCard(bt.CardTransport):
    """The card in the field as a host holds it (a phone wraps IsoDep / NFCISO7816Tag): every
    APDU goes to billtap's simulated card; with `tear_at` the Nth exchange runs on the card and
    then the card leaves the field before its answer arrives."""

    def __init__(self, card):
        self.card = card
        self.exchanges = 0
        self.tear_at = None

    async def transceive(self, apdu):
        self.exchanges += 1
        answer = self.card.transceive(apdu)
        if self.exchanges == self.tear_at:
            raise bt.CardError.TagLost()
        return answer

    def max_transceive_length(self):
        return 261


class Steps(bt.TopupProgress):
    def __init__(self):
        self.steps = []

    def on_step(self, step, hint):
        assert hint
        self.steps.append(step)


@needs_sandbox
def test_a_card_is_topped_up_once_even_when_pulled_away_mid_write(tmp_path):
    serial = "3104100075113200A101"  # this suite's own card: the sandbox is shared
    app = bt.Billtap(config(platform_url=SANDBOX_URL, pinned_platform_keys=[SANDBOX_KEY],
                            database_path=str(tmp_path / "topup.sqlite"), funding_account=FUNDING,
                            device_platform="python"))
    card = bt.SimulatedCard(serial, 1000)
    host = HostCard(card)
    steps = Steps()

    async def run():
        bt.billtap_core.uniffi_set_event_loop(asyncio.get_running_loop())
        loaded = await app.topup(host, "50.00 CNY", steps)
        # Pulled away right after CREDIT FOR LOAD ran (SELECT, READ 0015, INIT, CREDIT).
        host.exchanges, host.tear_at = 0, 4
        torn = await app.topup(host, "20.00 CNY", None)
        host.tear_at = None
        tap = await app.read_card(host, None)
        with pytest.raises(bt.PaymentError.Invalid):
            await app.topup(host, "2000.00 CNY", None)
        # A keypad (STS) meter: no card; paid like any payee, the token in the signed receipt.
        quote = await app.prepare_payment(
            bt.PaymentTarget.PAYEE(biller_id="BJ-PREPAID-ELECTRICITY-001", account="01234567891"), "30.00 CNY")
        paid = await app.confirm_payment(quote)
        return loaded, torn, tap, paid

    loaded, torn, tap, paid = asyncio.run(run())
    assert paid.state == bt.PaymentState.SUCCEEDED
    token = app.meter_token(paid.platform_payment_id)
    assert len(token.token) == 24 and token.token.replace(" ", "").isdigit() and token.amount == "30.00 CNY"
    assert app.meter_tokens() == [token]  # kept, shown again offline
    S = bt.TopupStep
    assert steps.steps == [S.WAITING_FOR_CARD, S.READING, S.AUTHORISING, S.WRITING, S.VERIFYING, S.DONE]
    assert loaded.state == bt.TopupState.COMPLETED and loaded.amount == "50.00 CNY"
    assert torn.state == bt.TopupState.UNKNOWN  # kept; the next tap settles it
    assert tap.settled.state == bt.TopupState.COMPLETED and tap.unsettled is None
    assert tap.card.serial == serial and tap.card.balance_fen == card.balance_fen() == 8000
    assert [t.amount_fen for t in tap.card.transactions] == [2000, 5000] and card.counter() == 2
    assert [t.state for t in app.topups()] == [bt.TopupState.COMPLETED] * 2
    # The issuer's books agree with the card: two loads, each completed once.
    mine = [e for e in ledger() if e.get("kind") == "topup" and e["payee_account"] == serial]
    assert sorted((e["amount"], e["status"]) for e in mine) == [("20.00", "completed"), ("50.00", "completed")]
    with pytest.raises(bt.PaymentError.Invalid):
        bt.SimulatedCard("not hex", 0)


@needs_sandbox
def test_a_file_based_meter_card_is_written_by_the_platforms_script_once_even_when_torn(tmp_path):
    app = bt.Billtap(config(platform_url=SANDBOX_URL, pinned_platform_keys=[SANDBOX_KEY],
                            database_path=str(tmp_path / "meter.sqlite"), funding_account=FUNDING,
                            device_platform="python"))
    card = bt.SimulatedMeterCard("4D310000000000A1", "01234567890")  # this suite's own card
    host = HostCard(card)

    async def run():
        bt.billtap_core.uniffi_set_event_loop(asyncio.get_running_loop())
        first = await app.topup(host, "30.00 CNY", None)
        # SELECT ×4 (two purse names, DF 1001, the meter application), EF 01, EF 02, GET
        # CHALLENGE, the script's SELECT, then its MAC'd write (exchange 9): the card runs it
        # and leaves before answering.
        host.exchanges, host.tear_at = 0, 9
        torn = await app.topup(host, "20.00 CNY", None)
        host.tear_at = None
        tap = await app.read_card(host, None)
        return first, torn, tap

    first, torn, tap = asyncio.run(run())
    assert first.state == bt.TopupState.COMPLETED
    assert torn.state == bt.TopupState.UNKNOWN
    assert tap.settled.state == bt.TopupState.COMPLETED
    assert tap.card.meter == "01234567890" and tap.card.balance_fen == 5000
    assert card.purchase_number() == 2 and card.total_fen() == 5000
    mine = [e for e in ledger() if e["payee_account"] == "4D310000000000A1"]
    assert sorted((e["amount"], e["status"]) for e in mine) == [("20.00", "completed"), ("30.00", "completed")]
