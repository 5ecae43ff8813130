package cn.gridsync.demo.ui

import android.content.ActivityNotFoundException
import android.net.Uri
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.Image
import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.*
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.LazyRow
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.*
import androidx.compose.runtime.*
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.ImageBitmap
import androidx.compose.ui.layout.ContentScale
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.compose.ui.window.Dialog
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewmodel.compose.viewModel
import androidx.navigation.NavHostController
import androidx.navigation.compose.NavHost
import androidx.navigation.compose.composable
import androidx.navigation.compose.rememberNavController
import cn.gridsync.demo.R
import cn.gridsync.demo.logic.*
import java.text.SimpleDateFormat
import java.util.Date
import java.util.Locale
import uniffi.gridsync_ffi.*

/** The app: enrolment first, then tabs for households, search, incidents and conflicts. */
@Composable
fun GridsyncNavigation(onRestart: () -> Unit, model: MainViewModel = viewModel()) {
    val enrolled by model.enrolled.collectAsStateWithLifecycle()
    val message by model.message.collectAsStateWithLifecycle()
    val wiped by model.wiped.collectAsStateWithLifecycle()
    if (wiped) {
        Notice(stringResource(R.string.wiped_title), stringResource(R.string.wiped_body), stringResource(R.string.enrol_again), onRestart)
        return
    }
    val snackbar = remember { SnackbarHostState() }
    LaunchedEffect(message) {
        message?.let { snackbar.showSnackbar(it); model.messageShown() }
    }
    if (!enrolled) {
        Scaffold(snackbarHost = { SnackbarHost(snackbar) }) { padding -> EnrolScreen(model, Modifier.padding(padding)) }
        return
    }
    val nav = rememberNavController()
    Scaffold(
        topBar = { SyncBar(model) },
        bottomBar = {
            NavigationBar {
                listOf(
                    "households" to R.string.households,
                    "search" to R.string.search,
                    "incidents" to R.string.incidents,
                    "conflicts" to R.string.conflicts,
                ).forEach { (route, label) ->
                    NavigationBarItem(selected = false, onClick = { nav.navigate(route) }, icon = {},
                        label = { Text(stringResource(label), maxLines = 1) })
                }
            }
        },
        snackbarHost = { SnackbarHost(snackbar) },
    ) { padding ->
        NavHost(nav, startDestination = "households", modifier = Modifier.padding(padding)) {
            composable("households") { HouseholdListScreen(model, nav) }
            composable("household/{id}") { HouseholdScreen(model, nav, it.arguments?.getString("id").orEmpty()) }
            composable("person/new/{household}") {
                PersonScreen(model, nav, null, it.arguments?.getString("household"))
            }
            composable("person/{id}") { PersonScreen(model, nav, it.arguments?.getString("id"), null) }
            composable("search") { SearchScreen(model, nav) }
            composable("incidents") { IncidentListScreen(model, nav) }
            composable("incident/{id}") { IncidentScreen(model, it.arguments?.getString("id").orEmpty()) }
            composable("conflicts") { ConflictScreen(model) }
            composable("history/{id}") { HistoryScreen(model, it.arguments?.getString("id").orEmpty()) }
        }
    }
}

