// billtap through its Swift bindings: every exported item, against real files.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
@testable import BilltapFFI

let root = URL(fileURLWithPath: ProcessInfo.processInfo.environment["BILLTAP_ROOT"] ?? FileManager.default.currentDirectoryPath)
func frames(_ name: String) throws -> Data {
    try Data(contentsOf: root.appendingPathComponent("tests/fixtures/frames/\(name)"))
}

let EMVCO = "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A"
let PIX = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
// tests/fixtures/payloads.json "billtap-sandbox-unionpay-hospital": a registered hospital's UnionPay counter code.
let HOSPITAL = "000201010211153199990000999900008981100000001925204806253031565802CN5925BEIJING PEOPLE'S HOSPITAL6007BEIJING64240002ZH0107北京市人民医院0203北京市63046C64"
// tests/fixtures/payloads.json "billtap-swapped-sticker": real biller and account, a fraudster's printed names.
let STICKER = "00020101021126560016COM.BILLTAP.BILL0112BJ-WATER-0010216110105-3345-08715204490053031565802CN5918QUICK PAY SERVICES6007BEIJING64180002ZH0108快捷代缴服务中心63047258"

func config(url: String = "https://platform.example.cn", keys: [String] = ["k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="], limit: String? = nil) -> BilltapConfig {
    BilltapConfig(platformUrl: url, pinnedPlatformKeys: keys, databasePath: "/tmp/billtap-swift.sqlite", locale: "zh-CN", staticCodeLimit: limit)
}

func pixFrame() throws -> Frame {
    Frame(data: try frames("pix-200x160-stride216.gray"), width: 200, height: 160, stride: 216)
}

let still = ScanOptions(region: nil, tryHarder: true)

final class Recorder: Logger, @unchecked Sendable {
    private let lock = NSLock()
    private(set) var lines: [(LogLevel, String)] = []
    func log(level: LogLevel, target: String, message: String) throws {
        lock.lock(); defer { lock.unlock() }
        lines.append((level, message))
    }
}

struct HostFailure: Error {}

final class Exploding: Logger, @unchecked Sendable {
    func log(level: LogLevel, target: String, message: String) throws {
        throw HostFailure()
    }
}

final class BilltapTests: XCTestCase {
    func testParsePayloadGivesTheCommonViewAndEveryDetail() throws {
        let p = try parsePayload(bytes: Data(EMVCO.utf8))
        XCTAssertEqual(p.format, .emvMpm)
        XCTAssertTrue(p.payable)
        XCTAssertEqual(p.initiation, .dynamic)
        XCTAssertEqual(p.payeeName, "BEST TRANSPORT")
        XCTAssertEqual(p.payeeNameLocal, "最佳运输")
        XCTAssertEqual(p.amount, "23.72 CNY")
        XCTAssertEqual(p.currency, "CNY")
        XCTAssertTrue(p.references.contains(BillReference(kind: .store, value: "1234")))
        XCTAssertTrue(p.warnings.contains { $0.code == .payerInput })
        XCTAssertEqual(Decimal(string: String(p.amount!.split(separator: " ")[0])), Decimal(string: "23.72"))
        guard case .emvMpm(let emv) = p.detail else { return XCTFail("\(p.detail)") }
        XCTAssertEqual(emv.merchantAccounts.map(\.tag), ["29", "31"])
        XCTAssertEqual(emv.mcc, "4111")
    }

