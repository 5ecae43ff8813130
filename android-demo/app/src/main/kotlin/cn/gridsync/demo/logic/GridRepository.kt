package cn.gridsync.demo.logic

import uniffi.gridsync_ffi.*

/** A household with its members and visits, for the detail screen. */
data class HouseholdDetail(val id: String, val household: Household, val members: List<PersonRow>, val visits: List<VisitRow>)

/** An incident with its derived state, the steps the worker may take now, and its photos. */
data class IncidentView(
    val id: String,
    val incident: Incident,
    val state: IncidentState,
    val nextSteps: List<Step>,
    val photos: List<Photo> = emptyList(),
)

/** A record with conflicting values and what conflicts, for the review screen. */
data class ConflictItem(val row: ConflictedRow, val conflicts: List<Conflict>)

/** What saving a form gave: the id, the errors to show on fields, or an existing record. */
sealed interface SaveResult {
    data class Saved(val id: String) : SaveResult
    data class Invalid(val fieldErrors: Map<String, String>) : SaveResult
    data class Duplicate(val existingId: String) : SaveResult
}

/** What taking an incident step gave. */
sealed interface StepResult {
    data object Done : StepResult
    data class NotAllowed(val reason: String) : StepResult
}

/**
 * The app's access to gridsync: plain Kotlin over the bindings, with no Android API, so
 * it compiles and is tested on the JVM. View-models call it off the main thread.
 */
class GridRepository(private val store: GridStore, private val area: String) {

    fun households(after: String? = null, limit: UInt = 50u): HouseholdPage =
        store.listHouseholds(area, after, limit)

    fun household(id: String): HouseholdDetail =
        HouseholdDetail(id, store.getHousehold(id), store.householdMembers(id), store.visitsOf(id))

    fun saveHousehold(household: Household): SaveResult = save { store.createHousehold(household) }

    /** Who changed record [id] and what, newest first. */
    fun history(id: String): List<HistoryRow> = RecordHistory.rows(store.history(id))

    /** This phone's changes the center refused, with the reason in Chinese. */
    fun refusedChanges(): List<RefusedRow> = RecordHistory.refused(store.quarantined())

    /** The household for an edit screen; hand it back to [editHousehold] with the changes. */
    fun householdForEdit(id: String): HouseholdForEdit = store.getHouseholdForEdit(id)

    /** Writes only the fields the worker changed since [opened] was read. */
    fun editHousehold(id: String, opened: HouseholdForEdit, changes: List<HouseholdField>): SaveResult =
        save { id.also { store.editHousehold(it, opened.readAt, changes) } }

    /** The person for an edit screen, with the heads the edit is measured against. */
    fun personForEdit(id: String): PersonForEdit = store.getPersonForEdit(id)

    /** Registers a person from the form; an invalid ID number comes back as an error on that field. */
    fun createPerson(form: PersonForm): SaveResult = save { store.createPerson(form.toPerson(area)) }

    /**
     * Saves the form opened from [opened]: only the fields the worker changed are written,
     * so what the form does not show, and what a colleague changed meanwhile, is kept.
     */
    fun editPerson(id: String, opened: PersonForEdit, form: PersonForm): SaveResult =
        save { id.also { store.editPerson(it, opened.readAt, form.changesFrom(opened.person)) } }

    /** 汉字, pinyin, initials (wf → 王芳) or the tail of an ID or phone number. */
    fun search(query: String): List<PersonRow> =
        if (query.isBlank()) emptyList() else store.searchPersons(query.trim(), area.take(12), 50u)

    fun logVisit(householdId: String, visitor: String, purpose: String, finding: String?, at: Long): String {
        val visit = Visit(
            areaCode = store.getHousehold(householdId).areaCode, targetKind = Kind.HOUSEHOLD, targetId = householdId,
            visitedAt = at, visitor = visitor, gps = null, purpose = purpose, nextDue = null,
            findings = emptyList(), notes = "",
        )
        val id = store.createVisit(visit)
        if (!finding.isNullOrBlank()) store.appendFinding(id, finding)
        return id
    }

