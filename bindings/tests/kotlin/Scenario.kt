// The Kotlin bindings on the JVM (JNA) against a real gridsync-center on loopback: the
// same grid worker's day an Android app goes through. Run by scripts/test-kotlin.sh.

import gridsync.testing.*
import java.io.File
import java.nio.file.Files
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import uniffi.gridsync_ffi.*

fun person(name: String, first17: String, gender: Gender?, birth: String?, household: String?, relationship: String) =
    Person(
        areaCode = MICRO, name = name, formerName = null, idType = IdType.RESIDENT_ID, idNumber = idNumber(first17),
        gender = gender, ethnicity = "01", birthDate = birth, phone = null, householdId = household,
        relationship = relationship, personType = PersonType.REGISTERED, registeredAddress = null,
        currentAddress = null, occupation = null, status = PersonStatus.ACTIVE, statusChangedAt = null,
        focusGroups = emptyList(), notes = "",
    )

fun main() {
    val folder = Files.createTempDirectory("gridsync-kt").toFile()
    val center = Center(folder, System.getenv("GRIDSYNC_CENTER_BIN"))
    val checks = Checks()
    val check = checks::check
    val options = CenterOptions(caCertificate = null, allowInsecureLoopback = true)
    try {
        val store = GridStore.open(File(folder, "a.db").path, key())
        store.enrol(center.url, center.admin("enrol-code", "--worker", "w-kt"), "kotlin phone", options)
        var changes = 0
        val subscription = store.subscribe(object : ChangeListener {
            override fun onChange(event: ChangeEvent) { if (event is ChangeEvent.Written) changes++ }
        })
        lateinit var household: String
        lateinit var wang: String
        check("register a household with its members, together") {
            // Gender and birth date left out: read from the ID numbers.
            val ids = store.createHouseholdWithMembers(Household(
                areaCode = MICRO, householdNo = "00301001", householdType = HouseholdType.FAMILY,
                address = "龙潭村幸福路8号", gps = null, residenceMatches = true, housing = Housing.OWNED,
                tags = listOf("低保户"), phone = null, notes = ""), listOf(
                person("王芳", "44010619900307002", null, null, null, "02"),
                person("李强", "44010619880512003", null, null, null, "10"),
            ))
            household = ids[0]
            wang = ids[1]
            require(store.householdMembers(household).size == 2)
            require(store.getPerson(wang).birthDate == "1990-03-07")
            require(changes == 1) { "one write event for the batch: $changes" }
        }
        check("an import is all or nothing, and a refused row names itself") {
            val row = { no: String, address: String -> Household(
                areaCode = MICRO, householdNo = no, householdType = HouseholdType.FAMILY, address = address,
                gps = null, residenceMatches = true, housing = Housing.OWNED, tags = emptyList(), phone = null, notes = "") }
            try {
                store.importHouseholds(listOf(row("00301002", "龙潭村2号"), row("00301003", "")))
                error("accepted")
            } catch (e: GridsyncException.InvalidInput) {
                require(e.field == "rows[1].address") { e.field }
            }
            require(store.listHouseholds("", null, 10u).items.size == 1)
            require(store.importHouseholds(listOf(row("00301002", "龙潭村2号"), row("00301003", "龙潭村3号"))).size == 2)
        }
        check("search by pinyin initials") {
            require(store.searchPersons("wf", "", 10u).map { it.id } == listOf(wang))
        }
        check("a typed validation error names the field") {
            val bad = person("赵六", "44010619900307002", Gender.MALE, "1990-03-07", household, "20")
            try { store.createPerson(bad); error("accepted") } catch (e: GridsyncException.InvalidInput) {
                require(e.field == "gender") { e.field }
                require(e.code == "gender.matches_id_number") { e.code }
                require(e.messageZh == "性别：须与公民身份号码一致") { e.messageZh }
            }
        }
        check("an incident through its loop") {
            val incident = store.createIncident(Incident(
                areaCode = MICRO, serviceNo = "SJ0001", title = "邻里纠纷", categories = listOf("矛盾纠纷/邻里纠纷"),
                location = null, gps = null, occurredAt = System.currentTimeMillis(), peopleCount = 2u,
                involvedPersons = listOf(wang), involvedHouseholds = emptyList(), major = false,
                timeline = emptyList(), notes = ""))
            // A grid worker reports and resolves on the spot; accepting is the center's.
            store.appendFollowUp(incident, Step.REPORT, "", null, null)
            require(Step.ACCEPT !in store.nextSteps(incident))
            try { store.appendFollowUp(incident, Step.ACCEPT, "", null, null); error("accepted") } catch (e: GridsyncException.StepNotYours) {
                require(e.role == Role.GRID_WORKER && e.messageZh == "“受理”不由网格员办理") { e.messageZh }
            }
            require(Step.RESOLVE_ON_SITE in store.nextSteps(incident))
            store.appendFollowUp(incident, Step.RESOLVE_ON_SITE, "", null, null)
            require(store.incidentState(incident).status == IncidentStatus.COMPLETED)
        }
        check("sync to the center and to a second phone") {
            val report = store.sync(options, object : SyncProgressListener {
                override fun onProgress(progress: Progress) {}
            }, SyncCancel())
            require(report.pushed == 8uL) { "pushed ${report.pushed}" } // 3 + 2 imported + 3 incident changes
            val other = GridStore.open(File(folder, "b.db").path, key())
            other.enrol(center.url, center.admin("enrol-code", "--worker", "w-kt"), "second", options)
            other.sync(options, null, SyncCancel())
            require(other.getHousehold(household).address == "龙潭村幸福路8号")
        }
        check("a photo from the camera reaches the second phone, which fetches it") {
            val incident = store.listIncidents("", IncidentFilter.All, null, 10u).items.first().id
            val camera = java.io.ByteArrayOutputStream().also { out ->
                val image = java.awt.image.BufferedImage(2400, 1800, java.awt.image.BufferedImage.TYPE_INT_RGB)
                for (y in 0 until 1800 step 7) for (x in 0 until 2400) image.setRGB(x, y, (x * 31) xor (y * 17))
                javax.imageio.ImageIO.write(image, "jpg", out)
            }.toByteArray()
            val photo = runBlocking { store.attachPhotoAsync(incident, camera, "现场", null) }
            require(photo.width == 1600u && photo.height == 1200u) { "${photo.width}×${photo.height}" }
            val report = store.sync(options, null, SyncCancel())
            require(report.photosSent == 2uL) { "photos sent ${report.photosSent}" }
            val other = GridStore.open(File(folder, "c.db").path, key())
            other.enrol(center.url, center.admin("enrol-code", "--worker", "w-kt"), "third", options)
            other.sync(options, null, SyncCancel())
            val seen = other.photos(incident).single()
            require(!seen.photoHere && seen.uploaded)
            val bytes = runBlocking { other.fetchPhotoAsync(incident, seen.hash, options) }
            require(bytes.contentEquals(store.photoBytes(photo.hash))) { "not byte-identical" }
        }
        check("a closed subscription hears nothing") {
            subscription.close() // AutoCloseable: drops the handle, which unsubscribes
            val before = changes
            store.delete(household)
            require(changes == before)
        }
        check("cancelling the coroutine cancels a sync stalled mid-request, and the next one delivers") {
            val proxy = StallingProxy(center.port)
            val patient = options.copy(requestTimeoutMs = 90_000uL, retries = 4u, backoffBaseMs = 30_000uL)
            try {
                runBlocking {
                    val phone = GridStore.open(File(folder, "async.db").path, key())
                    val enrolment = phone.enrolAsync(proxy.url, center.admin("enrol-code", "--worker", "w-kt"), "async", patient)
                    require(enrolment.role == Role.GRID_WORKER) { "${enrolment.role}" }
                    phone.createHousehold(Household(
                        areaCode = MICRO, householdNo = "00301009", householdType = HouseholdType.FAMILY,
                        address = "龙潭村幸福路9号", gps = null, residenceMatches = true, housing = Housing.OWNED,
                        tags = emptyList(), phone = null, notes = ""))
                    proxy.stall = true
                    val job = launch(Dispatchers.Default) { phone.syncAsync(patient, null) }
                    delay(500)
                    job.cancelAndJoin()
                    proxy.stall = false
                    val started = System.nanoTime()
                    val report = phone.syncAsync(patient, null)
                    val tookMs = (System.nanoTime() - started) / 1_000_000
                    require(tookMs < 2_000) { "the next sync waited $tookMs ms for the cancelled one" }
                    require(report.pushed == 1uL) { "pushed ${report.pushed}" }
                    require(phone.verifyAsync(patient).equalBefore)
                    println("figures kotlin async cancel: next sync after a cancel mid-request took $tookMs ms")
                }
            } finally {
                proxy.stop()
            }
        }
        check("a phone enrols from the console's QR code; anything else scanned is refused in Chinese") {
            try {
                parseEnrolmentLink("https://example.com/enrol?code=1"); error("parsed")
            } catch (e: GridsyncException.InvalidInput) {
                require(e.code == "enrolment_link.format" && e.messageZh.startsWith("注册二维码：")) { e.messageZh }
            }
            val scanned = "gridsync-enrol:v1?center=${center.url}&code=${center.admin("enrol-code", "--worker", "w-kt")}"
            val link = parseEnrolmentLink(scanned)
            require(link.centerUrl == center.url && !link.pinsCertificate) { "$link" }
            val phone = GridStore.open(File(folder, "qr.db").path, key())
            val enrolment = runBlocking { phone.enrolFromLinkAsync(scanned, "qr", options) }
            require(enrolment.workerId == "w-kt" && phone.enrolment()?.deviceId == enrolment.deviceId)
        }
        check("a wrong key is refused") {
            try { GridStore.open(File(folder, "a.db").path, key()); error("opened") } catch (e: GridsyncException.WrongKey) {}
        }
    } finally {
        center.stop()
        folder.deleteRecursively()
    }
    checks.finish("bindings")
}
