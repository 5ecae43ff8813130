// The Kotlin bindings on the JVM (JNA) against a real gridsync-center on loopback: the
// same grid worker's day an Android app goes through. Run by scripts/test-kotlin.sh.

import java.io.File
import java.net.ServerSocket
import java.net.Socket
import java.nio.file.Files
import java.security.SecureRandom
import uniffi.gridsync_ffi.*

const val GRID = "440106012003001"
const val MICRO = GRID + "01"

fun idNumber(first17: String): String {
    val weights = intArrayOf(7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    val sum = first17.mapIndexed { i, c -> (c - '0') * weights[i] }.sum()
    return first17 + "10X98765432"[sum % 11]
}

fun person(name: String, first17: String, gender: Gender, birth: String, household: String, relationship: String) =
    Person(
        areaCode = MICRO, name = name, formerName = null, idType = IdType.RESIDENT_ID, idNumber = idNumber(first17),
        gender = gender, ethnicity = "01", birthDate = birth, phone = null, householdId = household,
        relationship = relationship, personType = PersonType.REGISTERED, registeredAddress = null,
        currentAddress = null, occupation = null, status = PersonStatus.ACTIVE, statusChangedAt = null,
        focusGroups = emptyList(), notes = "",
    )

fun key(): ByteArray = ByteArray(32).also { SecureRandom().nextBytes(it) }

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

var passed = 0
var failed = 0

fun check(name: String, block: () -> Unit) {
    try { block(); passed++; println("ok   $name") } catch (e: Throwable) { failed++; println("FAIL $name: $e") }
}

fun main() {
    val folder = Files.createTempDirectory("gridsync-kt").toFile()
    val center = Center(folder, System.getenv("GRIDSYNC_CENTER_BIN"))
    val options = CenterOptions(caCertificate = null, allowInsecureLoopback = true)
    try {
        val store = GridStore.open(File(folder, "a.db").path, key())
        store.enrol(center.url, center.admin("enrol-code", "--worker", "w-kt"), "kotlin phone", options)
        var changes = 0
        val subscription = store.subscribe(object : ChangeListener {
            override fun onChange(recordIds: List<String>, remote: Boolean) { changes++ }
        })
        lateinit var household: String
        lateinit var wang: String
        check("register a household with members") {
            household = store.createHousehold(Household(
                areaCode = MICRO, householdNo = "00301001", householdType = HouseholdType.FAMILY,
                address = "龙潭村幸福路8号", gps = null, residenceMatches = true, housing = Housing.OWNED,
                tags = listOf("低保户"), phone = null, notes = ""))
            wang = store.createPerson(person("王芳", "44010619900307002", Gender.FEMALE, "1990-03-07", household, "02"))
            store.createPerson(person("李强", "44010619880512003", Gender.MALE, "1988-05-12", household, "10"))
            require(store.householdMembers(household).size == 2)
            require(changes == 3)
        }
        check("search by pinyin initials") {
            require(store.searchPersons("wf", "", 10u).map { it.id } == listOf(wang))
        }
        check("a typed validation error names the field") {
            val bad = person("赵六", "44010619900307002", Gender.MALE, "1990-03-07", household, "20")
            try { store.createPerson(bad); error("accepted") } catch (e: GridsyncException.InvalidInput) {
                require(e.field == "gender") { e.field }
            }
        }
        check("an incident through its loop") {
            val incident = store.createIncident(Incident(
                areaCode = MICRO, serviceNo = "SJ0001", title = "邻里纠纷", categories = listOf("矛盾纠纷/邻里纠纷"),
                location = null, gps = null, occurredAt = System.currentTimeMillis(), peopleCount = 2u,
                involvedPersons = listOf(wang), involvedHouseholds = emptyList(), major = false,
                timeline = emptyList(), notes = ""))
            for (step in listOf(Step.REPORT, Step.ACCEPT, Step.ASSIGN, Step.START_HANDLING, Step.COMPLETE, Step.VERIFY, Step.CLOSE)) {
                require(step in store.nextSteps(incident))
                store.appendFollowUp(incident, step, "", null, null)
            }
            require(store.incidentState(incident).status == IncidentStatus.CLOSED)
        }
        check("sync to the center and to a second phone") {
            val report = store.sync(options, object : SyncProgressListener {
                override fun onProgress(progress: Progress) {}
            }, SyncCancel())
            require(report.pushed == 11uL) { "pushed ${report.pushed}" }
            val other = GridStore.open(File(folder, "b.db").path, key())
            other.enrol(center.url, center.admin("enrol-code", "--worker", "w-kt"), "second", options)
            other.sync(options, null, SyncCancel())
            require(other.getHousehold(household).address == "龙潭村幸福路8号")
        }
        check("a closed subscription hears nothing") {
            subscription.close() // AutoCloseable: drops the handle, which unsubscribes
            val before = changes
            store.delete(household)
            require(changes == before)
        }
        check("a wrong key is refused") {
            try { GridStore.open(File(folder, "a.db").path, key()); error("opened") } catch (e: GridsyncException.WrongKey) {}
        }
    } finally {
        center.stop()
        folder.deleteRecursively()
    }
    println("kotlin: $passed passed, $failed failed")
    if (failed > 0) kotlin.system.exitProcess(1)
}