@Composable
fun SyncBar(model: MainViewModel) {
    val sync by model.sync.collectAsStateWithLifecycle()
    val pending by model.pending.collectAsStateWithLifecycle()
    val photos by model.pendingPhotos.collectAsStateWithLifecycle()
    val online by model.online.collectAsStateWithLifecycle()
    val lastSync by model.lastSync.collectAsStateWithLifecycle()
    Column(Modifier.fillMaxWidth().padding(8.dp)) {
        if (!online) {
            // Offline for days is normal: say that nothing is lost.
            Text(stringResource(R.string.offline), Modifier.fillMaxWidth(), color = MaterialTheme.colorScheme.secondary,
                style = MaterialTheme.typography.labelMedium)
        }
        Row(verticalAlignment = androidx.compose.ui.Alignment.CenterVertically) {
            // Records and photos apart: "2 条修改待同步，照片 3 张待上传（1.4 MB）", "记录已同步，照片 1/3（…）".
            Text(SyncLine.of(sync, pending, photos), Modifier.weight(1f))
            if (sync.running) {
                TextButton(onClick = model::cancelSync) { Text(stringResource(R.string.cancel)) }
            } else {
                Button(onClick = model::syncNow) { Text(stringResource(R.string.sync)) }
            }
        }
        if (sync.running) {
            val fraction = sync.fraction
            val photoFraction = sync.photoFraction
            when {
                // The photo phase, after every record: its own bar, by bytes.
                photoFraction != null -> LinearProgressIndicator(progress = { photoFraction }, Modifier.fillMaxWidth(),
                    color = MaterialTheme.colorScheme.tertiary)
                fraction != null -> LinearProgressIndicator(progress = { fraction }, Modifier.fillMaxWidth())
                else -> LinearProgressIndicator(Modifier.fillMaxWidth())
            }
        }
        sync.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        if (!sync.running) Text(lastSync, style = MaterialTheme.typography.labelSmall)
    }
}

/**
 * Enrolment: photograph the QR code the console's 设备 page shows (the camera app, as for
 * photos: no CAMERA permission), or paste its text; check the center and code it names,
 * then enrol. The address, code and CA typed by hand stay behind 手动输入.
 */
@Composable
fun EnrolScreen(model: MainViewModel, modifier: Modifier = Modifier) {
    val scanned by model.scanned.collectAsStateWithLifecycle()
    val takePhoto = rememberCamera(model, model::scanEnrolment)
    var pasted by remember { mutableStateOf("") }
    var manual by remember { mutableStateOf(false) }
    Column(modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Text(stringResource(R.string.enrol), style = MaterialTheme.typography.headlineSmall)
        Text(stringResource(R.string.scan_hint))
        Button(onClick = takePhoto) { Text(stringResource(R.string.scan_qr)) }
        Row(verticalAlignment = androidx.compose.ui.Alignment.CenterVertically) {
            OutlinedTextField(pasted, { pasted = it }, label = { Text(stringResource(R.string.paste_link)) },
                singleLine = true, modifier = Modifier.weight(1f))
            TextButton(onClick = { model.readEnrolmentLink(pasted) }) { Text(stringResource(R.string.read_link)) }
        }
        when (val result = scanned) {
            is EnrolmentScan.Scanned.Link -> Card(Modifier.fillMaxWidth()) {
                Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(4.dp)) {
                    Text(stringResource(R.string.scanned_center, result.info.centerUrl))
                    Text(stringResource(R.string.scanned_code, result.info.code))
                    if (result.info.pinsCertificate) Text(stringResource(R.string.scanned_pinned),
                        style = MaterialTheme.typography.bodySmall)
                    Button(onClick = { model.enrolFromLink(result.text) }) { Text(stringResource(R.string.enrol_this_phone)) }
                }
            }
            is EnrolmentScan.Scanned.NotALink -> Text(result.messageZh, color = MaterialTheme.colorScheme.error)
            EnrolmentScan.Scanned.NoCode -> Text(stringResource(R.string.scan_no_code), color = MaterialTheme.colorScheme.error)
            null -> {}
        }
        TextButton(onClick = { manual = !manual }) { Text(stringResource(R.string.manual_entry)) }
        if (manual) ManualEnrol(model)
    }
}

@Composable
private fun ManualEnrol(model: MainViewModel) {
    var url by remember { mutableStateOf("https://") }
    var code by remember { mutableStateOf("") }
    var ca by remember { mutableStateOf("") }
    OutlinedTextField(url, { url = it }, label = { Text(stringResource(R.string.center_url)) }, singleLine = true)
    OutlinedTextField(code, { code = it }, label = { Text(stringResource(R.string.enrol_code)) }, singleLine = true)
    OutlinedTextField(ca, { ca = it }, label = { Text(stringResource(R.string.ca_certificate)) }, minLines = 3)
    Button(onClick = { model.enrol(url, code, ca) }) { Text(stringResource(R.string.enrol)) }
}

