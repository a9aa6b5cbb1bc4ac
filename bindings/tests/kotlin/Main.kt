// billtap through its Kotlin/JVM bindings: every exported item, against real files.
import java.io.File
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
// Two packages: core's own types and host ports, and the FFI's entry object and errors.
import uniffi.billtap_core.*
import uniffi.billtap_ffi.*

val root: File = File(System.getProperty("billtap.root") ?: ".").absoluteFile
fun frames(name: String): ByteArray = File(root, "tests/fixtures/frames/$name").readBytes()

const val EMVCO = "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A"
const val PIX = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
// tests/fixtures/payloads.json "billtap-sandbox-unionpay-hospital": a registered hospital's UnionPay counter code.
const val HOSPITAL = "000201010211153199990000999900008981100000001925204806253031565802CN5925BEIJING PEOPLE'S HOSPITAL6007BEIJING64240002ZH0107北京市人民医院0203北京市63046C64"
// tests/fixtures/payloads.json "billtap-swapped-sticker": real biller and account, a fraudster's printed names.
const val STICKER = "00020101021126560016COM.BILLTAP.BILL0112BJ-WATER-0010216110105-3345-08715204490053031565802CN5918QUICK PAY SERVICES6007BEIJING64180002ZH0108快捷代缴服务中心63047258"

var passed = 0
var failed = 0

fun test(name: String, body: () -> Unit) {
    try {
        body()
        passed++
        println("ok   $name")
    } catch (e: Throwable) {
        failed++
        println("FAIL $name: $e")
        e.printStackTrace()
    }
}

/** What a shell does with a photo: decode it with the platform's decoder, keep the luma. */
fun hostLuma(encoded: ByteArray): Frame {
    val img = javax.imageio.ImageIO.read(encoded.inputStream())
    val gray = java.awt.image.BufferedImage(img.width, img.height, java.awt.image.BufferedImage.TYPE_BYTE_GRAY)
    gray.graphics.drawImage(img, 0, 0, null)
    val data = (gray.raster.dataBuffer as java.awt.image.DataBufferByte).data
    return Frame(data, img.width.toUInt(), img.height.toUInt(), img.width.toUInt())
}

fun check(cond: Boolean, what: () -> String) {
    if (!cond) throw AssertionError(what())
}

inline fun <reified E : Throwable> expectThrows(block: () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("expected ${E::class.simpleName}, got $e")
    }
    throw AssertionError("expected ${E::class.simpleName}, nothing thrown")
}

