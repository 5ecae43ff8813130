package cn.gridsync.demo.ui

import android.app.Application
import android.net.ConnectivityManager
import android.net.Network
import android.net.NetworkCapabilities
import android.net.Uri
import android.os.Build
import androidx.compose.ui.graphics.ImageBitmap
import androidx.core.content.FileProvider
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import cn.gridsync.demo.GridsyncApp
import cn.gridsync.demo.R
import cn.gridsync.demo.logic.*
import java.io.File
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
    private val _householdsNext = MutableStateFlow<String?>(null)
    /** The cursor of the households after those shown; null at the end of the list. */
    val householdsNext: StateFlow<String?> = _householdsNext
    private val _pending = MutableStateFlow(0uL)
    val pending: StateFlow<ULong> = _pending
    private val _lastSync = MutableStateFlow("")
    /** 上次同步 and when, in China time, or 尚未同步. */
    val lastSync: StateFlow<String> = _lastSync
    private val _pendingPhotos = MutableStateFlow(PendingPhotos(photos = 0uL, blobs = 0uL, bytes = 0uL))
    /** Photos waiting for upload, for the sync bar's line ([SyncLine]). */
    val pendingPhotos: StateFlow<PendingPhotos> = _pendingPhotos
    private val _sync = MutableStateFlow(SyncUiState())
    val sync: StateFlow<SyncUiState> = _sync
    private val _message = MutableStateFlow<String?>(null)
    val message: StateFlow<String?> = _message
    private val _online = MutableStateFlow(true)
    /** Whether the phone has a network that reaches the internet (the offline banner). */
    val online: StateFlow<Boolean> = _online
    private val connectivity = application.getSystemService(ConnectivityManager::class.java)
    private val networkWatch = object : ConnectivityManager.NetworkCallback() {
        override fun onCapabilitiesChanged(network: Network, capabilities: NetworkCapabilities) {
            _online.value = capabilities.hasCapability(NetworkCapabilities.NET_CAPABILITY_VALIDATED)
        }

        override fun onLost(network: Network) {
            _online.value = false
        }
    }
    private val _wiped = MutableStateFlow(false)
    /** The center revoked this device and its data is erased: the screen says so, then the app restarts to enrolment. */
    val wiped: StateFlow<Boolean> = _wiped

    // Built on first use, after enrolment has stored the center's CA.
    private val syncController by lazy {
        SyncController(app.syncCoordinator, Executors.newSingleThreadExecutor()) { _sync.value = it }
    }
    private val subscription = app.store.subscribe(object : ChangeListener {
        override fun onChange(event: ChangeEvent) {
            when (event) {
                is ChangeEvent.SyncFailed -> _message.value = event.messageZh
                // Revoked with a wipe: the data is gone as ordered; key and file go too,
                // and the worker enrols again.
                is ChangeEvent.Wiped -> {
                    app.resetAfterWipe()
                    repository = null
                    _enrolled.value = false
                    _wiped.value = true
                    return
                }
                else -> {}
            }
            refresh()
        }
    })

    init {
        _online.value = connectivity.activeNetwork?.let(connectivity::getNetworkCapabilities)
            ?.hasCapability(NetworkCapabilities.NET_CAPABILITY_VALIDATED) == true
        connectivity.registerDefaultNetworkCallback(networkWatch)
        refresh()
    }

    override fun onCleared() {
        connectivity.unregisterNetworkCallback(networkWatch)
        subscription.close()
    }

    private fun <T> io(block: suspend (GridRepository) -> T, done: (T) -> Unit = {}) {
        val repo = repository ?: return
        viewModelScope.launch {
            try {
                done(withContext(Dispatchers.IO) { block(repo) })
            } catch (e: GridsyncException) {
                _message.value = SyncController.describe(e)
            }
        }
    }

    /** Reads the lists again, as many households as are shown (at least a page). */
    fun refresh() = io({ repo ->
        val shown = repo.households(limit = maxOf(HOUSEHOLD_PAGE, _households.value.size.toUInt()))
        _households.value = shown.items
        _householdsNext.value = shown.next
        _incidents.value = repo.incidents()
        _conflicts.value = repo.conflicts()
        val status = repo.syncStatus()
        _pending.value = status.pendingChanges
        _lastSync.value = SyncLine.lastSync(status.lastSuccess)
        _pendingPhotos.value = repo.pendingPhotos()
    })

    /** The next page of households, after those shown. */
    fun moreHouseholds() {
        val after = _householdsNext.value ?: return
        io({ it.households(after, HOUSEHOLD_PAGE) }) { page ->
            _households.value = _households.value + page.items
            _householdsNext.value = page.next
        }
    }

    private val _scanned = MutableStateFlow<EnrolmentScan.Scanned?>(null)
    /** What the last scan of the console's enrolment QR code (or a pasted link) came to. */
    val scanned: StateFlow<EnrolmentScan.Scanned?> = _scanned

    /** Reads the enrolment QR code in the photo at [uri] (taken by the camera app), then deletes the photo. */
    fun scanEnrolment(uri: Uri) {
        viewModelScope.launch {
            _scanned.value = withContext(Dispatchers.IO) {
                try {
                    val bytes = app.contentResolver.openInputStream(uri)?.use { it.readBytes() }
                    val pixels = bytes?.let { PhotoCodec.pixels(it, EnrolmentScan.SCAN_SIDE) }
                    EnrolmentScan.interpret(pixels?.let { (argb, width, height) -> EnrolmentScan.read(argb, width, height) })
                } catch (e: Exception) {
                    EnrolmentScan.Scanned.NoCode
                } catch (e: OutOfMemoryError) {
                    EnrolmentScan.Scanned.NoCode
                } finally {
                    runCatching { app.contentResolver.delete(uri, null, null) }
                }
            }
        }
    }

    /** A link pasted instead of scanned (an emulator, a camera that will not focus). */
    fun readEnrolmentLink(text: String) {
        _scanned.value = EnrolmentScan.interpret(text)
    }

    /** Enrols with a scanned link: the center's CA is fetched and checked against the link's hash. */
    fun enrolFromLink(link: String) = enrolWith { options ->
        app.store.enrolFromLinkAsync(link, Build.MODEL, options.copy(caCertificate = null))
    }

    /** Enrols with a typed address and code, and the CA's PEM when the center has TLS. */
    fun enrol(centerUrl: String, code: String, caCertificate: String?) = enrolWith { options ->
        app.caCertificate = caCertificate?.ifBlank { null }
        app.store.enrolAsync(centerUrl.trim(), code.trim(), Build.MODEL, options.copy(caCertificate = app.caCertificate))
    }

    private fun enrolWith(enrol: suspend (CenterOptions) -> Enrolment) {
        viewModelScope.launch {
            try {
                val enrolment = enrol(app.centerOptions)
                app.area = enrolment.scope.first()
                repository = GridRepository(app.store, enrolment.scope.first())
                _scanned.value = null
                _enrolled.value = true
                app.scheduleSync()
                refresh()
            } catch (e: GridsyncException) {
                _message.value = SyncController.describe(e)
            }
        }
    }

    fun household(id: String, show: (HouseholdDetail) -> Unit) = io({ it.household(id) }, show)

    fun history(id: String, show: (List<HistoryRow>) -> Unit) = io({ it.history(id) }, show)

    fun refusedChanges(show: (List<RefusedRow>) -> Unit) = io({ it.refusedChanges() }, show)

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

    /** Reports an incident with the photos taken for it; photos not kept are told in one message. */
    fun reportIncident(title: String, category: String, photos: List<DraftPhoto>, done: (SaveResult) -> Unit) {
        val area = app.area ?: return
        io({
            it.reportIncident(Incident(
                areaCode = area, serviceNo = "" /* the store assigns SJ<date>-<8 hex> */, title = title,
                categories = listOf(category), location = null, gps = null, occurredAt = System.currentTimeMillis(),
                peopleCount = 1u, involvedPersons = emptyList(), involvedHouseholds = emptyList(), major = false,
                timeline = emptyList(), notes = ""), photos)
        }) { reported ->
            if (reported.refused.isNotEmpty()) {
                _message.value = app.getString(R.string.photos_refused, reported.refused.size, reported.refused.first())
            }
            done(reported.result)
        }
    }

    /** Attaches a photo to an incident already reported (attachPhotoAsync, off the main thread). */
    fun attachPhoto(recordId: String, photo: DraftPhoto, done: () -> Unit) = io({ it.attachPhoto(recordId, photo) }) {
        if (it is PhotoResult.Refused) _message.value = it.reason
        done()
    }

    /**
     * A file for the camera app to write its photo to, shared through the FileProvider
     * (res/xml/photo_paths.xml); [readPhoto] or [discardCameraFile] deletes it.
     */
    fun newCameraUri(): Uri {
        val folder = File(app.cacheDir, "camera").apply { mkdirs() }
        val file = File(folder, "photo-${System.currentTimeMillis()}.jpg")
        return FileProvider.getUriForFile(app, "${app.packageName}.photos", file)
    }

    fun discardCameraFile(uri: Uri) {
        viewModelScope.launch(Dispatchers.IO) { runCatching { app.contentResolver.delete(uri, null, null) } }
    }

    /**
     * Reads a photo the camera wrote or the picker chose, off the main thread: its bytes as
     * the store takes them and a preview. The camera's file is deleted once read (the
     * store keeps its own re-encoded, encrypted copy). A photo from the camera is dated
     * now; one from the gallery is not dated (its EXIF date is not read here).
     */
    fun readPhoto(uri: Uri, fromCamera: Boolean, done: (PickedPhoto) -> Unit) {
        viewModelScope.launch {
            val picked = withContext(Dispatchers.IO) {
                try {
                    val raw = app.contentResolver.openInputStream(uri)?.use { it.readBytes() }
                    val bytes = raw?.let(PhotoCodec::asJpegOrPng)
                    val preview = bytes?.let { PhotoCodec.image(it, PREVIEW_SIDE) }
                    if (bytes != null && preview != null) {
                        PickedPhoto(bytes, if (fromCamera) System.currentTimeMillis() else null, preview)
                    } else null
                } catch (e: Exception) {
                    null // unreadable, or too large to decode on this phone
                } catch (e: OutOfMemoryError) {
                    null
                } finally {
                    if (fromCamera) runCatching { app.contentResolver.delete(uri, null, null) }
                }
            }
            if (picked == null) _message.value = app.getString(R.string.photo_unreadable) else done(picked)
        }
    }

    /**
     * Photo or thumbnail [hash] of [recordId] as an image, with the reason when it cannot
     * be shown (a colleague's photo while offline). From this phone or fetched from the
     * center; cancelled with the caller's coroutine (the screen's LaunchedEffect).
     */
    suspend fun photoImage(recordId: String, hash: String, side: Int): Pair<ImageBitmap?, String?> {
        val repo = repository ?: return null to null
        return withContext(Dispatchers.IO) {
            when (val load = repo.photoBytes(recordId, hash, app.centerOptions)) {
                is PhotoLoad.Loaded -> PhotoCodec.image(load.bytes, side) to null
                is PhotoLoad.Unavailable -> null to load.reason
            }
        }
    }

    fun show(message: String) {
        _message.value = message
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

    companion object {
        /** Households read at a time; 加载更多 reads the next page. */
        const val HOUSEHOLD_PAGE = 50u
        /** Longest side of a preview on the report form and of a thumbnail (the store's are 320 px). */
        const val PREVIEW_SIDE = 320
        /** The stored photo's longest side: opened whole. */
        const val PHOTO_SIDE = PhotoFormat.STORED_SIDE
    }
}
