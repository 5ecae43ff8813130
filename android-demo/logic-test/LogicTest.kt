// The demo app's plain-Kotlin layer (repository, forms, sync controller) on the JVM,
// against a real gridsync-center on loopback. Run by bindings/scripts/test-kotlin.sh.
package cn.gridsync.demo.test

import cn.gridsync.demo.logic.*
import gridsync.testing.*
import java.io.File
import java.nio.file.Files
import kotlinx.coroutines.runBlocking
import uniffi.gridsync_ffi.*

/** A camera-like JPEG: a gradient with a stripe every 7 rows (so it does not shrink to nothing). */
fun jpeg(width: Int, height: Int): ByteArray = java.io.ByteArrayOutputStream().also { out ->
    val image = java.awt.image.BufferedImage(width, height, java.awt.image.BufferedImage.TYPE_INT_RGB)
    for (y in 0 until height) for (x in 0 until width) {
        image.setRGB(x, y, if (y % 7 == 0) (x * 31) xor (y * 17) else (x * 255 / width shl 16) or (y * 255 / height shl 8))
    }
    require(javax.imageio.ImageIO.write(image, "jpg", out))
}.toByteArray()

/** What the camera saw, read as the app reads it. */
fun scan(image: java.awt.image.BufferedImage): String? =
    EnrolmentScan.read(image.getRGB(0, 0, image.width, image.height, null, 0, image.width), image.width, image.height)

/** [image] at [width] px wide, as a camera further away sees it. */
fun resized(image: java.awt.image.BufferedImage, width: Int): java.awt.image.BufferedImage {
    val height = image.height * width / image.width
    return java.awt.image.BufferedImage(width, height, java.awt.image.BufferedImage.TYPE_INT_RGB).also {
        it.createGraphics().apply {
            setRenderingHint(java.awt.RenderingHints.KEY_INTERPOLATION, java.awt.RenderingHints.VALUE_INTERPOLATION_BILINEAR)
            drawImage(image, 0, 0, width, height, null)
            dispose()
        }
    }
}

/** A QR code of [text] on a white page, 480 px square. */
fun qr(text: String): java.awt.image.BufferedImage {
    val matrix = com.google.zxing.qrcode.QRCodeWriter().encode(text, com.google.zxing.BarcodeFormat.QR_CODE, 480, 480)
    return java.awt.image.BufferedImage(480, 480, java.awt.image.BufferedImage.TYPE_INT_RGB).also {
        for (y in 0 until 480) for (x in 0 until 480) it.setRGB(x, y, if (matrix[x, y]) 0 else 0xFFFFFF)
    }
}

