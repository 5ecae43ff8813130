// Test support shared by the Kotlin scenarios: a real gridsync-center on loopback,
// valid ID numbers, random keys, and a tiny check runner.
package gridsync.testing

import java.io.File
import java.net.ServerSocket
import java.net.Socket
import java.security.SecureRandom

const val GRID = "440106012003001"
const val MICRO = GRID + "01"

fun idNumber(first17: String): String {
    val weights = intArrayOf(7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    val sum = first17.mapIndexed { i, c -> (c - '0') * weights[i] }.sum()
    return first17 + "10X98765432"[sum % 11]
}

fun key(): ByteArray = ByteArray(32).also { SecureRandom().nextBytes(it) }

/** gridsync-center serving a fresh database on a free loopback port, with worker `w-kt`. */
class Center(folder: File, private val binary: String) {
    private val db = File(folder, "center.db").path
    val port = ServerSocket(0).use { it.localPort }
    private val process: Process

    init {
        admin("add-worker", "--id", "w-kt", "--name", "网格员", "--scope", GRID)
        process = ProcessBuilder(binary, "serve", "--db", db, "--listen", "127.0.0.1:$port")
            .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start()
        val deadline = System.currentTimeMillis() + 20_000
        while (true) {
            try { Socket("127.0.0.1", port).close(); break } catch (e: Exception) {
                check(System.currentTimeMillis() < deadline) { "the center did not start" }
                Thread.sleep(50)
            }
        }
    }

    fun admin(vararg args: String): String {
        val p = ProcessBuilder(binary, "admin", "--db", db, *args).start()
        val out = p.inputStream.bufferedReader().readText().trim()
        check(p.waitFor() == 0) { "admin ${args.first()} failed" }
        return out
    }

    val url get() = "http://127.0.0.1:$port"
    fun stop() { process.destroy(); process.waitFor() }
}

/**
 * Carries the phone's connections to [target]; while [stall] is set it takes new requests
 * and never answers them, as a 2G link that froze.
 */
class StallingProxy(private val target: Int) {
    @Volatile var stall = false
    private val listener = ServerSocket(0)
    private val held = mutableListOf<Socket>()
    val url get() = "http://127.0.0.1:${listener.localPort}"

    init {
        Thread {
            while (!listener.isClosed) {
                val phone = try { listener.accept() } catch (e: Exception) { break }
                if (stall) { synchronized(held) { held.add(phone) }; continue }
                val center = Socket("127.0.0.1", target)
                pump(phone, center)
                pump(center, phone)
            }
        }.apply { isDaemon = true }.start()
    }

    private fun pump(from: Socket, to: Socket) = Thread {
        try { from.getInputStream().copyTo(to.getOutputStream()) } catch (e: Exception) {
        } finally { from.close(); to.close() }
    }.apply { isDaemon = true }.start()

    fun stop() {
        listener.close()
        synchronized(held) { held.forEach { it.close() } }
    }
}

/** Runs named checks, prints each, and a closing `N passed, N failed` line. */
class Checks {
    private var passed = 0
    private var failed = 0

    fun check(name: String, block: () -> Unit) {
        try { block(); passed++; println("ok   $name") } catch (e: Throwable) { failed++; println("FAIL $name: $e") }
    }

    fun finish(suite: String) {
        println("$suite: $passed passed, $failed failed")
        if (failed > 0) kotlin.system.exitProcess(1)
    }
}