@Composable
fun HouseholdListScreen(model: MainViewModel, nav: NavHostController) {
    val households by model.households.collectAsStateWithLifecycle()
    var address by remember { mutableStateOf("") }
    var number by remember { mutableStateOf("") }
    Column(Modifier.padding(16.dp)) {
        Row {
            OutlinedTextField(number, { number = it }, label = { Text(stringResource(R.string.household_no)) },
                modifier = Modifier.weight(1f))
            OutlinedTextField(address, { address = it }, label = { Text(stringResource(R.string.address)) },
                modifier = Modifier.weight(2f))
        }
        Button(onClick = {
            model.saveHousehold(address, number) { result ->
                if (result is SaveResult.Saved) { address = ""; number = "" }
            }
        }) { Text(stringResource(R.string.add_household)) }
        val more by model.householdsNext.collectAsStateWithLifecycle()
        LazyColumn {
            items(households, key = { it.id }) { household ->
                ListItem(
                    headlineContent = { Text(household.address) },
                    supportingContent = { Text(household.householdNo + "  " + household.tags.joinToString(" ")) },
                    modifier = Modifier.clickable { nav.navigate("household/${household.id}") },
                )
            }
            if (more != null) item {
                TextButton(onClick = model::moreHouseholds, modifier = Modifier.fillMaxWidth()) {
                    Text(stringResource(R.string.load_more))
                }
            }
        }
    }
}

@Composable
fun HouseholdScreen(model: MainViewModel, nav: NavHostController, id: String) {
    var detail by remember { mutableStateOf<HouseholdDetail?>(null) }
    var purpose by remember { mutableStateOf("") }
    var finding by remember { mutableStateOf("") }
    LaunchedEffect(id) { model.household(id) { detail = it } }
    val shown = detail ?: return
    LazyColumn(Modifier.padding(16.dp)) {
        item {
            Text(shown.household.address, style = MaterialTheme.typography.titleLarge)
            TextButton(onClick = { nav.navigate("history/$id") }) { Text(stringResource(R.string.history)) }
            Text(stringResource(R.string.members), style = MaterialTheme.typography.titleMedium)
        }
        items(shown.members, key = { it.id }) { member ->
            ListItem(headlineContent = { Text(member.name) },
                supportingContent = { Text(member.birthDate + " " + (member.relationship ?: "")) },
                modifier = Modifier.clickable { nav.navigate("person/${member.id}") })
        }
        item {
            TextButton(onClick = { nav.navigate("person/new/$id") }) { Text(stringResource(R.string.add_person)) }
            Text(stringResource(R.string.visits), style = MaterialTheme.typography.titleMedium)
        }
        items(shown.visits, key = { it.id }) { visit ->
            ListItem(headlineContent = { Text(visit.purpose) }, supportingContent = { Text("${visit.findings}") })
        }
        item {
            OutlinedTextField(purpose, { purpose = it }, label = { Text(stringResource(R.string.purpose)) })
            OutlinedTextField(finding, { finding = it }, label = { Text(stringResource(R.string.finding)) })
            Button(onClick = {
                model.logVisit(id, purpose, finding)
                purpose = ""; finding = ""
                model.household(id) { detail = it }
            }) { Text(stringResource(R.string.log_visit)) }
        }
    }
}