fun main() {
    val folder = Files.createTempDirectory("gridsync-demo").toFile()
    val center = Center(folder, System.getenv("GRIDSYNC_CENTER_BIN"))
    val options = CenterOptions(caCertificate = null, allowInsecureLoopback = true)
    val checks = Checks()
    try {
        val store = GridStore.open(File(folder, "demo.db").path, key())
        store.enrol(center.url, center.admin("enrol-code", "--worker", "w-kt"), "demo", options)
        val repo = GridRepository(store, MICRO)
        lateinit var householdId: String
        lateinit var personId: String

        checks.check("a household is saved and listed") {
            val saved = repo.saveHousehold(Household(
                areaCode = MICRO, householdNo = "00301009", householdType = HouseholdType.FAMILY,
                address = "石桥头3号", gps = null, residenceMatches = true, housing = Housing.RENTED,
                tags = listOf("出租屋"), phone = null, notes = ""))
            householdId = (saved as SaveResult.Saved).id
            require(repo.households().items.map { it.id } == listOf(householdId))
        }
        checks.check("the form fills gender and birth date from the ID number") {
            val form = PersonForm(name = "王芳").withIdNumber(idNumber("44010619900307002"))
            require(form.birthDate == "1990-03-07" && form.gender == Gender.FEMALE) { form.toString() }
        }
        checks.check("an ID number error lands on its field") {
            val form = PersonForm(name = "王芳", householdId = householdId, relationship = "02")
                .withIdNumber("440106199003070021")
            val result = repo.createPerson(form)
            require(result is SaveResult.Invalid && result.fieldErrors.keys == setOf("id_number")) { result.toString() }
            require(result.fieldErrors.getValue("id_number").startsWith("证件号码：")) { result.toString() }
        }
        checks.check("a member is saved, shown with the household, found by initials") {
            val form = PersonForm(name = "王芳", householdId = householdId, relationship = "02")
                .withIdNumber(idNumber("44010619900307002"))
            personId = (repo.createPerson(form) as SaveResult.Saved).id
            require(repo.household(householdId).members.map { it.id } == listOf(personId))
            require(repo.search("wf").map { it.id } == listOf(personId))
            val again = repo.createPerson(form)
            require(again == SaveResult.Duplicate(personId)) { again.toString() }
        }
        checks.check("editing the phone on the form keeps what the form does not show, and a colleague's edit") {
            // Fields the demo's form does not show, set from elsewhere (another screen).
            val full = repo.personForEdit(personId)
            store.editPerson(personId, full.readAt, listOf(
                PersonField.Occupation("教师"), PersonField.CurrentAddress("石桥头3号"),
                PersonField.FocusGroups(listOf(FocusGroup("留守妇女", "w-kt", "2024-05-01", null)))))
            val opened = repo.personForEdit(personId)
            // A colleague's edit lands while the form is open.
            store.editPerson(personId, opened.readAt, listOf(PersonField.Notes("腿脚不便")))
            val form = PersonForm.from(opened.person).copy(phone = "13800138000")
            require(form.changesFrom(opened.person) == listOf(PersonField.Phone("13800138000")))
            require(repo.editPerson(personId, opened, form) == SaveResult.Saved(personId))
            val after = repo.personForEdit(personId).person
            require(after.phone == "13800138000" && after.occupation == "教师" && after.currentAddress == "石桥头3号") {
                after.toString()
            }
            require(after.focusGroups.map { it.group } == listOf("留守妇女") && after.notes == "腿脚不便") { after.toString() }
            require(store.conflicts(personId).isEmpty())
        }
        checks.check("a record's history says who changed what, newest first, in China time") {
            val opened = repo.householdForEdit(householdId)
            repo.editHousehold(householdId, opened, listOf(HouseholdField.Address("石桥头5号"), HouseholdField.Tags(listOf("出租屋", "独居老人"))))
            val rows = repo.history(householdId)
            require(rows.map { it.what } == listOf("修改了地址、标签", "登记")) { rows.toString() }
            require(rows.all { it.worker == "w-kt" && Regex("""^20\d\d-\d\d-\d\d \d\d:\d\d$""").matches(it.time) }) { rows.toString() }
        }
        checks.check("a refused change reads as its reason in Chinese, in China time") {
            val refused = QuarantinedChange(recordId = householdId, hash = "00", code = "illegal_step",
                reason = "step accept is not legal after status completed", reasonZh = "事件当前的状态下不能办理这一步", at = 0L)
            require(RecordHistory.refused(listOf(refused)) == listOf(RefusedRow(householdId, "1970-01-01 08:00", "事件当前的状态下不能办理这一步")))
            require(repo.refusedChanges().isEmpty()) { "nothing was refused yet" }
        }
        checks.check("a visit is logged with its finding") {
            repo.logVisit(householdId, "w-kt", "入户走访", "屋顶漏水", System.currentTimeMillis())
            require(repo.household(householdId).visits.single().findings == 1u)
        }
        checks.check("an incident offers only the steps its status and the worker's role allow") {
            val reported = repo.reportIncident(Incident(
                areaCode = MICRO, serviceNo = "", title = "路灯损坏", categories = listOf("公共设施"),
                location = null, gps = null, occurredAt = System.currentTimeMillis(), peopleCount = 0u,
                involvedPersons = emptyList(), involvedHouseholds = listOf(householdId), major = false,
                timeline = emptyList(), notes = ""))
            val id = (reported as SaveResult.Saved).id
            val number = store.getIncident(id).serviceNo
            require(Regex("""^SJ20\d{6}-[0-9A-F]{8}$""").matches(number)) { "the store numbers it: $number" }
            val view = repo.incident(id)
            require(view.state.status == IncidentStatus.REPORTED && Step.RESOLVE_ON_SITE in view.nextSteps)
            require(Step.ACCEPT !in view.nextSteps) { "受理 is the center's step" }
            require(repo.takeStep(id, Step.ACCEPT, "") == StepResult.NotAllowed("“受理”不由网格员办理"))
            require(repo.takeStep(id, Step.RESOLVE_ON_SITE, "") == StepResult.Done)
            require(repo.takeStep(id, Step.RESOLVE_ON_SITE, "") is StepResult.NotAllowed)
        }
        checks.check("the sync controller reports progress and the result") {
            val states = mutableListOf<SyncUiState>()
            val controller = SyncController(SyncCoordinator(store) { options }, { it.run() }) { states.add(it) }
            controller.start()
            val last = states.last()
            require(!last.running && last.error == null && (last.lastReport?.pushed ?: 0uL) >= 5uL) { last.toString() }
            require(states.first().running)
            require(repo.syncStatus().pendingChanges == 0uL)
            val lastSync = SyncLine.lastSync(repo.syncStatus().lastSuccess)
            require(Regex("""^上次同步 20\d\d-\d\d-\d\d \d\d:\d\d$""").matches(lastSync)) { lastSync }
            require(SyncLine.lastSync(null) == "尚未同步")
        }
        checks.check("the sync line tells records and photos apart, in photos rather than blobs") {
            val none = PendingPhotos(photos = 0uL, blobs = 0uL, bytes = 0uL)
            fun running(phase: Phase, done: ULong, total: ULong?, photoDone: ULong = 0uL, photoTotal: ULong = 0uL) =
                SyncUiState(running = true, progress = Progress(phase = phase, itemsDone = done, itemsTotal = total,
                    bytesDone = 0uL, photoBytesDone = photoDone, photoBytesTotal = photoTotal))
            val lines = listOf(
                SyncLine.of(SyncUiState(), 0uL, none),
                SyncLine.of(SyncUiState(), 3uL, PendingPhotos(photos = 2uL, blobs = 4uL, bytes = 1_468_006uL)),
                SyncLine.of(SyncUiState(), 0uL, PendingPhotos(photos = 1uL, blobs = 1uL, bytes = 20_000uL)),
                SyncLine.of(SyncUiState(running = true), 3uL, none),
                SyncLine.of(running(Phase.PUSH, 12uL, 40uL), 40uL, PendingPhotos(photos = 1uL, blobs = 2uL, bytes = 300_000uL)),
                SyncLine.of(running(Phase.PULL, 5uL, null), 0uL, none),
                SyncLine.of(running(Phase.PHOTOS, 1uL, 3uL, 700_000uL, 2_000_000uL), 0uL, none),
                SyncLine.of(running(Phase.PHOTOS, 3uL, 3uL, 2_000_000uL, 2_000_000uL), 0uL, none),
            )
            require(lines == listOf(
                "已全部同步",
                "3 条修改待同步，照片 2 张待上传（1.4 MB）",
                "记录已同步，照片 1 张待上传（20 KB）",
                "正在同步…",
                "正在上传记录 12/40，照片 1 张待上传（293 KB）",
                "正在接收记录…",
                "记录已同步，照片 1/3（0.7/1.9 MB）",
                "记录已同步，照片 3/3（1.9/1.9 MB）",
            )) { lines.joinToString("\n") }
            val photos = running(Phase.PHOTOS, 1uL, 2uL, 500_000uL, 1_000_000uL).progress!!
            require(SyncLine.photoFraction(photos) == 0.5f && SyncLine.recordFraction(photos) == 1f)
            require(PhotoFormat.isJpegOrPng(jpeg(8, 8)) && !PhotoFormat.isJpegOrPng("GIF89a".toByteArray()))
            require(PhotoFormat.isJpegOrPng(byteArrayOf(0x89.toByte(), 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)))
            require(!PhotoFormat.isJpegOrPng(ByteArray(0)))
            require(listOf(1200, 3200, 4032, 8000).map { PhotoFormat.sampleSize(it) } == listOf(1, 2, 2, 4))
        }
        checks.check("photos taken when reporting are attached, and travel after the records") {
            val reported = runBlocking {
                repo.reportIncident(Incident(
                    areaCode = MICRO, serviceNo = "SJ0010", title = "井盖缺失", categories = listOf("公共设施"),
                    location = null, gps = null, occurredAt = System.currentTimeMillis(), peopleCount = 0u,
                    involvedPersons = emptyList(), involvedHouseholds = listOf(householdId), major = false,
                    timeline = emptyList(), notes = ""),
                    listOf(DraftPhoto(jpeg(1200, 900), " 路口东侧 ", System.currentTimeMillis()),
                        DraftPhoto("不是照片".toByteArray(), "", null)))
            }
            val id = (reported.result as SaveResult.Saved).id
            require(reported.photos.first() is PhotoResult.Attached) { reported.toString() }
            require(reported.refused.single().contains("JPEG")) { reported.toString() } // 照片：须为JPEG或PNG格式的照片
            val photo = repo.incident(id).photos.single()
            require(photo.caption == "路口东侧" && photo.width == 1200u && !photo.uploaded && photo.thumbnailHere) { photo.toString() }
            val before = SyncLine.of(SyncUiState(), repo.syncStatus().pendingChanges, repo.pendingPhotos())
            require(Regex("""\d+ 条修改待同步，照片 1 张待上传（[\d.]+ [KM]B）""").matches(before)) { before }

            val states = mutableListOf<SyncUiState>()
            val controller = SyncController(SyncCoordinator(store) { options }, { it.run() }) { states.add(it) }
            controller.start()
            val last = controller.state
            require(last.error == null && last.lastReport?.photosSent == 2uL) { last.toString() }
            val uploading = states.filter { it.progress?.phase == Phase.PHOTOS }
            val lines = uploading.map { SyncLine.of(it, 0uL, PendingPhotos(0uL, 0uL, 0uL)) }
            require(lines.first().startsWith("记录已同步，照片 0/1（") && lines.last().startsWith("记录已同步，照片 1/1（")) {
                lines.toString()
            }
            require(uploading.last().photoFraction == 1f && uploading.all { it.fraction == 1f })
            val after = SyncLine.of(last, repo.syncStatus().pendingChanges, repo.pendingPhotos())
            require(after == "已全部同步") { after }

            val uploaded = repo.photos(id).single()
            require(uploaded.uploaded)
            val thumbnail = runBlocking { repo.photoBytes(id, uploaded.thumbnailHash, options) }
            require(thumbnail is PhotoLoad.Loaded && PhotoFormat.isJpegOrPng(thumbnail.bytes) &&
                thumbnail.bytes.size.toULong() == uploaded.thumbnailSize)
        }
        val household = { no: String -> Household(
            areaCode = MICRO, householdNo = no, householdType = HouseholdType.FAMILY, address = "龙潭村$no",
            gps = null, residenceMatches = true, housing = Housing.OWNED, tags = emptyList(), phone = null, notes = "") }
        val phoneAt = { name: String, url: String ->
            GridStore.open(File(folder, "$name.db").path, key()).also {
                it.enrol(url, center.admin("enrol-code", "--worker", "w-kt"), name, options)
            }
        }
        checks.check("the UI and the background job never sync at once, and either stops the sync") {
            val proxy = StallingProxy(center.port)
            try {
                val phone = phoneAt("coordinated", proxy.url)
                val coordinator = SyncCoordinator(phone) { options }
                phone.createHousehold(household("00309001"))
                proxy.stall = true
                val outcomes = java.util.concurrent.ConcurrentLinkedQueue<SyncOutcome>()
                val background = Thread { outcomes.add(coordinator.sync(SyncOrigin.BACKGROUND)) }.apply { start() }
                while (!coordinator.isRunning) Thread.sleep(5)
                val user = Thread { outcomes.add(coordinator.sync(SyncOrigin.USER)) }.apply { start() }
                Thread.sleep(300)
                coordinator.cancel() // the worker's tap stops the job's sync
                background.join(5_000)
                user.join(5_000)
                require(!background.isAlive && !user.isAlive) { "a cancel did not land" }
                val (first, second) = outcomes.toList()
                require(first is SyncOutcome.Cancelled && first === second) { "two syncs, or not cancelled: $outcomes" }
                proxy.stall = false
                val after = coordinator.sync(SyncOrigin.USER)
                require(after is SyncOutcome.Synced && after.report.pushed == 1uL) { after.toString() }
            } finally {
                proxy.stop()
            }
        }
        checks.check("a background sync makes no retries of its own: WorkManager's backoff is the one retry") {
            val proxy = StallingProxy(center.port)
            val phone = phoneAt("offline", proxy.url)
            val coordinator = SyncCoordinator(phone) { options }
            phone.createHousehold(household("00309002"))
            proxy.stop() // the link is gone
            val timed = { origin: SyncOrigin ->
                val started = System.nanoTime()
                coordinator.sync(origin) to (System.nanoTime() - started) / 1_000_000
            }
            val (background, backgroundMs) = timed(SyncOrigin.BACKGROUND)
            require(background is SyncOutcome.RetryLater && backgroundMs < 1_000) { "$background after $backgroundMs ms" }
            val (tapped, tappedMs) = timed(SyncOrigin.USER)
            require(tapped is SyncOutcome.RetryLater && tappedMs >= 500) { "$tapped after $tappedMs ms: no quick retry" }
        }
        checks.check("the console's enrolment QR code reads from a photo of its page, and the link enrols a phone") {
            // The 设备 page as Chromium showed it (tests/scenarios/browser.rs takes it).
            val page = javax.imageio.ImageIO.read(File("docs/console/devices-enrol.png"))
            val scanned = EnrolmentScan.interpret(scan(page))
            require(scanned is EnrolmentScan.Scanned.Link) { scanned.toString() }
            require(Regex("""^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$""").matches(scanned.info.code)) { scanned.toString() }
            require(scan(resized(page, page.width / 2)) == scanned.text) { "taken from twice as far" }
            require(EnrolmentScan.interpret(scan(resized(page, 200))) == EnrolmentScan.Scanned.NoCode)
            val other = EnrolmentScan.interpret(scan(qr("https://example.com/enrol?code=1")))
            require(other is EnrolmentScan.Scanned.NotALink && other.messageZh.startsWith("注册二维码：")) { other.toString() }

            val link = "gridsync-enrol:v1?center=${center.url}&code=${center.admin("enrol-code", "--worker", "w-kt")}"
            val read = EnrolmentScan.interpret(scan(qr(link)))
            require(read is EnrolmentScan.Scanned.Link && read.text == link) { read.toString() }
            val phone = GridStore.open(File(folder, "scanned.db").path, key())
            val enrolment = runBlocking { phone.enrolFromLinkAsync(read.text, "scanned", options) }
            require(enrolment.workerId == "w-kt")
        }
        checks.check("a revoked device's sync says so, and a wipe is told apart") {
            val kept = phoneAt("revoked", center.url)
            val wiped = phoneAt("stolen", center.url)
            center.admin("revoke", "--device", kept.enrolment()!!.deviceId)
            center.admin("revoke", "--device", wiped.enrolment()!!.deviceId, "--wipe")
            val keptOutcome = SyncCoordinator(kept) { options }.sync(SyncOrigin.BACKGROUND)
            require(keptOutcome is SyncOutcome.Revoked && !keptOutcome.wiped) { keptOutcome.toString() }
            val wipedOutcome = SyncCoordinator(wiped) { options }.sync(SyncOrigin.USER)
            require(wipedOutcome is SyncOutcome.Revoked && wipedOutcome.wiped) { wipedOutcome.toString() }
            require(wiped.enrolment() == null) { "the wiped store still holds its enrolment" }
        }
    } finally {
        center.stop()
        folder.deleteRecursively()
    }
    checks.finish("demo")
}