    func testParseErrorsAreTypedErrors() throws {
        XCTAssertThrowsError(try parsePayload(bytes: Data(PIX.replacingOccurrences(of: "Fulano", with: "Fulana").utf8))) { error in
            guard case ScanError.Damaged(let format, let code, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(format, .emvMpm)
            XCTAssertEqual(code, "checksum")
            XCTAssertTrue(reason.contains("do not pay"))
        }
        XCTAssertThrowsError(try parsePayload(bytes: Data("hQVDUFYwMWEaTwegAAAAVVVVVw8SNFZ4kBI0WNGRIgESNF8=".utf8))) { error in
            guard case ScanError.CustomerCode = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try parsePayload(bytes: Data("https://example.com/4111111111111111".utf8))) { error in
            guard case ScanError.NotAPayment(let reason) = error else { return XCTFail("\(error)") }
            XCTAssertFalse(reason.contains("4111"))
        }
    }

    func testScanFrameReadsAStridedBufferAndHonoursTheRegion() throws {
        let codes = try scanFrame(frame: try pixFrame(), options: still)
        XCTAssertEqual(codes.map(\.text), [PIX])
        XCTAssertEqual(codes[0].payload?.currency, "BRL")
        XCTAssertNil(codes[0].problem)
        XCTAssertEqual(codes[0].corners.count, 4)
        XCTAssertTrue(try scanFrame(frame: try pixFrame(), options: ScanOptions(region: Region(x: 150, y: 0, width: 50, height: 160), tryHarder: false)).isEmpty)
        XCTAssertThrowsError(try scanFrame(frame: Frame(data: Data(count: 100), width: 200, height: 160, stride: 216), options: still)) { error in
            guard case ScanError.BadImage = error else { return XCTFail("\(error)") }
        }
    }

    func testAsyncScansOfAPngFileAndRefusalOfAPhoto() async throws {
        let app = try Billtap(config: config())
        XCTAssertEqual(try app.config().locale, "zh-CN")
        async let png = app.scanImage(encoded: try frames("water-bill-crop.png"))
        async let frameCodes = app.scanFrameAsync(frame: try pixFrame(), options: still)
        let pngCodes = try await png
        let p = try XCTUnwrap(pngCodes.first?.payload)
        XCTAssertEqual(p.amount, "268.40 CNY")
        XCTAssertEqual(p.payeeNameLocal, "北京市自来水集团")
        XCTAssertTrue(p.references.contains(BillReference(kind: .billerId, value: "BJ-WATER-001")))
        let fromFrame = try await frameCodes
        XCTAssertEqual(fromFrame.first?.text, PIX)
        // Photos are decoded by the host (CGImageSource on iOS) and passed to scanFrame as luma.
        do {
            _ = try await app.scanImage(encoded: try frames("water-bill-crop.jpg"))
            XCTFail("expected BadImage for a JPEG")
        } catch let ScanError.BadImage(reason) {
            XCTAssertTrue(reason.contains("JPEG") && reason.contains("scan_frame"), reason)
        }
        do {
            _ = try await app.scanImage(encoded: Data("not an image".utf8))
            XCTFail("expected BadImage")
        } catch ScanError.BadImage {
        }
    }

    func testConfigIsChecked() throws {
        XCTAssertThrowsError(try Billtap(config: config(url: "http://platform.example.cn")))
        XCTAssertThrowsError(try Billtap(config: config(keys: []))) { error in
            guard case ConfigError.Invalid = error else { return XCTFail("\(error)") }
        }
        _ = try Billtap(config: config(url: "http://127.0.0.1:8080"))
        _ = try Billtap(config: config(limit: "2000.00 CNY"))
        XCTAssertThrowsError(try Billtap(config: config(limit: "2000 XXX"))) { error in
            guard case ConfigError.Invalid = error else { return XCTFail("\(error)") }
        }
    }

    func testRenderQrRoundTrips() async throws {
        let png = try renderQr(text: PIX, format: .png(modulePx: 4))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        let codes = try await Billtap(config: config()).scanImage(encoded: png)
        XCTAssertEqual(codes.first?.text, PIX)
        XCTAssertTrue(String(decoding: try renderQr(text: PIX, format: .svg), as: UTF8.self).contains("<svg"))
        XCTAssertTrue(String(decoding: try renderQr(text: "hi", format: .terminal), as: UTF8.self).contains("█"))
        XCTAssertThrowsError(try renderQr(text: String(repeating: "9", count: 8000), format: .png(modulePx: 1)))
    }

    func testForeignLoggerAndAThrowingOneIsHarmless() async throws {
        let rec = Recorder()
        try setLogger(logger: rec, minLevel: .debug)
        _ = try parsePayload(bytes: Data(PIX.utf8))
        XCTAssertThrowsError(try parsePayload(bytes: Data("hello".utf8)))
        _ = try await Billtap(config: config()).scanImage(encoded: try frames("water-bill-crop.png"))
        let messages = rec.lines.map(\.1)
        XCTAssertTrue(messages.contains { $0.contains("payload parsed") && $0.contains("format=emv_mpm") }, "\(messages)")
        XCTAssertTrue(rec.lines.contains { $0.0 == .info && $0.1.contains("error=not_payment") })
        XCTAssertFalse(messages.contains { $0.contains("Fulano") })
        try setLogger(logger: Exploding(), minLevel: .trace)
        XCTAssertEqual(try parsePayload(bytes: Data(PIX.utf8)).currency, "BRL")
        try setLogger(logger: nil, minLevel: .info)
    }

    func testPlatformAgainstTheSandbox() async throws {
        let env = ProcessInfo.processInfo.environment
        guard let url = env["BILLTAP_SANDBOX_URL"], let key = env["BILLTAP_SANDBOX_KEY"] else {
            throw XCTSkip("scripts/test.sh starts `billtap sandbox` and sets BILLTAP_SANDBOX_URL")
        }
        let app = try Billtap(config: BilltapConfig(platformUrl: url, pinnedPlatformKeys: [key], databasePath: "/tmp/billtap-swift-platform/b.sqlite", locale: "zh-CN"))
        let catalog = try await app.catalog()
        XCTAssertEqual(catalog.categories.count, 9)
        XCTAssertEqual(catalog.categories.first?.name, "生活缴费")
        XCTAssertFalse(catalog.fromCache)
        let page = try await app.searchBillers(query: BillerQuery(text: "自来水", category: nil, region: "11", pageSize: nil, pageToken: nil))
        XCTAssertEqual(page.items.map(\.id), ["BJ-WATER-001"])
        let view = try await app.lookupBills(billerId: "BJ-WATER-001", fields: ["account": "110105-3345-0871"])
        XCTAssertEqual(view.payee?.name, "北京市自来水集团")
        XCTAssertEqual(view.bills.first?.amountDue, "268.40 CNY")
        XCTAssertEqual(view.payee?.names.en, "Beijing Waterworks")
        do {
            _ = try await app.lookupBills(billerId: "BJ-WATER-001", fields: ["account": "12"])
            XCTFail("expected Refused")
        } catch PlatformError.Refused(_, let kind, _, let fields) {
            XCTAssertEqual(kind, "validation")
            XCTAssertNotNil(fields["account"])
        }
        let code = try await app.scanImage(encoded: try frames("water-bill-crop.png"))[0]
        let resolved = try await app.resolve(code: try XCTUnwrap(code.payload))
        XCTAssertEqual(resolved.payee?.id, "BJ-WATER-001")
        XCTAssertEqual(resolved.bills.first?.id, "W202610-0088123")
        let unknown = try await app.resolve(code: try parsePayload(bytes: Data(PIX.utf8)))
        XCTAssertNil(unknown.payee)
        XCTAssertEqual(unknown.warnings.map(\.code), [.unregistered])
        XCTAssertTrue(unknown.warnings.first?.message.contains("未在缴费平台登记") ?? false)
        let hospital = try await app.resolve(code: try parsePayload(bytes: Data(HOSPITAL.utf8)))
        XCTAssertEqual(hospital.payee?.name, "北京市人民医院")
        XCTAssertTrue(hospital.warnings.isEmpty, "\(hospital.warnings)")
        // A swapped sticker: the platform's payee is shown, with a warning in the app's language.
        let sticker = try await app.resolve(code: try parsePayload(bytes: Data(STICKER.utf8)))
        XCTAssertEqual(sticker.payee?.id, "BJ-WATER-001")
        XCTAssertEqual(sticker.warnings.map(\.code), [.nameMismatch])
        XCTAssertTrue(sticker.warnings.first?.message.contains("（快捷代缴服务中心）与平台登记的收款方（北京市自来水集团）") ?? false, "\(sticker.warnings)")
        let english = try Billtap(config: BilltapConfig(platformUrl: url, pinnedPlatformKeys: [key], databasePath: "/tmp/billtap-swift-platform/b.sqlite", locale: "en"))
        let stickerEn = try await english.resolve(code: try parsePayload(bytes: Data(STICKER.utf8)))
        XCTAssertTrue(stickerEn.warnings.first?.message.contains("is not the registered payee (Beijing Waterworks)") ?? false, "\(stickerEn.warnings)")
        let forged = try Billtap(config: BilltapConfig(platformUrl: url, pinnedPlatformKeys: ["sandbox-1:" + String(repeating: "A", count: 43) + "="], databasePath: "/tmp/billtap-swift-platform/c.sqlite", locale: "zh-CN"))
        do {
            _ = try await forged.catalog()
            XCTFail("expected Untrusted")
        } catch PlatformError.Untrusted {
        }
    }

    func testPayABillOnceWithTheAppsSignerAndACancelledPromptSendsNothing() async throws {
        let env = ProcessInfo.processInfo.environment
        guard let url = env["BILLTAP_SANDBOX_URL"], let key = env["BILLTAP_SANDBOX_KEY"], let token = env["BILLTAP_SANDBOX_ADMIN_TOKEN"] else {
            throw XCTSkip("scripts/test.sh starts `billtap sandbox` and sets BILLTAP_SANDBOX_URL")
        }
        let transport = URLSessionTransport()
        func admin(_ method: String, _ path: String, _ body: String) async throws -> String {
            let r = try await transport.send(request: HttpRequest(method: method, url: url + path,
                headers: [HttpHeader(name: "Authorization", value: "Bearer " + token), HttpHeader(name: "Content-Type", value: "application/json")],
                body: Data(body.utf8), maxResponseBytes: 1 << 20, timeoutMs: 5000))
            return String(decoding: r.body, as: UTF8.self)
        }
        let created = try await admin("POST", "/admin/bills", #"{"biller_id":"BJ-WATER-001","account":"110105-4242-0003","amount_fen":777}"#)
        let bill = try XCTUnwrap(created.split(separator: "\"").dropFirst(3).first.map(String.init))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("billtap-swift-pay-\(UUID().uuidString)")
        let signer = try EnclaveLikeSigner()
        let app = try BilltapBuilder(config: BilltapConfig(platformUrl: url, pinnedPlatformKeys: [key], databasePath: dir.appendingPathComponent("pay.sqlite").path,
                                                           locale: "zh-CN", fundingAccount: "6217000010000000001", devicePlatform: "ios"))
            .signer(signer: signer).build()
        let device = try await app.registerDevice()
        XCTAssertFalse(device.softwareKey)
        let quote = try await app.preparePayment(target: .bill(billId: bill), amount: nil)
        XCTAssertEqual(quote.amount, "7.77 CNY")
        signer.cancelNext = true
        do {
            _ = try await app.confirmPayment(quote: quote)
            XCTFail("expected Cancelled")
        } catch PaymentError.Cancelled {
        }
        XCTAssertTrue(try app.paymentsList(pendingOnly: false).isEmpty)
        let paid = try await app.confirmPayment(quote: quote)
        XCTAssertEqual(paid.state, .succeeded)
        XCTAssertEqual(paid.amount, "7.77 CNY")
        do {
            _ = try await app.preparePayment(target: .bill(billId: bill), amount: nil)
            XCTFail("expected Refused")
        } catch PaymentError.Refused(_, let kind, _) {
            XCTAssertEqual(kind, "bill-paid")
        }
        let ledger = try await transport.send(request: HttpRequest(method: "GET", url: url + "/admin/ledger",
            headers: [HttpHeader(name: "Authorization", value: "Bearer " + token)], body: Data(), maxResponseBytes: 1 << 20, timeoutMs: 5000))
        XCTAssertEqual(String(decoding: ledger.body, as: UTF8.self).components(separatedBy: bill).count - 1, 1)
        // The signed receipt: kept, listed, verified offline, a QR code a counter verifies.
        let paidId = try XCTUnwrap(paid.platformPaymentId)
        let receipts = try app.receipts(filter: ReceiptFilter())
        XCTAssertEqual(receipts.map(\.paymentId), [paidId])
        let report = try app.verifyHistory()
        XCTAssertNil(report.problem)
        let png = try renderQr(text: try app.receiptQrText(id: paidId), format: .png(modulePx: 4))
        let scanned = try await app.scanImage(encoded: png)
        guard case .receipt(let code)? = scanned.first?.payload?.detail else { return XCTFail("not a receipt") }
        let body = try app.verifyReceiptCode(code: code)
        XCTAssertEqual(body.amount, "7.77")
        XCTAssertEqual(body.paymentId, paidId)
        // Keep: an invoice by e-mail through its states, totals, English search, reminders.
        let inv = try await app.requestInvoice(paymentId: paidId, title: "张三", taxId: nil,
            delivery: .email(address: "zhang@example.com"))
        XCTAssertEqual(inv.state, .requested)
        XCTAssertEqual(inv.destination, "z***@example.com")
        XCTAssertNil(pickupQrText(invoice: inv))
        let advance = HttpRequest(method: "POST", url: url + "/admin/invoices/\(inv.invoiceId)/advance",
            headers: [HttpHeader(name: "Authorization", value: "Bearer " + token)], body: Data(), maxResponseBytes: 1 << 20, timeoutMs: 5000)
        _ = try await transport.send(request: advance)
        let issued = try await app.invoiceStatus(invoiceId: inv.invoiceId)
        XCTAssertEqual(issued.state, .issued)
        XCTAssertEqual(issued.invoiceNumber?.count, 20)
        let found = try app.receipts(filter: ReceiptFilter(search: "Beijing waterworks"))
        XCTAssertEqual(found.map(\.paymentId), [paidId])
        XCTAssertEqual(found.first?.invoiceState, .issued)
        let totals = try app.receiptTotals(filter: ReceiptFilter(category: "utilities"))
        XCTAssertEqual(totals.byCategory.map(\.amount), ["7.77 CNY"])
        // A bill of its own for the account it saves, so this test does not lean on the other suites'.
        _ = try await admin("POST", "/admin/bills", #"{"biller_id":"BJ-WATER-001","account":"110105-5151-0001","amount_fen":1234}"#)
        let saved = try await app.saveAccount(billerId: "BJ-WATER-001", account: "110105-5151-0001", nickname: "家里的水费")
        XCTAssertTrue(saved.synced)
        // The customer's list is shared by every phone (and test) of this funding account.
        let mine = try app.savedAccounts().filter { $0.account.accountId == saved.account.accountId }
        XCTAssertEqual(mine.map(\.account.nickname), ["家里的水费"])
        let refreshed = try await app.refreshBills()
        XCTAssertGreaterThanOrEqual(refreshed, 1)
        let ids = Set(try app.savedAccounts().map(\.account.accountId))
        XCTAssertTrue(try app.reminders(withinDays: 7).allSatisfy { ids.contains($0.accountId) })
        do {
            _ = try await app.saveAccount(billerId: "NO-SUCH-BILLER", account: "1", nickname: "x")
            XCTFail("expected Refused")
        } catch PaymentError.Refused(let status, _, _) {
            XCTAssertEqual(status, 422)
        }
    }

    func testATransitCardIsToppedUpOnceThroughAnNFCTagShapedTransportEvenWhenTorn() async throws {
        let env = ProcessInfo.processInfo.environment
        guard let url = env["BILLTAP_SANDBOX_URL"], let key = env["BILLTAP_SANDBOX_KEY"] else {
            throw XCTSkip("scripts/test.sh starts `billtap sandbox` and sets BILLTAP_SANDBOX_URL")
        }
        let serial = "3104100075113200A103"  // this suite's own card: the sandbox is shared
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("billtap-swift-topup-\(UUID().uuidString)")
        let app = try Billtap(config: BilltapConfig(platformUrl: url, pinnedPlatformKeys: [key], databasePath: dir.appendingPathComponent("topup.sqlite").path,
                                                    locale: "zh-CN", fundingAccount: "6217000010000000001", devicePlatform: "ios"))
        let card = try SimulatedCard(serial: serial, balanceFen: 1000)
        let tag = ISO7816TagLike(card: card)
        let steps = StepRecorder()
        let loaded = try await app.topup(card: tag, amount: "50.00 CNY", progress: steps)
        XCTAssertEqual(loaded.state, .completed)
        XCTAssertEqual(loaded.amount, "50.00 CNY")
        XCTAssertEqual(steps.steps, [.waitingForCard, .reading, .authorising, .writing, .verifying, .done])
        // The card leaves right after CREDIT FOR LOAD ran (SELECT, READ 0015, INIT, CREDIT).
        tag.tear(at: 4)
        let torn = try await app.topup(card: tag, amount: "20.00 CNY", progress: nil)
        XCTAssertEqual(torn.state, .unknown)
        tag.tear(at: nil)
        let tap = try await app.readCard(card: tag, progress: nil)
        XCTAssertEqual(tap.settled?.state, .completed)
        XCTAssertNil(tap.unsettled)
        XCTAssertEqual(tap.card.serial, serial)
        XCTAssertEqual(tap.card.balanceFen, 8000)
        XCTAssertEqual(try card.balanceFen(), 8000)
        XCTAssertEqual(try card.counter(), 2)
        XCTAssertEqual(tap.card.transactions.map(\.amountFen), [2000, 5000])
        XCTAssertEqual(try app.topups().map(\.state), [.completed, .completed])
        do {
            _ = try await app.topup(card: tag, amount: "0.00 CNY", progress: nil)
            XCTFail("expected Invalid")
        } catch PaymentError.Invalid {
        }
        // A keypad (STS) meter: no card, a token in the signed receipt, kept offline.
        let quote = try await app.preparePayment(target: .payee(billerId: "BJ-PREPAID-ELECTRICITY-001", account: "01234567893"), amount: "30.00 CNY")
        let paid = try await app.confirmPayment(quote: quote)
        XCTAssertEqual(paid.state, .succeeded)
        let token = try XCTUnwrap(try app.meterToken(paymentId: try XCTUnwrap(paid.platformPaymentId)))
        XCTAssertEqual(token.token.split(separator: " ").map(\.count), [4, 4, 4, 4, 4])
        XCTAssertEqual(try app.meterTokens(), [token])
    }

    func testAFileBasedMeterCardIsWrittenOnceByThePlatformsScriptEvenWhenTorn() async throws {
        let env = ProcessInfo.processInfo.environment
        guard let url = env["BILLTAP_SANDBOX_URL"], let key = env["BILLTAP_SANDBOX_KEY"] else {
            throw XCTSkip("scripts/test.sh starts `billtap sandbox` and sets BILLTAP_SANDBOX_URL")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("billtap-swift-meter-\(UUID().uuidString)")
        let app = try Billtap(config: BilltapConfig(platformUrl: url, pinnedPlatformKeys: [key], databasePath: dir.appendingPathComponent("meter.sqlite").path,
                                                    locale: "zh-CN", fundingAccount: "6217000010000000001", devicePlatform: "ios"))
        let card = try SimulatedMeterCard(serial: "4D310000000000A3", meter: "01234567890")  // this suite's own card
        let tag = ISO7816TagLike(send: { try card.transceive(apdu: $0) })
        let first = try await app.topup(card: tag, amount: "30.00 CNY", progress: nil)
        XCTAssertEqual(first.state, .completed)
        // SELECT ×4 (two purse names, DF 1001, the meter application), EF 01, EF 02,
        // GET CHALLENGE, the script's SELECT, its MAC'd write (9).
        tag.tear(at: 9)
        let torn = try await app.topup(card: tag, amount: "20.00 CNY", progress: nil)
        XCTAssertEqual(torn.state, .unknown)
        tag.tear(at: nil)
        let tap = try await app.readCard(card: tag, progress: nil)
        XCTAssertEqual(tap.settled?.state, .completed)
        XCTAssertEqual(tap.card.meter, "01234567890")
        XCTAssertEqual(tap.card.balanceFen, 5000)
        XCTAssertEqual(try card.purchaseNumber(), 2)
        XCTAssertEqual(try card.totalFen(), 5000)
    }

    func testTheAppsOwnHttpStackAndHostileAnswers() async throws {
        let env = ProcessInfo.processInfo.environment
        guard let url = env["BILLTAP_SANDBOX_URL"], let key = env["BILLTAP_SANDBOX_KEY"], let token = env["BILLTAP_SANDBOX_ADMIN_TOKEN"] else {
            throw XCTSkip("scripts/test.sh starts `billtap sandbox` and sets BILLTAP_SANDBOX_URL")
        }
        let transport = URLSessionTransport()
        let app = try BilltapBuilder(config: BilltapConfig(platformUrl: url, pinnedPlatformKeys: [key], databasePath: "/tmp/billtap-swift-platform/t.sqlite", locale: "zh-CN"))
            .httpTransport(transport: transport).build()
        // Refusals are not retried (one fault each); the 503 outlasts the client's three attempts.
        func fault(_ path: String, _ fault: String, _ count: Int = 1) async throws {
            let body = "{\"path_prefix\":\"\(path)\",\"fault\":\"\(fault)\",\"count\":\(count)}"
            let r = try await transport.send(request: HttpRequest(method: "POST", url: url + "/admin/faults",
                headers: [HttpHeader(name: "Authorization", value: "Bearer " + token), HttpHeader(name: "Content-Type", value: "application/json")],
                body: Data(body.utf8), maxResponseBytes: 65536, timeoutMs: 5000))
            XCTAssertEqual(r.status, 204)
        }
        let catalog = try await app.catalog()
        XCTAssertEqual(catalog.categories.count, 9)
        let view = try await app.lookupBills(billerId: "BJ-WATER-001", fields: ["account": "110105-3345-0871"])
        XCTAssertEqual(view.bills.first?.holderNameMasked, "张*明")
        XCTAssertEqual(view.bills.first?.lineItems.first?.amount, "268.40 CNY")
        try await fault("/v1/billers", "replay")
        do {
            _ = try await app.searchBillers(query: BillerQuery(text: "水", category: nil, region: nil, pageSize: nil, pageToken: nil))
            XCTFail("expected Untrusted")
        } catch PlatformError.Untrusted(let code, _) {
            XCTAssertEqual(code, .notForThisRequest)
        }
        try await fault("/v1/bills/lookup", "bad_signature")
        do {
            _ = try await app.lookupBills(billerId: "BJ-WATER-001", fields: ["account": "110105-3345-0871"])
            XCTFail("expected Untrusted")
        } catch PlatformError.Untrusted(let code, _) {
            XCTAssertEqual(code, .badSignature)
        }
        // A load balancer's unsigned 503: the verified offline catalog is served.
        try await fault("/v1/catalog", "unsigned_503", 3)
        let offline = try await app.catalog()
        XCTAssertEqual(offline.categories.count, 9)
        XCTAssertTrue(offline.fromCache)
        XCTAssertGreaterThanOrEqual(transport.calls, 6)
    }
}

/// The app's HTTP stack as an iOS app brings it: URLSession (FoundationNetworking on Linux),
/// redirects refused, the body counted as it arrives and cancelled past billtap's limit.
final class URLSessionTransport: HttpTransport, @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var calls: Int { lock.lock(); defer { lock.unlock() }; return count }
    private func bump() { lock.lock(); count += 1; lock.unlock() }

    func send(request: HttpRequest) async throws -> HttpResponse {
        bump()
        guard let target = URL(string: request.url) else { throw TransportError.Network(reason: "bad URL") }
        var req = URLRequest(url: target, timeoutInterval: Double(request.timeoutMs) / 1000)
        req.httpMethod = request.method
        for h in request.headers { req.setValue(h.value, forHTTPHeaderField: h.name) }
        if !request.body.isEmpty { req.httpBody = request.body }
        let one = OneRequest(limit: request.maxResponseBytes)
        let session = URLSession(configuration: .ephemeral, delegate: one, delegateQueue: nil)
        return try await withCheckedThrowingContinuation { continuation in
            one.continuation = continuation
            session.dataTask(with: req).resume()
        }
    }
}

final class OneRequest: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let limit: UInt64
    var data = Data()
    var response: HTTPURLResponse?
    var tooLarge = false
    var continuation: CheckedContinuation<HttpResponse, Error>?

    init(limit: UInt64) { self.limit = limit }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        completionHandler(nil)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        self.response = response as? HTTPURLResponse
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        if UInt64(self.data.count + data.count) > limit {
            tooLarge = true
            dataTask.cancel()
            return
        }
        self.data.append(data)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        session.finishTasksAndInvalidate()
        guard let c = continuation else { return }
        continuation = nil
        if tooLarge { c.resume(throwing: TransportError.TooLarge(limit: limit)); return }
        if let e = error as? URLError, e.code == .timedOut { c.resume(throwing: TransportError.Timeout); return }
        if let e = error { c.resume(throwing: TransportError.Network(reason: "\(e)")); return }
        guard let r = response else { c.resume(throwing: TransportError.Network(reason: "no response")); return }
        let headers = r.allHeaderFields.map { HttpHeader(name: "\($0.key)", value: "\($0.value)") }
        c.resume(returning: HttpResponse(status: UInt16(r.statusCode), headers: headers, body: data))
    }
}

/// The device key as an iOS app would hold it in the Secure Enclave. Swift on Linux has no
/// Secure Enclave, Security framework or CryptoKit (and swift-crypto cannot be fetched here),
/// so the key itself is billtap's exported `SoftwareKey`; the Swift side does what an app's
/// signer does around it: the prompt (`cancelNext` plays a dismissed Face ID sheet), the async
/// hand-off, the errors.
final class EnclaveLikeSigner: Signer, @unchecked Sendable {
    private let key: SoftwareKey
    private let lock = NSLock()
    private var cancel = false
    var cancelNext: Bool {
        get { lock.lock(); defer { lock.unlock() }; return cancel }
        set { lock.lock(); cancel = newValue; lock.unlock() }
    }