/** Add or edit a person; a rule a field breaks is shown on that field. */
@Composable
fun PersonScreen(model: MainViewModel, nav: NavHostController, id: String?, householdId: String?) {
    var form by remember { mutableStateOf(PersonForm(householdId = householdId, relationship = householdId?.let { "02" })) }
    // The person as the screen read it: the save writes only what differs from it.
    var opened by remember { mutableStateOf<PersonForEdit?>(null) }
    var errors by remember { mutableStateOf(emptyMap<String, String>()) }
    val duplicate = stringResource(R.string.already_registered)
    LaunchedEffect(id) { if (id != null) model.person(id) { read, readForm -> opened = read; form = readForm } }
    Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Text(stringResource(if (id == null) R.string.add_person else R.string.edit_person),
            style = MaterialTheme.typography.headlineSmall)
        Field(stringResource(R.string.name), form.name, errors["name"]) { form = form.copy(name = it) }
        Field(stringResource(R.string.id_number), form.idNumber, errors["id_number"] ?: errors["gender"]) {
            form = form.withIdNumber(it)
        }
        Field(stringResource(R.string.birth_date), form.birthDate, errors["birth_date"]) { form = form.copy(birthDate = it) }
        Field(stringResource(R.string.phone), form.phone, errors["phone"]) { form = form.copy(phone = it) }
        Button(onClick = {
            model.savePerson(id, opened, form) { result ->
                when (result) {
                    is SaveResult.Saved -> nav.popBackStack()
                    is SaveResult.Invalid -> errors = result.fieldErrors
                    is SaveResult.Duplicate -> { errors = mapOf("id_number" to duplicate); nav.navigate("person/${result.existingId}") }
                }
            }
        }) { Text(stringResource(R.string.save)) }
    }
}

@Composable
private fun Field(label: String, value: String, error: String?, onChange: (String) -> Unit) {
    OutlinedTextField(value, onChange, label = { Text(label) }, isError = error != null,
        supportingText = { if (error != null) Text(error) }, singleLine = true, modifier = Modifier.fillMaxWidth())
}

@Composable
fun SearchScreen(model: MainViewModel, nav: NavHostController) {
    var query by remember { mutableStateOf("") }
    var found by remember { mutableStateOf(emptyList<PersonRow>()) }
    Column(Modifier.padding(16.dp)) {
        OutlinedTextField(query, {
            query = it
            model.search(it) { rows -> found = rows }
        }, label = { Text(stringResource(R.string.search)) }, singleLine = true, modifier = Modifier.fillMaxWidth())
        LazyColumn {
            items(found, key = { it.id }) { person ->
                ListItem(headlineContent = { Text(person.name) },
                    supportingContent = { Text((person.idNumber?.takeLast(4)?.let { "…$it " } ?: "") + person.birthDate) },
                    modifier = Modifier.clickable { nav.navigate("person/${person.id}") })
            }
        }
    }
}

@Composable
fun IncidentListScreen(model: MainViewModel, nav: NavHostController) {
    val incidents by model.incidents.collectAsStateWithLifecycle()
    var title by remember { mutableStateOf("") }
    var category by remember { mutableStateOf("矛盾纠纷/邻里纠纷") }
    // Photos taken for the incident being reported: attached once it is saved.
    var photos by remember { mutableStateOf(emptyList<Pair<DraftPhoto, ImageBitmap>>()) }
    Column(Modifier.padding(16.dp)) {
        OutlinedTextField(title, { title = it }, label = { Text(stringResource(R.string.title)) }, singleLine = true)
        OutlinedTextField(category, { category = it }, label = { Text(stringResource(R.string.category)) }, singleLine = true)
        PhotoCapture(model) { draft, preview -> photos = photos + (draft to preview) }
        if (photos.isNotEmpty()) {
            LazyRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                items(photos) { (draft, preview) ->
                    Column(Modifier.width(96.dp)) {
                        Image(preview, contentDescription = draft.caption, contentScale = ContentScale.Crop,
                            modifier = Modifier.size(96.dp))
                        Text(draft.caption, maxLines = 1, style = MaterialTheme.typography.bodySmall)
                        TextButton(onClick = { photos = photos.filterNot { it.first === draft } }) {
                            Text(stringResource(R.string.remove_photo))
                        }
                    }
                }
            }
        }
        Button(onClick = {
            model.reportIncident(title, category, photos.map { it.first }) {
                if (it is SaveResult.Saved) { title = ""; photos = emptyList() }
            }
        }) {
            Text(stringResource(R.string.report_incident))
        }
        LazyColumn {
            items(incidents, key = { it.id }) { incident ->
                ListItem(
                    headlineContent = { Text(incident.title) },
                    supportingContent = {
                        Text(incident.status.name + (if (incident.urgent) " 加急" else "") +
                            (if (incident.needsReview) " · " + stringResource(R.string.needs_review) else ""))
                    },
                    modifier = Modifier.clickable { nav.navigate("incident/${incident.id}") },
                )
            }
        }
    }
}