    fun reportIncident(incident: Incident): SaveResult = save {
        store.createIncident(incident).also { store.appendFollowUp(it, Step.REPORT, "", null, null) }
    }

    fun incidents(filter: IncidentFilter = IncidentFilter.All): List<IncidentRow> =
        store.listIncidents(area.take(12), filter, null, 100u).items

    /**
     * Reports an incident, then attaches the photos taken for it on the form (off the
     * caller's thread, each re-encoded by the store). A photo refused (待上传照片已满, not a
     * JPEG/PNG) does not undo the report: its reason comes back to show.
     */
    suspend fun reportIncident(incident: Incident, photos: List<DraftPhoto>): IncidentReported {
        val result = reportIncident(incident)
        if (result !is SaveResult.Saved) return IncidentReported(result, emptyList())
        return IncidentReported(result, photos.map { attachPhoto(result.id, it) })
    }

    fun incident(id: String): IncidentView {
        val incident = store.getIncident(id)
        return IncidentView(id, incident, store.incidentState(id), store.nextSteps(id), store.photos(id))
    }

    /** The photos of an incident or visit, with what of them is on this phone. */
    fun photos(recordId: String): List<Photo> = store.photos(recordId)

    /**
     * Attaches a photo to incident or visit [recordId] with `attachPhotoAsync` (re-encoding
     * takes a few hundred milliseconds: never on the main thread). It travels with the
     * next sync, after the records.
     */
    suspend fun attachPhoto(recordId: String, photo: DraftPhoto): PhotoResult = try {
        PhotoResult.Attached(store.attachPhotoAsync(recordId, photo.bytes, photo.caption.trim(), photo.takenAt))
    } catch (e: GridsyncException) {
        PhotoResult.Refused(SyncController.describe(e)) // PhotoQuotaFull: 待上传的照片已达…MB上限…
    }

    /**
     * Photo or thumbnail [hash] of [recordId]: from this phone, or downloaded from the
     * center (a colleague's photo; kept in the photo cache after). Offline, the reason.
     * Pass `photo.thumbnailHash` for a list, `photo.hash` when the photo is opened.
     */
    suspend fun photoBytes(recordId: String, hash: String, options: CenterOptions): PhotoLoad = try {
        PhotoLoad.Loaded(store.photoBytes(hash) ?: store.fetchPhotoAsync(recordId, hash, options))
    } catch (e: GridsyncException) {
        PhotoLoad.Unavailable(SyncController.describe(e))
    }

    /** Photos waiting for upload (each photo and its thumbnail are two blobs). */
    fun pendingPhotos(): PendingPhotos = store.pendingPhotos()

    fun takeStep(id: String, step: Step, note: String, deadline: Long? = null, supervision: Supervision? = null): StepResult =
        try {
            store.appendFollowUp(id, step, note, deadline, supervision)
            StepResult.Done
        } catch (e: GridsyncException.IllegalStep) {
            StepResult.NotAllowed(e.messageZh)
        } catch (e: GridsyncException.StepNotYours) {
            StepResult.NotAllowed(e.messageZh) // the center's step (受理, 交办, 结案…), or a 网格长's
        }

    fun conflicts(): List<ConflictItem> =
        store.listConflicted(area.take(12), null, 100u).items.map { ConflictItem(it, store.conflicts(it.id)) }

    /** Keeps one of a conflict's values (as listed, JSON) over all the others. */
    fun resolve(id: String, field: String, valueJson: String) = store.resolve(id, field, valueJson)

    fun syncStatus(): SyncStatus = store.syncStatus()

    private fun save(block: () -> String): SaveResult = try {
        SaveResult.Saved(block())
    } catch (e: GridsyncException.InvalidInput) {
        SaveResult.Invalid(mapOf(e.field to e.messageZh))
    } catch (e: GridsyncException.AlreadyExists) {
        SaveResult.Duplicate(e.id)
    }
}
