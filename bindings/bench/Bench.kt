// Kotlin/JVM side of the FFI overhead benchmark (see bindings/bench/run.py).
import java.io.File
import uniffi.billtap_core.*
import uniffi.billtap_ffi.*

const val PIX = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"

fun main(args: Array<String>) {
    val dir = File(args[0])
    val iterations = args[1].toInt()
    val frames = dir.listFiles { f -> f.name.endsWith(".gray") }!!.sortedBy { it.name }.map { f ->
        val (w, h) = f.name.removeSuffix(".gray").substringAfterLast('-').split('x').map { it.toUInt() }
        Frame(f.readBytes(), w, h, w)
    }
    val bytes = PIX.toByteArray()
    // JIT warm-up: longer than Python's, so the JVM measures compiled code.
    repeat(iterations) { parsePayload(bytes) }
    val t = System.nanoTime()
    repeat(iterations) { parsePayload(bytes) }
    val parseUs = (System.nanoTime() - t) / 1000.0 / iterations
    var found = 0
    val scanMs = frames.map { f ->
        val s = System.nanoTime()
        found += scanFrame(f, ScanOptions(null, true)).size
        (System.nanoTime() - s) / 1e6
    }
    println("{\"parse_us\": $parseUs, \"scan_ms\": [${scanMs.joinToString(",")}], \"found\": $found}")
}