/** An incident's photos, timeline and the steps its status allows now. */
@OptIn(ExperimentalLayoutApi::class)
@Composable
fun IncidentScreen(model: MainViewModel, id: String) {
    var view by remember { mutableStateOf<IncidentView?>(null) }
    var note by remember { mutableStateOf("") }
    var opened by remember { mutableStateOf<Photo?>(null) }
    LaunchedEffect(id) { model.incident(id) { view = it } }
    val shown = view ?: return
    LazyColumn(Modifier.padding(16.dp)) {
        item {
            Text(shown.incident.title, style = MaterialTheme.typography.titleLarge)
            Text(shown.state.status.name)
            shown.state.review.forEach { Text("${stringResource(R.string.needs_review)}: ${it.step} / ${it.by}") }
            Text(stringResource(R.string.photos), style = MaterialTheme.typography.titleMedium)
            if (shown.photos.isEmpty()) Text(stringResource(R.string.no_photos), style = MaterialTheme.typography.bodySmall)
            LazyRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                items(shown.photos, key = { it.hash }) { photo -> PhotoThumbnail(model, id, photo) { opened = photo } }
            }
            PhotoCapture(model) { draft, _ -> model.attachPhoto(id, draft) { model.incident(id) { view = it } } }
            Text(stringResource(R.string.timeline), style = MaterialTheme.typography.titleMedium)
        }
        items(shown.incident.timeline, key = { it.id }) { entry ->
            ListItem(headlineContent = { Text(entry.step.name) }, supportingContent = { Text(entry.by + " " + entry.note) })
        }
        item {
            Text(stringResource(R.string.next_steps), style = MaterialTheme.typography.titleMedium)
            OutlinedTextField(note, { note = it }, singleLine = true)
            FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                shown.nextSteps.forEach { step -> // the worker's own steps only (the center takes 督办)
                    OutlinedButton(onClick = {
                        model.takeStep(id, step, note) { note = ""; model.incident(id) { view = it } }
                    }) { Text(step.name) }
                }
            }
        }
    }
    opened?.let { photo -> PhotoViewer(model, id, photo) { opened = null } }
}

/**
 * The phone's camera app, taking one photo into a FileProvider file (no CAMERA
 * permission): call the returned function to open it; [onTaken] gets the photo's file
 * (and deletes it when done). A phone without a camera app is told so.
 */
@Composable
fun rememberCamera(model: MainViewModel, onTaken: (Uri) -> Unit): () -> Unit {
    // Saved: the camera app may outlive this activity on a phone short of memory.
    var cameraUri by rememberSaveable { mutableStateOf<Uri?>(null) }
    val noCamera = stringResource(R.string.no_camera)
    val camera = rememberLauncherForActivityResult(ActivityResultContracts.TakePicture()) { saved ->
        val uri = cameraUri ?: return@rememberLauncherForActivityResult
        cameraUri = null
        if (saved) onTaken(uri) else model.discardCameraFile(uri)
    }
    return {
        val uri = model.newCameraUri()
        cameraUri = uri
        try {
            camera.launch(uri)
        } catch (e: ActivityNotFoundException) {
            cameraUri = null
            model.discardCameraFile(uri)
            model.show(noCamera)
        }
    }
}

/**
 * 拍照 (the camera app, into a FileProvider file) or 从相册选择 (the system photo picker),
 * then a caption: hands the photo and its preview to [onAdd].
 */