fun config(url: String = "https://platform.example.cn", keys: List<String> = listOf("k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), limit: String? = null) =
    BilltapConfig(url, keys, "/tmp/billtap-kt.sqlite", "zh-CN", staticCodeLimit = limit)

fun pixFrame() = Frame(frames("pix-200x160-stride216.gray"), 200u, 160u, 216u)

val STILL = ScanOptions(null, true)

class Recorder : Logger {
    val lines = java.util.Collections.synchronizedList(mutableListOf<Triple<LogLevel, String, String>>())
    val threads = java.util.Collections.synchronizedSet(mutableSetOf<Long>())
    override fun log(level: LogLevel, target: String, message: String) {
        lines.add(Triple(level, target, message))
        threads.add(Thread.currentThread().id)
    }
}

class Exploding : Logger {
    override fun log(level: LogLevel, target: String, message: String) {
        throw IllegalStateException("host logger is broken")
    }
}

fun main() {
    test("parsePayload gives the common view and every detail") {
        val p = parsePayload(EMVCO.toByteArray())
        check(p.format == Format.EMV_MPM && p.payable && p.initiation == Initiation.DYNAMIC) { "$p" }
        check(p.payeeName == "BEST TRANSPORT" && p.payeeNameLocal == "最佳运输") { "$p" }
        check(p.amount == "23.72 CNY" && p.currency == "CNY") { "$p" }
        check(p.references.contains(BillReference(RefKind.STORE, "1234"))) { "${p.references}" }
        check(p.warnings.any { it.code == WarningCode.PAYER_INPUT }) { "${p.warnings}" }
        check(java.math.BigDecimal(p.amount!!.substringBefore(' ')) == java.math.BigDecimal("23.72")) { "decimal string" }
        val detail = (p.detail as Detail.EmvMpm).v1
        check(detail.merchantAccounts.map { it.tag } == listOf("29", "31") && detail.mcc == "4111") { "$detail" }
    }
    test("parse errors are typed exceptions") {
        val damaged = expectThrows<ScanException.Damaged> { parsePayload(PIX.replace("Fulano", "Fulana").toByteArray()) }
        check(damaged.code == "checksum" && damaged.format == Format.EMV_MPM) { "$damaged" }
        expectThrows<ScanException.CustomerCode> { parsePayload("hQVDUFYwMWEaTwegAAAAVVVVVw8SNFZ4kBI0WNGRIgESNF8=".toByteArray()) }
        val other = expectThrows<ScanException.NotAPayment> { parsePayload("https://example.com/4111111111111111".toByteArray()) }
        check(!other.toString().contains("4111")) { "content must be scrubbed: $other" }
    }
    test("scanFrame reads a strided luma buffer and honours the region") {
        val codes = scanFrame(pixFrame(), STILL)
        check(codes.map { it.text } == listOf(PIX)) { "$codes" }
        check(codes[0].payload?.currency == "BRL" && codes[0].problem == null && codes[0].corners.size == 4) { "${codes[0]}" }
        check(scanFrame(pixFrame(), ScanOptions(Region(150u, 0u, 50u, 160u), false)).isEmpty()) { "region" }
        expectThrows<ScanException.BadImage> { scanFrame(Frame(ByteArray(100), 200u, 160u, 216u), STILL) }
    }
    test("async scans of a PNG file and of a photo the host decoded are suspend functions") {
        val app = Billtap(config())
        check(app.config().locale == "zh-CN") { "config" }
        runBlocking {
            // A photo is decoded by the host (ImageIO here, BitmapFactory on Android) and handed
            // over as luma: the library reads PNG only.
            val photo = hostLuma(frames("water-bill-crop.jpg"))
            val results = listOf(
                async { app.scanImage(frames("water-bill-crop.png")) },
                async { app.scanFrameAsync(photo, STILL) },
            ).awaitAll()
            for (codes in results) {
                val p = codes[0].payload!!
                check(p.amount == "268.40 CNY" && p.payeeNameLocal == "北京市自来水集团") { "$p" }
                check(p.references.contains(BillReference(RefKind.BILLER_ID, "BJ-WATER-001"))) { "${p.references}" }
            }
            check(app.scanFrameAsync(pixFrame(), STILL)[0].text == PIX) { "frame" }
            val refused = expectThrows<ScanException.BadImage> { runBlocking { app.scanImage(frames("water-bill-crop.jpg")) } }
            check(refused.reason.contains("JPEG") && refused.reason.contains("scan_frame")) { refused.reason }
            expectThrows<ScanException.BadImage> { runBlocking { app.scanImage("not an image".toByteArray()) } }
        }
        app.close()
    }
    test("config is checked") {
        expectThrows<ConfigException.Invalid> { Billtap(config(url = "http://platform.example.cn")) }
        expectThrows<ConfigException.Invalid> { Billtap(config(keys = emptyList())) }
        Billtap(config(url = "http://127.0.0.1:8080")).close()
        Billtap(config(limit = "2000.00 CNY")).close()
        expectThrows<ConfigException.Invalid> { Billtap(config(limit = "2000")) }
        expectThrows<ConfigException.Invalid> { Billtap(config(limit = "2000 XXX")) }
    }
    test("renderQr round-trips through scanImage") {
        val png = renderQr(PIX, QrFormat.Png(4u))
        check(png.sliceArray(0..3).contentEquals(byteArrayOf(0x89.toByte(), 'P'.code.toByte(), 'N'.code.toByte(), 'G'.code.toByte()))) { "png magic" }
        check(runBlocking { Billtap(config()).scanImage(png) }[0].text == PIX) { "round trip" }
        check(String(renderQr(PIX, QrFormat.Svg)).contains("<svg")) { "svg" }
        check(String(renderQr("hi", QrFormat.Terminal)).contains("█")) { "terminal" }
        expectThrows<ScanException.Render> { renderQr("9".repeat(8000), QrFormat.Png(1u)) }
    }
    test("foreign logger gets lines from any thread; a throwing one is harmless") {
        val rec = Recorder()
        setLogger(rec, LogLevel.DEBUG)
        parsePayload(PIX.toByteArray())
        expectThrows<ScanException.NotAPayment> { parsePayload("hello".toByteArray()) }
        runBlocking { Billtap(config()).scanImage(frames("water-bill-crop.png")) }
        val messages = rec.lines.map { it.third }
        check(messages.any { it.contains("payload parsed") && it.contains("format=emv_mpm") }) { "$messages" }
        check(rec.lines.any { it.first == LogLevel.INFO && it.third.contains("error=not_payment") }) { "$messages" }
        check(messages.none { it.contains("Fulano") }) { "payload content leaked into logs" }
        check(rec.threads.size >= 2) { "threads ${rec.threads}" }
        setLogger(Exploding(), LogLevel.TRACE)
        check(parsePayload(PIX.toByteArray()).currency == "BRL") { "still works" }
        setLogger(null, LogLevel.INFO)
    }
    val sandboxUrl = System.getenv("BILLTAP_SANDBOX_URL")
    val sandboxKey = System.getenv("BILLTAP_SANDBOX_KEY")
    if (sandboxUrl != null && sandboxKey != null) test("platform: catalog, search, lookup and resolve against the sandbox") {
        val app = Billtap(BilltapConfig(sandboxUrl, listOf(sandboxKey), "/tmp/billtap-kt-platform/b.sqlite", "zh-CN"))
        runBlocking {
            val catalog = app.catalog()
            check(catalog.categories.size == 9 && catalog.categories[0].name == "生活缴费" && !catalog.fromCache) { "$catalog" }
            val page = app.searchBillers(BillerQuery("自来水", null, "11", null, null))
            check(page.items.map { it.id } == listOf("BJ-WATER-001")) { "$page" }
            val view = app.lookupBills("BJ-WATER-001", mapOf("account" to "110105-3345-0871"))
            check(view.payee?.name == "北京市自来水集团" && view.bills[0].amountDue == "268.40 CNY") { "$view" }
            check(view.payee!!.lookupFields[0].label.zh.isNotEmpty() && view.payee!!.names.en == "Beijing Waterworks") { "$view" }
            val refused = expectThrows<PlatformException.Refused> { runBlocking { app.lookupBills("BJ-WATER-001", mapOf("account" to "12")) } }
            check(refused.kind == "validation" && refused.fields.containsKey("account")) { "$refused" }
            val code = app.scanImage(frames("water-bill-crop.png"))[0]
            val resolved = app.resolve(code.payload!!)
            check(resolved.payee?.id == "BJ-WATER-001" && resolved.bills[0].id == "W202610-0088123") { "$resolved" }
            val unknown = app.resolve(parsePayload(PIX.toByteArray()))
            check(unknown.payee == null && unknown.warnings.map { it.code } == listOf(PayeeWarningCode.UNREGISTERED)) { "$unknown" }
            check(unknown.warnings[0].message.contains("未在缴费平台登记")) { "$unknown" }
            val hospital = app.resolve(parsePayload(HOSPITAL.toByteArray()))
            check(hospital.payee?.name == "北京市人民医院" && hospital.warnings.isEmpty()) { "$hospital" }
            // A swapped sticker: the platform's payee is shown, with a warning in the app's language.
            val sticker = app.resolve(parsePayload(STICKER.toByteArray()))
            check(sticker.payee?.id == "BJ-WATER-001" && sticker.warnings.map { it.code } == listOf(PayeeWarningCode.NAME_MISMATCH)) { "$sticker" }
            check(sticker.warnings[0].message.contains("（快捷代缴服务中心）与平台登记的收款方（北京市自来水集团）")) { "$sticker" }
            val english = Billtap(BilltapConfig(sandboxUrl, listOf(sandboxKey), "/tmp/billtap-kt-platform/b.sqlite", "en"))
            val stickerEn = english.resolve(parsePayload(STICKER.toByteArray()))
            check(stickerEn.warnings[0].message.contains("is not the registered payee (Beijing Waterworks)")) { "$stickerEn" }
        }
        val forged = Billtap(BilltapConfig(sandboxUrl, listOf("sandbox-1:" + "A".repeat(43) + "="), "/tmp/billtap-kt-platform/c.sqlite", "zh-CN"))
        expectThrows<PlatformException.Untrusted> { runBlocking { forged.catalog() } }
    }
    val adminToken = System.getenv("BILLTAP_SANDBOX_ADMIN_TOKEN")
    if (sandboxUrl != null && sandboxKey != null && adminToken != null) test("platform: the app's own HTTP stack (java.net.http) and hostile answers") {
        val transport = JdkTransport()
        fun app(url: String = sandboxUrl, db: String = "t") =
            BilltapBuilder(BilltapConfig(url, listOf(sandboxKey), "/tmp/billtap-kt-platform/$db.sqlite", "zh-CN")).httpTransport(transport).build()
        // Refusals are not retried (one fault each); the 503 outlasts the client's three attempts.
        fun fault(path: String, fault: String, count: Int = 1) {
            val req = java.net.http.HttpRequest.newBuilder(java.net.URI.create("$sandboxUrl/admin/faults"))
                .header("Authorization", "Bearer $adminToken").header("Content-Type", "application/json")
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString("{\"path_prefix\":\"$path\",\"fault\":\"$fault\",\"count\":$count}")).build()
            val status = transport.client.send(req, java.net.http.HttpResponse.BodyHandlers.discarding()).statusCode()
            check(status == 204) { "fault $fault: $status" }
        }
        val targetHits = java.util.concurrent.atomic.AtomicInteger()
        val target = serve { ex -> targetHits.incrementAndGet(); ex.sendResponseHeaders(200, 6); ex.responseBody.use { it.write("stolen".toByteArray()) } }
        val redirector = serve { ex -> ex.responseHeaders.add("Location", target + ex.requestURI); ex.sendResponseHeaders(307, -1); ex.close() }
        val huge = serve { ex ->
            ex.responseHeaders.add("Content-Type", "application/json")
            ex.sendResponseHeaders(200, 0)  // chunked, no length announced
            try { ex.responseBody.use { out -> val chunk = ByteArray(65536) { 32 }; repeat(4800) { out.write(chunk) } } } catch (e: java.io.IOException) {}
        }
        runBlocking {
            val a = app()
            check(a.catalog().categories.size == 9) { "catalog" }
            val view = a.lookupBills("BJ-WATER-001", mapOf("account" to "110105-3345-0871"))
            check(view.bills[0].holderNameMasked == "张*明" && view.bills[0].lineItems[0].amount == "268.40 CNY") { "$view" }
            fault("/v1/billers", "replay")
            val replay = expectThrows<PlatformException.Untrusted> { runBlocking { a.searchBillers(BillerQuery("水", null, null, null, null)) } }
            check(replay.code == UntrustedReason.NOT_FOR_THIS_REQUEST) { "$replay" }
            fault("/v1/bills/lookup", "bad_signature")
            val forged = expectThrows<PlatformException.Untrusted> { runBlocking { a.lookupBills("BJ-WATER-001", mapOf("account" to "110105-3345-0871")) } }
            check(forged.code == UntrustedReason.BAD_SIGNATURE) { "$forged" }
            fault("/v1/catalog", "unsigned_503", 3)
            check(a.catalog().let { it.categories.size == 9 && it.fromCache }) { "the offline catalog behind a load balancer's 503" }
            expectThrows<PlatformException.Unreachable> { runBlocking { app(redirector, "r").lookupBills("BJ-WATER-001", mapOf("account" to "110105-3345-0871")) } }
            check(targetHits.get() == 0) { "the redirect target was contacted" }
            val big = expectThrows<PlatformException.Untrusted> { runBlocking { app(huge, "h").catalog() } }
            check(big.code == UntrustedReason.TOO_LARGE) { "$big" }
        }
        check(transport.calls.get() >= 6) { "calls ${transport.calls}" }
    }
    if (sandboxUrl != null && sandboxKey != null && adminToken != null) test("pay: a bill once, signed by the JDK's EC P-256 key; a cancelled prompt sends nothing") {
        val http = java.net.http.HttpClient.newHttpClient()
        fun admin(method: String, path: String, body: String?): String {
            val b = java.net.http.HttpRequest.newBuilder(java.net.URI.create("$sandboxUrl$path"))
                .header("Authorization", "Bearer $adminToken").header("Content-Type", "application/json")
            val req = if (body == null) b.GET().build() else b.method(method, java.net.http.HttpRequest.BodyPublishers.ofString(body)).build()
            return http.send(req, java.net.http.HttpResponse.BodyHandlers.ofString()).body()
        }
        val created = admin("POST", "/admin/bills", "{\"biller_id\":\"BJ-WATER-001\",\"account\":\"110105-4242-0002\",\"amount_fen\":1999}")
        val bill = Regex("\"id\":\"([^\"]+)\"").find(created)!!.groupValues[1]
        val dir = java.nio.file.Files.createTempDirectory("billtap-kt-pay")
        val signer = JdkSigner()
        val app = BilltapBuilder(BilltapConfig(sandboxUrl, listOf(sandboxKey), "$dir/pay.sqlite", "zh-CN",
            fundingAccount = "6217000010000000001", devicePlatform = "android")).signer(signer).build()
        runBlocking {
            val device = app.registerDevice()
            check(!device.softwareKey && device.registeredAt != null) { "$device" }
            val quote = app.preparePayment(PaymentTarget.Bill(bill), null)
            check(quote.amount == "19.99 CNY") { "$quote" }
            signer.cancelNext = true
            expectThrows<PaymentException.Cancelled> { runBlocking { app.confirmPayment(quote) } }
            check(app.paymentsList(false).isEmpty()) { "a cancelled payment was stored" }
            val paid = app.confirmPayment(quote)
            check(paid.state == PaymentState.SUCCEEDED && paid.amount == "19.99 CNY" && paid.platformPaymentId != null) { "$paid" }
            val again = expectThrows<PaymentException.Refused> { runBlocking { app.preparePayment(PaymentTarget.Bill(bill), null) } }
            check(again.kind == "bill-paid") { "$again" }
        }
        check(Regex(bill).findAll(admin("GET", "/admin/ledger", null)).count() == 1) { "paid more than once" }
        // The signed receipt: kept, listed, verified offline, a QR code a counter verifies.
        val paidId = app.paymentsList(false)[0].platformPaymentId!!
        val receipts = app.receipts(ReceiptFilter())
        check(receipts.map { it.paymentId } == listOf(paidId) && receipts[0].amount == "19.99 CNY") { "$receipts" }
        val report = app.verifyHistory()
        check(report.problem == null && report.verified == report.entries) { "$report" }
        runBlocking {
            val png = renderQr(app.receiptQrText(paidId), QrFormat.Png(4u))
            val code = app.scanImage(png)[0].payload!!
            check(code.format == Format.RECEIPT) { "$code" }
            val body = app.verifyReceiptCode((code.detail as Detail.Receipt).v1)
            check(body.paymentId == paidId && body.amount == "19.99") { "$body" }
        }
        check(app.paymentsList(true).isEmpty() && runBlocking { app.resumePending() }.isEmpty()) { "pending" }
        // Keep: an invoice to pick up (its code as a QR), totals, English search, saved
        // accounts a second phone gets back, reminders from their bills.
        runBlocking {
            val inv = app.requestInvoice(paidId, "张三", null, InvoiceDelivery.Outlet(null))
            check(inv.state == InvoiceState.REQUESTED && inv.pickupCode!!.length == 8) { "$inv" }
            check(pickupQrText(inv) == "BTP1:${inv.invoiceId}:${inv.pickupCode}") { "qr" }
            admin("POST", "/admin/invoices/${inv.invoiceId}/advance", "")
            check(app.invoiceStatus(inv.invoiceId).state == InvoiceState.ISSUED) { "issued" }
            check(app.receipts(ReceiptFilter(search = "beijing water"))[0].invoiceState == InvoiceState.ISSUED) { "receipt shows the invoice" }
            val totals = app.receiptTotals(ReceiptFilter(category = "utilities"))
            check(totals.byCategory.map { it.key to it.amount } == listOf("utilities" to "19.99 CNY")) { "$totals" }
            val due = java.time.LocalDate.now(java.time.ZoneOffset.ofHours(8)).minusDays(1).toString()
            val gasBill = Regex("\"id\":\"([^\"]+)\"").find(admin("POST", "/admin/bills",
                "{\"biller_id\":\"BJ-GAS-001\",\"account\":\"110105-4242-0003\",\"amount_fen\":3300,\"due_date\":\"$due\"}"))!!.groupValues[1]
            // The customer's list is shared by every phone (and test) of this funding account.
            val gas = app.saveAccount("BJ-GAS-001", "110105-4242-0003", "家里燃气")
            check(gas.synced) { "saved" }
            check(app.refreshBills() >= 1u) { "refresh" }
            val r = app.reminders(7u).filter { it.billId == gasBill }
            check(r.size == 1 && r[0].status == ReminderStatus.OVERDUE && r[0].daysLeft == -1L && r[0].amount == "33.00 CNY") { "$r" }
            val phone2 = Billtap(BilltapConfig(sandboxUrl, listOf(sandboxKey), "$dir/phone2.sqlite", "zh-CN",
                fundingAccount = "6217000010000000001", devicePlatform = "android"))
            check(phone2.syncAccounts().any { it.account.nickname == "家里燃气" }) { "a new phone gets the accounts" }
            expectThrows<PaymentException.Invalid> { runBlocking { app.saveAccount("BJ-GAS-001", "110105-4242-0003", "") } }
        }
    }
    if (sandboxUrl != null && sandboxKey != null && adminToken != null) test("top-up: a transit card loaded once through the app's IsoDep-shaped transport, torn mid-write") {
        val serial = "3104100075113200A102"  // this suite's own card: the sandbox is shared
        val dir = java.nio.file.Files.createTempDirectory("billtap-kt-topup")
        val app = Billtap(BilltapConfig(sandboxUrl, listOf(sandboxKey), "$dir/topup.sqlite", "zh-CN",
            fundingAccount = "6217000010000000001", devicePlatform = "android"))
        val card = SimulatedCard(serial, 1000u)
        val tag = IsoDepLike(card)
        val steps = mutableListOf<TopupStep>()
        val progress = object : TopupProgress {
            override fun onStep(step: TopupStep, hint: String) { check(hint.isNotEmpty()) { "hint" }; steps.add(step) }
        }
        runBlocking {
            val loaded = app.topup(tag, "50.00 CNY", progress)
            check(loaded.state == TopupState.COMPLETED && loaded.amount == "50.00 CNY") { "$loaded" }
            check(steps == listOf(TopupStep.WAITING_FOR_CARD, TopupStep.READING, TopupStep.AUTHORISING,
                TopupStep.WRITING, TopupStep.VERIFYING, TopupStep.DONE)) { "$steps" }
            // The card leaves right after CREDIT FOR LOAD ran (SELECT, READ 0015, INIT, CREDIT).
            tag.exchanges = 0; tag.tearAt = 4
            val torn = app.topup(tag, "20.00 CNY", null)
            check(torn.state == TopupState.UNKNOWN) { "$torn" }
            tag.tearAt = null
            val tap = app.readCard(tag, null)
            check(tap.settled?.state == TopupState.COMPLETED && tap.unsettled == null) { "$tap" }
            check(tap.card.balanceFen == 8000u && card.balanceFen() == 8000u && card.counter() == 2.toUShort()) { "${tap.card}" }
            check(tap.card.transactions.map { it.amountFen } == listOf(2000u, 5000u)) { "${tap.card.transactions}" }
            // A card that answers every SELECT with 6A82 is not a purse billtap knows.
            val none = object : CardTransport {
                override suspend fun transceive(apdu: ByteArray) = byteArrayOf(0x6A, 0x82.toByte())
                override fun maxTransceiveLength() = 261u
            }
            expectThrows<PaymentException.Card> { runBlocking { app.topup(none, "1.00 CNY", null) } }
            val lost = object : CardTransport {
                override suspend fun transceive(apdu: ByteArray): ByteArray = throw CardException.TagLost()
                override fun maxTransceiveLength() = 261u
            }
            expectThrows<PaymentException.CardLost> { runBlocking { app.readCard(lost, null) } }
            // A keypad (STS) meter: no card, a token in the signed receipt, kept offline.
            val quote = app.preparePayment(PaymentTarget.Payee("BJ-PREPAID-ELECTRICITY-001", "01234567892"), "30.00 CNY")
            val paid = app.confirmPayment(quote)
            val token = app.meterToken(paid.platformPaymentId!!)
            check(paid.state == PaymentState.SUCCEEDED && token!!.token.matches(Regex("[0-9]{4}( [0-9]{4}){4}"))) { "$paid $token" }
            check(app.meterTokens() == listOf(token)) { "${app.meterTokens()}" }
        }
        check(app.topups().map { it.state } == listOf(TopupState.COMPLETED, TopupState.COMPLETED)) { "${app.topups()}" }
    }
    if (sandboxUrl != null && sandboxKey != null) test("top-up: a file-based meter card written once by the platform's script, torn at the write") {
        val dir = java.nio.file.Files.createTempDirectory("billtap-kt-meter")
        val app = Billtap(BilltapConfig(sandboxUrl, listOf(sandboxKey), "$dir/meter.sqlite", "zh-CN",
            fundingAccount = "6217000010000000001", devicePlatform = "android"))
        val card = SimulatedMeterCard("4D310000000000A2", "01234567890")  // this suite's own card
        val tag = IsoDepLike(object : CardLike { override fun transceive(apdu: ByteArray) = card.transceive(apdu) })
        runBlocking {
            check(app.topup(tag, "30.00 CNY", null).state == TopupState.COMPLETED) { "first" }
            // SELECT ×4 (two purse names, DF 1001, the meter application), EF 01, EF 02,
            // GET CHALLENGE, the script's SELECT, its MAC'd write (9).
            tag.exchanges = 0; tag.tearAt = 9
            check(app.topup(tag, "20.00 CNY", null).state == TopupState.UNKNOWN) { "torn" }
            tag.tearAt = null
            val tap = app.readCard(tag, null)
            check(tap.settled?.state == TopupState.COMPLETED && tap.card.meter == "01234567890") { "$tap" }
            check(card.purchaseNumber() == 2.toUShort() && card.totalFen() == 5000u && tap.card.balanceFen == 5000u) { "${tap.card}" }
        }
    }
    println("kotlin: $passed passed, $failed failed")
    kotlin.system.exitProcess(if (failed == 0) 0 else 1)
}

/** The device key as an Android app holds it, through the same `java.security` API shape as
 *  AndroidKeyStore (there with `setUserAuthenticationRequired` for the biometric prompt).
 *  `cancelNext` plays a dismissed prompt. */
class JdkSigner : Signer {
    private val pair = java.security.KeyPairGenerator.getInstance("EC").apply {
        initialize(java.security.spec.ECGenParameterSpec("secp256r1"))
    }.generateKeyPair()
    @Volatile var cancelNext = false
    override fun publicKey(): ByteArray = pair.public.encoded  // X.509 SubjectPublicKeyInfo
    override suspend fun sign(message: ByteArray): ByteArray {
        if (cancelNext) {
            cancelNext = false
            throw SignerException.Cancelled()
        }
        return java.security.Signature.getInstance("SHA256withECDSA").run {
            initSign(pair.private)
            update(message)
            sign()
        }
    }
}

/** A loopback HTTP server (the JDK's own) answering every request with [handler]; returns its URL. */
fun serve(handler: (com.sun.net.httpserver.HttpExchange) -> Unit): String {
    val server = com.sun.net.httpserver.HttpServer.create(java.net.InetSocketAddress("127.0.0.1", 0), 0)
    server.createContext("/") { ex -> handler(ex) }
    server.executor = java.util.concurrent.Executors.newCachedThreadPool()
    server.start()
    return "http://127.0.0.1:${server.address.port}"
}

/** The app's HTTP stack as an Android app brings it (same shape as OkHttp): java.net.http, no
 *  redirects followed, the body streamed and refused past billtap's limit. */
class JdkTransport : HttpTransport {
    val client: java.net.http.HttpClient = java.net.http.HttpClient.newBuilder()
        .followRedirects(java.net.http.HttpClient.Redirect.NEVER)
        .version(java.net.http.HttpClient.Version.HTTP_1_1)
        .build()
    val calls = java.util.concurrent.atomic.AtomicInteger()

    override suspend fun send(request: HttpRequest): HttpResponse = kotlinx.coroutines.withContext(kotlinx.coroutines.Dispatchers.IO) {
        calls.incrementAndGet()
        val body = if (request.body.isEmpty()) java.net.http.HttpRequest.BodyPublishers.noBody()
            else java.net.http.HttpRequest.BodyPublishers.ofByteArray(request.body)
        val builder = java.net.http.HttpRequest.newBuilder(java.net.URI.create(request.url))
            .timeout(java.time.Duration.ofMillis(request.timeoutMs.toLong()))
            .method(request.method, body)
        for (h in request.headers) builder.header(h.name, h.value)
        val resp = try {
            client.send(builder.build(), java.net.http.HttpResponse.BodyHandlers.ofInputStream())
        } catch (e: java.net.http.HttpTimeoutException) {
            throw TransportException.Timeout()
        } catch (e: java.io.IOException) {
            throw TransportException.Network(e.toString())
        }
        val limit = request.maxResponseBytes.toLong()
        resp.body().use { input ->
            val out = java.io.ByteArrayOutputStream()
            val buf = ByteArray(65536)
            while (true) {
                val n = input.read(buf)
                if (n < 0) break
                if (out.size().toLong() + n > limit) throw TransportException.TooLarge(request.maxResponseBytes)
                out.write(buf, 0, n)
            }
            val headers = resp.headers().map().flatMap { (k, vs) -> vs.map { HttpHeader(k, it) } }
            HttpResponse(resp.statusCode().toUShort(), headers, out.toByteArray())
        }
    }
}

/** The card in the field as an Android app holds it (`IsoDep.transceive`): every APDU goes to
 *  billtap's simulated card; with `tearAt` the Nth exchange runs on the card, then the card
 *  leaves the field before its answer arrives (`TagLostException` on a phone). */
/** What the tests tap: billtap's simulated purse or meter card. */
interface CardLike { fun transceive(apdu: ByteArray): ByteArray }

class IsoDepLike(private val card: CardLike) : CardTransport {
    constructor(purse: SimulatedCard) : this(object : CardLike { override fun transceive(apdu: ByteArray) = purse.transceive(apdu) })
    @Volatile var exchanges = 0
    @Volatile var tearAt: Int? = null
    override suspend fun transceive(apdu: ByteArray): ByteArray {
        exchanges += 1
        val answer = card.transceive(apdu)
        if (exchanges == tearAt) throw CardException.TagLost()
        return answer
    }
    override fun maxTransceiveLength(): UInt = 261u
}