    init() throws { key = try SoftwareKey.generate() }

    func publicKey() throws -> Data { try key.publicKey() }

    func sign(message: Data) async throws -> Data {
        if cancelNext {
            cancelNext = false
            throw SignerError.Cancelled
        }
        return try key.sign(message: message)
    }
}

/// The card in the field as an iOS app holds it (`NFCISO7816Tag.sendCommand`): every APDU goes
/// to billtap's simulated card; `tear(at:)` makes the Nth exchange run on the card, then the
/// card leave the field before its answer arrives (`NFCReaderError` on a phone).
final class ISO7816TagLike: CardTransport, @unchecked Sendable {
    private let send: (Data) throws -> Data
    private let lock = NSLock()
    private var exchanges = 0
    private var tearAt: Int?

    init(card: SimulatedCard) { self.send = { try card.transceive(apdu: $0) } }
    init(send: @escaping (Data) throws -> Data) { self.send = send }

    func tear(at n: Int?) {
        lock.lock(); exchanges = 0; tearAt = n; lock.unlock()
    }

    private func next() -> Bool {
        lock.lock(); defer { lock.unlock() }
        exchanges += 1
        return exchanges == tearAt
    }

    func transceive(apdu: Data) async throws -> Data {
        let torn = next()
        let answer = try send(apdu)
        if torn { throw CardError.TagLost }
        return answer
    }

    func maxTransceiveLength() -> UInt32 { 261 }
}

/// The steps a top-up reported (a screen would show each hint).
final class StepRecorder: TopupProgress, @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [TopupStep] = []
    var steps: [TopupStep] { lock.lock(); defer { lock.unlock() }; return seen }

    func onStep(step: TopupStep, hint: String) {
        precondition(!hint.isEmpty)
        lock.lock(); seen.append(step); lock.unlock()
    }
}