@Composable
fun PhotoCapture(model: MainViewModel, onAdd: (DraftPhoto, ImageBitmap) -> Unit) {
    var picked by remember { mutableStateOf<PickedPhoto?>(null) }
    val takePhoto = rememberCamera(model) { uri -> model.readPhoto(uri, fromCamera = true) { picked = it } }
    val gallery = rememberLauncherForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri ->
        if (uri != null) model.readPhoto(uri, fromCamera = false) { picked = it }
    }
    Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
        OutlinedButton(onClick = takePhoto) { Text(stringResource(R.string.take_photo)) }
        OutlinedButton(onClick = {
            gallery.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly))
        }) { Text(stringResource(R.string.pick_photo)) }
    }
    picked?.let { photo ->
        var caption by remember(photo) { mutableStateOf("") }
        AlertDialog(
            onDismissRequest = { picked = null },
            confirmButton = {
                TextButton(onClick = { onAdd(photo.draft(caption), photo.preview); picked = null }) {
                    Text(stringResource(R.string.add_photo))
                }
            },
            dismissButton = { TextButton(onClick = { picked = null }) { Text(stringResource(R.string.cancel)) } },
            text = {
                Column(verticalArrangement = Arrangement.spacedBy(8.dp)) {
                    Image(photo.preview, contentDescription = null, contentScale = ContentScale.Fit,
                        modifier = Modifier.fillMaxWidth().heightIn(max = 240.dp))
                    OutlinedTextField(caption, { caption = it }, label = { Text(stringResource(R.string.photo_caption)) },
                        singleLine = true, modifier = Modifier.fillMaxWidth())
                }
            },
        )
    }
}

/**
 * The image of photo or thumbnail [hash] as it loads (from this phone, or fetched from the
 * center; the fetch is cancelled when the caller leaves the screen), and why it could not
 * be shown, if so.
 */
@Composable
private fun rememberPhotoImage(model: MainViewModel, recordId: String, hash: String, side: Int): Pair<ImageBitmap?, String?> {
    var image by remember(hash) { mutableStateOf<ImageBitmap?>(null) }
    var failed by remember(hash) { mutableStateOf<String?>(null) }
    LaunchedEffect(hash) {
        val (loaded, reason) = model.photoImage(recordId, hash, side)
        image = loaded
        failed = reason
    }
    return image to failed
}

/**
 * A photo's thumbnail (from this phone, or fetched from the center for a colleague's
 * photo; the fetch is cancelled when the thumbnail leaves the screen); tap to open.
 */
@Composable
private fun PhotoThumbnail(model: MainViewModel, recordId: String, photo: Photo, onOpen: () -> Unit) {
    val (image, failed) = rememberPhotoImage(model, recordId, photo.thumbnailHash, MainViewModel.PREVIEW_SIDE)
    Column(Modifier.width(112.dp).clickable(onClick = onOpen)) {
        Box(Modifier.size(112.dp), contentAlignment = Alignment.Center) {
            val shown = image
            when {
                shown != null -> Image(shown, contentDescription = photo.caption, contentScale = ContentScale.Crop,
                    modifier = Modifier.fillMaxSize())
                failed != null -> Text(stringResource(R.string.photo_not_here), style = MaterialTheme.typography.labelSmall)
                else -> CircularProgressIndicator(Modifier.size(24.dp))
            }
        }
        Text(photo.caption, maxLines = 1, style = MaterialTheme.typography.bodySmall)
        if (!photo.uploaded) {
            Text(stringResource(R.string.photo_waiting), style = MaterialTheme.typography.labelSmall,
                color = MaterialTheme.colorScheme.tertiary)
        }
    }
}

