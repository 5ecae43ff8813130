package cn.gridsync.demo.ui

import android.app.Application
import android.os.Build
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import cn.gridsync.demo.GridsyncApp
import cn.gridsync.demo.logic.*
import java.util.concurrent.Executors
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import uniffi.gridsync_ffi.*

/**
 * Screen state over the tested logic layer. Every store call runs on Dispatchers.IO;
 * a store subscription refreshes the lists after local edits and syncs.
 */
class MainViewModel(application: Application) : AndroidViewModel(application) {
    private val app = application as GridsyncApp
    private var repository: GridRepository? = app.area?.let { GridRepository(app.store, it) }

    private val _enrolled = MutableStateFlow(repository != null)
    val enrolled: StateFlow<Boolean> = _enrolled
    private val _households = MutableStateFlow<List<HouseholdRow>>(emptyList())
    val households: StateFlow<List<HouseholdRow>> = _households
    private val _incidents = MutableStateFlow<List<IncidentRow>>(emptyList())
    val incidents: StateFlow<List<IncidentRow>> = _incidents
    private val _conflicts = MutableStateFlow<List<ConflictItem>>(emptyList())
    val conflicts: StateFlow<List<ConflictItem>> = _conflicts
    private val _pending = MutableStateFlow(0uL)
    val pending: StateFlow<ULong> = _pending
    private val _sync = MutableStateFlow(SyncUiState())
    val sync: StateFlow<SyncUiState> = _sync
    private val _message = MutableStateFlow<String?>(null)
    val message: StateFlow<String?> = _message

    // Built on first use, after enrolment has stored the center's CA.
    private val syncController by lazy {
        SyncController(app.store, app.centerOptions, Executors.newSingleThreadExecutor()) { _sync.value = it }
    }
    private val subscription = app.store.subscribe(object : ChangeListener {
        override fun onChange(event: ChangeEvent) {
            if (event is ChangeEvent.SyncFailed) _message.value = event.messageZh
            refresh()
        }
    })

    init {
        refresh()
    }

    override fun onCleared() {
        subscription.close()
    }

    private fun <T> io(block: suspend (GridRepository) -> T, done: (T) -> Unit = {}) {
        val repo = repository ?: return
        viewModelScope.launch {
            try {
                done(withContext(Dispatchers.IO) { block(repo) })
            } catch (e: GridsyncException) {
                _message.value = e.message
            }
        }
    }

    fun refresh() = io({ repo ->
        _households.value = repo.households().items
        _incidents.value = repo.incidents()
        _conflicts.value = repo.conflicts()
        _pending.value = repo.syncStatus().pendingChanges
    })

    fun enrol(centerUrl: String, code: String, caCertificate: String?) {
        viewModelScope.launch {
            try {
                app.caCertificate = caCertificate?.ifBlank { null }
                val enrolment = withContext(Dispatchers.IO) {
                    app.store.enrol(centerUrl.trim(), code.trim(), Build.MODEL, app.centerOptions)
                }
                app.area = enrolment.scope.first()
                repository = GridRepository(app.store, enrolment.scope.first())
                _enrolled.value = true
                app.scheduleSync()
                refresh()
            } catch (e: GridsyncException) {
                _message.value = e.message
            }
        }
    }

    fun household(id: String, show: (HouseholdDetail) -> Unit) = io({ it.household(id) }, show)

    fun saveHousehold(address: String, number: String, done: (SaveResult) -> Unit) {
        val area = app.area ?: return
        io({
            it.saveHousehold(Household(
                areaCode = area, householdNo = number, householdType = HouseholdType.FAMILY, address = address,
                gps = null, residenceMatches = true, housing = Housing.OWNED, tags = emptyList(), phone = null,
                notes = ""))
        }, done)
    }

    /** The person as read (kept by the screen: the edit is measured against it) and its form. */
    fun person(id: String, show: (PersonForEdit, PersonForm) -> Unit) =
        io({ it.personForEdit(id).let { opened -> opened to PersonForm.from(opened.person) } }) { (opened, form) ->
            show(opened, form)
        }

    /** Registers a new person, or writes only what the worker changed on a form opened from [opened]. */
    fun savePerson(id: String?, opened: PersonForEdit?, form: PersonForm, done: (SaveResult) -> Unit) = io({
        if (id != null && opened != null) it.editPerson(id, opened, form) else it.createPerson(form)
    }, done)

    fun search(query: String, show: (List<PersonRow>) -> Unit) = io({ it.search(query) }, show)

    fun logVisit(householdId: String, purpose: String, finding: String) =
        io({ it.logVisit(householdId, app.store.deviceActor(), purpose, finding, System.currentTimeMillis()) })

    fun reportIncident(title: String, category: String, done: (SaveResult) -> Unit) {
        val area = app.area ?: return
        io({
            it.reportIncident(Incident(
                areaCode = area, serviceNo = "SJ" + System.currentTimeMillis(), title = title,
                categories = listOf(category), location = null, gps = null, occurredAt = System.currentTimeMillis(),
                peopleCount = 1u, involvedPersons = emptyList(), involvedHouseholds = emptyList(), major = false,
                timeline = emptyList(), notes = ""))
        }, done)
    }

    fun incident(id: String, show: (IncidentView) -> Unit) = io({ it.incident(id) }, show)

    fun takeStep(id: String, step: Step, note: String, done: (StepResult) -> Unit) =
        io({ it.takeStep(id, step, note) }, done)

    fun resolve(id: String, field: String, valueJson: String) = io({ it.resolve(id, field, valueJson) })

    fun syncNow() = syncController.start()

    fun cancelSync() = syncController.cancel()

    fun messageShown() {
        _message.value = null
    }
}
