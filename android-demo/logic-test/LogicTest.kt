// The demo app's plain-Kotlin layer (repository, forms, sync controller) on the JVM,
// against a real gridsync-center on loopback. Run by bindings/scripts/test-kotlin.sh.
package cn.gridsync.demo.test

import cn.gridsync.demo.logic.*
import gridsync.testing.*
import java.io.File
import java.nio.file.Files
import uniffi.gridsync_ffi.*

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
        checks.check("a visit is logged with its finding") {
            repo.logVisit(householdId, "w-kt", "入户走访", "屋顶漏水", System.currentTimeMillis())
            require(repo.household(householdId).visits.single().findings == 1u)
        }
        checks.check("an incident offers only the steps its status and the worker's role allow") {
            val reported = repo.reportIncident(Incident(
                areaCode = MICRO, serviceNo = "SJ0009", title = "路灯损坏", categories = listOf("公共设施"),
                location = null, gps = null, occurredAt = System.currentTimeMillis(), peopleCount = 0u,
                involvedPersons = emptyList(), involvedHouseholds = listOf(householdId), major = false,
                timeline = emptyList(), notes = ""))
            val id = (reported as SaveResult.Saved).id
            val view = repo.incident(id)
            require(view.state.status == IncidentStatus.REPORTED && Step.RESOLVE_ON_SITE in view.nextSteps)
            require(Step.ACCEPT !in view.nextSteps) { "受理 is the center's step" }
            require(repo.takeStep(id, Step.ACCEPT, "") == StepResult.NotAllowed("“受理”不由网格员办理"))
            require(repo.takeStep(id, Step.RESOLVE_ON_SITE, "") == StepResult.Done)
            require(repo.takeStep(id, Step.RESOLVE_ON_SITE, "") is StepResult.NotAllowed)
        }
        checks.check("the sync controller reports progress and the result") {
            val states = mutableListOf<SyncUiState>()
            val controller = SyncController(store, options, { it.run() }) { states.add(it) }
            controller.start()
            val last = states.last()
            require(!last.running && last.error == null && (last.lastReport?.pushed ?: 0uL) >= 5uL) { last.toString() }
            require(states.first().running)
            require(repo.syncStatus().pendingChanges == 0uL)
        }
    } finally {
        center.stop()
        folder.deleteRecursively()
    }
    checks.finish("demo")
}