/** The whole photo, fetched from the center when this phone holds only its thumbnail. */
@Composable
private fun PhotoViewer(model: MainViewModel, recordId: String, photo: Photo, onClose: () -> Unit) {
    val (image, failed) = rememberPhotoImage(model, recordId, photo.hash, MainViewModel.PHOTO_SIDE)
    val added = remember(photo.addedAt) {
        SimpleDateFormat("yyyy-MM-dd HH:mm", Locale.CHINA).format(Date(photo.takenAt ?: photo.addedAt))
    }
    Dialog(onDismissRequest = onClose) {
        Surface(shape = MaterialTheme.shapes.medium) {
            Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
                Box(Modifier.fillMaxWidth().heightIn(min = 160.dp), contentAlignment = Alignment.Center) {
                    val shown = image
                    val reason = failed
                    when {
                        shown != null -> Image(shown, contentDescription = photo.caption, contentScale = ContentScale.Fit,
                            modifier = Modifier.fillMaxWidth())
                        reason != null -> Text(reason, color = MaterialTheme.colorScheme.error)
                        else -> Column(horizontalAlignment = Alignment.CenterHorizontally) {
                            CircularProgressIndicator()
                            if (!photo.photoHere) Text(stringResource(R.string.downloading_photo))
                        }
                    }
                }
                if (photo.caption.isNotEmpty()) Text(photo.caption, style = MaterialTheme.typography.bodyLarge)
                Text(stringResource(R.string.photo_meta, photo.addedBy, added, SyncLine.size(photo.size)),
                    style = MaterialTheme.typography.bodySmall)
                TextButton(onClick = onClose, modifier = Modifier.align(Alignment.End)) { Text(stringResource(R.string.close)) }
            }
        }
    }
}

/** Who changed a record and what, newest first, in China time. */
@Composable
fun HistoryScreen(model: MainViewModel, id: String) {
    var rows by remember { mutableStateOf<List<HistoryRow>>(emptyList()) }
    LaunchedEffect(id) { model.history(id) { rows = it } }
    LazyColumn(Modifier.padding(16.dp)) {
        item { Text(stringResource(R.string.history), style = MaterialTheme.typography.titleLarge) }
        items(rows) { row ->
            ListItem(headlineContent = { Text(row.what) }, supportingContent = { Text("${row.time} · ${row.worker}") })
        }
    }
}

/**
 * What needs the worker: this phone's changes the center refused (kept on the phone, with
 * the reason in Chinese), then records whose fields hold concurrent values: keep one value
 * per field.
 */
@Composable
fun ConflictScreen(model: MainViewModel) {
    val items by model.conflicts.collectAsStateWithLifecycle()
    var refused by remember { mutableStateOf<List<RefusedRow>>(emptyList()) }
    LaunchedEffect(Unit) { model.refusedChanges { refused = it } }
    LazyColumn(Modifier.padding(16.dp)) {
        if (refused.isNotEmpty()) {
            item { Text(stringResource(R.string.refused_changes), style = MaterialTheme.typography.titleMedium) }
            items(refused) { row ->
                ListItem(headlineContent = { Text(row.reason) },
                    supportingContent = { Text("${row.time} · ${row.recordId.take(8)}") })
            }
        }
        items(items, key = { it.row.id }) { item ->
            Text("${item.row.kind} ${item.row.id.take(8)}", style = MaterialTheme.typography.titleMedium)
            item.conflicts.forEach { conflict ->
                Text(conflict.field)
                conflict.values.forEach { value ->
                    Row(verticalAlignment = androidx.compose.ui.Alignment.CenterVertically) {
                        Text("${value.valueJson} — ${value.worker}", Modifier.weight(1f))
                        TextButton(onClick = { model.resolve(item.row.id, conflict.field, value.valueJson) }) {
                            Text(stringResource(R.string.keep_this))
                        }
                    }
                }
            }
        }
    }
}

/**
 * The phone's secure storage lost the database key: the records on this phone cannot be
 * read, and nothing is opened over them. The worker confirms before the file is set
 * aside (renamed, not deleted) and the app returns to enrolment.
 */
@Composable
fun KeyLostScreen(onSetAside: () -> Unit) {
    Notice(stringResource(R.string.key_lost_title), stringResource(R.string.key_lost_body), stringResource(R.string.enrol_again), onSetAside)
}

/** A full-screen notice with one action. */
@Composable
private fun Notice(title: String, body: String, action: String, onAction: () -> Unit) {
    Column(Modifier.fillMaxSize().padding(24.dp), verticalArrangement = Arrangement.Center) {
        Text(title, style = MaterialTheme.typography.headlineSmall)
        Spacer(Modifier.height(12.dp))
        Text(body, style = MaterialTheme.typography.bodyMedium)
        Spacer(Modifier.height(24.dp))
        Button(onClick = onAction) { Text(action) }
    }
}
